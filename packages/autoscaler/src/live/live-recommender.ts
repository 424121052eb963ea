/**
 * The live recommender: every interval it reads the cluster's status, scrapes every replica's
 * `/metrics`, turns them into the signals of a {@link BallastPolicy} per role, and reports the
 * decision; unless it only recommends (`dryRun`), it also asks the cluster to scale, naming the
 * replicas to remove first (least in-flight work).
 *
 * - **Ready time.** When it asks for more replicas it notes the time; the new replicas' ready
 *   time is the time from that request to their first appearance as ready (in a status, or in
 *   the scale answer). The policy takes these as its measured start-up delay, its prediction
 *   horizon. Replicas restarted after a crash are measured from their start.
 * - **Degraded mode.** A status that cannot be read holds everything (no decision, no action);
 *   a ready replica whose scrape fails or times out takes ELU away from its role, which puts the
 *   policy in its degraded mode (hold by default: no scale-down, scale-up on what is left).
 * - **One action at a time per role**: a scale request in progress (scale-ups answer once the new
 *   replicas are ready, scale-downs once the removed ones have drained) is waited for.
 *
 * The cluster, the clock and the reports are injected: no I/O of its own.
 *
 * @module
 */
import {
  BallastPolicy,
  type BallastPolicyOptions,
  type BallastReplica,
  type BallastSignals,
  type BallastStatus,
} from '../ballast-policy.ts';
import { parsePrometheusText } from './prometheus-text.ts';
import {
  marketActivity,
  readReplica,
  roleSignals,
  type ReplicaReading,
  type ReplicaWindow,
} from './replica-metrics.ts';

/** A replica as the cluster's status reports it (`ballast cluster`'s `GET /status`). */
export interface LiveReplicaStatus {
  readonly role: string;
  /** Slot number within the role. */
  readonly replica: number;
  readonly pid: number | null;
  /** `starting`, `ready`, `unready`, `draining`, `backoff` or `stopped`. */
  readonly state: string;
  /** Its own health and metrics address, once it reported ready. */
  readonly opsUrl: string | null;
  readonly uptimeMs: number;
}

/** The cluster's status. */
export interface LiveClusterStatus {
  readonly replicas: readonly LiveReplicaStatus[];
}

/** What the recommender needs from the cluster. */
export interface LiveCluster {
  status(signal: AbortSignal): Promise<LiveClusterStatus>;
  /** The text of `<opsUrl>/metrics`. */
  scrape(opsUrl: string, signal: AbortSignal): Promise<string>;
  /**
   * Sets the replica count of `role`, removing the replica numbers in `prefer` first; resolves
   * with the status once added replicas are ready or removed ones are gone.
   */
  scale(role: string, replicas: number, prefer: readonly number[], signal: AbortSignal): Promise<LiveClusterStatus>;
}

/** Time and timers (a fake clock in tests). */
export interface LiveClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** A role the recommender scales, with its policy's options. */
export interface LiveRoleConfig {
  readonly role: string;
  readonly policy: BallastPolicyOptions;
}

/**
 * What the recommender did for a role this interval: `pending` = the request in progress already
 * asks for the desired count (nothing sent); a different count supersedes it (`up`/`down`).
 */
export type LiveAction = 'up' | 'down' | 'hold' | 'pending' | 'dry-run';

/** One interval's decision for one role. */
export interface LiveDecision {
  readonly atMs: number;
  readonly role: string;
  /** Replicas not draining (starting, ready, unready); absent when the status was unreadable. */
  readonly current?: number;
  readonly ready?: number;
  /** Replicas wanted; absent when no decision could be made (status unreadable). */
  readonly desired?: number;
  /** Replica numbers to remove first. */
  readonly remove: readonly number[];
  readonly mode: 'normal' | 'degraded';
  /** Why it is degraded. */
  readonly reason?: string;
  readonly status?: BallastStatus;
  readonly signals: BallastSignals;
  /** Ready replicas of the role whose scrape failed this interval. */
  readonly scrapeFailures: number;
  readonly action: LiveAction;
}

