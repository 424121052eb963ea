/**
 * A parser for the Prometheus text exposition format (version 0.0.4), enough to read what a
 * replica's `/metrics` serves: `name{label="value",...} value [timestamp]` lines; `#` lines are
 * skipped. Values may be `NaN`, `+Inf` and `-Inf`, in any case (prom-client writes `Nan`).
 *
 * @module
 */

/** One sample. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Thrown for a line that is not a sample. */
export class PromParseError extends Error {
  override readonly name = 'PromParseError';
}

const parseValue = (raw: string): number => {
  // In any case, as Prometheus reads them (Go's ParseFloat): prom-client writes NaN as `Nan`.
  const special = raw.toLowerCase();
  if (special === '+inf' || special === 'inf') return Infinity;
  if (special === '-inf') return -Infinity;
  if (special === 'nan') return NaN;
  const n = Number(raw);
  if (raw === '' || Number.isNaN(n)) throw new PromParseError(`not a number: ${JSON.stringify(raw)}`);
  return n;
};

/** Parses a whole `/metrics` answer. @throws PromParseError naming the bad line. */
export function parsePrometheusText(text: string): PromSample[] {
  const out: PromSample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      out.push(parseLine(line));
    } catch (err) {
      throw new PromParseError(`line ${n + 1}: ${(err as Error).message}`);
    }
  }
  return out;
}

function parseLine(line: string): PromSample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (m === null) throw new PromParseError(`no metric name in ${JSON.stringify(line)}`);
  const name = m[1] as string;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(line.slice(i));
      if (lm === null) throw new PromParseError(`bad label in ${JSON.stringify(line)}`);
      i += lm[0].length;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new PromParseError(`unterminated label value in ${JSON.stringify(line)}`);
        i++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          value += e === 'n' ? '\n' : (e ?? '');
        } else value += c;
      }
      labels[lm[1] as string] = value;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  return { name, labels, value: parseValue(rest[0] ?? '') };
}
