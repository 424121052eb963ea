/**
 * From scraped `/metrics` to the signals {@link BallastPolicy} takes.
 *
 * A replica's scrape becomes a {@link ReplicaReading}: event-loop utilization (the runtime's
 * gauge is "since the previous scrape", so the recommender must be its only scraper), in-flight
 * requests (less the scrape itself), and the counters the rates come from — requests and the
 * request-duration histogram (health and metrics routes left out), orders accepted, trades —
 * plus consumer lag when the replica has consumers. Two readings of the same process make a
 * window; a role's windows make its signals: mean ELU, total in-flight, p99 latency from the
 * summed histogram deltas (as PromQL's `histogram_quantile` over `rate()`), requests/s, and the
 * cluster-wide market activity (orders/s, trades/s).
 *
 * @module
 */
import type { BallastSignals } from '../ballast-policy.ts';
import type { PromSample } from './prometheus-text.ts';

/** Routes of the health and metrics endpoints: not load. */
export const OPS_ROUTES: ReadonlySet<string> = new Set(['/metrics', '/readyz', '/livez']);

/** What one scrape of one replica says. */
export interface ReplicaReading {
  /** When it was scraped, ms. */
  readonly atMs: number;
  /** Event-loop utilization since the previous scrape, 0..1. */
  readonly elu?: number;
  /** HTTP requests in flight, not counting the scrape itself. */
  readonly inFlight?: number;
  /** Requests served (ops routes left out), a counter. */
  readonly requests: number;
  /** Request-duration histogram (ops routes left out): upper bound (s) → cumulative count. */
  readonly buckets: ReadonlyMap<number, number>;
  readonly ordersAccepted: number;
  readonly trades: number;
  /** Entries its consumers are behind, summed; absent when it has none. */
  readonly consumerLag?: number;
}

/** Two readings of one process: the rates come from their difference. */
export interface ReplicaWindow {
  readonly prev?: ReplicaReading;
  readonly cur: ReplicaReading;
}

/** Reads the samples of one scrape. */
export function readReplica(samples: readonly PromSample[], atMs: number): ReplicaReading {
  let elu: number | undefined;
  let inFlight: number | undefined;
  let requests = 0;
  let orders = 0;
  let trades = 0;
  let lag: number | undefined;
  const buckets = new Map<number, number>();
  for (const s of samples) {
    switch (s.name) {
      case 'ballast_event_loop_utilization':
        elu = s.value;
        break;
      case 'ballast_http_in_flight':
        // The scrape being answered counts itself.
        inFlight = Math.max(0, s.value - 1);
        break;
      case 'ballast_http_requests_total':
        if (!OPS_ROUTES.has(s.labels.route ?? '')) requests += s.value;
        break;
      case 'ballast_http_request_duration_seconds_bucket': {
        if (OPS_ROUTES.has(s.labels.route ?? '')) break;
        const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
        if (!Number.isNaN(le)) buckets.set(le, (buckets.get(le) ?? 0) + s.value);
        break;
      }
      case 'ballast_orders_accepted_total':
        orders += s.value;
        break;
      case 'ballast_trades_total':
        trades += s.value;
        break;
      case 'ballast_consumer_lag_entries':
        if (Number.isFinite(s.value)) lag = (lag ?? 0) + s.value;
        break;
    }
  }
  return {
    atMs,
    ...(elu !== undefined && Number.isFinite(elu) ? { elu } : {}),
    ...(inFlight !== undefined ? { inFlight } : {}),
    requests,
    buckets,
    ordersAccepted: orders,
    trades,
    ...(lag !== undefined ? { consumerLag: lag } : {}),
  };
}

/** Increase of a counter (a reset counts from 0). */
const increase = (cur: number, prev: number): number => (cur >= prev ? cur - prev : cur);

/**
 * The `q` quantile of a cumulative histogram (upper bound → count), interpolating linearly
 * within the bucket as PromQL's `histogram_quantile` does; `undefined` when it counted nothing.
 * A quantile in the `+Inf` bucket is the highest finite bound.
 */
export function histogramQuantile(q: number, cumulative: ReadonlyMap<number, number>): number | undefined {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const total = cumulative.get(Infinity) ?? cumulative.get(bounds.at(-1) ?? Infinity) ?? 0;
  if (total <= 0 || bounds.length === 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const le of bounds) {
    const count = cumulative.get(le) ?? 0;
    if (count >= rank) {
      if (le === Infinity) return lower;
      if (count === below) return le;
      return lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** Seconds between the two readings of a window (0 without a previous one). */
const spanS = (w: ReplicaWindow): number => (w.prev !== undefined ? (w.cur.atMs - w.prev.atMs) / 1000 : 0);

/**
 * The load signals of one role from its ready replicas' windows: mean ELU (absent if any
 * replica has none), total in-flight, p99 latency (ms) and requests/s over the windows that have
 * a previous reading, and consumer lag (with its growth rate as arrivals) when reported.
 */
export function roleSignals(windows: readonly ReplicaWindow[]): BallastSignals {
  if (windows.length === 0) return {};
  const elus = windows.map((w) => w.cur.elu);
  const inFlights = windows.map((w) => w.cur.inFlight);
  const out: {
    elu?: number;
    inFlight?: number;
    p99Ms?: number;
    throughputPerS?: number;
    lag?: { messages: number; arrivalPerS: number };
  } = {};
  if (elus.every((e) => e !== undefined)) out.elu = elus.reduce((a, b) => a + b, 0) / elus.length;
  if (inFlights.every((x) => x !== undefined)) out.inFlight = inFlights.reduce((a, b) => a + b, 0);
  const paired = windows.filter((w) => spanS(w) > 0);
  if (paired.length > 0) {
    const merged = new Map<number, number>();
    let rate = 0;
    for (const w of paired) {
      const prev = w.prev as ReplicaReading;
      rate += increase(w.cur.requests, prev.requests) / spanS(w);
      const reset = w.cur.requests < prev.requests;
      for (const [le, count] of w.cur.buckets) {
        const d = reset ? count : increase(count, prev.buckets.get(le) ?? 0);
        merged.set(le, (merged.get(le) ?? 0) + d);
      }
    }
    out.throughputPerS = rate;
    const p99 = histogramQuantile(0.99, merged);
    if (p99 !== undefined) out.p99Ms = p99 * 1000;
  }
  const lagged = windows.filter((w) => w.cur.consumerLag !== undefined);
  if (lagged.length > 0) {
    const messages = lagged.reduce((a, w) => a + (w.cur.consumerLag ?? 0), 0);
    let growth = 0;
    for (const w of lagged) {
      if (w.prev?.consumerLag !== undefined && spanS(w) > 0)
        growth += ((w.cur.consumerLag ?? 0) - w.prev.consumerLag) / spanS(w);
    }
    out.lag = { messages, arrivalPerS: Math.max(0, growth) };
  }
  return out;
}

/**
 * Market activity across the whole cluster (every role's windows): orders accepted and trades
 * per second; `undefined` until some replica has two readings.
 */
export function marketActivity(windows: readonly ReplicaWindow[]): BallastSignals['activity'] {
  const paired = windows.filter((w) => spanS(w) > 0);
  if (paired.length === 0) return undefined;
  let orders = 0;
  let trades = 0;
  for (const w of paired) {
    const prev = w.prev as ReplicaReading;
    orders += increase(w.cur.ordersAccepted, prev.ordersAccepted) / spanS(w);
    trades += increase(w.cur.trades, prev.trades) / spanS(w);
  }
  return { ordersPerS: orders, tradesPerS: trades };
}
