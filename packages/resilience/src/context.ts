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
      this.#signal = undefined;
    }
  }

  get signal(): AbortSignal {
    let s = this.#signal;
    if (s === undefined) {
      const parent = this.parentSignal;
      if (this.#deadlineMs === Infinity) s = parent ?? NEVER;
      else {
        const d = this.wheel.signal(this.#deadlineMs);
        s = parent === undefined ? d : AbortSignal.any([parent, d]);
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
