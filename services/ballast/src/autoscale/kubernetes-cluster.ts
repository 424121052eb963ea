/**
 * The cluster as the live recommender sees it on Kubernetes: Ballast's pods (label
 * `app.kubernetes.io/name=ballast`, role in `app.kubernetes.io/component`) read from the API
 * server, each replica's `/metrics` scraped at its pod address, and scaling through the
 * Deployment's `scale` subresource — after marking the pods to remove first with
 * `controller.kubernetes.io/pod-deletion-cost`, so the ReplicaSet removes those (the least busy).
 *
 * Replicas are numbered per role in order of first appearance (the recommender's `prefer` list
 * names numbers); a number is reused once its pod is gone. The service-account token is read
 * again on every call (Kubernetes rotates it). No environment reads: the caller passes the API
 * address, the token file and the CA.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { LiveCluster, LiveClusterStatus, LiveReplicaStatus } from '@ballast/autoscaler';
import { sleep } from '@ballast/state';
import { Agent, request, type Dispatcher } from 'undici';
import { scrapeMetrics } from './control-cluster.ts';

/** Options of {@link kubernetesCluster}. */
export interface KubernetesClusterOptions {
  /** API server, e.g. `https://10.0.0.1:443` (in a pod: from KUBERNETES_SERVICE_HOST/PORT). */
  readonly apiUrl: string;
  /** Namespace of Ballast's pods and Deployments. */
  readonly namespace: string;
  /** File holding the bearer token, read on every call; `''` sends none. */
  readonly tokenFile: string;
  /** PEM CA bundle of the API server (`ca.crt` of the service account); `''` uses the system's. */
  readonly caFile?: string;
  /** Deployment of a role: `<prefix><role>`. @default 'ballast-' */
  readonly deploymentPrefix?: string;
  /** Port of a replica's `/metrics` when its container declares no port named `http`. @default 8080 */
  readonly metricsPort?: number;
  /** Interval of the status checks while a scale request settles, ms. @default 1000 */
  readonly pollMs?: number;
  /** Longest wait for added replicas to be ready or removed ones gone, ms. @default 300000 */
  readonly settleTimeoutMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

/** Pod fields this adapter reads (a subset of core/v1 Pod). */
interface Pod {
  readonly metadata: {
    readonly name: string;
    readonly labels?: Record<string, string>;
    readonly deletionTimestamp?: string;
  };
  readonly spec?: {
    readonly containers?: readonly { readonly ports?: readonly { name?: string; containerPort: number }[] }[];
  };
  readonly status?: {
    readonly phase?: string;
    readonly podIP?: string;
    readonly startTime?: string;
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
  };
}

const ROLE_LABEL = 'app.kubernetes.io/component';
const SELECTOR = 'app.kubernetes.io/name=ballast';
/** Lower cost = removed first by the ReplicaSet controller. */
const REMOVE_FIRST_COST = '-1000';
/** Longest wait for one scale PATCH, which a superseding decision does not cancel. */
const PATCH_TIMEOUT_MS = 10_000;

/** A {@link LiveCluster} over the Kubernetes API. */
export function kubernetesCluster(options: KubernetesClusterOptions): LiveCluster {
  const prefix = options.deploymentPrefix ?? 'ballast-';
  const pollMs = options.pollMs ?? 1000;
  const settleMs = options.settleTimeoutMs ?? 300_000;
  const now = options.nowMs ?? Date.now;
  const ns = encodeURIComponent(options.namespace);
  const dispatcher: Dispatcher | undefined =
    options.caFile !== undefined && options.caFile !== ''
      ? new Agent({ connect: { ca: readFileSync(options.caFile, 'utf8') } })
      : undefined;

  const call = async <T>(method: 'GET' | 'PATCH', path: string, signal: AbortSignal, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.tokenFile !== '') headers['authorization'] = `Bearer ${readFileSync(options.tokenFile, 'utf8').trim()}`;
    if (body !== undefined) headers['content-type'] = 'application/merge-patch+json';
    const res = await request(`${options.apiUrl}${path}`, {
      method,
      headers,
      signal,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...(dispatcher !== undefined ? { dispatcher } : {}),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) {
      let msg = text.slice(0, 200);
      try {
        msg = (JSON.parse(text) as { message?: string }).message ?? msg;
      } catch {
        /* not JSON */
      }
      throw new Error(`${method} ${path} answered ${res.statusCode}: ${msg}`);
    }
    return JSON.parse(text) as T;
  };

  /** Replica numbers per role, by pod name. */
  const numbers = new Map<string, Map<string, number>>();
  const numberOf = (role: string, name: string, live: ReadonlySet<string>): number => {
    let byName = numbers.get(role);
    if (byName === undefined) numbers.set(role, (byName = new Map()));
    for (const n of byName.keys()) if (!live.has(n)) byName.delete(n);
    let k = byName.get(name);
    if (k === undefined) {
      const used = new Set(byName.values());
      k = 0;
      while (used.has(k)) k++;
      byName.set(name, k);
    }
    return k;
  };

  const listPods = async (signal: AbortSignal): Promise<Pod[]> =>
    (
      await call<{ items: Pod[] }>(
        'GET',
        `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(SELECTOR)}`,
        signal,
      )
    ).items;

  const toStatus = (pods: readonly Pod[]): LiveClusterStatus & { names: Map<string, string> } => {
    const live = new Set(pods.map((p) => p.metadata.name));
    const names = new Map<string, string>();
    const replicas: LiveReplicaStatus[] = [];
    const ordered = [...pods].sort(
      (a, b) =>
        (a.status?.startTime ?? '').localeCompare(b.status?.startTime ?? '') ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
    for (const p of ordered) {
      const role = p.metadata.labels?.[ROLE_LABEL];
      if (role === undefined) continue;
      const replica = numberOf(role, p.metadata.name, live);
      names.set(`${role}/${replica}`, p.metadata.name);
      const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
      const phase = p.status?.phase ?? 'Pending';
      const state =
        p.metadata.deletionTimestamp !== undefined
          ? 'draining'
          : ready
            ? 'ready'
            : phase === 'Failed' || phase === 'Succeeded'
              ? 'stopped'
              : 'starting';
      const port =
        p.spec?.containers?.flatMap((c) => c.ports ?? []).find((x) => x.name === 'http')?.containerPort ??
        options.metricsPort ??
        8080;
      const ip = p.status?.podIP;
      const started = p.status?.startTime !== undefined ? Date.parse(p.status.startTime) : NaN;
      replicas.push({
        role,
        replica,
        pid: null,
        state,
        opsUrl: state === 'ready' && ip !== undefined ? `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}` : null,
        uptimeMs: Number.isFinite(started) ? Math.max(0, now() - started) : 0,
      });
    }
    return { replicas, names };
  };

  const status = async (signal: AbortSignal) => toStatus(await listPods(signal));

  /** Per role, the PATCH section of the latest scale request (see `scale`). */
  const patching = new Map<string, Promise<void>>();
  return {
    async status(signal) {
      const { replicas } = await status(signal);
      return { replicas };
    },

    scrape: scrapeMetrics,

    async scale(role, replicas, prefer, signal) {
      // One role's scale PATCHes go out in request order and one at a time: a request superseded
      // while its PATCH is in flight lets it finish before the next one is sent, so the newest
      // count lands last.
      const previous = patching.get(role) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      patching.set(role, mine);
      try {
        await previous;
        signal.throwIfAborted();
        const before = await status(signal);
        for (const n of prefer) {
          const name = before.names.get(`${role}/${n}`);
          if (name === undefined) continue;
          await call('PATCH', `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}`, signal, {
            metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': REMOVE_FIRST_COST } },
          });
        }
        signal.throwIfAborted();
        // Not cancelled once sent (only bounded): an aborted request could still land at the API
        // server after the next one's and leave the older count.
        await call(
          'PATCH',
          `/apis/apps/v1/namespaces/${ns}/deployments/${encodeURIComponent(prefix + role)}/scale`,
          AbortSignal.timeout(PATCH_TIMEOUT_MS),
          { spec: { replicas } },
        );
      } finally {
        release();
        if (patching.get(role) === mine) patching.delete(role);
      }
      // Settle: added replicas ready, removed ones gone (or the wait runs out: the status says where they are).
      const deadline = now() + settleMs;
      for (;;) {
        const s = await status(signal);
        const mine = s.replicas.filter((r) => r.role === role);
        const ready = mine.filter((r) => r.state === 'ready').length;
        if ((ready >= replicas && mine.length <= replicas) || now() >= deadline) return { replicas: s.replicas };
        await sleep(pollMs, signal);
        signal.throwIfAborted();
      }
    },
  };
}
