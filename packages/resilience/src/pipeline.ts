/**
 * Composition: `pipeline(a, b, c)` runs a call through `a`, then `b`, then `c` (outermost
 * first), passing one {@link CallContext} — one signal, one deadline — all the way to the callee.
 * Built once; each call allocates only its context.
 *
 * Recommended order for a remote call: `fallback, bulkhead, retry, breaker, adaptiveLimit,
 * timeout` — the retry sees the breaker's fast rejections (and honours their retry-after), each
 * attempt gets its own timeout, and the limit measures the dependency, not the backoff.
 *
 * @module
 */
import { systemClock, type Clock } from './clock.ts';
import { Ctx, type CallContext } from './context.ts';
import { DeadlineWheel } from './deadlines.ts';
import type { Next, Policy } from './policy.ts';

/** Options of one call. */
export interface ExecuteOptions {
  /** The caller's signal: aborting it rejects with its reason and aborts the callee's signal. */
  readonly signal?: AbortSignal;
  /** An absolute deadline (clock ms). */
  readonly deadlineMs?: number;
  /** The inbound call's context: its signal and deadline bound this call (deadline propagation). */
  readonly parent?: CallContext;
}

/** A composed pipeline. */
export interface Pipeline {
  /** Runs `fn` through every policy. */
  execute<T>(fn: (ctx: CallContext) => Promise<T>, options?: ExecuteOptions): Promise<T>;
}

/** Options of {@link createPipeline}. */
export interface PipelineOptions {
  /** @default systemClock */
  readonly clock?: Clock;
  /** Deadline granularity. @default 5 */
  readonly deadlineSlotMs?: number;
}

const callFn: Next = (ctx) => (ctx as Ctx).fn(ctx);
const wheels = new WeakMap<Clock, DeadlineWheel>();

/** Composes `policies` (outermost first). */
export function createPipeline(options: PipelineOptions, ...policies: Policy[]): Pipeline {
  const clock = options.clock ?? systemClock;
  let wheel = options.deadlineSlotMs === undefined ? wheels.get(clock) : undefined;
  if (wheel === undefined) {
    wheel = new DeadlineWheel(clock, options.deadlineSlotMs ?? 5);
    if (options.deadlineSlotMs === undefined) wheels.set(clock, wheel);
  }
  let head: Next = callFn;
  for (let i = policies.length - 1; i >= 0; i--) {
    const policy = policies[i] as Policy;
    const inner = head;
    head = (ctx) => policy.execute(inner, ctx);
  }
  const w = wheel;
  const first = head;
  return {
    execute<T>(fn: (ctx: CallContext) => Promise<T>, o?: ExecuteOptions): Promise<T> {
      const parentSignal = o?.signal ?? o?.parent?.signal;
      if (parentSignal?.aborted === true) return Promise.reject(parentSignal.reason);
      let deadline = o?.deadlineMs ?? Infinity;
      const inbound = o?.parent?.deadlineMs;
      if (inbound !== undefined && inbound < deadline) deadline = inbound;
      const caller = o?.signal ?? (o?.parent as Partial<Ctx> | undefined)?.callerSignal;
      const ctx = new Ctx(fn as (ctx: CallContext) => Promise<unknown>, parentSignal, deadline, w, caller);
      if (parentSignal === undefined) return first(ctx) as Promise<T>;
      return first(ctx).finally(() => ctx.release()) as Promise<T>;
    },
  };
}

/** Composes `policies` (outermost first) on the system clock. */
export function pipeline(...policies: Policy[]): Pipeline {
  return createPipeline({}, ...policies);
}