/** A scale request and its outcome. */
export interface LiveScaleEvent {
  readonly role: string;
  readonly from: number;
  readonly to: number;
  readonly prefer: readonly number[];
  /** `superseded`: a newer decision replaced it before it settled (its wait was aborted). */
  readonly phase: 'requested' | 'done' | 'failed' | 'superseded';
  /** Time since the request (done / failed), ms. */
  readonly ms: number;
  /** Ready times measured for the replicas this request added, seconds. */
  readonly readyDelaysS?: readonly number[];
  readonly error?: unknown;
}

/** Options of {@link LiveRecommender}. */
export interface LiveRecommenderOptions {
  readonly cluster: LiveCluster;
  readonly clock: LiveClock;
  readonly roles: readonly LiveRoleConfig[];
  /** Time between decisions, ms. @default 2000 */
  readonly intervalMs?: number;
  /** Longest wait for the status or one scrape. @default 2000 */
  readonly timeoutMs?: number;
  /** Recommend only: never ask the cluster to scale. @default false */
  readonly dryRun?: boolean;
  readonly onDecision?: (decision: LiveDecision) => void;
  readonly onScale?: (event: LiveScaleEvent) => void;
  readonly onError?: (message: string, err: unknown) => void;
}

interface Tracked {
  readonly startedMs: number;
  readyMs: number | undefined;
  /** Its ready time is worth learning (seen starting, or added by our request). */
  readonly measurable: boolean;
  reading: ReplicaReading | undefined;
}

interface Pending {
  readonly requestMs: number;
  readonly up: boolean;
  /** The replica count asked for. */
  readonly to: number;
  /** Aborts this request's wait when a newer decision supersedes it. */
  readonly abort: AbortController;
  /** Replicas of the role when the request was made. */
  readonly known: ReadonlySet<string>;
  readonly done: Promise<void>;
}

const keyOf = (r: LiveReplicaStatus): string => `${r.role}/${r.replica}/${r.pid ?? '-'}`;
const idOf = (r: LiveReplicaStatus): string => `${r.replica}:${r.pid ?? '-'}`;
const policyState = (state: string): BallastReplica['state'] | undefined =>
  state === 'ready' ? 'ready' : state === 'draining' ? 'draining' : state === 'stopped' ? undefined : 'starting';

