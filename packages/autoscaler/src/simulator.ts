/**
 * Discrete-event autoscaling simulator. Events (controller syncs, delayed actuations, replicas
 * becoming ready, drains ending) are kept in a time-ordered queue; between events the plant is
 * integrated in 1 s steps as a fluid queue:
 *
 * - each ready replica serves `1000 / serviceMs` requests/s (a Node event loop: one M/M/1 server);
 *   arrivals are Poisson around the trace's rate; what cannot be served waits in a backlog;
 * - latency: p99 = queue wait + `serviceMs × ln(100) / (1 − ρ)` (M/M/1 response-time tail, with ρ
 *   smoothed over ≈ 5 s because a queue takes seconds to build, capped at 0.98), so a replica at
 *   utilization ρ* = 1 − serviceMs·ln(100)/SLO is exactly at the SLO; in-flight = Little's law;
 * - replicas start after a log-normal delay; removed replicas drain for `drainS` (still billed);
 * - policies see replica metrics `metricDelayS` late and market activity `activityDelayS` late.
 *
 * Outputs: SLO-violation minutes (a minute whose p99 is above the SLO, or whose queue wait
 * exceeds `lagLimitS`), replica-hours (billed: starting + ready + draining), over- and
 * under-provisioned replica-hours against the replicas needed at ρ*, how long under-provisioned
 * episodes last (time to capacity), and scaling actions per hour. Same seed, same result.
 *
 * @module
 */
import { EventHeap } from './heap.ts';
import { deriveSeed, mulberry32 } from './prng.ts';
import type { Trace } from './trace.ts';

/** The plant: identical for every policy. */
export interface PlantOptions {
  /** Mean service time per request, ms (capacity per replica = 1000 / serviceMs req/s). @default 10 */
  readonly serviceMs?: number;
  /** p99 latency SLO, ms. @default 250 */
  readonly sloP99Ms?: number;
  /** Queue wait above this (seconds) also violates the SLO. @default 2 */
  readonly lagLimitS?: number;
  /** @default 2 */
  readonly minReplicas?: number;
  /** @default 80 */
  readonly maxReplicas?: number;
  /** Median start-up delay (create → ready), seconds. @default 45 */
  readonly startupMedianS?: number;
  /** Log-normal sigma of the start-up delay. @default 0.35 */
  readonly startupSigma?: number;
  /** Replica metrics reach the autoscaler this late, seconds. @default 5 */
  readonly metricDelayS?: number;
  /** Market activity (orders/s) reaches the autoscaler this late, seconds. @default 1 */
  readonly activityDelayS?: number;
  /** A removed replica drains (billed, no new work) this long, seconds. @default 10 */
  readonly drainS?: number;
  /** Poisson arrivals around the trace rate. @default true */
  readonly poissonArrivals?: boolean;
  /** Intervals `[fromS, toS)` during which replica metrics are unavailable (fault injection). */
  readonly metricGaps?: readonly (readonly [number, number])[];
}

/** A replica in the simulation. */
export interface SimReplica {
  readonly id: string;
  state: 'starting' | 'ready' | 'draining';
  readonly startedMs: number;
  readyMs?: number;
  /** Seconds at which it becomes ready (starting) or stops (draining). */
  untilS: number;
  inFlight: number;
}

/** Replica metrics averaged over a window, as scraped. */
export interface WindowMetrics {
  /** Mean utilization of ready replicas (event-loop utilization), 0..1. */
  readonly elu: number;
  /** Mean total in-flight requests (in service + queued). */
  readonly inFlight: number;
  /** Mean per-second p99 latency, ms. */
  readonly p99Ms: number;
  /** Backlog at the end of the window (requests queued). */
  readonly backlog: number;
  /** Mean arrivals, requests/s. */
  readonly arrivalPerS: number;
  /** Mean served, requests/s. */
  readonly throughputPerS: number;
}

