/**
 * Turns the resilience package's `diagnostics_channel` events into Prometheus metrics:
 * rejections by policy and code, retries, hedges, breaker state (0 closed, 1 half-open, 2 open)
 * and adaptive limits. Subscribing is what makes the channels publish; without this adapter they
 * cost nothing.
 *
 * @module
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, Gauge, type Registry } from 'prom-client';

const CH = {
  breakerState: 'ballast:resilience:breaker-state',
  rejected: 'ballast:resilience:rejected',
  retry: 'ballast:resilience:retry',
  hedge: 'ballast:resilience:hedge',
  limit: 'ballast:resilience:limit',
} as const;

const STATE_VALUE: Record<string, number> = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 };

/** Registers resilience metrics on `registry` and subscribes to the events; returns an unsubscriber. */
export function bindResilienceMetrics(registry: Registry): () => void {
  const rejections = new Counter({
    name: 'ballast_resilience_rejections_total',
    help: 'Calls refused or failed by a resilience policy, by policy instance, kind and code.',
    labelNames: ['name', 'policy', 'code'],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'ballast_resilience_retries_total',
    help: 'Retries scheduled.',
    labelNames: ['name'],
    registers: [registry],
  });
  const hedges = new Counter({
    name: 'ballast_resilience_hedges_total',
    help: 'Hedged attempts started.',
    labelNames: ['name'],
    registers: [registry],
  });
  const breaker = new Gauge({
    name: 'ballast_resilience_breaker_state',
    help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
    labelNames: ['name'],
    registers: [registry],
  });
  const limits = new Gauge({
    name: 'ballast_resilience_limit',
    help: 'Adaptive concurrency limit.',
    labelNames: ['name'],
    registers: [registry],
  });
  const handlers: [string, (m: unknown) => void][] = [
    [
      CH.rejected,
      (m) => {
        const e = m as { name: string; policy: string; code: string };
        rejections.inc({ name: e.name, policy: e.policy, code: e.code });
      },
    ],
    [CH.retry, (m) => retries.inc({ name: (m as { name: string }).name })],
    [CH.hedge, (m) => hedges.inc({ name: (m as { name: string }).name })],
    [
      CH.breakerState,
      (m) => {
        const e = m as { name: string; to: string };
        breaker.set({ name: e.name }, STATE_VALUE[e.to] ?? -1);
      },
    ],
    [
      CH.limit,
      (m) => {
        const e = m as { name: string; limit: number };
        limits.set({ name: e.name }, e.limit);
      },
    ],
  ];
  for (const [name, h] of handlers) subscribe(name, h);
  return () => {
    for (const [name, h] of handlers) unsubscribe(name, h);
  };
}
