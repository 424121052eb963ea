/**
 * Ballast's adaptive autoscaling policy. Each sync it turns several signals into a replica count
 * for one role and takes the maximum:
 *
 * - event-loop utilization of the ready replicas against `targetElu`;
 * - in-flight requests against `targetInFlightPerReplica` (gateway-style roles; off by default);
 * - p99 latency against `sloP99Ms` (only adds replicas while the SLO is broken);
 * - consumer lag: capacity to serve arrivals and drain the backlog within `lagDrainS`;
 * - market activity (orders/s), the leading indicator, converted with a learned capacity per
 *   replica, and its forecast over the horizon a new replica needs to become useful (measured
 *   start-up delay + actuation delay), by a short least-squares trend (`trendWindowS`) or Holt's
 *   smoothed trend, plus headroom while the burst detector sees a burst;
 * - optionally (`swingZ`), variance-aware headroom for load that swings around a slow level:
 *   `level × exp(swingZ × σ)` of the recent log-deviations.
 *
 * The result is a *total* replica count at the horizon, so replicas already starting count as
 * capacity arriving at their expected ready time and are not ordered twice; a decision still in the
 * actuation pipe (KEDA → HPA) counts as the current count, so holding never undoes it. Scale-down needs the
 * recommendation to fall by a hysteresis margin, is stabilized over a short window, and never
 * happens during a burst (when the burst detector is on) or in degraded mode. Replicas still starting that only a forecast asked
 * for, and that the observed load does not need, are withdrawn `forecastHoldS` after the last
 * forecast that wanted them (`withdrawUnconfirmed`). Missing required signals switch to an explicit
 * degraded mode (`hold` the current count, or fall back to a `floor`), reported in the status.
 * The replicas to remove are chosen by {@link chooseReplicasToRemove} (least in-flight work first).
 *
 * Pure apart from its own history: every call takes `nowMs`.
 *
 * @module
 */
import {
  BurstDetector,
  HoltForecaster,
  LinearTrend,
  SwingEstimator,
  type BurstDetectorOptions,
  type HoltOptions,
} from './forecast.ts';
import { chooseReplicasToRemove, podDeletionCosts } from './removal.ts';

/** A replica as the policy sees it. */
export interface BallastReplica {
  readonly id: string;
  readonly state: 'starting' | 'ready' | 'draining';
  /** Creation time, ms. */
  readonly startedMs: number;
  /** When it became ready, ms (ready and draining replicas, and ones that were ready but are not now). */
  readonly readyMs?: number;
  /** In-flight work now (requests or messages). */
  readonly inFlight: number;
}

/** Signal names, as reported in {@link BallastStatus.missing} and {@link BallastStatus.limitedBy}. */
export type BallastSignalName =
  'elu' | 'inFlight' | 'latency' | 'lag' | 'activity' | 'forecast' | 'burst' | 'swing' | 'min';

/** One sync's signals; an absent field is a missing metric. */
export interface BallastSignals {
  /** Mean event-loop utilization of the ready replicas, 0..1. */
  readonly elu?: number;
  /** Total in-flight requests over the ready replicas. */
  readonly inFlight?: number;
  /** p99 latency, ms. */
  readonly p99Ms?: number;
  /** Consumer lag: messages waiting, and the arrival rate into the queue (messages/s). */
  readonly lag?: { readonly messages: number; readonly arrivalPerS: number };
  /** Market activity, the leading indicator. */
  readonly activity?: { readonly ordersPerS: number; readonly tradesPerS?: number; readonly volatility?: number };
  /** Requests served per second by the role (learns capacity per replica). */
  readonly throughputPerS?: number;
}

