/**
 * The cluster as the live recommender sees it: `ballast cluster`'s control API (status, scale)
 * found through `<state-dir>/control.json`, read again on every call so a restarted supervisor
 * (new port, new token) is picked up, and each replica's own `/metrics`.
 *
 * @module
 */
import type { LiveCluster, LiveClusterStatus } from '@ballast/autoscaler';
import { callControl, readControlFile, type ClusterStatus } from '../cluster/control-api.ts';

/** The answer of the control API on failure. */
interface ControlError {
  readonly code?: string;
  readonly msg?: string;
}

/** The text of a replica's `<opsUrl>/metrics` (any cluster: its own address, plain HTTP). */
export async function scrapeMetrics(opsUrl: string, signal: AbortSignal): Promise<string> {
  const res = await fetch(`${opsUrl}/metrics`, { signal });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${opsUrl}/metrics answered ${res.status}`);
  return text;
}

/** A {@link LiveCluster} for the `ballast cluster` whose state folder is `stateDir`. */
export function controlCluster(stateDir: string): LiveCluster {
  return {
    async status(signal) {
      const r = await callControl<ClusterStatus & ControlError>(
        readControlFile(stateDir),
        'GET',
        '/status',
        undefined,
        signal,
      );
      if (r.status !== 200) throw new Error(`GET /status answered ${r.status}: ${r.body.msg ?? ''}`);
      return r.body as LiveClusterStatus;
    },
    scrape: scrapeMetrics,
    async scale(role, replicas, prefer, signal) {
      const r = await callControl<ClusterStatus & ControlError>(
        readControlFile(stateDir),
        'POST',
        '/scale',
        { role, replicas, prefer },
        signal,
      );
      // 202: the new replicas were not ready within the supervisor's wait; the status says where they are.
      if (r.status !== 200 && r.status !== 202)
        throw new Error(`POST /scale answered ${r.status}: ${r.body.code ?? ''} ${r.body.msg ?? ''}`);
      return r.body as LiveClusterStatus;
    },
  };
}
