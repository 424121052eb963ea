/**
 * Bulkhead: at most `maxConcurrent` calls at once, up to `maxQueue` more waiting (FIFO), each
 * for at most `queueTimeoutMs`. A full bulkhead, or a wait that times out, rejects with
 * `RES_BULKHEAD_FULL` (retryable). A queued call whose signal aborts leaves the queue and never
 * runs.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import { systemClock, type Clock } from './clock.ts';
import type { CallContext } from './context.ts';
import { publish } from './events.ts';
import type { Next, Policy } from './policy.ts';

/** Options of {@link bulkhead}. */
export interface BulkheadOptions {
  readonly maxConcurrent: number;
  /** @default 0 */
  readonly maxQueue?: number;
  /** @default 1000 */
  readonly queueTimeoutMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default 'bulkhead' */
  readonly name?: string;
}

/** A bulkhead with its counters. */
export interface Bulkhead extends Policy {
  readonly active: number;
  readonly queued: number;
}

interface Waiter {
  readonly next: Next;
  readonly ctx: CallContext;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  timer: unknown;
  onAbort: (() => void) | undefined;
  done: boolean;
}

/** Creates a bulkhead. */
export function bulkhead(options: BulkheadOptions): Bulkhead {
  const max = options.maxConcurrent;
  const maxQueue = options.maxQueue ?? 0;
  const waitMs = options.queueTimeoutMs ?? 1000;
  const clock = options.clock ?? systemClock;
  const name = options.name ?? 'bulkhead';
  let active = 0;
  const queue: Waiter[] = [];
  const full = (why: string): BallastError => {
    publish.rejected(name, 'bulkhead', ErrorCode.ResBulkheadFull);
    return new BallastError(ErrorCode.ResBulkheadFull, `${name}: ${why}`, { retryable: true });
  };
  const release = (): void => {
    active--;
    while (queue.length > 0 && active < max) {
      const w = queue.shift() as Waiter;
      if (w.done) continue;
      w.done = true;
      clock.clearTimeout(w.timer);
      if (w.onAbort !== undefined)
        (w.ctx as { parentSignal?: AbortSignal }).parentSignal?.removeEventListener('abort', w.onAbort);
      active++;
      run(w.next, w.ctx).then(w.resolve, w.reject);
    }
  };
  const run = (next: Next, ctx: CallContext): Promise<unknown> => {
    let p: Promise<unknown>;
    try {
      p = next(ctx);
    } catch (e) {
      release();
      return Promise.reject(e);
    }
    return p.then(
      (v) => {
        release();
        return v;
      },
      (e: unknown) => {
        release();
        throw e;
      },
    );
  };
  return {
    name,
    get active() {
      return active;
    },
    get queued() {
      return queue.filter((w) => !w.done).length;
    },
    execute(next, ctx) {
      if (active < max) {
        active++;
        return run(next, ctx);
      }
      if (queue.filter((w) => !w.done).length >= maxQueue) return Promise.reject(full('full'));
      return new Promise((resolve, reject) => {
        const w: Waiter = { next, ctx, resolve, reject, timer: undefined, onAbort: undefined, done: false };
        w.timer = clock.setTimeout(() => {
          if (w.done) return;
          w.done = true;
          reject(full(`waited ${waitMs} ms in the queue`));
        }, waitMs);
        const signal = (ctx as { parentSignal?: AbortSignal }).parentSignal;
        if (signal !== undefined) {
          w.onAbort = () => {
            if (w.done) return;
            w.done = true;
            clock.clearTimeout(w.timer);
            reject(signal.reason);
          };
          signal.addEventListener('abort', w.onAbort, { once: true });
        }
        queue.push(w);
      });
    },
  };
}
