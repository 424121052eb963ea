/**
 * Circuit breaker (resilience4j's model): CLOSED → OPEN when failures (or slow calls) cross a
 * threshold; OPEN rejects at once with `RES_CIRCUIT_OPEN` (retryable, with `retryAfterMs`) for
 * `openMs`; then HALF_OPEN lets at most `halfOpenProbes` calls through: if they all succeed it
 * closes, if one fails it opens again for longer (`openMs × backoffFactor`, up to `maxOpenMs`).
 *
 * Modes: `consecutive` (N failures in a row), `count` (the last N calls) and `time` (calls in the
 * last N ms), the window modes with failure-rate and slow-call-rate thresholds and a minimum
 * number of calls. State can be exported with `toJSON()` and passed back as `initialState`, so
 * a restarted replica does not re-probe a dependency it knew was broken.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import { systemClock, type Clock } from './clock.ts';
import { publish } from './events.ts';
import type { Ctx } from './context.ts';
import type { Policy } from './policy.ts';

/** Breaker states. */
export const BreakerState = { Closed: 'CLOSED', Open: 'OPEN', HalfOpen: 'HALF_OPEN' } as const;
/** One of {@link BreakerState}. */
export type BreakerState = (typeof BreakerState)[keyof typeof BreakerState];

/** Exported breaker state, for {@link CircuitBreakerOptions.initialState}. */
export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** Clock time the current open period ends (OPEN only). */
  readonly openUntilMs: number;
  /** Length of the last open period, for backoff. */
  readonly lastOpenMs: number;
}

/** How failures are counted. */
export type BreakerMode =
  | { readonly kind: 'consecutive'; readonly failures: number }
  | {
      readonly kind: 'count' | 'time';
      /** Calls (count) or milliseconds (time) in the window. */
      readonly size: number;
      /** Open when this percentage of calls failed. @default 50 */
      readonly failureRatePct?: number;
      /** Open when this percentage of calls were slow. @default 100 (off) */
      readonly slowCallRatePct?: number;
      /** A call slower than this is slow. @default Infinity */
      readonly slowCallMs?: number;
      /** No decision before this many calls in the window. @default 10 */
      readonly minimumCalls?: number;
    };

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  readonly mode: BreakerMode;
  /** First open period. @default 5000 */
  readonly openMs?: number;
  /** Each re-open multiplies the period by this. @default 2 */
  readonly backoffFactor?: number;
  /** @default 60000 */
  readonly maxOpenMs?: number;
  /** Calls allowed at once in HALF_OPEN; all must succeed to close. @default 1 */
  readonly halfOpenProbes?: number;
  /**
   * Which errors count as failures (the others count as successes). A call the caller itself
   * aborted (its pipeline signal's reason) counts as neither. @default every error but an `AbortError`
   */
  readonly isFailure?: (err: unknown) => boolean;
  readonly initialState?: BreakerSnapshot;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Clock for call durations (slow calls). @default performance.now */
  readonly durationClock?: () => number;
  /** @default 'breaker' */
  readonly name?: string;
}

/** A breaker: a policy with inspectable, exportable state. */
export interface CircuitBreaker extends Policy {
  readonly state: BreakerState;
  /** Serializable state. */
  toJSON(): BreakerSnapshot;
  /** Forces OPEN (for operators) until {@link CircuitBreaker.reset}. */
  isolate(): void;
  /** Back to CLOSED with empty statistics. */
  reset(): void;
}

const defaultIsFailure = (err: unknown): boolean =>
  !(typeof err === 'object' && err !== null && (err as { name?: string }).name === 'AbortError');

