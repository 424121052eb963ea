/**
 * The three policies as simulator drivers, each fed the way its real system is:
 *
 * - `hpa`: the exact HPA controller every 15 s on CPU (event-loop) utilization averaged over a
 *   15 s metrics-server window; starting pods are unready, pods that became ready inside the
 *   window are unready (the CPU initialization rule), draining pods are ignored; a metrics gap is
 *   an invalid metric. Knob: target utilization (%). Behavior: the Kubernetes defaults.
 * - `kpa`: the Knative autoscaler every 2 s on per-second samples of the `rps` metric (arrivals;
 *   Knative's choice for a CPU-bound server) — knob: target utilization `u`, as `u × capacity` RPS
 *   per pod — or of `concurrency` (in service + queued) with the M/M/1 concurrency per pod at `u`,
 *   `u / (1 − u)`. With a single-threaded server, concurrency grows non-linearly with load, and
 *   the KPA oscillates between panic and halving; `rps` is the sensible deployment.
 * - `ballast`: {@link BallastPolicy} every 5 s on ELU, p99, backlog and market activity; its
 *   decisions reach the plant `actuationDelayS` later (15 s by default: Prometheus scrape plus
 *   the HPA sync that applies the published count through KEDA). Knob: target ELU.
 *
 * @module
 */
import { BallastPolicy, type BallastPolicyOptions } from './ballast-policy.ts';
import { HpaController, HPA_SYNC_PERIOD_S, type HpaBehavior } from './hpa-controller.ts';
import type { HpaPodSample } from './hpa-replicas.ts';
import { KpaAutoscaler, KPA_TICK_S, type KpaOptions } from './kpa.ts';
import type { PlantView, PolicyDriver } from './simulator.ts';

/** Policy names. */
export const PolicyName = { Hpa: 'hpa', Kpa: 'kpa', Ballast: 'ballast' } as const;
/** One of {@link PolicyName}. */
export type PolicyName = (typeof PolicyName)[keyof typeof PolicyName];

/** HPA driver options. */
export interface HpaDriverOptions {
  /** Target CPU (event-loop) utilization, percent. @default 70 */
  readonly targetUtilizationPct?: number;
  /** `spec.behavior`; default `{}` = every Kubernetes default. */
  readonly behavior?: HpaBehavior;
  /** metrics-server resolution, seconds. @default 15 */
  readonly metricsWindowS?: number;
}

/** Creates the HPA driver; min/max replicas come from the plant. */
export function hpaDriver(minReplicas: number, maxReplicas: number, options: HpaDriverOptions = {}): PolicyDriver {
  const target = options.targetUtilizationPct ?? 70;
  const windowS = options.metricsWindowS ?? 15;
  const hpa = new HpaController({ minReplicas, maxReplicas, behavior: options.behavior ?? {} });
  return {
    name: 'hpa',
    syncS: HPA_SYNC_PERIOD_S,
    actuationDelayS: 0,
    decide(view: PlantView) {
      const m = view.metrics(windowS);
      const windowStartMs = (view.nowS - view.plant.metricDelayS - windowS) * 1000;
      const pods: HpaPodSample[] = view.replicas.map((r) => {
        if (r.state === 'draining') return { name: r.id, state: 'ignored' };
        if (r.state === 'starting' || (r.readyMs ?? 0) > windowStartMs) {
          return { name: r.id, state: 'unready', request: 1000 };
        }
        return { name: r.id, state: 'ready', value: Math.round((m?.elu ?? 0) * 1000), request: 1000 };
      });
      const d = hpa.reconcile(
        view.nowMs,
        view.specReplicas,
        m === undefined
          ? [{ type: 'Invalid', reason: 'metrics API unavailable' }]
          : [{ type: 'Resource', targetAverageUtilization: target, pods }],
      );
      return { desiredReplicas: d.desiredReplicas };
    },
  };
}

/** KPA driver options. */
export interface KpaDriverOptions extends Partial<KpaOptions> {
  /** Target utilization. @default 0.7 */
  readonly targetUtilization?: number;
  /** Knative metric. @default 'rps' */
  readonly metric?: 'rps' | 'concurrency';
  /** Requests/s one pod serves at full utilization (for `rps`). @default 100 */
  readonly capacityPerReplica?: number;
}