/** Options of {@link BallastPolicy}. */
export interface BallastPolicyOptions {
  /** @default 1 */
  readonly minReplicas?: number;
  readonly maxReplicas: number;
  /** Target event-loop utilization per replica. @default 0.6 */
  readonly targetElu?: number;
  /** In-flight requests per replica to aim for; absent = signal off. */
  readonly targetInFlightPerReplica?: number;
  /** p99 latency SLO, ms; absent = signal off. */
  readonly sloP99Ms?: number;
  /** Drain a consumer backlog within this many seconds. @default 30 */
  readonly lagDrainS?: number;
  /** Initial estimate of requests/s one replica serves at ELU 1 (then learned). @default 100 */
  readonly capacityPerReplica?: number;
  /** Requests per order (then learned from throughput / orders). @default 1 */
  readonly loadPerOrder?: number;
  /** Initial start-up delay estimate, seconds (then measured from replicas becoming ready). @default 30 */
  readonly readyDelayS?: number;
  /** Delay from a decision to replicas being created (e.g. KEDA → HPA), seconds. @default 0 */
  readonly actuationDelayS?: number;
  /** Use the predictive term (forecast + burst headroom). @default true */
  readonly predictive?: boolean;
  readonly holt?: HoltOptions;
  /**
   * Trend model of the forecast: 0 = Holt's linear trend (`holt`); > 0 = a least-squares line
   * through the activity samples of the last this many seconds ({@link LinearTrend}), which
   * follows a ramp within a few syncs. @default 0
   */
  readonly trendWindowS?: number;
  /** With `trendWindowS`: ignore a fitted slope within this many standard errors (0 = never). @default 0 */
  readonly trendSlopeZ?: number;
  readonly burst?: BurstDetectorOptions;
  /** Capacity multiplier on the current load while a burst is detected. @default 1.25 */
  readonly burstHeadroom?: number;
  /**
   * Headroom for what the forecast misses: the forecast need adds `z ×` the root-mean-square of
   * recent under-forecasts at the horizon (smoothed over `noiseWindowS`). @default 1
   */
  readonly noiseZ?: number;
  /** @default 600 */
  readonly noiseWindowS?: number;
  /**
   * Withdraw replicas that are still starting when the forecast that ordered them is no longer
   * made and the observed load (over the stabilization window) does not need them: a wrong forecast
   * then costs their start-up time, not a stabilization window. @default true
   */
  readonly withdrawUnconfirmed?: boolean;
  /** With `withdrawUnconfirmed`: a forecast keeps its replicas this long after it was last made, seconds. @default 20 */
  readonly forecastHoldS?: number;
  /** Scale down only when the recommendation is below `current × (1 − hysteresis)`. @default 0.1 */
  readonly scaleDownHysteresis?: number;
  /** Scale down to the highest recommendation of this window, seconds. @default 60 */
  readonly scaleDownStabilizationS?: number;
  /**
   * Variance-aware headroom for load that swings around a slowly moving level: provision for
   * `level × exp(swingZ × σ)`, where level and σ are an EWMA (time constant `swingWindowS`) of the
   * load and of its log-deviation from that level. 0 = off. @default 0
   */
  readonly swingZ?: number;
  /** @default 600 */
  readonly swingWindowS?: number;
  /** Signals whose absence means degraded mode. @default ['elu'] */
  readonly requiredSignals?: readonly ('elu' | 'activity' | 'inFlight' | 'lag')[];
  /** Degraded mode: keep the current count, or go to `floorReplicas`. @default 'hold' */
  readonly degradedAction?: 'hold' | 'floor';
  /** @default minReplicas */
  readonly floorReplicas?: number;
}

/** The policy's status, for `/metrics` and operators. */
export interface BallastStatus {
  readonly mode: 'normal' | 'degraded';
  /** What degraded mode does (only in degraded mode). */
  readonly degradedAction?: 'hold' | 'floor';
  readonly missing: readonly BallastSignalName[];
  /** The signal that set the recommendation. */
  readonly limitedBy: BallastSignalName;
  /** Replica count each signal asked for. */
  readonly perSignal: Readonly<Partial<Record<BallastSignalName, number>>>;
  readonly readyDelayS: number;
  readonly horizonS: number;
  readonly capacityPerReplica: number;
  readonly forecastOrdersPerS?: number;
  readonly inBurst: boolean;
  /** Ready replicas plus starting ones expected ready within the horizon. */
  readonly capacityAtHorizon: number;
}

