/**
 * The Kubernetes HPA v2 controller loop (`pkg/controller/podautoscaler/horizontal.go`) for one
 * target: max over metrics, invalid-metric handling, then either the `behavior` path
 * (`normalizeDesiredReplicasWithBehaviors`: stabilization windows, Pods/Percent policies over
 * periods, selectPolicy Max/Min/Disabled) or, with no `behavior`, the legacy path (300 s
 * downscale stabilization, scale-up limit `max(2 × current, 4)`). Time is passed in (`nowMs`);
 * the controller runs every {@link HPA_SYNC_PERIOD_S} seconds.
 *
 * @module
 */
import {
  HPA_DEFAULT_TOLERANCE,
  HpaMetricError,
  hpaExternalAverageReplicas,
  hpaExternalValueReplicas,
  hpaPodsReplicas,
  hpaResourceReplicas,
  type HpaPodSample,
} from './hpa-replicas.ts';

/** Default controller sync period (`--horizontal-pod-autoscaler-sync-period`), seconds. */
export const HPA_SYNC_PERIOD_S = 15;
/** Default downscale stabilization (`--horizontal-pod-autoscaler-downscale-stabilization`), seconds. */
export const HPA_DOWNSCALE_STABILIZATION_S = 300;

/** One scaling policy: change by `value` pods or percent per `periodSeconds`. */
export interface HpaScalingPolicy {
  readonly type: 'Pods' | 'Percent';
  readonly value: number;
  readonly periodSeconds: number;
}

/** Rules for one direction; absent fields take the Kubernetes defaults. */
export interface HpaScalingRules {
  readonly stabilizationWindowSeconds?: number;
  readonly selectPolicy?: 'Max' | 'Min' | 'Disabled';
  readonly policies?: readonly HpaScalingPolicy[];
}

/** `spec.behavior`. */
export interface HpaBehavior {
  readonly scaleUp?: HpaScalingRules;
  readonly scaleDown?: HpaScalingRules;
}

/** Rules with every default filled in. */
export interface ResolvedHpaScalingRules {
  readonly stabilizationWindowSeconds: number;
  readonly selectPolicy: 'Max' | 'Min' | 'Disabled';
  readonly policies: readonly HpaScalingPolicy[];
}

/**
 * Fills `behavior` with the API defaults: scale-up 0 s window, Max of 4 pods / 100% per 15 s;
 * scale-down 300 s window (the controller flag), 100% per 15 s.
 */