/** What a policy sees at a sync. */
export interface PlantView {
  readonly nowMs: number;
  readonly nowS: number;
  /** Replicas in every state (do not mutate). */
  readonly replicas: readonly SimReplica[];
  /** Current `spec.replicas` (starting + ready). */
  readonly specReplicas: number;
  readonly readyReplicas: number;
  readonly plant: Required<Omit<PlantOptions, 'metricGaps'>>;
  /** Replica metrics over `[now − delay − windowS, now − delay)`, or `undefined` during a metrics gap. */
  metrics(windowS: number): WindowMetrics | undefined;
  /** Per-second samples `(second, value)` of total in-flight or arrivals visible now, after `sinceS`. */
  samples(kind: 'inFlight' | 'arrivals', sinceS: number): [number, number][];
  /** Mean orders/s over `[now − activityDelay − windowS, now − activityDelay)`. */
  activity(windowS: number): number;
}

/** A policy's decision. */
export interface PolicyDecision {
  /** Desired replicas (starting + ready). */
  readonly desiredReplicas: number;
  /** Which replicas to remove when scaling down; default: Kubernetes' ReplicaSet order. */
  readonly remove?: readonly string[];
}

/** A policy as the simulator drives it. */
export interface PolicyDriver {
  readonly name: string;
  /** Sync period, seconds. */
  readonly syncS: number;
  /** Delay from decision to effect (e.g. KEDA → HPA), seconds. */
  readonly actuationDelayS: number;
  decide(view: PlantView): PolicyDecision | undefined;
}

/** Per-minute series for plots. */
export interface SimSeries {
  readonly stepS: number;
  readonly load: Float64Array;
  readonly needed: Float64Array;
  readonly ready: Float64Array;
  readonly billed: Float64Array;
  readonly p99Ms: Float64Array;
  readonly violated: Uint8Array;
}

/** Outcome of one run. */
export interface SimResult {
  readonly policy: string;
  readonly trace: string;
  readonly seed: number;
  readonly hours: number;
  readonly sloViolationMin: number;
  readonly replicaHours: number;
  readonly overProvisionedReplicaHours: number;
  readonly underProvisionedReplicaHours: number;
  /** Durations of under-provisioned episodes (ready < needed), seconds: how long until capacity caught up. */
  readonly timeToCapacityS: {
    readonly count: number;
    readonly p50: number;
    readonly p95: number;
    readonly max: number;
  };
  readonly scalingActionsPerHour: number;
  readonly series?: SimSeries;
}

/** Options of {@link simulate}. */
export interface SimulateOptions {
  readonly trace: Trace;
  readonly policy: PolicyDriver;
  readonly seed: number;
  readonly plant?: PlantOptions;
  /** Keep per-minute series (for plots). @default false */
  readonly recordSeries?: boolean;
}

/** Resolves plant defaults. */
export function resolvePlant(p: PlantOptions = {}): Required<Omit<PlantOptions, 'metricGaps'>> {
  return {
    serviceMs: p.serviceMs ?? 10,
    sloP99Ms: p.sloP99Ms ?? 250,
    lagLimitS: p.lagLimitS ?? 2,
    minReplicas: p.minReplicas ?? 2,
    maxReplicas: p.maxReplicas ?? 80,
    startupMedianS: p.startupMedianS ?? 45,
    startupSigma: p.startupSigma ?? 0.35,
    metricDelayS: p.metricDelayS ?? 5,
    activityDelayS: p.activityDelayS ?? 1,
    drainS: p.drainS ?? 10,
    poissonArrivals: p.poissonArrivals ?? true,
  };
}

/** Highest utilization at which the p99 of an M/M/1 replica stays within the SLO. */
export function sloUtilization(serviceMs: number, sloP99Ms: number): number {
  return Math.max(0.05, 1 - (serviceMs * Math.log(100)) / sloP99Ms);
}

const LN100 = Math.log(100);
/** Per-second smoothing of utilization for the queueing tail (time constant ≈ 5 s). */
const RHO_SMOOTHING = 1 - Math.exp(-1 / 5);

