/**
 * The per-call context every policy and the callee see: one object per call, carrying the
 * caller's signal, the current deadline and the attempt number. Its `signal` is built lazily,
 * only if the callee reads it: the caller's signal, the shared deadline signal, or (only when
 * both exist) their combination.
 *
 * @module
 */
import type { DeadlineWheel } from './deadlines.ts';

/** What a call sees. */
export interface CallContext {
  /** Aborts when the caller aborts or the deadline passes (reason: the caller's, or `RES_TIMEOUT`). */
  readonly signal: AbortSignal;
  /** Absolute deadline in clock ms; `Infinity` when none. Nested pipelines inherit it. */
  readonly deadlineMs: number;
  /** 0 for the first attempt, then 1, 2, … (retries and hedges). */
  readonly attempt: number;
}

const NEVER = new AbortController().signal;

/** @internal The mutable context the pipeline owns. */
export class Ctx implements CallContext {
  fn: (ctx: CallContext) => Promise<unknown>;
  parentSignal: AbortSignal | undefined;
  #deadlineMs: number;
  attempt = 0;
  #signal: AbortSignal | undefined;
  #detach: (() => void) | undefined;
  readonly wheel: DeadlineWheel;

  constructor(
    fn: (ctx: CallContext) => Promise<unknown>,
    parentSignal: AbortSignal | undefined,
    deadlineMs: number,
    wheel: DeadlineWheel,
  ) {
    this.fn = fn;
    this.parentSignal = parentSignal;
    this.#deadlineMs = deadlineMs;
    this.wheel = wheel;
  }

  get deadlineMs(): number {
    return this.#deadlineMs;
  }

  set deadlineMs(ms: number) {
    if (ms !== this.#deadlineMs) {
      this.#deadlineMs = ms;
      this.release();
      this.#signal = undefined;
    }
  }

  /** Removes the listener a combined signal put on the caller's signal (a call that settled). */
  release(): void {
    const detach = this.#detach;
    this.#detach = undefined;
    detach?.();
  }

  get signal(): AbortSignal {
    let s = this.#signal;
    if (s === undefined) {
      const parent = this.parentSignal;
      if (this.#deadlineMs === Infinity) s = parent ?? NEVER;
      else {
        if (parent === undefined) s = this.wheel.signal(this.#deadlineMs);
        else {
          // The caller's signal and the deadline, combined by hand: AbortSignal.any costs about
          // 12 µs a call on Node 24 (weak references to every source), this under 1 µs. The
          // deadline side is a callback in the wheel's slot (dropped when the slot ends); the
          // caller's side a listener that `release` removes when the call settles, so a
          // long-lived caller signal gathers none.
          const c = new AbortController();
          if (parent.aborted) c.abort(parent.reason);
          else {
            const onAbort = (): void => c.abort(parent.reason);
            parent.addEventListener('abort', onAbort, { once: true });
            this.#detach = () => parent.removeEventListener('abort', onAbort);
            this.wheel.onExpire(this.#deadlineMs, (err) => c.abort(err));
          }
          s = c.signal;
        }
      }
      this.#signal = s;
    }
    return s;
  }

  /** Replaces the signal seen downstream (hedging gives each attempt its own). */
  overrideSignal(signal: AbortSignal | undefined): void {
    this.#signal = signal;
  }
}
