/**
 * Exact decimals for the API boundary: decimal strings in, integers (bigint) inside, decimal
 * strings out. Nothing here touches floating point.
 *
 * @module
 */

/** A non-negative decimal `mantissa / 10^scale`. */
export interface Decimal {
  readonly mantissa: bigint;
  readonly scale: number;
}

const DECIMAL_RE = /^(\d{1,30})(?:\.(\d{1,30}))?$/;

/** Parses a plain non-negative decimal string ("12", "0.00100000"); `null` if malformed. */
export function parseDecimal(text: unknown): Decimal | null {
  if (typeof text !== 'string') return null;
  const m = DECIMAL_RE.exec(text);
  if (m === null) return null;
  const frac = m[2] ?? '';
  return { mantissa: BigInt((m[1] as string) + frac), scale: frac.length };
}

const pow10 = (n: number): bigint => 10n ** BigInt(n);

/**
 * How many whole `step`s `value` is: `value / step` when it divides exactly, else `null`
 * (a value finer than the step is never rounded).
 */
export function toSteps(value: Decimal, step: Decimal): bigint | null {
  // value / step = (vm * 10^ss) / (sm * 10^vs)
  const num = value.mantissa * pow10(step.scale);
  const den = step.mantissa * pow10(value.scale);
  if (den === 0n || num % den !== 0n) return null;
  return num / den;
}

/** `steps × step` as an integer count of `10^-decimals` units, or `null` if not whole. */
export function stepsToMinor(steps: bigint, step: Decimal, decimals: number): bigint | null {
  const num = steps * step.mantissa * pow10(decimals);
  const den = pow10(step.scale);
  return num % den === 0n ? num / den : null;
}

/** Formats `units` of `10^-decimals` as a decimal string with exactly `decimals` places. */
export function formatMinor(units: bigint, decimals: number): string {
  const neg = units < 0n;
  const s = (neg ? -units : units).toString().padStart(decimals + 1, '0');
  const out = decimals === 0 ? s : `${s.slice(0, s.length - decimals)}.${s.slice(s.length - decimals)}`;
  return neg ? `-${out}` : out;
}

/** Formats a decimal with exactly `decimals` places (it must not be finer). */
export function formatDecimal(d: Decimal, decimals: number): string {
  const units = stepsToMinor(1n, d, decimals);
  if (units === null) throw new RangeError(`decimal has more than ${decimals} places`);
  return formatMinor(units, decimals);
}

/** Parses a decimal string to integer minor units of `decimals` places; `null` if finer or malformed. */
export function parseMinor(text: unknown, decimals: number): bigint | null {
  const d = parseDecimal(text);
  if (d === null) return null;
  return toSteps(d, { mantissa: 1n, scale: decimals });
}
