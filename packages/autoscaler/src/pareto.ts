/**
 * Pareto fronts over (SLO-violation minutes, replica-hours), both minimized, and the fair pick of
 * a "best" point under a replica-hour budget.
 *
 * @module
 */

/** A point of a sweep. */
export interface TradeoffPoint {
  readonly sloViolationMin: number;
  readonly replicaHours: number;
}

/** Points not dominated by any other (no other is ≤ on both and < on one), sorted by replica-hours. */
export function paretoFront<T extends TradeoffPoint>(points: readonly T[]): T[] {
  const sorted = [...points].sort((a, b) => a.replicaHours - b.replicaHours || a.sloViolationMin - b.sloViolationMin);
  const front: T[] = [];
  let best = Infinity;
  for (const p of sorted) {
    if (p.sloViolationMin < best) {
      front.push(p);
      best = p.sloViolationMin;
    }
  }
  return front;
}

/**
 * The point with the fewest SLO-violation minutes among those within `maxReplicaHours` (ties: fewer
 * replica-hours); if none fits, the one with the fewest replica-hours.
 */
export function bestWithinBudget<T extends TradeoffPoint>(
  points: readonly T[],
  maxReplicaHours: number,
): T | undefined {
  const fits = points.filter((p) => p.replicaHours <= maxReplicaHours);
  const pool = fits.length > 0 ? fits : points;
  let best: T | undefined;
  for (const p of pool) {
    if (
      best === undefined ||
      (fits.length > 0
        ? p.sloViolationMin < best.sloViolationMin ||
          (p.sloViolationMin === best.sloViolationMin && p.replicaHours < best.replicaHours)
        : p.replicaHours < best.replicaHours)
    ) {
      best = p;
    }
  }
  return best;
}
