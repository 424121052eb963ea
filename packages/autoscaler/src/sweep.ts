/**
 * Knob sweeps: every policy gets the same number of settings (equal tuning effort), each setting is
 * simulated on every seed, and the mean per setting forms the policy's Pareto curve.
 *
 * @module
 */
import {
  BALLAST_BENCH_BASE,
  ballastDriver,
  hpaDriver,
  kpaDriver,
  type BallastDriverOptions,
  type PolicyName,
} from './drivers.ts';
import { paretoFront } from './pareto.ts';
import { resolvePlant, simulate, type PlantOptions, type PolicyDriver, type SimResult } from './simulator.ts';
import type { Trace } from './trace.ts';

/** One knob setting: a label and a factory for a fresh driver. */
export interface KnobSetting {
  readonly label: string;
  readonly knobs: Readonly<Record<string, number>>;
  readonly create: () => PolicyDriver;
}

/** Number of settings per policy in {@link defaultGrid}. */
export const SWEEP_SIZE = 8;

/**
 * The default grid, {@link SWEEP_SIZE} settings per policy: HPA target utilization 45–80% (default
 * behavior); KPA target utilization 0.45–0.8 (RPS per pod); Ballast: {@link BALLAST_BENCH_BASE}
 * with target ELU 0.75–0.8, trend window 10–15 s, swing headroom 0–0.25, scale-down hysteresis
 * 0.05–0.1 and forecast hold 20–30 s.
 */
export function defaultGrid(
  policy: PolicyName,
  plantOptions: PlantOptions = {},
  /** Ballast only: options applied over every setting (e.g. `actuationDelayS` for the KEDA path). */
  ballastOverrides: BallastDriverOptions = {},
): KnobSetting[] {
  const p = resolvePlant(plantOptions);
  const us = [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8];
  const cap = 1000 / p.serviceMs;
  switch (policy) {
    case 'hpa':
      return us.map((u) => ({
        label: `target=${Math.round(u * 100)}%`,
        knobs: { targetUtilizationPct: Math.round(u * 100) },
        create: () => hpaDriver(p.minReplicas, p.maxReplicas, { targetUtilizationPct: Math.round(u * 100) }),
      }));
    case 'kpa':
      return us.map((u) => ({
        label: `target=${u}`,
        knobs: { targetUtilization: u },
        create: () => kpaDriver(p.minReplicas, p.maxReplicas, { targetUtilization: u, capacityPerReplica: cap }),
      }));
    case 'ballast': {
      // Chosen on seeds 11-13 (not the bench's seeds 1-3). Every setting: decisions every 2 s,
      // applied directly (the scale subresource or `ballast cluster scale`), a 10-15 s least-squares
      // trend on market activity, withdrawal of replicas an unconfirmed forecast started, no burst
      // headroom; they differ in target ELU, swing headroom, scale-down hysteresis and forecast hold.
      const settings: {
        targetElu: number;
        trendWindowS: number;
        swingZ: number;
        scaleDownHysteresis: number;
        forecastHoldS: number;
      }[] = [
        { targetElu: 0.75, trendWindowS: 10, swingZ: 0, scaleDownHysteresis: 0.1, forecastHoldS: 20 },
        { targetElu: 0.78, trendWindowS: 10, swingZ: 0, scaleDownHysteresis: 0.1, forecastHoldS: 20 },
        { targetElu: 0.78, trendWindowS: 10, swingZ: 0, scaleDownHysteresis: 0.05, forecastHoldS: 20 },
        { targetElu: 0.78, trendWindowS: 10, swingZ: 0.25, scaleDownHysteresis: 0.1, forecastHoldS: 20 },
        { targetElu: 0.8, trendWindowS: 10, swingZ: 0.25, scaleDownHysteresis: 0.1, forecastHoldS: 20 },
        { targetElu: 0.78, trendWindowS: 15, swingZ: 0, scaleDownHysteresis: 0.1, forecastHoldS: 20 },
        { targetElu: 0.8, trendWindowS: 10, swingZ: 0, scaleDownHysteresis: 0.1, forecastHoldS: 30 },
        { targetElu: 0.8, trendWindowS: 10, swingZ: 0, scaleDownHysteresis: 0.05, forecastHoldS: 20 },
      ];
      return settings.map((k) => ({
        label: `elu=${k.targetElu},trend=${k.trendWindowS}s,swing=${k.swingZ},hyst=${k.scaleDownHysteresis},hold=${k.forecastHoldS}s`,
        knobs: k,
        create: () =>
          ballastDriver(p.minReplicas, p.maxReplicas, cap, p.sloP99Ms, {
            ...BALLAST_BENCH_BASE,
            ...k,
            ...ballastOverrides,
          }),
      }));
    }
  }
}

/** A setting's mean result over seeds. */
export interface SweepPoint {
  readonly policy: string;
  readonly label: string;
  readonly knobs: Readonly<Record<string, number>>;
  readonly sloViolationMin: number;
  readonly replicaHours: number;
  readonly overProvisionedReplicaHours: number;
  readonly underProvisionedReplicaHours: number;
  readonly scalingActionsPerHour: number;
  readonly timeToCapacityP95S: number;
}

/** Options of {@link sweep}. */
export interface SweepOptions {
  readonly trace: Trace | ((seed: number) => Trace);
  readonly policy: PolicyName;
  readonly seeds: readonly number[];
  readonly plant?: PlantOptions;
  readonly grid?: readonly KnobSetting[];
  /** Called after each run with (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Averages results of one setting over seeds. */
export function averageResults(
  policy: string,
  setting: Pick<KnobSetting, 'label' | 'knobs'>,
  rs: readonly SimResult[],
): SweepPoint {
  return {
    policy,
    label: setting.label,
    knobs: setting.knobs,
    sloViolationMin: mean(rs.map((r) => r.sloViolationMin)),
    replicaHours: mean(rs.map((r) => r.replicaHours)),
    overProvisionedReplicaHours: mean(rs.map((r) => r.overProvisionedReplicaHours)),
    underProvisionedReplicaHours: mean(rs.map((r) => r.underProvisionedReplicaHours)),
    scalingActionsPerHour: mean(rs.map((r) => r.scalingActionsPerHour)),
    timeToCapacityP95S: mean(rs.map((r) => r.timeToCapacityS.p95)),
  };
}

/** Runs the grid on every seed; returns all points and the Pareto front. Throws `AbortError` if aborted. */
export function sweep(options: SweepOptions): { points: SweepPoint[]; front: SweepPoint[] } {
  const grid = options.grid ?? defaultGrid(options.policy, options.plant);
  const total = grid.length * options.seeds.length;
  let done = 0;
  const points: SweepPoint[] = [];
  for (const setting of grid) {
    const rs: SimResult[] = [];
    for (const seed of options.seeds) {
      options.signal?.throwIfAborted();
      const trace = typeof options.trace === 'function' ? options.trace(seed) : options.trace;
      rs.push(simulate({ trace, policy: setting.create(), seed, ...(options.plant ? { plant: options.plant } : {}) }));
      options.onProgress?.(++done, total);
    }
    points.push(averageResults(options.policy, setting, rs));
  }
  return { points, front: paretoFront(points) };
}
