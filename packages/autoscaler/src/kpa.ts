/**
 * The Knative Pod Autoscaler (`knative/serving` `pkg/autoscaler/scaling/autoscaler.go`) for one
 * revision: the observed metric (total concurrency or requests/s over all pods) is averaged over a
 * 60 s stable window and a 6 s panic window (10% of stable); desired pods = `ceil(average /
 * targetPerPod)`, clamped to `[floor(ready / maxScaleDownRate), ceil(ready × maxScaleUpRate)]`.
 * When the panic-window desire reaches 200% of the ready pods the autoscaler panics: it uses the
 * larger of the two desires and never scales down, and it leaves panic mode only after a full
 * stable window below the threshold.
 *
 * @module
 */

/** Options of {@link KpaAutoscaler}; defaults are Knative's. */
export interface KpaOptions {
  /** Target per pod: `containerConcurrency × target utilization` (concurrency) or RPS per pod. */
  readonly targetPerPod: number;
  /** @default 60 */
  readonly stableWindowS?: number;
  /** Panic window as a percentage of the stable window. @default 10 */
  readonly panicWindowPct?: number;
  /** Panic when panic-window desired pods ≥ this percentage of ready pods. @default 200 */
  readonly panicThresholdPct?: number;
  /** @default 1000 */
  readonly maxScaleUpRate?: number;
  /** @default 2 */
  readonly maxScaleDownRate?: number;
  /** @default 1 */
  readonly minReplicas?: number;
  /** @default Infinity */
  readonly maxReplicas?: number;
}

/** Result of one {@link KpaAutoscaler.scale} call. */
export interface KpaDecision {
  readonly desiredReplicas: number;
  readonly panic: boolean;
  /** Stable- and panic-window averages of the metric. */
  readonly stableValue: number;
  readonly panicValue: number;
}

/** Knative's autoscaler tick, seconds. */
export const KPA_TICK_S = 2;

/** A stateful KPA: feed per-second metric samples with {@link KpaAutoscaler.record}. */
export class KpaAutoscaler {
  readonly #target: number;
  readonly #stableS: number;
  readonly #panicS: number;
  readonly #threshold: number;
  readonly #upRate: number;
  readonly #downRate: number;
  readonly #min: number;
  readonly #max: number;
  /** Per-second buckets: index = second, ring of `stableS` entries. */
  readonly #buckets: Float64Array;
  readonly #counts: Uint32Array;
  readonly #bucketSecond: Float64Array;
  #firstSecond = -1;
  #panicSinceMs = -1;
  #maxPanicPods = 0;

  constructor(options: KpaOptions) {
    this.#target = options.targetPerPod;
    this.#stableS = options.stableWindowS ?? 60;
    this.#panicS = Math.max(1, (this.#stableS * (options.panicWindowPct ?? 10)) / 100);
    this.#threshold = (options.panicThresholdPct ?? 200) / 100;
    this.#upRate = options.maxScaleUpRate ?? 1000;
    this.#downRate = options.maxScaleDownRate ?? 2;
    this.#min = options.minReplicas ?? 1;
    this.#max = options.maxReplicas ?? Infinity;
    const n = Math.ceil(this.#stableS) + 1;
    this.#buckets = new Float64Array(n);
    this.#counts = new Uint32Array(n);
    this.#bucketSecond = new Float64Array(n).fill(-1);
  }

  /** True while in panic mode. */
  get panicking(): boolean {
    return this.#panicSinceMs >= 0;
  }

  /** Records one observation of the total metric (over all pods) at `nowMs`; samples in the same second average. */
  record(nowMs: number, total: number): void {
    const s = Math.floor(nowMs / 1000);
    if (this.#firstSecond < 0) this.#firstSecond = s;
    const i = s % this.#buckets.length;
    if (this.#bucketSecond[i] !== s) {
      this.#bucketSecond[i] = s;
      this.#buckets[i] = 0;
      this.#counts[i] = 0;
    }
    this.#buckets[i]! += total;
    this.#counts[i]! += 1;
  }

  #windowAverage(nowS: number, windowS: number): number | undefined {
    if (this.#firstSecond < 0) return undefined;
    const span = Math.min(Math.ceil(windowS), nowS - this.#firstSecond + 1);
    if (span <= 0) return undefined;
    let sum = 0;
    for (let s = nowS - span + 1; s <= nowS; s++) {
      const i = s % this.#buckets.length;
      if (this.#bucketSecond[i] === s && this.#counts[i]! > 0) sum += this.#buckets[i]! / this.#counts[i]!;
    }
    return sum / span;
  }

  /**
   * One autoscaler tick at `nowMs` with `readyPods` ready. Returns `undefined` when there is no
   * data yet (Knative keeps the current scale).
   */
  scale(nowMs: number, readyPods: number): KpaDecision | undefined {
    const nowS = Math.floor(nowMs / 1000);
    const stable = this.#windowAverage(nowS, this.#stableS);
    const panicV = this.#windowAverage(nowS, this.#panicS);
    if (stable === undefined || panicV === undefined) return undefined;
    const ready = Math.max(1, readyPods);
    const maxUp = Math.ceil(this.#upRate * ready);
    const maxDown = Math.floor(ready / this.#downRate);
    const dspc = Math.ceil(stable / this.#target);
    const dppc = Math.ceil(panicV / this.#target);
    const desiredStable = Math.min(Math.max(dspc, maxDown), maxUp);
    const desiredPanic = Math.min(Math.max(dppc, maxDown), maxUp);
    const over = dppc / ready >= this.#threshold;
    if (this.#panicSinceMs < 0 && over) this.#panicSinceMs = nowMs;
    else if (over) this.#panicSinceMs = nowMs;
    else if (this.#panicSinceMs >= 0 && this.#panicSinceMs + this.#stableS * 1000 < nowMs) {
      this.#panicSinceMs = -1;
      this.#maxPanicPods = 0;
    }
    let desired = desiredStable;
    if (this.#panicSinceMs >= 0) {
      if (desired < desiredPanic) desired = desiredPanic;
      if (desired > this.#maxPanicPods) this.#maxPanicPods = desired;
      else if (desired < this.#maxPanicPods) desired = this.#maxPanicPods;
    }
    desired = Math.min(this.#max, Math.max(this.#min, desired));
    return { desiredReplicas: desired, panic: this.#panicSinceMs >= 0, stableValue: stable, panicValue: panicV };
  }
}