/** Creates the KPA driver. */
export function kpaDriver(minReplicas: number, maxReplicas: number, options: KpaDriverOptions = {}): PolicyDriver {
  const u = options.targetUtilization ?? 0.7;
  const metric = options.metric ?? 'rps';
  const kpa = new KpaAutoscaler({
    ...options,
    targetPerPod: options.targetPerPod ?? (metric === 'rps' ? u * (options.capacityPerReplica ?? 100) : u / (1 - u)),
    minReplicas,
    maxReplicas,
  });
  let lastSampleS = -1;
  return {
    name: 'kpa',
    syncS: KPA_TICK_S,
    actuationDelayS: 0,
    decide(view: PlantView) {
      for (const [s, v] of view.samples(metric === 'rps' ? 'arrivals' : 'inFlight', lastSampleS)) {
        kpa.record(s * 1000, v);
        lastSampleS = s;
      }
      if (lastSampleS < 0) return undefined;
      const d = kpa.scale((lastSampleS + 1) * 1000, view.readyReplicas);
      return d === undefined ? undefined : { desiredReplicas: d.desiredReplicas };
    },
  };
}

/** Ballast driver options. */
export interface BallastDriverOptions extends Partial<BallastPolicyOptions> {
  /** @default 5 */
  readonly syncS?: number;
}

/** Creates the Ballast driver. */
export function ballastDriver(
  minReplicas: number,
  maxReplicas: number,
  capacityPerReplica: number,
  sloP99Ms: number,
  options: BallastDriverOptions = {},
): PolicyDriver {
  const syncS = options.syncS ?? 5;
  const actuationDelayS = options.actuationDelayS ?? 15;
  const policy = new BallastPolicy({
    capacityPerReplica,
    sloP99Ms,
    ...options,
    actuationDelayS,
    minReplicas,
    maxReplicas,
  });
  return {
    name: 'ballast',
    syncS,
    actuationDelayS,
    decide(view: PlantView) {
      const m = view.metrics(syncS);
      const r = policy.recommend(view.nowMs, view.replicas, {
        ...(m !== undefined
          ? {
              elu: m.elu,
              p99Ms: m.p99Ms,
              lag: { messages: m.backlog, arrivalPerS: m.arrivalPerS },
              throughputPerS: m.throughputPerS,
            }
          : {}),
        activity: { ordersPerS: view.activity(syncS) },
      });
      return { desiredReplicas: r.desiredReplicas, remove: r.remove };
    },
  };
}

/**
 * The policy configuration `bench:autoscale` measures, and `ballast autoscale live` runs: a 10 s
 * least-squares trend (no slope gate), withdrawal of unconfirmed replicas after 20 s, and no
 * forecast-error or burst headroom (the burst detector fired on ordinary swings and then blocked
 * scale-down).
 */
export const BALLAST_TUNED_OPTIONS = {
  trendWindowS: 10,
  trendSlopeZ: 0,
  forecastHoldS: 20,
  noiseZ: 0,
  burst: { enterRatio: Number.POSITIVE_INFINITY },
} as const satisfies Partial<BallastPolicyOptions>;

/** What every setting of the Ballast grid shares: {@link BALLAST_TUNED_OPTIONS}, 2 s syncs, direct actuation. */
export const BALLAST_BENCH_BASE = {
  ...BALLAST_TUNED_OPTIONS,
  syncS: 2,
  actuationDelayS: 0,
} as const satisfies BallastDriverOptions;

/** Knob value per policy from a common target utilization `u` in (0, 1). */
export function driverFor(
  name: PolicyName,
  u: number,
  plant: { minReplicas: number; maxReplicas: number; serviceMs: number; sloP99Ms: number },
): PolicyDriver {
  switch (name) {
    case 'hpa':
      return hpaDriver(plant.minReplicas, plant.maxReplicas, { targetUtilizationPct: Math.round(u * 100) });
    case 'kpa':
      return kpaDriver(plant.minReplicas, plant.maxReplicas, {
        targetUtilization: u,
        capacityPerReplica: 1000 / plant.serviceMs,
      });
    case 'ballast':
      return ballastDriver(plant.minReplicas, plant.maxReplicas, 1000 / plant.serviceMs, plant.sloP99Ms, {
        ...BALLAST_BENCH_BASE,
        targetElu: u,
      });
  }
}
