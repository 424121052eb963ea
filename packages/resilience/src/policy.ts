/**
 * A policy wraps one step of a call. Policies are values: build them once, compose them with
 * {@link pipeline}, share them across calls.
 *
 * @module
 */
import type { CallContext } from './context.ts';

/** The rest of the pipeline, as a policy sees it. */
export type Next = (ctx: CallContext) => Promise<unknown>;

/** One resilience policy. */
export interface Policy {
  /** Short name used in events and errors. */
  readonly name: string;
  /**
   * Runs `next` under this policy. Must pass `ctx` on unchanged except for what the policy owns
   * (deadline, attempt, signal).
   */
  execute(next: Next, ctx: CallContext): Promise<unknown>;
}
