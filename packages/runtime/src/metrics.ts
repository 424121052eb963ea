/**
 * Prometheus metrics of a Ballast process (prom-client): HTTP rate/errors/duration per route,
 * in-flight requests, event-loop utilization, orders/s and trades/s, WebSocket connections,
 * consumer lag. Libraries publish on `diagnostics_channel`; only the runtime imports prom-client.
 *
 * @module
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The metrics every role may update. */
export interface BallastMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly httpInFlight: Gauge;
  readonly ordersAccepted: Counter<'symbol'>;
  readonly ordersRejected: Counter<'reason'>;
  readonly trades: Counter<'symbol'>;
  readonly wsConnections: Gauge;
  readonly wsDisconnectsSlow: Counter;
  readonly consumerLag: Gauge<'consumer' | 'log'>;
  readonly commandsApplied: Counter<'symbol'>;
  /** 1 while this process leads the matching shard, 0 after it stopped leading it. */
  readonly matchingLeader: Gauge<'shard'>;
  readonly matchingLeadershipChanges: Counter<'shard' | 'leading'>;
  readonly rateLimitStoreErrors: Counter;
  /** Order batches written again, rows locked first, because a balance fell after their unlocked read. */
  readonly omsBalanceConflicts: Counter;
  /** Order batches committed, by path: `statement` (PostgreSQL, two round trips) or `transaction`. */
  readonly omsBatches: Counter<'path'>;
  /** Outbox vacuums run by the oms sweeper (PostgreSQL), by duration in seconds. */
  readonly omsOutboxVacuum: Histogram;
  /**
   * Where a gateway reads, at scrape time, how many of its requests wait for an oms slot and how
   * many batch requests it has out (`ballast_oms_client_queued_requests`,
   * `ballast_oms_client_batches_in_flight`); unset (0) in a process without a remote oms.
   */
  omsClientWaiting: (() => { queued: number; batchesOut: number }) | undefined;
}

/** How often the event-loop delay histograms sample, in ms (each sample wakes the process). */
const EVENT_LOOP_DELAY_RESOLUTION_MS = 20;

