/**
 * The Universal Scalability Law (Gunther): how a tier's throughput grows with its replicas,
 *
 *   X(N) = λ·N / (1 + α·(N − 1) + β·N·(N − 1))
 *
 * where α (contention) is the share of the work that does not run in parallel — a shared core, a
 * lock, one database — and β (coherency) the cost each replica adds to every other one (cross-talk,
 * more connections to keep in step). α = β = 0 is linear scaling; α = 1 means a second replica adds
 * nothing (everything waits for the same resource); β > 0 gives a peak at N* = √((1 − α) / β),
 * past which more replicas lower throughput. An autoscaler that adds replicas past N* makes things
 * worse; one that knows α near 1 knows the replicas need resources of their own, not more copies.
 *
 * @module
 */

/** One measurement: a tier's highest sustained throughput with `replicas` replicas. */
export interface UslPoint {
  /** Replicas of the scaled tier (an integer ≥ 1). */
  readonly replicas: number;
  /** Highest sustained throughput at that count, in any unit (orders/s); 0 = none sustained. */
  readonly throughput: number;
}

/** The fitted law. */
export interface UslFit {
  /**
   * Contention, ≥ 0: 0 scales linearly, 1 gains nothing from a second replica, above 1 loses
   * throughput from the second replica on.
   */
  readonly alpha: number;
  /** Coherency, ≥ 0 (see {@link UslFit.betaFitted} for when it is fixed at 0). */
  readonly beta: number;
  /** Throughput of one replica (λ), the measured X(1). */
  readonly lambda: number;
  /**
   * Replicas at which the fitted throughput peaks: √((1 − α) / β), at least 1; 1 when α ≥ 1 (it
   * falls from one replica on); `null` when it rises without end (α < 1, β = 0).
   */
  readonly peakReplicas: number | null;
  /**
   * Whether β was fitted. False when it is fixed at 0: only one count above one sustained a rate
   * (the points cannot tell β from α), or the best fit had β < 0 (then 0 is the best allowed).
   */
  readonly betaFitted: boolean;
  /** The points given, in replica order, each with the throughput the fit predicts for it. */
  readonly points: readonly (UslPoint & { readonly fitted: number })[];
}

/** Throughput the law predicts at `replicas` replicas. */
export function uslThroughput(fit: Pick<UslFit, 'alpha' | 'beta' | 'lambda'>, replicas: number): number {
  return (fit.lambda * replicas) / (1 + fit.alpha * (replicas - 1) + fit.beta * replicas * (replicas - 1));
}

/**
 * Fits α and β to measurements normalized by the one-replica throughput (λ = X(1), measured, not
 * fitted): with C(N) = X(N)/X(1), the law is linear in α and β, N/C(N) − 1 = α·(N − 1) + β·N·(N − 1),
 * solved by least squares through the origin, with α, β ≥ 0 (a negative one is fixed at 0 and the
 * other refitted). Returns `null` when there is nothing to fit: no point with one replica, one
 * replica sustained nothing, or no other count sustained anything (a count that sustained nothing
 * — in a benchmark, less than its lowest rate — has no finite N/C(N): it is left out of the fit,
 * though its point still gets a `fitted` value). With a single count above one, β is fixed at 0
 * and α alone explains it (Amdahl's law); measure three counts to separate them. Throws a
 * `RangeError` for a point that is not a measurement, or two points with the same count.
 */
export function fitUsl(points: readonly UslPoint[]): UslFit | null {
  const sorted = [...points].sort((a, b) => a.replicas - b.replicas);
  for (const p of sorted)
    if (!Number.isInteger(p.replicas) || p.replicas < 1 || !(Number.isFinite(p.throughput) && p.throughput >= 0))
      throw new RangeError(`USL point needs integer replicas >= 1 and throughput >= 0, got ${JSON.stringify(p)}`);
  if (new Set(sorted.map((p) => p.replicas)).size !== sorted.length)
    throw new RangeError('USL points need one measurement per replica count');
  const lambda = sorted.find((p) => p.replicas === 1)?.throughput;
  if (lambda === undefined || lambda <= 0) return null;
  const rows = sorted
    .filter((p) => p.replicas > 1 && p.throughput > 0)
    .map((p) => ({ u: p.replicas - 1, v: p.replicas * (p.replicas - 1), y: p.replicas / (p.throughput / lambda) - 1 }));
  if (rows.length === 0) return null;
  const sum = (f: (r: (typeof rows)[number]) => number): number => rows.reduce((s, r) => s + f(r), 0);
  const alphaOnly = (): number => Math.max(0, sum((r) => r.y * r.u) / sum((r) => r.u * r.u));
  let alpha: number;
  let beta = 0;
  let betaFitted = rows.length >= 2;
  if (!betaFitted) alpha = alphaOnly();
  else {
    // Normal equations of y = α·u + β·v.
    const suu = sum((r) => r.u * r.u);
    const svv = sum((r) => r.v * r.v);
    const suv = sum((r) => r.u * r.v);
    const suy = sum((r) => r.u * r.y);
    const svy = sum((r) => r.v * r.y);
    const det = suu * svv - suv * suv;
    alpha = (suy * svv - svy * suv) / det;
    beta = (svy * suu - suy * suv) / det;
    if (beta < 0) {
      beta = 0;
      betaFitted = false;
      alpha = alphaOnly();
    } else if (alpha < 0) {
      alpha = 0;
      beta = Math.max(0, svy / svv);
    }
  }
  const round = (x: number): number => Math.round(x * 1e4) / 1e4;
  const law = { alpha: round(alpha), beta: round(beta), lambda };
  return {
    ...law,
    peakReplicas: law.alpha >= 1 ? 1 : law.beta > 0 ? round(Math.max(1, Math.sqrt((1 - law.alpha) / law.beta))) : null,
    betaFitted,
    points: sorted.map((p) => ({ ...p, fitted: Math.round(uslThroughput(law, p.replicas)) })),
  };
}
