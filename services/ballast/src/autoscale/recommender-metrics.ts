/**
 * The recommender's own Prometheus metrics. `ballast_autoscaler_desired_replicas{role}` is the
 * decision, for a KEDA `prometheus` trigger or an HPA External metric with `AverageValue` 1;
 * the rest says how it was reached (current and ready replicas, degraded mode, the signal that
 * set it, each signal's value and replica count, the measured ready time) and what was done
 * (scale requests by direction and outcome, failed scrapes).
 *
 * @module
 */
import type { LiveDecision, LiveScaleEvent } from '@ballast/autoscaler';
import { Counter, Gauge, Registry } from 'prom-client';

/** The metrics and how to update them. */
export interface RecommenderMetrics {
  readonly registry: Registry;
  /** Records one interval's decision for a role. */
  decision(d: LiveDecision): void;
  /** Records a scale request's outcome. */
  scale(e: LiveScaleEvent): void;
}

/** Creates the registry. */
export function createRecommenderMetrics(options: { readonly dryRun: boolean }): RecommenderMetrics {
  const registry = new Registry();
  const g = (name: string, help: string, labelNames: string[]): Gauge =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const desired = g(
    'ballast_autoscaler_desired_replicas',
    'Replicas the recommender wants per role (use as a KEDA/HPA external metric with AverageValue 1).',
    ['role'],
  );
  const current = g('ballast_autoscaler_current_replicas', 'Replicas not draining, per role.', ['role']);
  const ready = g('ballast_autoscaler_ready_replicas', 'Ready replicas per role.', ['role']);
  const degraded = g(
    'ballast_autoscaler_degraded',
    "1 while a role is in degraded mode (status or a ready replica's metrics missing): no scale-down.",
    ['role'],
  );
  const limitedBy = g('ballast_autoscaler_limited_by', '1 for the signal that set the last decision of a role.', [
    'role',
    'signal',
  ]);
  const perSignal = g('ballast_autoscaler_signal_replicas', 'Replicas each signal asked for.', ['role', 'signal']);
  const value = g(
    'ballast_autoscaler_signal_value',
    'Signals of the last decision: elu (mean), in_flight (total), p99_ms, throughput_per_s, orders_per_s, lag_messages.',
    ['role', 'signal'],
  );
  const readyDelay = g(
    'ballast_autoscaler_ready_delay_seconds',
    'Measured time from a scale-up request to the new replica being ready (the prediction horizon).',
    ['role'],
  );
  const last = g(
    'ballast_autoscaler_last_decision_timestamp_seconds',
    'When the last decision for a role was made (Unix time).',
    ['role'],
  );
  const requests = new Counter({
    name: 'ballast_autoscaler_scale_requests_total',
    help: 'Scale requests sent to the cluster, by direction and outcome.',
    labelNames: ['role', 'direction', 'outcome'],
    registers: [registry],
  });
  const scrapeFailures = new Counter({
    name: 'ballast_autoscaler_scrape_failures_total',
    help: 'Ready replicas whose /metrics could not be read in time.',
    labelNames: ['role'],
    registers: [registry],
  });
  new Gauge({
    name: 'ballast_autoscaler_dry_run',
    help: '1 when the recommender only publishes its decision and never scales.',
    registers: [registry],
  }).set(options.dryRun ? 1 : 0);

  return {
    registry,
    decision(d) {
      const role = { role: d.role };
      degraded.set(role, d.mode === 'degraded' ? 1 : 0);
      if (d.scrapeFailures > 0) scrapeFailures.inc(role, d.scrapeFailures);
      if (d.desired === undefined) return;
      desired.set(role, d.desired);
      last.set(role, d.atMs / 1000);
      if (d.current !== undefined) current.set(role, d.current);
      if (d.ready !== undefined) ready.set(role, d.ready);
      if (d.status !== undefined) {
        readyDelay.set(role, d.status.readyDelayS);
        for (const [signal, n] of Object.entries(d.status.perSignal)) perSignal.set({ ...role, signal }, n);
        for (const signal of ['elu', 'inFlight', 'latency', 'lag', 'activity', 'forecast', 'burst', 'min'])
          limitedBy.set({ ...role, signal }, d.status.limitedBy === signal ? 1 : 0);
      }
      const s = d.signals;
      const values: [string, number | undefined][] = [
        ['elu', s.elu],
        ['in_flight', s.inFlight],
        ['p99_ms', s.p99Ms],
        ['throughput_per_s', s.throughputPerS],
        ['orders_per_s', s.activity?.ordersPerS],
        ['lag_messages', s.lag?.messages],
      ];
      for (const [signal, v] of values) if (v !== undefined) value.set({ ...role, signal }, v);
    },
    scale(e) {
      if (e.phase === 'requested') return;
      requests.inc({ role: e.role, direction: e.to > e.from ? 'up' : 'down', outcome: e.phase });
    },
  };
}