export function resolveHpaBehavior(
  behavior: HpaBehavior,
  downscaleStabilizationS = HPA_DOWNSCALE_STABILIZATION_S,
): { scaleUp: ResolvedHpaScalingRules; scaleDown: ResolvedHpaScalingRules } {
  const up = behavior.scaleUp ?? {};
  const down = behavior.scaleDown ?? {};
  return {
    scaleUp: {
      stabilizationWindowSeconds: up.stabilizationWindowSeconds ?? 0,
      selectPolicy: up.selectPolicy ?? 'Max',
      policies: up.policies ?? [
        { type: 'Pods', value: 4, periodSeconds: 15 },
        { type: 'Percent', value: 100, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: down.stabilizationWindowSeconds ?? downscaleStabilizationS,
      selectPolicy: down.selectPolicy ?? 'Max',
      policies: down.policies ?? [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    },
  };
}

/** One metric's current reading, with its target. `invalid` = the metrics API failed. */
export type HpaMetricInput =
  | { readonly type: 'Resource'; readonly targetAverageUtilization: number; readonly pods: readonly HpaPodSample[] }
  | { readonly type: 'Pods'; readonly targetAverageValue: number; readonly pods: readonly HpaPodSample[] }
  | { readonly type: 'ExternalAverage'; readonly targetAverageValue: number; readonly total: number }
  | { readonly type: 'ExternalValue'; readonly targetValue: number; readonly value: number; readonly readyPods: number }
  | { readonly type: 'Invalid'; readonly reason: string };

/** HPA spec for {@link HpaController}. */
export interface HpaSpec {
  /** @default 1 */
  readonly minReplicas?: number;
  readonly maxReplicas: number;
  /** `spec.behavior`; absent = the legacy path a v2 HPA without `behavior` runs. */
  readonly behavior?: HpaBehavior;
  /** @default 0.1 */
  readonly tolerance?: number;
  /** Controller flag, seconds. @default 300 */
  readonly downscaleStabilizationS?: number;
}

/** What one reconcile decided. */
export interface HpaDecision {
  /** Replicas to set (equals `currentReplicas` when not rescaling). */
  readonly desiredReplicas: number;
  /** Max over metrics before stabilization and limits; -1 when metrics were invalid. */
  readonly metricReplicas: number;
  readonly rescale: boolean;
  /** Condition reason, e.g. `ScaleUpLimit`, `ScaleDownStabilized`, `FailedGetMetrics`. */
  readonly reason: string;
}

interface Stamped {
  readonly atMs: number;
  readonly value: number;
}

/** A stateful HPA for one scale target (recommendation history and scale events). */
export class HpaController {
  readonly #spec: HpaSpec;
  readonly #min: number;
  readonly #tolerance: number;
  readonly #rules: ReturnType<typeof resolveHpaBehavior> | undefined;
  #recommendations: Stamped[] = [];
  #upEvents: Stamped[] = [];
  #downEvents: Stamped[] = [];

  constructor(spec: HpaSpec) {
    this.#spec = spec;
    this.#min = spec.minReplicas ?? 1;
    this.#tolerance = spec.tolerance ?? HPA_DEFAULT_TOLERANCE;
    this.#rules =
      spec.behavior === undefined
        ? undefined
        : resolveHpaBehavior(spec.behavior, spec.downscaleStabilizationS ?? HPA_DOWNSCALE_STABILIZATION_S);
  }

  /** One controller sync at `nowMs` for a target whose `spec.replicas` is `currentReplicas`. */
  reconcile(nowMs: number, currentReplicas: number, metrics: readonly HpaMetricInput[]): HpaDecision {
    const max = this.#spec.maxReplicas;
    let desired: number;
    let metricReplicas = 0;
    let reason: string;
    if (currentReplicas === 0 && this.#min !== 0) {
      return { desiredReplicas: 0, metricReplicas: 0, rescale: false, reason: 'ScalingDisabled' };
    } else if (currentReplicas > max) {
      desired = max;
      reason = 'TooManyReplicas';
    } else if (currentReplicas < this.#min) {
      desired = this.#min;
      reason = 'TooFewReplicas';
    } else {
      metricReplicas = this.#replicasForMetrics(currentReplicas, metrics);
      if (metricReplicas === -1) {
        return { desiredReplicas: currentReplicas, metricReplicas: -1, rescale: false, reason: 'FailedGetMetrics' };
      }
      const r =
        this.#rules === undefined
          ? this.#normalizeLegacy(nowMs, currentReplicas, metricReplicas)
          : this.#normalizeWithBehaviors(nowMs, currentReplicas, metricReplicas);
      desired = r.replicas;
      reason = r.reason;
    }
    const rescale = desired !== currentReplicas;
    if (rescale) this.#storeScaleEvent(nowMs, currentReplicas, desired);
    return { desiredReplicas: desired, metricReplicas, rescale, reason };
  }

  #replicasForMetrics(current: number, metrics: readonly HpaMetricInput[]): number {
    let replicas = 0;
    let invalid = 0;
    for (const m of metrics) {
      let proposal: number;
      try {
        switch (m.type) {
          case 'Resource':
            proposal = hpaResourceReplicas(current, m.targetAverageUtilization, m.pods, this.#tolerance).replicas;
            break;
          case 'Pods':
            proposal = hpaPodsReplicas(current, m.targetAverageValue, m.pods, this.#tolerance).replicas;
            break;
          case 'ExternalAverage':
            proposal = hpaExternalAverageReplicas(current, m.targetAverageValue, m.total, this.#tolerance).replicas;
            break;
          case 'ExternalValue':
            proposal = hpaExternalValueReplicas(current, m.readyPods, m.targetValue, m.value, this.#tolerance).replicas;
            break;
          case 'Invalid':
            throw new HpaMetricError(m.reason);
        }
      } catch (err) {
        if (!(err instanceof HpaMetricError)) throw err;
        invalid++;
        continue;
      }
      if (replicas === 0 || proposal > replicas) replicas = proposal;
    }
    // All invalid, or some invalid and we would scale down: do nothing this sync.
    if (invalid >= metrics.length || (invalid > 0 && replicas < current)) return -1;
    return replicas;
  }

  // ---------------------------------------------------------------- behavior path

  #normalizeWithBehaviors(nowMs: number, current: number, prenormalized: number): { replicas: number; reason: string } {
    const rules = this.#rules!;
    // stabilizeRecommendationWithBehaviors
    const upCutoff = nowMs - rules.scaleUp.stabilizationWindowSeconds * 1000;
    const downCutoff = nowMs - rules.scaleDown.stabilizationWindowSeconds * 1000;
    let upRec = prenormalized;
    let downRec = prenormalized;
    for (const r of this.#recommendations) {
      if (r.atMs > upCutoff) upRec = Math.min(r.value, upRec);
      if (r.atMs > downCutoff) downRec = Math.max(r.value, downRec);
    }
    let stabilized = current;
    if (stabilized < upRec) stabilized = upRec;
    if (stabilized > downRec) stabilized = downRec;
    const deadBefore = Math.min(upCutoff, downCutoff);
    this.#recommendations = this.#recommendations.filter((r) => r.atMs > deadBefore);
    this.#recommendations.push({ atMs: nowMs, value: prenormalized });
    const reason =
      stabilized === prenormalized
        ? 'DesiredWithinRange'
        : stabilized < prenormalized
          ? 'ScaleUpStabilized'
          : 'ScaleDownStabilized';

    // convertDesiredReplicasWithBehaviorRate
    const max = this.#spec.maxReplicas;
    if (stabilized > current) {
      let limit = this.#scaleUpLimit(nowMs, current, rules.scaleUp);
      if (limit < current) limit = current;
      let allowed = max;
      let why = 'TooManyReplicas';
      if (allowed > limit) {
        allowed = limit;
        why = 'ScaleUpLimit';
      }
      if (stabilized > allowed) return { replicas: allowed, reason: why };
    } else if (stabilized < current) {
      let limit = this.#scaleDownLimit(nowMs, current, rules.scaleDown);
      if (limit > current) limit = current;
      let allowed = this.#min;
      let why = 'TooFewReplicas';
      if (allowed < limit) {
        allowed = limit;
        why = 'ScaleDownLimit';
      }
      if (stabilized < allowed) return { replicas: allowed, reason: why };
    }
    return { replicas: stabilized, reason };
  }

  #changeInPeriod(events: readonly Stamped[], nowMs: number, periodSeconds: number): number {
    const cutoff = nowMs - periodSeconds * 1000;
    let sum = 0;
    for (const e of events) if (e.atMs > cutoff) sum += e.value;
    return sum;
  }

  /** calculateScaleUpLimitWithScalingRules. */
  #scaleUpLimit(nowMs: number, current: number, rules: ResolvedHpaScalingRules): number {
    if (rules.selectPolicy === 'Disabled') return current;
    const pickMin = rules.selectPolicy === 'Min';
    let result = pickMin ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
    for (const p of rules.policies) {
      const start =
        current -
        this.#changeInPeriod(this.#upEvents, nowMs, p.periodSeconds) +
        this.#changeInPeriod(this.#downEvents, nowMs, p.periodSeconds);
      const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
      result = pickMin ? Math.min(result, proposed) : Math.max(result, proposed);
    }
    return result;
  }

  /** calculateScaleDownLimitWithBehaviors. */
  #scaleDownLimit(nowMs: number, current: number, rules: ResolvedHpaScalingRules): number {
    if (rules.selectPolicy === 'Disabled') return current;
    const pickMin = rules.selectPolicy === 'Min';
    let result = pickMin ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
    for (const p of rules.policies) {
      const start =
        current -
        this.#changeInPeriod(this.#upEvents, nowMs, p.periodSeconds) +
        this.#changeInPeriod(this.#downEvents, nowMs, p.periodSeconds);
      const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
      result = pickMin ? Math.max(result, proposed) : Math.min(result, proposed);
    }
    return result;
  }

  #storeScaleEvent(nowMs: number, prev: number, next: number): void {
    if (this.#rules === undefined) return;
    const longest = (r: ResolvedHpaScalingRules): number => Math.max(0, ...r.policies.map((p) => p.periodSeconds));
    if (next > prev) {
      const cutoff = nowMs - longest(this.#rules.scaleUp) * 1000;
      this.#upEvents = this.#upEvents.filter((e) => e.atMs > cutoff);
      this.#upEvents.push({ atMs: nowMs, value: next - prev });
    } else {
      const cutoff = nowMs - longest(this.#rules.scaleDown) * 1000;
      this.#downEvents = this.#downEvents.filter((e) => e.atMs > cutoff);
      this.#downEvents.push({ atMs: nowMs, value: prev - next });
    }
  }

  // ---------------------------------------------------------------- legacy path (no behavior)

  #normalizeLegacy(nowMs: number, current: number, prenormalized: number): { replicas: number; reason: string } {
    const cutoff = nowMs - (this.#spec.downscaleStabilizationS ?? HPA_DOWNSCALE_STABILIZATION_S) * 1000;
    let maxRec = prenormalized;
    for (const r of this.#recommendations) if (r.atMs >= cutoff && r.value > maxRec) maxRec = r.value;
    this.#recommendations = this.#recommendations.filter((r) => r.atMs >= cutoff);
    this.#recommendations.push({ atMs: nowMs, value: prenormalized });
    const reason = maxRec === prenormalized ? 'ReadyForNewScale' : 'ScaleDownStabilized';
    const scaleUpLimit = Math.max(2 * current, 4);
    const maxAllowed = Math.min(this.#spec.maxReplicas, scaleUpLimit);
    if (maxRec < this.#min) return { replicas: this.#min, reason: 'TooFewReplicas' };
    if (maxRec > maxAllowed) {
      return { replicas: maxAllowed, reason: maxAllowed === scaleUpLimit ? 'ScaleUpLimit' : 'TooManyReplicas' };
    }
    return { replicas: maxRec, reason };
  }
}
