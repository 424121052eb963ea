/**
 * A self-contained HTML page of hand-written SVG charts: per policy, load (orders/s) with the
 * replicas needed, ready and billed replicas, and p99 latency against the SLO, over time, with
 * SLO-violation minutes shaded. No scripts, no external assets.
 *
 * @module
 */
import type { SimResult } from './simulator.ts';

const esc = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

interface Line {
  readonly values: ArrayLike<number>;
  readonly color: string;
  readonly label: string;
}

const W = 960;
const H = 170;
const PAD = { l: 56, r: 12, t: 18, b: 22 };

function chart(
  title: string,
  lines: readonly Line[],
  opts: { shade?: Uint8Array; hline?: number; log?: boolean },
): string {
  const n = Math.max(...lines.map((l) => l.values.length));
  let max = opts.hline ?? 0;
  for (const l of lines) for (let i = 0; i < l.values.length; i++) max = Math.max(max, l.values[i]!);
  const min = opts.log ? 1 : 0;
  max = Math.max(max * 1.05, min + 1);
  const fy = (v: number): number => {
    const t = opts.log
      ? (Math.log10(Math.max(min, v)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))
      : (v - min) / (max - min);
    return PAD.t + (1 - t) * (H - PAD.t - PAD.b);
  };
  const fx = (i: number): number => PAD.l + (i / Math.max(1, n - 1)) * (W - PAD.l - PAD.r);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  if (opts.shade) {
    const bw = (W - PAD.l - PAD.r) / Math.max(1, n - 1);
    for (let i = 0; i < opts.shade.length; i++) {
      if (opts.shade[i]) {
        parts.push(
          `<rect x="${fx(i).toFixed(1)}" y="${PAD.t}" width="${Math.max(1, bw).toFixed(1)}" height="${H - PAD.t - PAD.b}" fill="#fdd"/>`,
        );
      }
    }
  }
  for (const frac of [0, 0.5, 1]) {
    const v = opts.log
      ? Math.pow(10, Math.log10(min) + frac * (Math.log10(max) - Math.log10(min)))
      : min + frac * (max - min);
    const y = fy(v).toFixed(1);
    parts.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(
      `<text x="${PAD.l - 4}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle">${v.toFixed(0)}</text>`,
    );
  }
  const hours = n / 60;
  const stepH = hours > 12 ? 3 : hours > 4 ? 1 : 0.25;
  for (let h = 0; h <= hours; h += stepH) {
    const x = fx(h * 60).toFixed(1);
    parts.push(
      `<text x="${x}" y="${H - 6}" font-size="10" text-anchor="middle">${h.toFixed(stepH < 1 ? 2 : 0)}h</text>`,
    );
  }
  if (opts.hline !== undefined) {
    const y = fy(opts.hline).toFixed(1);
    parts.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y}" y2="${y}" stroke="#c00" stroke-dasharray="4 3"/>`);
  }
  for (const l of lines) {
    let d = '';
    for (let i = 0; i < l.values.length; i++)
      d += `${i === 0 ? 'M' : 'L'}${fx(i).toFixed(1)},${fy(l.values[i]!).toFixed(1)}`;
    parts.push(`<path d="${d}" fill="none" stroke="${l.color}" stroke-width="1.2"/>`);
  }
  let lx = PAD.l;
  parts.push(`<text x="${lx}" y="12" font-size="11" font-weight="bold">${esc(title)}</text>`);
  lx += 8 + title.length * 6.5;
  for (const l of lines) {
    parts.push(`<rect x="${lx}" y="4" width="10" height="8" fill="${l.color}"/>`);
    parts.push(`<text x="${lx + 13}" y="12" font-size="11">${esc(l.label)}</text>`);
    lx += 22 + l.label.length * 6;
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Renders runs (each with `series`) as one HTML page; `sloP99Ms` draws the SLO line. */
export function renderHtmlReport(title: string, runs: readonly SimResult[], sloP99Ms: number): string {
  const sections = runs.map((r) => {
    const s = r.series;
    if (s === undefined) return '';
    const summary =
      `SLO-violation minutes ${r.sloViolationMin}, replica-hours ${r.replicaHours.toFixed(1)} ` +
      `(over ${r.overProvisionedReplicaHours.toFixed(1)}, under ${r.underProvisionedReplicaHours.toFixed(2)}), ` +
      `time to capacity p95 ${r.timeToCapacityS.p95} s, ${r.scalingActionsPerHour.toFixed(1)} scaling actions/h`;
    return [
      `<h2>${esc(r.policy)} — ${esc(r.trace)} (seed ${r.seed})</h2>`,
      `<p>${esc(summary)}</p>`,
      chart('load (orders/s)', [{ values: s.load, color: '#1f77b4', label: 'mean per minute' }], { shade: s.violated }),
      chart(
        'replicas',
        [
          { values: s.needed, color: '#999', label: 'needed at SLO utilization' },
          { values: s.ready, color: '#2ca02c', label: 'ready' },
          { values: s.billed, color: '#ff7f0e', label: 'billed (starting+ready+draining)' },
        ],
        { shade: s.violated },
      ),
      chart('p99 latency (ms, log)', [{ values: s.p99Ms, color: '#9467bd', label: 'max per minute' }], {
        shade: s.violated,
        hline: sloP99Ms,
        log: true,
      }),
    ].join('\n');
  });
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${esc(title)}</title>`,
    '<style>body{font-family:system-ui,sans-serif;margin:16px;max-width:1000px}h2{font-size:15px;margin:18px 0 4px}p{font-size:12px;margin:2px 0 6px}svg{display:block;margin-bottom:4px}</style>',
    '</head><body>',
    `<h1 style="font-size:18px">${esc(title)}</h1>`,
    '<p>Shaded minutes violate the SLO (p99 above it, or queue wait above the lag limit). Dashed red: the p99 SLO.</p>',
    ...sections,
    '</body></html>',
    '',
  ].join('\n');
}
