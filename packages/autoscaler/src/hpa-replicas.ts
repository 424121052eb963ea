/**
 * The Kubernetes HPA v2 replica calculator (`pkg/controller/podautoscaler/replica_calculator.go`),
 * reproduced as pure functions: `desired = ceil(readyPods × current / target)`, no change within
 * the tolerance (0.1), and the dampening pass for missing metrics and not-yet-ready pods — on a
 * scale-up missing pods count as 0 and unready pods as 0, on a scale-down missing pods count as
 * 100% of the target; if that pass flips the direction or lands inside the tolerance, no change.
 *
 * Values follow the controller's integer arithmetic: resource usage and requests are milli-units
 * (millicores), utilization is a truncated integer percentage, a pod metric average is truncated
 * to an integer milli-value.
 *
 * @module
 */

/** Default HPA tolerance (`--horizontal-pod-autoscaler-tolerance`). */
export const HPA_DEFAULT_TOLERANCE = 0.1;

/**
 * How one pod enters the calculation (the controller's `groupPods`):
 * `ready` pods are counted (and are "missing" if they have no `value`); `unready` pods are
 * Pending, or failed the CPU initialization rules (not ready and never was, or the metric window
 * started before the pod became ready); `ignored` pods are Failed or being deleted.
 */
export type HpaPodState = 'ready' | 'unready' | 'ignored';

/** One pod's sample for a Resource or Pods metric. */
export interface HpaPodSample {
  readonly name: string;
  readonly state: HpaPodState;
  /** Metric value in milli-units (Resource: usage, e.g. millicores); absent = metric missing. */
  readonly value?: number;
  /** Resource request in the same milli-units (Resource metrics only). */
  readonly request?: number;
}

/** Result of one metric's replica calculation. */
export interface HpaProposal {
  /** Proposed replica count. */
  readonly replicas: number;
  /** Current utilization (Resource: integer percent) or average value (Pods/External, milli-units). */
  readonly usage: number;
}

/** Why a metric could not be computed (the controller treats it as an invalid metric). */
export class HpaMetricError extends Error {
  override readonly name = 'HpaMetricError';
}

interface Grouped {
  readyCount: number;
  unready: string[];
  missing: string[];
  metrics: Map<string, number>;
}

function groupPods(pods: readonly HpaPodSample[]): Grouped {
  const g: Grouped = { readyCount: 0, unready: [], missing: [], metrics: new Map() };
  for (const p of pods) {
    if (p.state === 'ignored') continue;
    if (p.state === 'unready') {
      g.unready.push(p.name);
      continue;
    }
    if (p.value === undefined) {
      g.missing.push(p.name);
      continue;
    }
    g.metrics.set(p.name, p.value);
    g.readyCount++;
  }
  return g;
}

/**
 * Shared tail of the calculation: the direct formula when nothing is missing or unready, else the
 * dampening pass. `ratioOf` recomputes the usage ratio for a metrics map; `fillMissingDown` is the
 * value a missing pod gets on a scale-down.
 */
function finish(
  g: Grouped,
  currentReplicas: number,
  tolerance: number,
  usageRatio: number,
  usage: number,
  ratioOf: (metrics: Map<string, number>) => number,
  fillMissingDown: (pod: string) => number,
): HpaProposal {
  const scaleUpWithUnready = g.unready.length > 0 && usageRatio > 1.0;
  if (!scaleUpWithUnready && g.missing.length === 0) {
    if (Math.abs(1.0 - usageRatio) <= tolerance) return { replicas: currentReplicas, usage };
    return { replicas: Math.ceil(usageRatio * g.readyCount), usage };
  }
  if (g.missing.length > 0) {
    if (usageRatio < 1.0) for (const pod of g.missing) g.metrics.set(pod, fillMissingDown(pod));
    else if (usageRatio > 1.0) for (const pod of g.missing) g.metrics.set(pod, 0);
  }
  if (scaleUpWithUnready) for (const pod of g.unready) g.metrics.set(pod, 0);
  const newRatio = ratioOf(g.metrics);
  if (
    Math.abs(1.0 - newRatio) <= tolerance ||
    (usageRatio < 1.0 && newRatio > 1.0) ||
    (usageRatio > 1.0 && newRatio < 1.0)
  ) {
    return { replicas: currentReplicas, usage };
  }
  const newReplicas = Math.ceil(newRatio * g.metrics.size);
  if ((newRatio < 1.0 && newReplicas > currentReplicas) || (newRatio > 1.0 && newReplicas < currentReplicas)) {
    return { replicas: currentReplicas, usage };
  }
  return { replicas: newReplicas, usage };
}