type SimEvent =
  | { kind: 'sync' }
  | { kind: 'apply'; decision: PolicyDecision }
  | { kind: 'ready'; replica: SimReplica }
  | { kind: 'gone'; replica: SimReplica };

const percentile = (xs: number[], q: number): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** Runs one simulation. */
export function simulate(options: SimulateOptions): SimResult {
  const { trace, policy, seed } = options;
  const plant = resolvePlant(options.plant);
  const gaps = options.plant?.metricGaps ?? [];
  const T = trace.ordersPerS.length;
  const mu = 1000 / plant.serviceMs;
  const rhoStar = sloUtilization(plant.serviceMs, plant.sloP99Ms);
  const rngArrivals = mulberry32(deriveSeed(seed, 'arrivals'));
  const rngStartup = mulberry32(deriveSeed(seed, 'startup'));
  const neededAt = (t: number): number =>
    Math.min(plant.maxReplicas, Math.max(plant.minReplicas, Math.ceil(trace.ordersPerS[t]! / (mu * rhoStar))));

  // Per-second observations.
  const elu = new Float64Array(T);
  const inFlight = new Float64Array(T);
  const p99 = new Float64Array(T);
  const backlogS = new Float64Array(T);
  const arrivals = new Float64Array(T);
  const served = new Float64Array(T);

  const replicas: SimReplica[] = [];
  let nextId = 0;
  let ready = 0;
  let starting = 0;
  let draining = 0;
  let spec = 0;
  let actions = 0;
  const heap = new EventHeap<SimEvent>();

  const addReplica = (nowS: number, alreadyReady: boolean): void => {
    const delay = Math.max(5, rngStartup.logNormal(plant.startupMedianS, plant.startupSigma));
    const r: SimReplica = {
      id: `r${nextId++}`,
      state: alreadyReady ? 'ready' : 'starting',
      startedMs: (alreadyReady ? nowS - 600 : nowS) * 1000,
      untilS: alreadyReady ? nowS : nowS + delay,
      inFlight: 0,
    };
    if (alreadyReady) {
      r.readyMs = (nowS - 600 + plant.startupMedianS) * 1000;
      ready++;
    } else {
      starting++;
      heap.push(r.untilS, { kind: 'ready', replica: r });
    }
    replicas.push(r);
  };
  const removeReplica = (r: SimReplica, nowS: number): void => {
    if (r.state === 'starting') {
      starting--;
      r.state = 'draining';
      r.untilS = nowS;
      draining++;
      heap.push(nowS, { kind: 'gone', replica: r });
      return;
    }
    if (r.state !== 'ready') return;
    ready--;
    draining++;
    r.state = 'draining';
    r.untilS = nowS + plant.drainS;
    heap.push(r.untilS, { kind: 'gone', replica: r });
  };
  /** Kubernetes ReplicaSet deletion order: not-ready first (newest first), then most recently ready. */
  const defaultRemovalOrder = (): SimReplica[] =>
    replicas
      .filter((r) => r.state !== 'draining')
      .sort((a, b) =>
        a.state !== b.state
          ? a.state === 'starting'
            ? -1
            : 1
          : (b.readyMs ?? b.startedMs) - (a.readyMs ?? a.startedMs) || b.startedMs - a.startedMs,
      );

  const apply = (d: PolicyDecision, nowS: number): void => {
    const desired = Math.max(plant.minReplicas, Math.min(plant.maxReplicas, Math.round(d.desiredReplicas)));
    if (desired === spec) return;
    actions++;
    if (desired > spec) {
      for (let i = spec; i < desired; i++) addReplica(nowS, false);
    } else {
      let toRemove = spec - desired;
      const chosen = new Set(d.remove ?? []);
      const order = defaultRemovalOrder();
      const byChoice = order.filter((r) => chosen.has(r.id));
      const rest = order.filter((r) => !chosen.has(r.id));
      for (const r of [...byChoice, ...rest]) {
        if (toRemove === 0) break;
        removeReplica(r, nowS);
        toRemove--;
      }
    }
    spec = desired;
  };

  // Start with the capacity the first minute needs, all ready: every policy starts equal.
  let initial = 0;
  for (let t = 0; t < Math.min(T, 60); t++) initial = Math.max(initial, neededAt(t));
  for (let i = 0; i < initial; i++) addReplica(0, true);
  spec = initial;

  let nowS = 0;
  const inGap = (s: number): boolean => gaps.some(([a, b]) => s >= a && s < b);
  const view: PlantView = {
    get nowMs() {
      return nowS * 1000;
    },
    get nowS() {
      return nowS;
    },
    replicas,
    get specReplicas() {
      return spec;
    },
    get readyReplicas() {
      return ready;
    },
    plant,
    metrics(windowS: number): WindowMetrics | undefined {
      const end = nowS - plant.metricDelayS;
      const start = Math.max(0, end - Math.max(1, Math.round(windowS)));
      if (end <= 0 || start >= end) return undefined;
      if (inGap(end - 1)) return undefined;
      let e = 0;
      let f = 0;
      let p = 0;
      let a = 0;
      let s = 0;
      for (let t = start; t < end; t++) {
        e += elu[t]!;
        f += inFlight[t]!;
        p += p99[t]!;
        a += arrivals[t]!;
        s += served[t]!;
      }
      const n = end - start;
      return {
        elu: e / n,
        inFlight: f / n,
        p99Ms: p / n,
        backlog: backlogS[end - 1]!,
        arrivalPerS: a / n,
        throughputPerS: s / n,
      };
    },
    samples(kind: 'inFlight' | 'arrivals', sinceS: number): [number, number][] {
      const end = nowS - plant.metricDelayS;
      const src = kind === 'inFlight' ? inFlight : arrivals;
      const out: [number, number][] = [];
      for (let t = Math.max(0, Math.floor(sinceS) + 1); t < end; t++) if (!inGap(t)) out.push([t, src[t]!]);
      return out;
    },
    activity(windowS: number): number {
      const end = Math.max(1, nowS - plant.activityDelayS);
      const start = Math.max(0, end - Math.max(1, Math.round(windowS)));
      let a = 0;
      for (let t = start; t < end; t++) a += arrivals[t]!;
      return a / (end - start);
    },
  };

  heap.push(policy.syncS, { kind: 'sync' });

  // Accounting.
  let replicaSeconds = 0;
  let overSeconds = 0;
  let underSeconds = 0;
  let violatedMinutes = 0;
  let minuteArrivals = 0;
  let minuteOver = 0;
  let minuteMaxWait = 0;
  const episodes: number[] = [];
  let episodeStart = -1;
  const rec = options.recordSeries === true;
  const minutesN = Math.ceil(T / 60);
  const series: SimSeries | undefined = rec
    ? {
        stepS: 60,
        load: new Float64Array(minutesN),
        needed: new Float64Array(minutesN),
        ready: new Float64Array(minutesN),
        billed: new Float64Array(minutesN),
        p99Ms: new Float64Array(minutesN),
        violated: new Uint8Array(minutesN),
      }
    : undefined;

  let backlog = 0;
  let rhoSmooth = 0;
  for (nowS = 0; nowS < T; nowS++) {
    while (heap.peekTime() <= nowS) {
      const ev = heap.pop()!;
      switch (ev.kind) {
        case 'sync': {
          const d = policy.decide(view);
          if (d !== undefined) {
            if (policy.actuationDelayS > 0) heap.push(nowS + policy.actuationDelayS, { kind: 'apply', decision: d });
            else apply(d, nowS);
          }
          heap.push(nowS + policy.syncS, { kind: 'sync' });
          break;
        }
        case 'apply':
          apply(ev.decision, nowS);
          break;
        case 'ready':
          if (ev.replica.state === 'starting') {
            ev.replica.state = 'ready';
            ev.replica.readyMs = ev.replica.untilS * 1000;
            starting--;
            ready++;
          }
          break;
        case 'gone': {
          const i = replicas.indexOf(ev.replica);
          if (i >= 0) replicas.splice(i, 1);
          draining--;
          break;
        }
      }
    }

    // Plant step for second nowS.
    const rate = trace.ordersPerS[nowS]!;
    const a = plant.poissonArrivals ? rngArrivals.poisson(rate) : rate;
    const cap = ready * mu;
    const avail = backlog + a;
    const s = Math.min(cap, avail);
    backlog = avail - s;
    const rho = cap > 0 ? s / cap : 1;
    // The stochastic queue builds and relaxes over seconds: its tail follows a smoothed utilization.
    rhoSmooth += RHO_SMOOTHING * ((cap > 0 ? Math.min(1, a / cap) : 1) - rhoSmooth);
    const rc = Math.min(rhoSmooth, 0.98);
    const waitS = cap > 0 ? backlog / cap : 1000;
    const tail = (plant.serviceMs * LN100) / (1 - rc);
    const lat = waitS * 1000 + tail;
    const overFrac =
      waitS * 1000 >= plant.sloP99Ms ? 1 : Math.exp((-(1 - rc) * (plant.sloP99Ms - waitS * 1000)) / plant.serviceMs);
    const inflight = ready * (rc / (1 - rc)) + backlog;
    elu[nowS] = rho;
    inFlight[nowS] = inflight;
    p99[nowS] = lat;
    backlogS[nowS] = backlog;
    arrivals[nowS] = a;
    served[nowS] = s;
    const perReplica = ready > 0 ? inflight / ready : 0;
    for (const r of replicas) r.inFlight = r.state === 'ready' ? perReplica : 0;

    const billed = ready + starting + draining;
    const need = neededAt(nowS);
    replicaSeconds += billed;
    overSeconds += Math.max(0, billed - need);
    underSeconds += Math.max(0, need - ready);
    if (ready < need) {
      if (episodeStart < 0) episodeStart = nowS;
    } else if (episodeStart >= 0) {
      episodes.push(nowS - episodeStart);
      episodeStart = -1;
    }
    minuteArrivals += a;
    minuteOver += a * overFrac;
    minuteMaxWait = Math.max(minuteMaxWait, waitS);
    const m = Math.floor(nowS / 60);
    if (series !== undefined) {
      series.load[m]! += rate / 60;
      series.needed[m]! += need / 60;
      series.ready[m]! += ready / 60;
      series.billed[m]! += billed / 60;
      series.p99Ms[m] = Math.max(series.p99Ms[m]!, Math.min(lat, 10_000));
    }
    if (nowS % 60 === 59 || nowS === T - 1) {
      const violated = (minuteArrivals > 0 && minuteOver / minuteArrivals > 0.01) || minuteMaxWait > plant.lagLimitS;
      if (violated) violatedMinutes++;
      if (series !== undefined && violated) series.violated[m] = 1;
      minuteArrivals = 0;
      minuteOver = 0;
      minuteMaxWait = 0;
    }
  }
  if (episodeStart >= 0) episodes.push(T - episodeStart);

  const hours = T / 3600;
  return {
    policy: policy.name,
    trace: trace.name,
    seed,
    hours,
    sloViolationMin: violatedMinutes,
    replicaHours: replicaSeconds / 3600,
    overProvisionedReplicaHours: overSeconds / 3600,
    underProvisionedReplicaHours: underSeconds / 3600,
    timeToCapacityS: {
      count: episodes.length,
      p50: percentile(episodes, 0.5),
      p95: percentile(episodes, 0.95),
      max: episodes.reduce((x, y) => Math.max(x, y), 0),
    },
    scalingActionsPerHour: actions / hours,
    ...(series !== undefined ? { series } : {}),
  };
}
