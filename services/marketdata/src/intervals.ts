/**
 * Binance's kline intervals and their UTC boundaries: fixed lengths aligned to the epoch, weeks
 * starting Monday 00:00 UTC, months on calendar months.
 *
 * @module
 */

/** Every interval Binance offers. */
export const INTERVALS = [
  '1s',
  '1m',
  '3m',
  '5m',
  '15m',
  '30m',
  '1h',
  '2h',
  '4h',
  '6h',
  '8h',
  '12h',
  '1d',
  '3d',
  '1w',
  '1M',
] as const;
/** One of {@link INTERVALS}. */
export type Interval = (typeof INTERVALS)[number];

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const FIXED: Partial<Record<Interval, number>> = {
  '1s': S,
  '1m': M,
  '3m': 3 * M,
  '5m': 5 * M,
  '15m': 15 * M,
  '30m': 30 * M,
  '1h': H,
  '2h': 2 * H,
  '4h': 4 * H,
  '6h': 6 * H,
  '8h': 8 * H,
  '12h': 12 * H,
  '1d': D,
  '3d': 3 * D,
};
/** 1970-01-05 was a Monday. */
const MONDAY = 4 * D;

/** True when `s` names an interval. */
export const isInterval = (s: unknown): s is Interval => (INTERVALS as readonly unknown[]).includes(s);

/** `[openTime, closeTime]` (ms, close inclusive as Binance: next open − 1) of the candle holding `timeMs`. */
export function intervalStart(interval: Interval, timeMs: number): [number, number] {
  const fixed = FIXED[interval];
  if (fixed !== undefined) {
    const open = Math.floor(timeMs / fixed) * fixed;
    return [open, open + fixed - 1];
  }
  if (interval === '1w') {
    const open = Math.floor((timeMs - MONDAY) / (7 * D)) * 7 * D + MONDAY;
    return [open, open + 7 * D - 1];
  }
  const d = new Date(timeMs);
  const open = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return [open, next - 1];
}