/** Creates a registry with default process metrics and Ballast's own. */
export function createMetrics(): BallastMetrics {
  const registry = new Registry();
  // Both event-loop delay histograms (prom-client's default one and ours below) sample with a
  // repeating timer: at 10 ms, prom-client's default, each wakes an idle process 100 times a
  // second. One resolution for both puts their timers in the same loop turn, and 20 ms halves the
  // wakes of an idle replica. A histogram records the time between two runs of its timer, so
  // prom-client's readings include the 20 ms; ours subtracts it (how late the timer ran).
  collectDefaultMetrics({
    register: registry,
    prefix: 'ballast_process_',
    eventLoopMonitoringPrecision: EVENT_LOOP_DELAY_RESOLUTION_MS,
  });
  let last = performance.eventLoopUtilization();
  new Gauge({
    name: 'ballast_event_loop_utilization',
    help: 'Event-loop utilization (0..1) since the previous scrape: the best saturation signal for Node.',
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization();
      this.set(performance.eventLoopUtilization(now, last).utilization);
      last = now;
    },
  });
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_DELAY_RESOLUTION_MS });
  delay.enable();
  new Gauge({
    name: 'ballast_event_loop_delay_seconds',
    help: `How late the event loop ran a timer due every ${EVENT_LOOP_DELAY_RESOLUTION_MS} ms, since the previous scrape, by quantile (0 when idle; max: about the longest stall, one of ${EVENT_LOOP_DELAY_RESOLUTION_MS} ms or more is seen, shorter ones may not be).`,
    labelNames: ['quantile'],
    registers: [registry],
    collect() {
      // The histogram holds intervals between timer runs (ns); the timer was late by what exceeds
      // its period. An empty one reads 0. Node skips the first run after a reset (nothing to
      // measure from), so a stall ending in the first 20 ms after a scrape goes unseen.
      const lateS = (ns: number): number => Math.max(0, ns / 1e9 - EVENT_LOOP_DELAY_RESOLUTION_MS / 1e3);
      this.set({ quantile: '0.5' }, lateS(delay.percentile(50)));
      this.set({ quantile: '0.99' }, lateS(delay.percentile(99)));
      this.set({ quantile: 'max' }, lateS(delay.max));
      delay.reset();
    },
  });
  new Gauge({
    name: 'ballast_oms_client_queued_requests',
    help: 'Orders and cancels waiting in this gateway for a free oms slot (every usable oms replica has its share of batches out): above 0 for long, the oms tier is the bottleneck.',
    registers: [registry],
    collect() {
      this.set(m.omsClientWaiting?.().queued ?? 0);
    },
  });
  new Gauge({
    name: 'ballast_oms_client_batches_in_flight',
    help: 'Batch requests this gateway has out to oms replicas (order and cancel batches: each up to --oms-batches-in-flight per replica, one while its breaker is half-open; unlimited while every breaker is open, as each is refused at once).',
    registers: [registry],
    collect() {
      this.set(m.omsClientWaiting?.().batchesOut ?? 0);
    },
  });
  const m: BallastMetrics = {
    omsClientWaiting: undefined,
    registry,
    httpRequests: new Counter({
      name: 'ballast_http_requests_total',
      help: 'HTTP requests by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'ballast_http_request_duration_seconds',
      help: 'HTTP request duration by method and route.',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    httpInFlight: new Gauge({
      name: 'ballast_http_in_flight',
      help: 'HTTP requests in flight.',
      registers: [registry],
    }),
    ordersAccepted: new Counter({
      name: 'ballast_orders_accepted_total',
      help: 'Orders acknowledged by the oms.',
      labelNames: ['symbol'],
      registers: [registry],
    }),
    ordersRejected: new Counter({
      name: 'ballast_orders_rejected_total',
      help: 'Orders rejected before acknowledgement, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    trades: new Counter({
      name: 'ballast_trades_total',
      help: 'Trades matched.',
      labelNames: ['symbol'],
      registers: [registry],
    }),
    wsConnections: new Gauge({
      name: 'ballast_ws_connections',
      help: 'Open WebSocket connections.',
      registers: [registry],
    }),
    wsDisconnectsSlow: new Counter({
      name: 'ballast_ws_slow_consumer_disconnects_total',
      help: 'WebSocket clients disconnected for falling behind.',
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'ballast_consumer_lag_entries',
      help: 'Entries a consumer is behind the end of its log.',
      labelNames: ['consumer', 'log'],
      registers: [registry],
    }),
    rateLimitStoreErrors: new Counter({
      name: 'ballast_rate_limit_store_errors_total',
      help: 'Rate-limit checks that failed because the store (Redis) did not answer.',
      registers: [registry],
    }),
    omsBalanceConflicts: new Counter({
      name: 'ballast_oms_balance_conflicts_total',
      help: 'Order batches written again with their balance rows locked first: a balance fell after their unlocked read.',
      registers: [registry],
    }),
    omsBatches: new Counter({
      name: 'ballast_oms_batches_total',
      help: 'Order batches committed, by path: statement (PostgreSQL, one read and one self-committing statement), remembered (that statement alone, balances remembered) or transaction.',
      labelNames: ['path'],
      registers: [registry],
    }),
    omsOutboxVacuum: new Histogram({
      name: 'ballast_oms_outbox_vacuum_seconds',
      help: "Outbox vacuums run by the oms sweeper on PostgreSQL (VACUUM (SKIP_LOCKED, TRUNCATE false) outbox), by duration; one that found the table locked by another replica's vacuum ends at once and is counted too (PostgreSQL only warns).",
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2],
      registers: [registry],
    }),
    commandsApplied: new Counter({
      name: 'ballast_matching_commands_total',
      help: 'Commands applied by matching.',
      labelNames: ['symbol'],
      registers: [registry],
    }),
    matchingLeader: new Gauge({
      name: 'ballast_matching_leader',
      help: 'Whether this process leads the matching shard (1) or no longer does (0); sum by shard should be 1.',
      labelNames: ['shard'],
      registers: [registry],
    }),
    matchingLeadershipChanges: new Counter({
      name: 'ballast_matching_leadership_changes_total',
      help: 'Times this process took (leading="true") or lost (leading="false") the lead of a matching shard.',
      labelNames: ['shard', 'leading'],
      registers: [registry],
    }),
  };
  return m;
}
