/**
 * `@ballast/errors`: one error type for infrastructure faults, with a stable `code`, a
 * `retryable` flag and a `cause`. Expected domain outcomes (a rejected order) are returned
 * values, not these.
 *
 * @module
 */

/** Stable error codes. Codes are API (see docs/errors.md); messages are not. */
export const ErrorCode = {
  /** A store could not be reached or the connection broke. Retryable. */
  StateConnection: 'STATE_CONNECTION',
  /**
   * The service refused the request before doing any of it: something it needs is down. Retryable
   * (nothing was done, so sending it again is always safe).
   */
  Unavailable: 'UNAVAILABLE',
  /** A write conflicted (unique violation, serialization failure, busy). */
  StateConflict: 'STATE_CONFLICT',
  /** An append's expected sequence did not match: another writer got there first. */
  StateFenced: 'STATE_FENCED',
  /** The store refused the request as malformed. */
  StateInvalid: 'STATE_INVALID',
  /** A deadline passed. Retryable. */
  Timeout: 'TIMEOUT',
  /**
   * A request reached (or may have reached) the service that carries it out, and no answer came
   * back: it may or may not have taken effect. Not retryable as such: send it again only with the
   * same idempotency key (it then answers the original), or look it up first.
   */
  OutcomeUnknown: 'OUTCOME_UNKNOWN',
  /** The caller's signal aborted. */
  Cancelled: 'CANCELLED',
  /** The process is draining and takes no new work. Retryable elsewhere. */
  Draining: 'DRAINING',
  /** Configuration is invalid. */
  ConfigInvalid: 'CONFIG_INVALID',
  /** A bug: an invariant did not hold. */
  Internal: 'INTERNAL',
  /** A resilience deadline passed before the call completed. Retryable. */
  ResTimeout: 'RES_TIMEOUT',
  /** The circuit breaker is open (or its half-open probes are taken). Retryable later. */
  ResCircuitOpen: 'RES_CIRCUIT_OPEN',
  /** The bulkhead's slots and queue are full, or the call waited too long in its queue. Retryable. */
  ResBulkheadFull: 'RES_BULKHEAD_FULL',
  /** The adaptive concurrency limit shed the call. Retryable. */
  ResLimitExceeded: 'RES_LIMIT_EXCEEDED',
  /** The retry budget allows no more retries now. */
  ResBudgetExhausted: 'RES_BUDGET_EXHAUSTED',
  /** A rate limit refused the call; `retryAfterMs` says when to try again. Retryable. */
  ResRateLimited: 'RES_RATE_LIMITED',
} as const;
/** One of {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const MARK = Symbol.for('ballast.error');

/** Options of {@link BallastError}. */
export interface BallastErrorOptions {
  readonly cause?: unknown;
  /** @default false */
  readonly retryable?: boolean;
  /** A hint: do not retry before this many milliseconds. */
  readonly retryAfterMs?: number;
}

/** An infrastructure fault with a stable code. */
export class BallastError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Do not retry before this many milliseconds (when the source knows). */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: BallastErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BallastError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    Object.defineProperty(this, MARK, { value: true });
  }
}

/** True for a {@link BallastError}, also one from another copy of this package. */
export function isBallastError(e: unknown): e is BallastError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[MARK] === true;
}

/** True when `e` is marked retryable. */
export function isRetryable(e: unknown): boolean {
  return isBallastError(e) && e.retryable;
}

export { neverConnected } from './never-connected.ts';