/** Creates a circuit breaker. */
export function circuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const clock = options.clock ?? systemClock;
  const dclock = options.durationClock ?? (() => performance.now());
  const name = options.name ?? 'breaker';
  const mode = options.mode;
  const baseOpen = options.openMs ?? 5000;
  const factor = options.backoffFactor ?? 2;
  const maxOpen = options.maxOpenMs ?? 60_000;
  const probes = options.halfOpenProbes ?? 1;
  const isFailure = options.isFailure ?? defaultIsFailure;
  const windowed = mode.kind !== 'consecutive';
  const failureRate = windowed ? (mode.failureRatePct ?? 50) : 100;
  const slowRate = windowed ? (mode.slowCallRatePct ?? 100) : 100;
  const slowMs = windowed ? (mode.slowCallMs ?? Infinity) : Infinity;
  const minCalls = windowed ? (mode.minimumCalls ?? 10) : 1;
  const timed = slowMs !== Infinity;

  let state: BreakerState = options.initialState?.state ?? BreakerState.Closed;
  let openUntil = options.initialState?.openUntilMs ?? 0;
  let lastOpen = options.initialState?.lastOpenMs ?? 0;
  let isolated = false;
  let consecutive = 0;
  let probesInFlight = 0;
  let probeSuccesses = 0;

  // Count window: a ring of outcomes (0 ok, 1 failure, 2 slow ok, 3 slow failure).
  const ringSize = mode.kind === 'count' ? mode.size : 0;
  const ring = new Uint8Array(ringSize);
  let ringPos = 0;
  let ringLen = 0;
  // Time window: 1-second buckets (or size/10, whichever is smaller).
  const bucketMs = mode.kind === 'time' ? Math.max(1, Math.min(1000, Math.floor(mode.size / 10))) : 1;
  const buckets = mode.kind === 'time' ? Math.ceil(mode.size / bucketMs) : 0;
  const tCalls = new Float64Array(buckets);
  const tFails = new Float64Array(buckets);
  const tSlow = new Float64Array(buckets);
  let tHead = Math.floor(clock.now() / bucketMs);
  let calls = 0;
  let fails = 0;
  let slow = 0;

  const transition = (to: BreakerState): void => {
    if (to === state) return;
    const from = state;
    state = to;
    publish.breakerState(name, from, to);
  };
  const clearWindow = (): void => {
    consecutive = 0;
    ring.fill(0);
    ringPos = 0;
    ringLen = 0;
    tCalls.fill(0);
    tFails.fill(0);
    tSlow.fill(0);
    calls = fails = slow = 0;
  };
  const open = (): void => {
    lastOpen = state === BreakerState.HalfOpen ? Math.min(maxOpen, Math.max(baseOpen, lastOpen * factor)) : baseOpen;
    openUntil = clock.now() + lastOpen;
    probesInFlight = 0;
    probeSuccesses = 0;
    clearWindow();
    transition(BreakerState.Open);
  };
  const rollTime = (): void => {
    const cur = Math.floor(clock.now() / bucketMs);
    const steps = Math.min(buckets, cur - tHead);
    for (let i = 1; i <= steps; i++) {
      const idx = (tHead + i) % buckets;
      calls -= tCalls[idx] as number;
      fails -= tFails[idx] as number;
      slow -= tSlow[idx] as number;
      tCalls[idx] = tFails[idx] = tSlow[idx] = 0;
    }
    if (cur > tHead) tHead = cur;
  };
  const recordClosed = (failed: boolean, isSlow: boolean): void => {
    if (mode.kind === 'consecutive') {
      consecutive = failed ? consecutive + 1 : 0;
      if (consecutive >= mode.failures) open();
      return;
    }
    if (mode.kind === 'count') {
      if (ringLen === ringSize) {
        const old = ring[ringPos] as number;
        calls--;
        if (old & 1) fails--;
        if (old & 2) slow--;
      } else ringLen++;
      ring[ringPos] = (failed ? 1 : 0) | (isSlow ? 2 : 0);
      ringPos = (ringPos + 1) % ringSize;
    } else {
      rollTime();
      const idx = tHead % buckets;
      tCalls[idx] = (tCalls[idx] as number) + 1;
      if (failed) tFails[idx] = (tFails[idx] as number) + 1;
      if (isSlow) tSlow[idx] = (tSlow[idx] as number) + 1;
    }
    calls++;
    if (failed) fails++;
    if (isSlow) slow++;
    if (calls >= minCalls && (fails * 100 >= failureRate * calls || (slowRate < 100 && slow * 100 >= slowRate * calls)))
      open();
  };
  const onDone = (probe: boolean, failed: boolean, isSlow: boolean): void => {
    if (probe) {
      probesInFlight--;
      if (state !== BreakerState.HalfOpen) return;
      if (failed || isSlow) open();
      else if (++probeSuccesses >= probes) {
        clearWindow();
        transition(BreakerState.Closed);
      }
      return;
    }
    if (state === BreakerState.Closed) recordClosed(failed, isSlow);
  };
  const rejectOpen = (): Promise<never> => {
    publish.rejected(name, 'breaker', ErrorCode.ResCircuitOpen);
    return Promise.reject(
      new BallastError(ErrorCode.ResCircuitOpen, `${name}: circuit open`, {
        retryable: true,
        retryAfterMs: Math.max(0, openUntil - clock.now()),
      }),
    );
  };

  // Settlement handlers made once, so an untimed call allocates no closures.
  const closedOk = <V>(v: V): V => {
    onDone(false, false, false);
    return v;
  };
  const closedFail = (e: unknown): never => {
    onDone(false, isFailure(e), false);
    throw e;
  };
  const probeOk = <V>(v: V): V => {
    onDone(true, false, false);
    return v;
  };
  const probeFail = (e: unknown): never => {
    onDone(true, isFailure(e), false);
    throw e;
  };

  const breaker: CircuitBreaker = {
    name,
    get state() {
      if (state === BreakerState.Open && !isolated && clock.now() >= openUntil) transition(BreakerState.HalfOpen);
      return state;
    },
    execute(next, ctx) {
      let probe = false;
      if (state !== BreakerState.Closed) {
        if (isolated) return rejectOpen();
        if (state === BreakerState.Open) {
          if (clock.now() < openUntil) return rejectOpen();
          transition(BreakerState.HalfOpen);
        }
        if (probesInFlight >= probes) return rejectOpen();
        probesInFlight++;
        probe = true;
      }
      // The caller's own signal (not a deadline's): a call it aborted says nothing about the
      // dependency, so it is recorded neither as a failure nor as a success (a half-open probe
      // frees its slot only).
      const caller = (ctx as Partial<Ctx>).callerSignal;
      if (!timed && caller === undefined)
        return probe ? next(ctx).then(probeOk, probeFail) : next(ctx).then(closedOk, closedFail);
      const started = timed ? dclock() : 0;
      return next(ctx).then(
        (v) => {
          onDone(probe, false, timed && dclock() - started > slowMs);
          return v;
        },
        (e: unknown) => {
          if (caller !== undefined && caller.aborted && e === caller.reason) {
            if (probe && probesInFlight > 0) probesInFlight--;
            throw e;
          }
          onDone(probe, isFailure(e), timed && dclock() - started > slowMs);
          throw e;
        },
      );
    },
    toJSON() {
      return { state: breaker.state, openUntilMs: openUntil, lastOpenMs: lastOpen };
    },
    isolate() {
      isolated = true;
      openUntil = Infinity;
      transition(BreakerState.Open);
    },
    reset() {
      isolated = false;
      clearWindow();
      probesInFlight = 0;
      lastOpen = 0;
      transition(BreakerState.Closed);
    },
  };
  return breaker;
}
