/**
 * Workload traces: an arrival-rate curve (orders/s, one value per second) and optional market
 * signals. Readers for the Alibaba GenAI QPS trace (gzip or plain CSV, read in place — it is for
 * research use only and is never copied into the repository), a plain `t_s,orders_per_s` CSV, and
 * the crypto flash-crash events file.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** A known burst in a trace, seconds from its start. */
export interface TraceBurst {
  readonly startS: number;
  readonly troughS: number;
  readonly endS: number;
  /** Peak load as a multiple of the baseline. */
  readonly peakMultiplier: number;
}

/** An arrival-rate curve at 1 s resolution. */
export interface Trace {
  readonly name: string;
  /** Mean arrivals (orders/s) in each second. */
  readonly ordersPerS: Float64Array;
  /** Price volatility per second (absolute return, synthetic traces only). */
  readonly volatility?: Float64Array;
  /** Bursts the generator injected (synthetic traces only). */
  readonly bursts?: readonly TraceBurst[];
}

/** A `role = pos | near_miss | quiet` row of `crypto-flash-crash-events.csv`. */
export interface FlashCrashEvent {
  readonly asset: string;
  readonly role: 'pos' | 'near_miss' | 'quiet';
  readonly startMs: number;
  readonly troughMs: number;
  readonly reboundEndMs: number;
  /** Fractional price fall from start to trough. */
  readonly drop: number;
  /** Fraction of the drop recovered by the end of the rebound window. */
  readonly reb: number;
}

/** Thrown for a malformed trace file; the message names the file and line. */
export class TraceFormatError extends Error {
  override readonly name = 'TraceFormatError';
}

const parseUtc = (s: string): number => Date.parse(s.trim().replace(' ', 'T'));

/** Parses `crypto-flash-crash-events.csv` (header required). */
export function parseFlashCrashEvents(text: string): FlashCrashEvent[] {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const header = (lines[0] ?? '').split(',');
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new TraceFormatError(`flash-crash events: missing column ${name}`);
    return i;
  };
  const [cAsset, cRole, cStart, cTrough, cEnd, cDrop, cReb] = [
    col('asset'),
    col('role'),
    col('t_star'),
    col('t_trough'),
    col('t_rebound_end'),
    col('drop'),
    col('reb'),
  ];
  const out: FlashCrashEvent[] = [];
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.split(',');
    const role = f[cRole];
    if (role !== 'pos' && role !== 'near_miss' && role !== 'quiet') continue;
    const e: FlashCrashEvent = {
      asset: f[cAsset] ?? '',
      role,
      startMs: parseUtc(f[cStart] ?? ''),
      troughMs: parseUtc(f[cTrough] ?? ''),
      reboundEndMs: parseUtc(f[cEnd] ?? ''),
      drop: Number(f[cDrop]),
      reb: Number(f[cReb]),
    };
    if (![e.startMs, e.troughMs, e.reboundEndMs, e.drop, e.reb].every(Number.isFinite)) {
      throw new TraceFormatError(`flash-crash events: bad row at line ${i + 1}`);
    }
    out.push(e);
  }
  return out;
}

/** Linear interpolation of `(tS, value)` points (sorted by time) to one value per second from the first point. */
export function resampleToSeconds(points: readonly (readonly [number, number])[]): Float64Array {
  if (points.length === 0) return new Float64Array(0);
  const t0 = points[0]![0];
  const last = points[points.length - 1]![0];
  const out = new Float64Array(Math.floor(last - t0) + 1);
  let j = 0;
  for (let s = 0; s < out.length; s++) {
    const t = t0 + s;
    while (j + 1 < points.length && points[j + 1]![0] <= t) j++;
    const [ta, va] = points[j]!;
    const next = points[j + 1];
    if (next === undefined || next[0] === ta) out[s] = va;
    else out[s] = va + ((next[1] - va) * (t - ta)) / (next[0] - ta);
  }
  return out;
}

/** Scales a curve so its maximum equals `peak`. */
export function rescalePeak(values: Float64Array, peak: number): Float64Array {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  const k = max > 0 ? peak / max : 0;
  return values.map((v) => v * k);
}

/** Options of {@link parseAlibabaQps}. */
export interface AlibabaQpsOptions {
  /** Rescale so the peak is this many orders/s. @default 3000 */
  readonly peakOrdersPerS?: number;
  /** Which rows to sum per timestamp. @default 'Generative Requests' */
  readonly requestType?: 'Generative Requests' | 'API Requests' | 'all';
  /** @default 'alibaba-genai-qps' */
  readonly name?: string;
}

/**
 * Parses the Alibaba GenAI `qps.csv` (`timestamp_anon,value,container_ip,request_type`): the
 * per-timestamp sum of `value` (57 s samples), linearly interpolated to 1 s and rescaled to
 * orders/s.
 */
export function parseAlibabaQps(text: string, options: AlibabaQpsOptions = {}): Trace {
  const type = options.requestType ?? 'Generative Requests';
  const lines = text.split(/\r?\n/);
  if (!(lines[0] ?? '').startsWith('timestamp_anon,value')) {
    throw new TraceFormatError('alibaba qps: expected header timestamp_anon,value,container_ip,request_type');
  }
  const sums = new Map<number, number>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    const f = line.split(',');
    if (type !== 'all' && f[3] !== type) continue;
    const t = Number(f[0]);
    const v = Number(f[1]);
    if (!Number.isFinite(t) || !Number.isFinite(v)) throw new TraceFormatError(`alibaba qps: bad row at line ${i + 1}`);
    sums.set(t, (sums.get(t) ?? 0) + v);
  }
  const points = [...sums.entries()].sort((a, b) => a[0] - b[0]);
  return {
    name: options.name ?? 'alibaba-genai-qps',
    ordersPerS: rescalePeak(resampleToSeconds(points), options.peakOrdersPerS ?? 3000),
  };
}

/** Parses a plain rate CSV: header `t_s,orders_per_s` (any sample spacing; interpolated to 1 s). */
export function parseRateCsv(text: string, name = 'trace'): Trace {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const points: [number, number][] = [];
  for (let i = 1; i < lines.length; i++) {
    const [a, b] = lines[i]!.split(',');
    const t = Number(a);
    const v = Number(b);
    if (!Number.isFinite(t) || !Number.isFinite(v) || v < 0)
      throw new TraceFormatError(`${name}: bad row at line ${i + 1}`);
    points.push([t, v]);
  }
  if (points.length === 0) throw new TraceFormatError(`${name}: no rows`);
  points.sort((x, y) => x[0] - y[0]);
  return { name, ordersPerS: resampleToSeconds(points) };
}

/**
 * Reads a trace file: Alibaba `qps.csv` (optionally `.gz`) or a `t_s,orders_per_s` CSV.
 * `peakOrdersPerS` rescales Alibaba traces (its values are relative).
 */
export function loadTraceFile(path: string, options: AlibabaQpsOptions = {}): Trace {
  let buf = readFileSync(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  const text = buf.toString('utf8');
  const base = path
    .split('/')
    .pop()!
    .replace(/\.gz$/, '')
    .replace(/\.csv$/, '');
  if (text.startsWith('timestamp_anon,value')) return parseAlibabaQps(text, { name: base, ...options });
  return parseRateCsv(text, base);
}
