/**
 * Retry: up to `maxAttempts`, only for errors marked retryable, with exponential backoff and
 * full or decorrelated jitter (AWS, "Exponential Backoff and Jitter"), honouring an error's
 * `retryAfterMs` hint (waiting for it when it is within the backoff cap, failing fast when it is
 * longer), within the call's deadline and an optional {@link RetryBudget}. Never
 * retries once the caller's signal has aborted; aborting during a backoff stops at once.
 *
 * Place timeouts *inside* the retry so each attempt gets its own (the inbound deadline still
 * bounds them all).
 *
 * @module
 */
import { ErrorCode, isRetryable } from '@ballast/errors';
import { systemClock, type Clock } from './clock.ts';
import type { Ctx } from './context.ts';
import { publish } from './events.ts';
import type { Policy } from './policy.ts';
import type { RetryBudget } from './retry-budget.ts';

/** Backoff between attempts. */
export interface BackoffOptions {
  /** @default 'full' */
  readonly jitter?: 'full' | 'decorrelated' | 'none';
  /** First delay (and the decorrelated floor). @default 50 */
  readonly baseMs?: number;
  /** Longest delay. @default 2000 */
  readonly maxMs?: number;
}

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Attempts in all, the first included. @default 3 */
  readonly maxAttempts?: number;
  readonly backoff?: BackoffOptions;
  /** Shared budget: a retry it refuses is not made (the last error is thrown). */
  readonly budget?: RetryBudget;
  /** Which errors to retry. @default {@link defaultShouldRetry} */
  readonly shouldRetry?: (err: unknown) => boolean;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Random numbers in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** @default 'retry' */
  readonly name?: string;
}

/**
 * Retries errors marked retryable, except an inner breaker's `RES_CIRCUIT_OPEN`: retrying into an
 * open circuit only adds latency (the error stays retryable for callers further out).
 */
export const defaultShouldRetry = (err: unknown): boolean =>
  isRetryable(err) && (err as { code?: unknown }).code !== ErrorCode.ResCircuitOpen;

/** The delay before retry number `attempt` (1-based), given the previous delay. */
export function backoffDelay(attempt: number, prevMs: number, o: BackoffOptions, random: () => number): number {
  const base = o.baseMs ?? 50;
  const cap = o.maxMs ?? 2000;
  switch (o.jitter ?? 'full') {
    case 'none':
      return Math.min(cap, base * 2 ** (attempt - 1));
    case 'full':
      return random() * Math.min(cap, base * 2 ** (attempt - 1));
    case 'decorrelated':
      return Math.min(cap, base + random() * (Math.max(prevMs, base) * 3 - base));
  }
}

/** A retry policy. */
export function retry(options: RetryOptions = {}): Policy {
  const max = options.maxAttempts ?? 3;
  if (!Number.isInteger(max) || max < 1) throw new RangeError('maxAttempts must be an integer >= 1');
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const should = options.shouldRetry ?? defaultShouldRetry;
  const backoff = options.backoff ?? {};
  const budget = options.budget;
  const name = options.name ?? 'retry';
  const maxBackoff = backoff.maxMs ?? 2000;
  const sleep = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
    new Promise((resolve, reject) => {
      const onAbort = (): void => {
        clock.clearTimeout(t);
        reject(signal?.reason);
      };
      const t = clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  return {
    name,
    async execute(next, ctx) {
      const c = ctx as Ctx;
      const outer = c.deadlineMs;
      budget?.recordRequest();
      let prev = backoff.baseMs ?? 50;
      for (let attempt = 0; ; attempt++) {
        c.attempt = attempt;
        c.deadlineMs = outer;
        try {
          return await next(c);
        } catch (err) {
          if (attempt + 1 >= max || !should(err) || c.parentSignal?.aborted === true) throw err;
          let delay = backoffDelay(attempt + 1, prev, backoff, random);
          prev = delay;
          const hint = (err as { retryAfterMs?: unknown }).retryAfterMs;
          if (typeof hint === 'number' && hint > delay) {
            // Told to wait longer than this policy ever backs off (an open breaker, a rate limit):
            // fail fast rather than hold the caller.
            if (hint > maxBackoff) throw err;
            delay = hint;
          }
          if (clock.now() + delay >= outer) throw err;
          if (budget !== undefined && !budget.tryWithdraw()) {
            publish.rejected(name, 'retry', 'RES_BUDGET_EXHAUSTED');
            throw err;
          }
          publish.retry(name, attempt + 1, delay);
          await sleep(delay, c.parentSignal);
        }
      }
    },
  };
}