/**
 * Resource metric with `target.averageUtilization` (percent of request), e.g. CPU at 70%.
 * Throws {@link HpaMetricError} when no pod is listed or no ready pod has a metric.
 */
export function hpaResourceReplicas(
  currentReplicas: number,
  targetUtilizationPct: number,
  pods: readonly HpaPodSample[],
  tolerance = HPA_DEFAULT_TOLERANCE,
): HpaProposal {
  if (pods.length === 0) throw new HpaMetricError('no pods returned by selector while calculating replica count');
  const requests = new Map<string, number>();
  for (const p of pods) requests.set(p.name, p.request ?? 0);
  const g = groupPods(pods);
  if (g.metrics.size === 0)
    throw new HpaMetricError('did not receive metrics for targeted pods (pods might be unready)');
  const utilizationOf = (metrics: Map<string, number>): number => {
    let used = 0;
    let requested = 0;
    for (const [pod, v] of metrics) {
      const r = requests.get(pod);
      if (r === undefined) continue;
      used += v;
      requested += r;
    }
    if (requested === 0) throw new HpaMetricError('no metrics returned matched known pods');
    return Math.trunc((used * 100) / requested);
  };
  const utilization = utilizationOf(g.metrics);
  const fallback = Math.max(100, targetUtilizationPct);
  return finish(
    g,
    currentReplicas,
    tolerance,
    utilization / targetUtilizationPct,
    utilization,
    (m) => utilizationOf(m) / targetUtilizationPct,
    (pod) => Math.trunc(((requests.get(pod) ?? 0) * fallback) / 100),
  );
}

/**
 * Pods metric (or Resource with `target.averageValue`) with a per-pod average target in
 * milli-units, e.g. in-flight requests per pod. Missing pods count as the target on a scale-down.
 */
export function hpaPodsReplicas(
  currentReplicas: number,
  targetAverageValue: number,
  pods: readonly HpaPodSample[],
  tolerance = HPA_DEFAULT_TOLERANCE,
): HpaProposal {
  if (pods.length === 0) throw new HpaMetricError('no pods returned by selector while calculating replica count');
  const g = groupPods(pods);
  if (g.metrics.size === 0)
    throw new HpaMetricError('did not receive metrics for targeted pods (pods might be unready)');
  const averageOf = (metrics: Map<string, number>): number => {
    let total = 0;
    for (const v of metrics.values()) total += v;
    return Math.trunc(total / metrics.size);
  };
  const usage = averageOf(g.metrics);
  return finish(
    g,
    currentReplicas,
    tolerance,
    usage / targetAverageValue,
    usage,
    (m) => averageOf(m) / targetAverageValue,
    () => targetAverageValue,
  );
}

/**
 * External metric with `target.averageValue` (what KEDA creates): the metric total divided by the
 * target, unless the ratio to `currentReplicas × target` is within the tolerance. With Ballast's
 * `ballast_autoscaler_desired_replicas` and `averageValue: 1` this yields the published count.
 */
export function hpaExternalAverageReplicas(
  currentReplicas: number,
  targetAverageValue: number,
  total: number,
  tolerance = HPA_DEFAULT_TOLERANCE,
): HpaProposal {
  const ratio = total / (targetAverageValue * currentReplicas);
  const replicas = Math.abs(1.0 - ratio) > tolerance ? Math.ceil(total / targetAverageValue) : currentReplicas;
  return { replicas, usage: Math.ceil(total / currentReplicas) };
}

/**
 * External (or Object) metric with `target.value`: `ceil(ratio × readyPods)` outside the
 * tolerance; from zero replicas, `ceil(ratio)`.
 */
export function hpaExternalValueReplicas(
  currentReplicas: number,
  readyPods: number,
  targetValue: number,
  value: number,
  tolerance = HPA_DEFAULT_TOLERANCE,
): HpaProposal {
  const ratio = value / targetValue;
  if (currentReplicas === 0) return { replicas: Math.ceil(ratio), usage: value };
  if (Math.abs(1.0 - ratio) <= tolerance) return { replicas: currentReplicas, usage: value };
  return { replicas: Math.ceil(ratio * readyPods), usage: value };
}
