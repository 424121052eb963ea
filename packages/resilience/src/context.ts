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
  /** What bounds the call besides its deadline: the caller's signal, or the inbound call's signal. */
  parentSignal: AbortSignal | undefined;
  /**
   * The signal the caller itself passed (`ExecuteOptions.signal`, or its inbound call's): a call
   * ended with its reason was given up by the caller, which says nothing about the callee (the
   * breaker counts it neither way). Unlike `parentSignal`, never a deadline's.
   */
  readonly callerSignal: AbortSignal | undefined;
  #deadlineMs: number;
  attempt = 0;
  #signal: AbortSignal | undefined;
  /** The listener on `parentSignal` and the controller the deadline's callback aborts, while linked. */
  #link: { parent: AbortSignal; onAbort: () => void; target: AbortController | undefined } | undefined;
  #released = false;
  readonly wheel: DeadlineWheel;

  constructor(
    fn: (ctx: CallContext) => Promise<unknown>,
    parentSignal: AbortSignal | undefined,
    deadlineMs: number,
    wheel: DeadlineWheel,
    callerSignal?: AbortSignal,
  ) {
    this.fn = fn;
    this.parentSignal = parentSignal;
    this.callerSignal = callerSignal;
    this.#deadlineMs = deadlineMs;
    this.wheel = wheel;
  }

  get deadlineMs(): number {
    return this.#deadlineMs;
  }

  set deadlineMs(ms: number) {
    if (ms !== this.#deadlineMs) {
      this.#deadlineMs = ms;
      this.#unlink();
      this.#signal = undefined;
    }
  }

  #unlink(): void {
    const link = this.#link;
    if (link === undefined) return;
    this.#link = undefined;
    link.parent.removeEventListener('abort', link.onAbort);
    link.target = undefined; // the deadline's callback, kept by its slot, no longer holds the controller
  }

  /**
   * The call settled: removes what a combined signal hung on the caller's signal and the
   * deadline's slot. A signal first read after this is built with `AbortSignal.any` (weakly held).
   */
  release(): void {
    this.#released = true;
    this.#unlink();
  }

  get signal(): AbortSignal {
    let s = this.#signal;
    if (s === undefined) {
      const parent = this.parentSignal;
      if (this.#deadlineMs === Infinity) s = parent ?? NEVER;
      else if (parent === undefined) s = this.wheel.signal(this.#deadlineMs);
      else if (this.#released || parent.aborted) s = AbortSignal.any([parent, this.wheel.signal(this.#deadlineMs)]);
      else {
        // The caller's signal and the deadline, combined by hand: one controller, a listener on
        // the caller's signal and a callback in the deadline's slot, both let go by `release`
        // when the call settles (so a long-lived caller signal gathers nothing). A call through
        // `timeout()` with a fresh caller signal took 6.1 µs this way against 10.5 µs with
        // `AbortSignal.any` (Node 24), and 2.4 µs without a caller signal.
        const c = new AbortController();
        const link = {
          parent,
          onAbort: () => link.target?.abort(parent.reason),
          target: c as AbortController | undefined,
        };
        parent.addEventListener('abort', link.onAbort, { once: true });
        this.wheel.onExpire(this.#deadlineMs, (err) => link.target?.abort(err));
        this.#link = link;
        s = c.signal;
      }
      this.#signal = s;
    }
    return s;
  }

  /**
   * Replaces what bounds the call besides its deadline (hedging gives each attempt its own
   * signal). Kept when a policy below sets a deadline of its own: the attempt's signal is then
   * combined with that deadline rather than dropped.
   */
  overrideSignal(signal: AbortSignal | undefined): void {
    this.#unlink();
    this.parentSignal = signal;
    this.#signal = undefined;
  }
}
