/**
 * Timeout: sets the call's deadline to `now + timeoutMs` (or keeps an earlier inbound one —
 * deadlines propagate into nested pipelines) and hands the callee a signal that aborts then.
 *
 * - **cooperative** (default): the callee gets the signal and is expected to stop; nothing else
 *   runs per call (the signal is shared per 5 ms slot, see `DeadlineWheel`). A callee that
 *   ignores the signal finishes late and its result is used.
 * - **aggressive**: the returned promise rejects with `RES_TIMEOUT` at the deadline even if the
 *   callee ignores its signal; the callee keeps running in the background and its result is
 *   dropped.
 *
 * A call that arrives after its deadline is not started (`RES_TIMEOUT`).
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import { systemClock, type Clock } from './clock.ts';
import type { Ctx } from './context.ts';
import { publish } from './events.ts';
import type { Policy } from './policy.ts';

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /** Reject at the deadline even if the callee ignores its signal. @default false */
  readonly aggressive?: boolean;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Name in events. @default 'timeout' */
  readonly name?: string;
}

/** A timeout of `timeoutMs` per pass through it (per attempt, when placed inside a retry). */
export function timeout(timeoutMs: number, options: TimeoutOptions = {}): Policy {
  if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be > 0');
  const clock = options.clock ?? systemClock;
  const name = options.name ?? 'timeout';
  const aggressive = options.aggressive === true;
  return {
    name,
    execute(next, ctx) {
      const c = ctx as Ctx;
      const now = clock.now();
      const deadline = now + timeoutMs;
      if (deadline < c.deadlineMs) c.deadlineMs = deadline;
      if (c.deadlineMs <= now) {
        publish.rejected(name, 'timeout', ErrorCode.ResTimeout);
        return Promise.reject(
          new BallastError(ErrorCode.ResTimeout, `${name}: deadline already passed`, { retryable: true }),
        );
      }
      if (!aggressive) return next(c);
      return new Promise((resolve, reject) => {
        let settled = false;
        c.wheel.onExpire(c.deadlineMs, (err) => {
          if (settled) return;
          settled = true;
          publish.rejected(name, 'timeout', ErrorCode.ResTimeout);
          reject(err);
        });
        next(c).then(
          (v) => {
            if (!settled) {
              settled = true;
              resolve(v);
            }
          },
          (e: unknown) => {
            if (!settled) {
              settled = true;
              reject(e);
            }
          },
        );
      });
    },
  };
}