/** See the module comment. */
export class LiveRecommender {
  readonly #o: LiveRecommenderOptions & { intervalMs: number; timeoutMs: number };
  readonly #policies = new Map<string, BallastPolicy>();
  readonly #tracked = new Map<string, Tracked>();
  /** The latest scale request per role, until it settles. */
  readonly #pending = new Map<string, Pending>();
  /** Every scale request not yet settled, superseded ones included (waited for on stop). */
  readonly #outstanding = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor(options: LiveRecommenderOptions) {
    this.#o = { ...options, intervalMs: options.intervalMs ?? 2000, timeoutMs: options.timeoutMs ?? 2000 };
    for (const r of options.roles) this.#policies.set(r.role, new BallastPolicy(r.policy));
  }

  /** The measured start-up delay of `role` the policy uses, seconds. */
  readyDelayS(role: string): number | undefined {
    return this.#policies.get(role)?.readyDelayS;
  }

  /** Runs an interval after another until `signal` aborts; then waits for scale requests in progress. */
  async run(signal: AbortSignal): Promise<void> {
    const onAbort = (): void => this.#stop.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const started = this.#o.clock.now();
        try {
          await this.tick(signal);
        } catch (err) {
          if (signal.aborted) break;
          this.#o.onError?.('autoscaler interval failed', err);
        }
        await this.#sleep(Math.max(0, this.#o.intervalMs - (this.#o.clock.now() - started)), signal);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await Promise.allSettled([...this.#outstanding]);
    }
  }

  /** One interval: status, scrapes, a decision per role, and scale requests. */
  async tick(signal: AbortSignal): Promise<readonly LiveDecision[]> {
    const { clock } = this.#o;
    let status: LiveClusterStatus;
    try {
      status = await this.#withTimeout(signal, (s) => this.#o.cluster.status(s));
    } catch (err) {
      signal.throwIfAborted();
      this.#o.onError?.('cluster status unavailable', err);
      const atMs = clock.now();
      return this.#report(
        this.#o.roles.map(({ role }) => ({
          atMs,
          role,
          remove: [],
          mode: 'degraded',
          reason: `cluster status unavailable: ${(err as Error).message}`,
          signals: {},
          scrapeFailures: 0,
          action: 'hold',
        })),
      );
    }
    const nowMs = clock.now();
    this.#observe(status, nowMs);

    // Scrape every replica that has an ops address (all roles: market activity is cluster-wide).
    const targets = status.replicas.filter((r) => r.opsUrl !== null && r.state !== 'stopped');
    const failed = new Set<string>();
    const windows = new Map<string, ReplicaWindow>();
    await Promise.all(
      targets.map(async (r) => {
        const key = keyOf(r);
        try {
          const text = await this.#withTimeout(signal, (s) => this.#o.cluster.scrape(r.opsUrl as string, s));
          const cur = readReplica(parsePrometheusText(text), clock.now());
          const t = this.#tracked.get(key);
          windows.set(key, { ...(t?.reading !== undefined ? { prev: t.reading } : {}), cur });
          if (t !== undefined) t.reading = cur;
        } catch {
          failed.add(key);
        }
      }),
    );
    signal.throwIfAborted();
    const activity = marketActivity([...windows.values()]);

    const decisions: LiveDecision[] = [];
    for (const { role } of this.#o.roles) {
      const policy = this.#policies.get(role) as BallastPolicy;
      const mine = status.replicas.filter((r) => r.role === role && policyState(r.state) !== undefined);
      const ready = mine.filter((r) => r.state === 'ready');
      const readyFailed = ready.filter((r) => failed.has(keyOf(r)));
      const readyWindows = ready.flatMap((r) => windows.get(keyOf(r)) ?? []);
      // A ready replica that does not answer may be the saturated one: its role has no ELU.
      const { elu, ...rest } = roleSignals(readyWindows);
      const signals: BallastSignals = {
        ...rest,
        ...(elu !== undefined && readyFailed.length === 0 ? { elu } : {}),
        ...(activity !== undefined ? { activity } : {}),
      };
      const replicas: BallastReplica[] = mine.map((r) => {
        const t = this.#tracked.get(keyOf(r));
        return {
          id: idOf(r),
          state: policyState(r.state) as BallastReplica['state'],
          startedMs: t?.startedMs ?? nowMs - r.uptimeMs,
          ...(t?.readyMs !== undefined ? { readyMs: t.readyMs } : {}),
          inFlight: windows.get(keyOf(r))?.cur.inFlight ?? 0,
        };
      });
      const rec = policy.recommend(nowMs, replicas, signals);
      const current = mine.filter((r) => r.state !== 'draining').length;
      const remove = rec.remove.map((id) => Number(id.slice(0, id.indexOf(':'))));
      let action: LiveAction = 'hold';
      const pending = this.#pending.get(role);
      if (pending !== undefined && pending.to === rec.desiredReplicas) {
        if (rec.desiredReplicas !== current) action = 'pending';
      } else if (rec.desiredReplicas !== current || pending !== undefined) {
        // A newer decision supersedes a request still settling (replicas booting or draining):
        // more replicas while the first ones boot, or starting ones withdrawn.
        if (this.#o.dryRun === true) action = 'dry-run';
        else {
          action = rec.desiredReplicas > (pending?.to ?? current) ? 'up' : 'down';
          this.#startScale(role, current, rec.desiredReplicas, remove, mine);
        }
      }
      const reason =
        readyFailed.length > 0
          ? `scrape failed: ${readyFailed.map((r) => `${role}-${r.replica}`).join(', ')}`
          : rec.status.mode === 'degraded'
            ? `missing ${rec.status.missing.filter((m) => m === 'elu' || m === 'inFlight' || m === 'activity' || m === 'lag').join(', ')}`
            : undefined;
      decisions.push({
        atMs: nowMs,
        role,
        current,
        ready: ready.length,
        desired: rec.desiredReplicas,
        remove: rec.desiredReplicas < current ? remove : [],
        mode: rec.status.mode,
        ...(rec.status.mode === 'degraded' && reason !== undefined ? { reason } : {}),
        status: rec.status,
        signals,
        scrapeFailures: readyFailed.length,
        action,
      });
    }
    return this.#report(decisions);
  }

  #report(decisions: LiveDecision[]): LiveDecision[] {
    for (const d of decisions) this.#o.onDecision?.(d);
    return decisions;
  }

  /** Tracks replicas: first sighting (start time) and first time ready (ready time). */
  #observe(status: LiveClusterStatus, nowMs: number): void {
    const alive = new Set<string>();
    for (const r of status.replicas) {
      const key = keyOf(r);
      alive.add(key);
      let t = this.#tracked.get(key);
      if (t === undefined) {
        const p = this.#pending.get(r.role);
        const ours = p !== undefined && p.up && !p.known.has(key);
        t = {
          startedMs: ours ? p.requestMs : nowMs - r.uptimeMs,
          readyMs: undefined,
          measurable: ours || r.state !== 'ready',
          reading: undefined,
        };
        this.#tracked.set(key, t);
      }
      if (t.readyMs === undefined && t.measurable && r.state === 'ready') t.readyMs = nowMs;
    }
    for (const key of this.#tracked.keys()) if (!alive.has(key)) this.#tracked.delete(key);
  }

  #startScale(role: string, from: number, to: number, prefer: number[], mine: readonly LiveReplicaStatus[]): void {
    const { clock, cluster } = this.#o;
    const requestMs = clock.now();
    const known = new Set(mine.map(keyOf));
    this.#o.onScale?.({ role, from, to, prefer, phase: 'requested', ms: 0 });
    // A request still settling is superseded: its wait stops (the cluster keeps what it did).
    this.#pending.get(role)?.abort.abort(new Error('superseded by a newer decision'));
    const abort = new AbortController();
    const done = cluster
      .scale(role, to, to < from ? prefer : [], AbortSignal.any([this.#stop.signal, abort.signal]))
      .then((status) => {
        const nowMs = clock.now();
        this.#observe(status, nowMs);
        const readyDelaysS = status.replicas
          .filter((r) => r.role === role && !known.has(keyOf(r)))
          .flatMap((r) => {
            const t = this.#tracked.get(keyOf(r));
            return t?.readyMs !== undefined ? [(t.readyMs - t.startedMs) / 1000] : [];
          });
        this.#o.onScale?.({ role, from, to, prefer, phase: 'done', ms: nowMs - requestMs, readyDelaysS });
      })
      .catch((error: unknown) => {
        const phase = abort.signal.aborted && !this.#stop.signal.aborted ? 'superseded' : 'failed';
        this.#o.onScale?.({ role, from, to, prefer, phase, ms: clock.now() - requestMs, error });
      })
      .finally(() => {
        if (this.#pending.get(role)?.done === done) this.#pending.delete(role);
        this.#outstanding.delete(done);
      });
    this.#outstanding.add(done);
    this.#pending.set(role, { requestMs, up: to > from, to, known, done, abort });
  }

  async #withTimeout<T>(signal: AbortSignal, f: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    const timer = this.#o.clock.setTimeout(
      () => ac.abort(new Error(`no answer within ${this.#o.timeoutMs} ms`)),
      this.#o.timeoutMs,
    );
    const combined = AbortSignal.any([signal, ac.signal]);
    try {
      return await new Promise<T>((resolve, reject) => {
        const onAbort = (): void => reject(combined.reason as Error);
        if (combined.aborted) return onAbort();
        combined.addEventListener('abort', onAbort, { once: true });
        f(combined).then(resolve, reject);
      });
    } finally {
      this.#o.clock.clearTimeout(timer);
    }
  }

  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        this.#o.clock.clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.#o.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