/** One recommendation. */
export interface BallastRecommendation {
  /** Total replicas wanted (ready + starting). */
  readonly desiredReplicas: number;
  /** Replicas to remove now (least in-flight first), when scaling down. */
  readonly remove: readonly string[];
  /** `controller.kubernetes.io/pod-deletion-cost` per replica. */
  readonly deletionCosts: ReadonlyMap<string, number>;
  readonly status: BallastStatus;
}

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};

/** The adaptive policy for one role. */
export class BallastPolicy {
  readonly #o: Required<
    Omit<
      BallastPolicyOptions,
      'targetInFlightPerReplica' | 'sloP99Ms' | 'holt' | 'burst' | 'floorReplicas' | 'trendWindowS' | 'trendSlopeZ'
    >
  >;
  readonly #targetInFlight: number | undefined;
  readonly #slo: number | undefined;
  readonly #floor: number;
  readonly #trend: HoltForecaster | LinearTrend;
  readonly #burst: BurstDetector;
  readonly #swing: SwingEstimator;
  readonly #readySamples: number[] = [];
  readonly #seenReady = new Set<string>();
  #capacity: number;
  #loadPerOrder: number;
  #history: { atMs: number; value: number; observed: number }[] = [];
  #errVar = 0;
  #pending: { forMs: number; value: number }[] = [];
  #lastActivityMs = -1;
  /** Decisions still travelling to the plant (within the actuation delay). */
  #inTransit: { atMs: number; value: number }[] = [];

