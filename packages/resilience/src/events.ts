/**
 * Observability: every state change and rejection is published on a `diagnostics_channel`
 * (`ballast:resilience:*`). Publishing is skipped when nobody subscribes, so it costs nothing
 * unused; `@ballast/runtime` turns these into Prometheus metrics.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';

/** Channel names. */
export const ResilienceChannel = {
  /** `{ name, from, to }` — a breaker changed state. */
  BreakerState: 'ballast:resilience:breaker-state',
  /** `{ name, policy, code }` — a policy refused or failed a call (e.g. `RES_CIRCUIT_OPEN`). */
  Rejected: 'ballast:resilience:rejected',
  /** `{ name, attempt, delayMs }` — a retry was scheduled. */
  Retry: 'ballast:resilience:retry',
  /** `{ name, delayMs }` — a hedged attempt started. */
  Hedge: 'ballast:resilience:hedge',
  /** `{ name, limit }` — an adaptive limit changed. */
  Limit: 'ballast:resilience:limit',
} as const;

const breakerState = channel(ResilienceChannel.BreakerState);
const rejected = channel(ResilienceChannel.Rejected);
const retry = channel(ResilienceChannel.Retry);
const hedge = channel(ResilienceChannel.Hedge);
const limit = channel(ResilienceChannel.Limit);

/** @internal */
export const publish = {
  breakerState(name: string, from: string, to: string): void {
    if (breakerState.hasSubscribers) breakerState.publish({ name, from, to });
  },
  rejected(name: string, policy: string, code: string): void {
    if (rejected.hasSubscribers) rejected.publish({ name, policy, code });
  },
  retry(name: string, attempt: number, delayMs: number): void {
    if (retry.hasSubscribers) retry.publish({ name, attempt, delayMs });
  },
  hedge(name: string, delayMs: number): void {
    if (hedge.hasSubscribers) hedge.publish({ name, delayMs });
  },
  limit(name: string, value: number): void {
    if (limit.hasSubscribers) limit.publish({ name, limit: value });
  },
};
