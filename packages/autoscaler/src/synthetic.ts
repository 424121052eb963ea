/**
 * Synthetic crypto-activity trace: a baseline with a daily rhythm and slow noise, plus bursts whose
 * onsets follow a self-exciting (Hawkes) process — one crash makes the next more likely — and whose
 * shapes come from real flash crashes: each burst copies one `pos` row of the flash-crash events
 * file (onset → trough duration, drop size, rebound), so the load rises while the price falls,
 * peaks at the trough and fades during the rebound. Deterministic for a seed.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { mulberry32, deriveSeed } from './prng.ts';
import { parseFlashCrashEvents, type FlashCrashEvent, type Trace, type TraceBurst } from './trace.ts';

/** Options of {@link generateCryptoTrace}. */
export interface SyntheticOptions {
  readonly seed: number;
  /** @default 86400 */
  readonly durationS?: number;
  /** Mean baseline, orders/s. @default 400 */
  readonly baselineOrdersPerS?: number;
  /** Daily rhythm amplitude as a fraction of the baseline (peak at 15:00 UTC). @default 0.4 */
  readonly dailyAmplitude?: number;
  /** Standard deviation of the slow (per-minute AR(1)) log-noise. @default 0.05 */
  readonly noiseSd?: number;
  /** Hawkes background rate, bursts per hour. @default 0.2 */
  readonly burstsPerHour?: number;
  /** Hawkes branching ratio (expected follow-up bursts per burst), < 1. @default 0.5 */
  readonly branchingRatio?: number;
  /** Hawkes excitation decay, seconds. @default 3600 */
  readonly excitationDecayS?: number;
  /** Peak multiplier = 1 + gain × drop (capped at `maxMultiplier`). @default 40 */
  readonly burstGain?: number;
  /** @default 10 */
  readonly maxMultiplier?: number;
  /** Flash-crash shapes; default: the `pos` rows of the bundled events file. */
  readonly events?: readonly FlashCrashEvent[];
  /** @default 'synthetic-crypto' */
  readonly name?: string;
}

/** Reads the flash-crash events bundled with this package (MIT, see traces/NOTICE.md). */
export function bundledFlashCrashEvents(): FlashCrashEvent[] {
  const url = new URL('../traces/crypto-flash-crash-events.csv', import.meta.url);
  return parseFlashCrashEvents(readFileSync(url, 'utf8'));
}

/** Burst onset times (seconds) of a Hawkes process on `[0, durationS)`, by Ogata thinning. */
export function hawkesOnsets(
  seed: number,
  durationS: number,
  ratePerS: number,
  branchingRatio: number,
  decayS: number,
): number[] {
  const rng = mulberry32(deriveSeed(seed, 'hawkes'));
  const beta = 1 / decayS;
  const onsets: number[] = [];
  const intensity = (t: number): number => {
    let l = ratePerS;
    for (const ti of onsets) l += branchingRatio * beta * Math.exp(-beta * (t - ti));
    return l;
  };
  let t = 0;
  while (t < durationS) {
    const bound = intensity(t);
    t += rng.exponential(1 / bound);
    if (t >= durationS) break;
    if (rng.next() * bound <= intensity(t)) onsets.push(t);
  }
  return onsets;
}

/** Generates the synthetic trace. */
export function generateCryptoTrace(options: SyntheticOptions): Trace {
  const duration = options.durationS ?? 86_400;
  const base = options.baselineOrdersPerS ?? 400;
  const amp = options.dailyAmplitude ?? 0.4;
  const noiseSd = options.noiseSd ?? 0.05;
  const gain = options.burstGain ?? 40;
  const maxMult = options.maxMultiplier ?? 10;
  const events = (options.events ?? bundledFlashCrashEvents()).filter((e) => e.role === 'pos');
  if (events.length === 0) throw new Error('synthetic trace: no flash-crash (pos) events to shape bursts');
  const rng = mulberry32(deriveSeed(options.seed, 'synthetic'));

  // Baseline: daily rhythm × slow log-noise (AR(1) per minute, interpolated).
  const minutes = Math.ceil(duration / 60) + 2;
  const noise = new Float64Array(minutes);
  const phi = 0.95;
  let x = 0;
  for (let m = 0; m < minutes; m++) {
    x = phi * x + Math.sqrt(1 - phi * phi) * noiseSd * rng.normal();
    noise[m] = x;
  }
  const excess = new Float64Array(duration);
  const price = new Float64Array(duration).fill(1);

  const onsets = hawkesOnsets(
    options.seed,
    duration,
    (options.burstsPerHour ?? 0.2) / 3600,
    options.branchingRatio ?? 0.5,
    options.excitationDecayS ?? 3600,
  );
  const bursts: TraceBurst[] = [];
  for (const onset of onsets) {
    const e = events[rng.int(events.length)]!;
    const onsetS = Math.max(60, (e.troughMs - e.startMs) / 1000);
    const reboundS = Math.max(600, (e.reboundEndMs - e.troughMs) / 1000);
    const peak = Math.min(maxMult, 1 + gain * e.drop);
    const tauS = reboundS * (0.12 + 0.1 * Math.min(1.5, e.reb));
    const start = Math.floor(onset);
    const end = Math.min(duration, Math.ceil(start + onsetS + reboundS));
    for (let t = start; t < end; t++) {
      const dt = t - start;
      let m: number;
      let p: number;
      if (dt <= onsetS) {
        const f = dt / onsetS;
        // The first cascade lands within ~20 s; activity then climbs as the price falls.
        m = (peak - 1) * (Math.min(1, dt / 20) * 0.3 + 0.7 * f * f);
        p = 1 - e.drop * Math.sqrt(f);
      } else {
        const r = dt - onsetS;
        m = (peak - 1) * Math.exp(-r / tauS);
        p = 1 - e.drop + e.drop * e.reb * (1 - Math.exp(-r / tauS));
      }
      excess[t]! += m;
      price[t]! *= p;
    }
    bursts.push({ startS: start, troughS: Math.round(start + onsetS), endS: end, peakMultiplier: peak });
  }

  const orders = new Float64Array(duration);
  const vol = new Float64Array(duration);
  for (let t = 0; t < duration; t++) {
    const m = t / 60;
    const i = Math.floor(m);
    const n = noise[i]! + (noise[i + 1]! - noise[i]!) * (m - i);
    const daily = 1 + amp * Math.cos((2 * Math.PI * (t - 15 * 3600)) / 86_400);
    orders[t] = base * daily * Math.exp(n) * (1 + excess[t]!);
    vol[t] = t === 0 ? 0 : Math.abs(price[t]! - price[t - 1]!) / price[t - 1]!;
  }
  return { name: options.name ?? 'synthetic-crypto', ordersPerS: orders, volatility: vol, bursts };
}
