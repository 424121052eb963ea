/**
 * Work-aware scale-down: which replicas to remove, and the `controller.kubernetes.io/pod-deletion-cost`
 * that makes a ReplicaSet remove the same ones. Replicas that are still starting go first (they
 * serve nothing), then the ones with the least in-flight work, then the youngest.
 *
 * @module
 */

/** What removal needs to know about a replica. */
export interface RemovalCandidate {
  readonly id: string;
  readonly state: 'starting' | 'ready' | 'draining';
  /** Requests (or messages) being processed now. */
  readonly inFlight: number;
  /** When the replica was created (ms). */
  readonly startedMs: number;
}

/** The Kubernetes annotation a ReplicaSet reads when it picks pods to delete (lower goes first). */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

const rank = (r: RemovalCandidate): number => (r.state === 'starting' ? 0 : 1);

/** Orders candidates from first-to-remove to last; replicas already draining are left out. */
export function removalOrder(replicas: readonly RemovalCandidate[]): RemovalCandidate[] {
  return replicas
    .filter((r) => r.state !== 'draining')
    .sort(
      (a, b) => rank(a) - rank(b) || a.inFlight - b.inFlight || b.startedMs - a.startedMs || (a.id < b.id ? -1 : 1),
    );
}

/** Ids of the `count` replicas to remove (fewer if there are not that many). */
export function chooseReplicasToRemove(replicas: readonly RemovalCandidate[], count: number): string[] {
  return removalOrder(replicas)
    .slice(0, Math.max(0, count))
    .map((r) => r.id);
}

/**
 * Pod deletion cost per replica: the in-flight work, rounded (an int32), so the ReplicaSet
 * removes the least busy pods first; starting replicas get the lowest cost.
 */
export function podDeletionCosts(replicas: readonly RemovalCandidate[]): Map<string, number> {
  const costs = new Map<string, number>();
  for (const r of replicas) {
    const cost = r.state === 'starting' ? -1 : Math.min(2147483647, Math.max(0, Math.round(r.inFlight)));
    costs.set(r.id, cost);
  }
  return costs;
}