  constructor(options: BallastPolicyOptions) {
    const min = options.minReplicas ?? 1;
    this.#o = {
      minReplicas: min,
      maxReplicas: options.maxReplicas,
      targetElu: options.targetElu ?? 0.6,
      lagDrainS: options.lagDrainS ?? 30,
      capacityPerReplica: options.capacityPerReplica ?? 100,
      loadPerOrder: options.loadPerOrder ?? 1,
      readyDelayS: options.readyDelayS ?? 30,
      actuationDelayS: options.actuationDelayS ?? 0,
      predictive: options.predictive ?? true,
      burstHeadroom: options.burstHeadroom ?? 1.25,
      noiseZ: options.noiseZ ?? 1,
      noiseWindowS: options.noiseWindowS ?? 600,
      scaleDownHysteresis: options.scaleDownHysteresis ?? 0.1,
      withdrawUnconfirmed: options.withdrawUnconfirmed ?? true,
      forecastHoldS: options.forecastHoldS ?? 20,
      scaleDownStabilizationS: options.scaleDownStabilizationS ?? 60,
      swingZ: options.swingZ ?? 0,
      swingWindowS: options.swingWindowS ?? 600,
      requiredSignals: options.requiredSignals ?? ['elu'],
      degradedAction: options.degradedAction ?? 'hold',
    };
    this.#targetInFlight = options.targetInFlightPerReplica;
    this.#slo = options.sloP99Ms;
    this.#floor = options.floorReplicas ?? min;
    this.#trend =
      (options.trendWindowS ?? 0) > 0
        ? new LinearTrend({ windowS: options.trendWindowS!, slopeZ: options.trendSlopeZ ?? 0 })
        : new HoltForecaster(options.holt);
    this.#burst = new BurstDetector(options.burst);
    this.#swing = new SwingEstimator({ windowS: this.#o.swingWindowS });
    this.#capacity = this.#o.capacityPerReplica;
    this.#loadPerOrder = this.#o.loadPerOrder;
  }

  /** Measured start-up delay used for the horizon: the 80th percentile of the last 20, seconds. */
  get readyDelayS(): number {
    return this.#readySamples.length === 0 ? this.#o.readyDelayS : quantile(this.#readySamples, 0.8);
  }

  /** One sync at `nowMs`: `replicas` are the role's current replicas (any state). */
  recommend(nowMs: number, replicas: readonly BallastReplica[], signals: BallastSignals): BallastRecommendation {
    const o = this.#o;
    this.#learnReadyDelay(replicas);
    const live = replicas.filter((r) => r.state !== 'draining');
    const current = live.length;
    const ready = live.filter((r) => r.state === 'ready').length;
    const horizonS = this.readyDelayS + o.actuationDelayS;
    const capacityAtHorizon = live.filter(
      (r) => r.state === 'ready' || r.startedMs + this.readyDelayS * 1000 <= nowMs + horizonS * 1000,
    ).length;

    // Learn capacity per replica and requests per order while the numbers are meaningful.
    const { elu, throughputPerS: thr } = signals;
    if (elu !== undefined && thr !== undefined && ready > 0 && elu >= 0.15 && elu <= 0.9) {
      this.#capacity += 0.1 * (thr / (ready * elu) - this.#capacity);
    }
    const orders = signals.activity?.ordersPerS;
    const backlogged = (signals.lag?.messages ?? 0) > this.#capacity;
    if (orders !== undefined && orders > 0 && thr !== undefined && thr > 0 && !backlogged) {
      this.#loadPerOrder += 0.1 * (thr / orders - this.#loadPerOrder);
    }
    const perReplica = this.#capacity * o.targetElu;
    const per: Partial<Record<BallastSignalName, number>> = { min: o.minReplicas };

    if (elu !== undefined && ready > 0) per.elu = Math.ceil((ready * elu) / o.targetElu - 1e-9);
    if (signals.inFlight !== undefined && this.#targetInFlight !== undefined) {
      per.inFlight = Math.ceil(signals.inFlight / this.#targetInFlight - 1e-9);
    }
    if (signals.p99Ms !== undefined && this.#slo !== undefined && signals.p99Ms > this.#slo && ready > 0) {
      per.latency = Math.ceil(ready * Math.min(1.5, signals.p99Ms / this.#slo));
    }
    if (signals.lag !== undefined) {
      per.lag = Math.ceil((signals.lag.arrivalPerS + signals.lag.messages / o.lagDrainS) / perReplica - 1e-9);
    }
    let inBurst = false;
    let forecastOrders: number | undefined;
    if (orders !== undefined) {
      const load = orders * this.#loadPerOrder;
      per.activity = Math.ceil(load / perReplica - 1e-9);
      if (o.predictive) {
        const dtS = this.#lastActivityMs >= 0 ? (nowMs - this.#lastActivityMs) / 1000 : 0;
        // Error of the forecast made one horizon ago for now: the uncertainty headroom must cover.
        while (this.#pending.length > 0 && this.#pending[0]!.forMs <= nowMs) {
          const f = this.#pending.shift()!;
          const err = Math.max(0, orders - f.value);
          this.#errVar += (1 - Math.exp(-dtS / o.noiseWindowS)) * (err * err - this.#errVar);
        }
        this.#lastActivityMs = nowMs;
        this.#trend.update(nowMs, orders);
        inBurst = this.#burst.update(nowMs, orders);
        const noise = o.noiseZ * Math.sqrt(this.#errVar);
        const predicted = Math.max(orders, this.#trend.forecast(horizonS));
        this.#pending.push({ forMs: nowMs + horizonS * 1000, value: predicted });
        forecastOrders = predicted + noise;
        per.forecast = Math.ceil((forecastOrders * this.#loadPerOrder) / perReplica - 1e-9);
        if (inBurst) per.burst = Math.ceil((load * o.burstHeadroom) / perReplica - 1e-9);
        if (o.swingZ > 0) {
          this.#swing.update(nowMs, load);
          per.swing = Math.ceil(this.#swing.upper(o.swingZ) / perReplica - 1e-9);
        }
      }
    }

    const missing: BallastSignalName[] = [];
    if (elu === undefined) missing.push('elu');
    if (orders === undefined) missing.push('activity');
    if (signals.inFlight === undefined) missing.push('inFlight');
    if (signals.lag === undefined) missing.push('lag');
    if (signals.p99Ms === undefined) missing.push('latency');
    const degraded = o.requiredSignals.some((s) => missing.includes(s));

    let raw = o.minReplicas;
    let limitedBy: BallastSignalName = 'min';
    for (const [k, v] of Object.entries(per) as [BallastSignalName, number][]) {
      if (v > raw) {
        raw = v;
        limitedBy = k;
      }
    }
    raw = Math.min(o.maxReplicas, raw);
    // What the observed load asks for, without the forecast.
    let observed = o.minReplicas;
    for (const [k, v] of Object.entries(per) as [BallastSignalName, number][]) {
      if (k !== 'forecast') observed = Math.max(observed, v);
    }
    observed = Math.min(o.maxReplicas, observed);

    // Stabilize scale-down: the highest recommendation of the window.
    const cutoff = nowMs - o.scaleDownStabilizationS * 1000;
    this.#history = this.#history.filter((h) => h.atMs > cutoff);
    this.#history.push({ atMs: nowMs, value: raw, observed });
    // A decision still in the actuation pipe (KEDA → HPA) is the count the plant is about to have:
    // holding means repeating it, not going back to the count seen now.
    this.#inTransit = this.#inTransit.filter((d) => d.atMs > nowMs - o.actuationDelayS * 1000);
    const reference = this.#inTransit.at(-1)?.value ?? current;
    let desired: number;
    if (degraded) {
      desired = o.degradedAction === 'hold' ? Math.max(reference, raw) : Math.max(this.#floor, raw);
    } else if (raw >= reference) {
      desired = raw;
    } else {
      if (inBurst || raw > reference * (1 - o.scaleDownHysteresis)) {
        desired = reference;
      } else {
        let windowMax = raw;
        for (const h of this.#history) windowMax = Math.max(windowMax, h.value);
        desired = Math.min(reference, windowMax);
      }
      if (o.withdrawUnconfirmed && !inBurst) {
        // Replicas still starting for a forecast the load has not confirmed go at once: they have
        // served nothing, and a ready replica is never removed this way.
        let observedMax = raw;
        const forecastCutoff = nowMs - o.forecastHoldS * 1000;
        for (const h of this.#history) {
          observedMax = Math.max(observedMax, h.atMs > forecastCutoff ? h.value : h.observed);
        }
        // Kept: ready replicas, and ones that were ready (`readyMs`) but are not now (a failing
        // readiness probe): they may hold work and must follow the stabilization window.
        const served = live.filter((r) => r.state === 'ready' || r.readyMs !== undefined).length;
        desired = Math.min(desired, Math.max(observedMax, Math.min(desired, served)));
      }
    }
    desired = Math.max(o.minReplicas, Math.min(o.maxReplicas, desired));
    if (o.actuationDelayS > 0) this.#inTransit.push({ atMs: nowMs, value: desired });

    const candidates = live.map((r) => ({ id: r.id, state: r.state, inFlight: r.inFlight, startedMs: r.startedMs }));
    const remove = desired < current ? chooseReplicasToRemove(candidates, current - desired) : [];
    const status: BallastStatus = {
      mode: degraded ? 'degraded' : 'normal',
      ...(degraded ? { degradedAction: o.degradedAction } : {}),
      missing,
      limitedBy,
      perSignal: per,
      readyDelayS: this.readyDelayS,
      horizonS,
      capacityPerReplica: this.#capacity,
      ...(forecastOrders !== undefined ? { forecastOrdersPerS: forecastOrders } : {}),
      inBurst,
      capacityAtHorizon,
    };
    return { desiredReplicas: desired, remove, deletionCosts: podDeletionCosts(candidates), status };
  }

  #learnReadyDelay(replicas: readonly BallastReplica[]): void {
    for (const r of replicas) {
      if (r.readyMs === undefined || this.#seenReady.has(r.id)) continue;
      this.#seenReady.add(r.id);
      this.#readySamples.push((r.readyMs - r.startedMs) / 1000);
      if (this.#readySamples.length > 20) this.#readySamples.shift();
    }
    if (this.#seenReady.size > 10_000) {
      const alive = new Set(replicas.map((r) => r.id));
      for (const id of this.#seenReady) if (!alive.has(id)) this.#seenReady.delete(id);
    }
  }
}
