/**
 * Adaptive concurrency limit: the number of calls allowed in flight follows measured latency;
 * calls beyond it are shed at once with `RES_LIMIT_EXCEEDED` (retryable), before they queue.
 *
 * - `aimd`: +1 when a call succeeds while the limit is at least half used; × `backoffRatio` on
 *   a failure or a call slower than `slowMs`.
 * - `gradient2` (Netflix concurrency-limits' Gradient2, Envoy adaptive concurrency): a long-term
 *   latency average against the short-term one; `gradient = clamp(tolerance × long / short,
 *   0.5, 1)`; `limit = limit × gradient + √limit` (queue allowance), smoothed.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import { publish } from './events.ts';
import type { Policy } from './policy.ts';

/** Options of {@link adaptiveLimit}. */
export interface AdaptiveLimitOptions {
  /** @default 'gradient2' */
  readonly algorithm?: 'aimd' | 'gradient2';
  /** @default 20 */
  readonly initialLimit?: number;
  /** @default 1 */
  readonly minLimit?: number;
  /** @default 1000 */
  readonly maxLimit?: number;
  /** AIMD: multiplier on a drop. @default 0.9 */
  readonly backoffRatio?: number;
  /** AIMD: a success slower than this counts as a drop. @default Infinity */
  readonly slowMs?: number;
  /** Gradient2: how much latency growth is tolerated. @default 1.5 */
  readonly tolerance?: number;
  /** Gradient2: EWMA factor of the limit. @default 0.2 */
  readonly smoothing?: number;
  /** Gradient2: samples in the long-term average. @default 600 */
  readonly longWindow?: number;
  /** Clock for latencies (ms). @default performance.now */
  readonly now?: () => number;
  /** @default 'limit' */
  readonly name?: string;
}

/** An adaptive limit with its state. */
export interface AdaptiveLimit extends Policy {
  readonly limit: number;
  readonly inFlight: number;
}

/** Creates an adaptive concurrency limit. */
export function adaptiveLimit(options: AdaptiveLimitOptions = {}): AdaptiveLimit {
  const algo = options.algorithm ?? 'gradient2';
  const min = options.minLimit ?? 1;
  const max = options.maxLimit ?? 1000;
  const now = options.now ?? (() => performance.now());
  const name = options.name ?? 'limit';
  const backoff = options.backoffRatio ?? 0.9;
  const slowMs = options.slowMs ?? Infinity;
  const tolerance = options.tolerance ?? 1.5;
  const smoothing = options.smoothing ?? 0.2;
  const longN = options.longWindow ?? 600;
  let limit = options.initialLimit ?? 20;
  let inFlight = 0;
  let longRtt = 0;
  let longCount = 0;
  const clamp = (v: number): number => Math.min(max, Math.max(min, v));
  const setLimit = (v: number): void => {
    const next = clamp(v);
    if (Math.floor(next) !== Math.floor(limit)) publish.limit(name, Math.floor(next));
    limit = next;
  };
  const sample = (rtt: number, dropped: boolean, inflightAtStart: number): void => {
    if (algo === 'aimd') {
      if (dropped || rtt > slowMs) setLimit(limit * backoff);
      else if (inflightAtStart * 2 >= limit) setLimit(limit + 1);
      return;
    }
    if (dropped) {
      setLimit(limit * backoff);
      return;
    }
    // Long-term average: plain mean while warming up, then EWMA over `longN` samples.
    longCount = Math.min(longN, longCount + 1);
    longRtt = longRtt + (rtt - longRtt) / longCount;
    const shortRtt = Math.max(rtt, 1e-6);
    if (longRtt / shortRtt > 2) longRtt *= 0.95; // recovering: let the baseline come down
    const gradient = Math.max(0.5, Math.min(1, (tolerance * longRtt) / shortRtt));
    const target = limit * gradient + Math.sqrt(limit);
    setLimit(limit * (1 - smoothing) + target * smoothing);
  };
  return {
    name,
    get limit() {
      return Math.floor(limit);
    },
    get inFlight() {
      return inFlight;
    },
    execute(next, ctx) {
      if (inFlight >= Math.floor(limit)) {
        publish.rejected(name, 'limit', ErrorCode.ResLimitExceeded);
        return Promise.reject(
          new BallastError(ErrorCode.ResLimitExceeded, `${name}: concurrency limit ${Math.floor(limit)} reached`, {
            retryable: true,
          }),
        );
      }
      const at = ++inFlight;
      const started = now();
      return next(ctx).then(
        (v) => {
          inFlight--;
          sample(now() - started, false, at);
          return v;
        },
        (e: unknown) => {
          inFlight--;
          const code = (e as { code?: string }).code;
          sample(now() - started, code === ErrorCode.ResTimeout || code === ErrorCode.ResLimitExceeded, at);
          throw e;
        },
      );
    },
  };
}
