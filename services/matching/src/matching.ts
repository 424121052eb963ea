/**
 * The matching role on one replica: symbols grouped in shards ({@link createShardMap}), one
 * leader per shard holding a lease in the KeyValue store, every other replica a hot standby.
 *
 * - Start: every symbol's book is warmed (latest snapshot + the commands whose events are in the
 *   event log), then all of them follow their event log; then `ready()` resolves and the replica
 *   announces itself (`matching-replica.<id>`, with a TTL, renewed with the leases).
 * - Every `pollEveryMs` it looks at the leases of the shards it does not lead. A free one is
 *   taken (compare-and-set on "absent") at once by a replica leading no more shards than any
 *   other live replica, and by anyone once it has stayed free for two renew periods. Taking a
 *   shard stops its followers and starts leading each symbol from the event log's end.
 * - Held leases are renewed every `renewEveryMs` (TTL / 3), on a timer of their own (store calls
 *   time out after a TTL, so a hung store cannot stall it). A renewal that is refused, or a
 *   deadline that passes without one (a stalled store, a paused process), ends leadership: the
 *   symbols stop before their next append and go back to following (rebuilt if they ran ahead).
 * - A fenced append (another writer moved the log) rebuilds that symbol and, while the lease
 *   holds, leads again from the log's end.
 * - Rebalancing: a replica leading more than its fair share (⌈shards / live replicas⌉) while
 *   another live replica leads none gives one lease up (stop, delete the lease, follow); the idle
 *   replica takes it on its next poll. At most one release per TTL.
 * - Drain (`signal` aborts): leaders stop, their leases are deleted (standbys take over at once,
 *   without waiting for the TTL), followers stop.
 *
 * Embedded mode (one replica, in-process KeyValue) takes every lease on the first poll.
 *
 * @module
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Database } from '@ballast/db';
import type { OrderBook } from '@ballast/engine';
import type { Markets } from '@ballast/contracts';
import {
  createLease,
  createMemoryKeyValue,
  sleep,
  within,
  type EventLog,
  type KeyValue,
  type Lease,
} from '@ballast/state';
import type { Kysely } from 'kysely';
import { createShardMap, type ShardMap } from './shard-map.ts';
import { createSymbolReplica, type SymbolReplica, type SymbolReplicaConfig } from './symbol-replica.ts';

export { eventLog, commandLog } from './symbol-replica.ts';

/** KV key of a shard's lease. */
export const leaseKey = (shard: string): string => `matching-lease.${shard}`;
/** KV key of a replica's presence. */
export const replicaKey = (id: string): string => `matching-replica.${id.replace(/[^A-Za-z0-9_=-]/g, '_')}`;

/**
 * Construction config of the matching role; snapshots, clock, `onError` and `onApplied` are
 * handed to every symbol replica as they are.
 */
export interface MatchingConfig extends Pick<
  SymbolReplicaConfig,
  'snapshotEveryCommands' | 'snapshotEveryMs' | 'snapshotsKept' | 'nowMs' | 'onError' | 'onApplied'
> {
  readonly db: Kysely<Database>;
  readonly log: EventLog;
  readonly markets: Markets;
  /** Leases and replica presence. @default an in-process store (embedded: one replica) */
  readonly kv?: KeyValue;
  /** This replica's id (unique per process). @default `<host>-<pid>-<random>` */
  readonly replicaId?: string;
  /** Shard count for consistent hashing; 0 = one shard per symbol. @default 0 */
  readonly shards?: number;
  /** Explicit symbol → shard assignments. */
  readonly shardMap?: Readonly<Record<string, string>>;
  /** Lease lifetime in ms: failover takes about this long after a crash. @default 3000 */
  readonly leaseTtlMs?: number;
  /** @default leaseTtlMs / 3 */
  readonly renewEveryMs?: number;
  /** How often standbys look at the leases. @default min(100, leaseTtlMs / 10) */
  readonly pollEveryMs?: number;
  /** Spread leadership across replicas. @default true */
  readonly rebalance?: boolean;
  /** Called when this replica starts or stops leading a shard, with the reason. */
  readonly onLeadership?: (shard: string, leading: boolean, reason: string) => void;
}

/** The matching role. */
export interface Matching {
  /** Warms every book, then follows or leads until `signal` aborts; resolves when all loops stopped. */
  run(signal: AbortSignal): Promise<void>;
  /** Resolves once every book is warm and following. */
  ready(): Promise<void>;
  /** The live book of a symbol (read-only use: tests, diagnostics). */
  book(symbol: string): OrderBook | undefined;
  /** Shards this replica leads now. */
  leading(): string[];
  /** The shard map in use. */
  readonly shards: ShardMap;
  /** This replica's id (the lease holder name). */
  readonly replicaId: string;
}

interface ShardState {
  readonly name: string;
  readonly symbols: readonly SymbolReplica[];
  readonly lease: Lease;
  mode: 'following' | 'leading' | 'switching';
  /** Stops the current followers or leaders. */
  ctl: AbortController;
  /** Settles when the current followers or leaders stopped. */
  running: Promise<unknown>;
  lastRenewMs: number;
  /** A renewal is in flight (renewals run beside the poll, so a hung store cannot stall the deadline check). */
  renewing: boolean;
  acquiredMs: number;
  freeSinceMs: number | undefined;
  holder: string | undefined;
}

/** Retries `f` (with a pause) until it resolves or `signal` aborts. */
const retrying = async (f: () => Promise<void>, signal: AbortSignal, onError: (err: unknown) => void) => {
  while (!signal.aborted) {
    try {
      await f();
      return;
    } catch (err) {
      if (signal.aborted) return;
      onError(err);
      await sleep(200, signal);
    }
  }
};

/** Creates the matching role. */
export function createMatching(config: MatchingConfig): Matching {
  const kv = config.kv ?? createMemoryKeyValue();
  const id = config.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const now = config.nowMs ?? Date.now;
  const ttl = config.leaseTtlMs ?? 3000;
  const renewMs = config.renewEveryMs ?? Math.max(1, Math.floor(ttl / 3));
  const pollMs = config.pollEveryMs ?? Math.max(10, Math.min(100, Math.floor(ttl / 10)));
  const onError = config.onError ?? (() => undefined);
  const map = createShardMap({
    symbols: config.markets.list.map((m) => m.symbol),
    ...(config.shards !== undefined ? { shards: config.shards } : {}),
    ...(config.shardMap !== undefined ? { explicit: config.shardMap } : {}),
  });
  const replicas = new Map<string, SymbolReplica>();
  for (const m of config.markets.list) {
    replicas.set(
      m.symbol,
      createSymbolReplica({
        symbol: m.symbol,
        db: config.db,
        log: config.log,
        nowMs: now,
        onError,
        ...(config.snapshotEveryCommands !== undefined ? { snapshotEveryCommands: config.snapshotEveryCommands } : {}),
        ...(config.snapshotEveryMs !== undefined ? { snapshotEveryMs: config.snapshotEveryMs } : {}),
        ...(config.snapshotsKept !== undefined ? { snapshotsKept: config.snapshotsKept } : {}),
        ...(config.onApplied !== undefined ? { onApplied: config.onApplied } : {}),
      }),
    );
  }
  const shards: ShardState[] = map.shards.map((name) => ({
    name,
    symbols: map.symbolsOf(name).map((s) => replicas.get(s) as SymbolReplica),
    lease: createLease(kv, { key: leaseKey(name), holder: id, ttlMs: ttl, nowMs: now }),
    mode: 'following',
    ctl: new AbortController(),
    running: Promise.resolve(),
    lastRenewMs: 0,
    renewing: false,
    acquiredMs: 0,
    freeSinceMs: undefined,
    holder: undefined,
  }));
  let resolveReady!: () => void;
  const readyP = new Promise<void>((r) => (resolveReady = r));

  /** Followers of every symbol of `s` (each warmed first if it ran ahead), until `s.ctl` aborts. */
  const startFollowing = (s: ShardState, root: AbortSignal): void => {
    s.ctl = new AbortController();
    const signal = AbortSignal.any([root, s.ctl.signal]);
    s.mode = 'following';
    s.running = Promise.all(
      s.symbols.map((r) =>
        retrying(
          async () => {
            await r.warm(signal);
            await r.follow(signal);
          },
          signal,
          (err) => onError(`matching ${r.symbol}: follower failed; retrying`, err),
        ),
      ),
    );
  };

  /** Leads every symbol of `s` while the lease holds (a fenced symbol is rebuilt and leads again). */
  const startLeading = (s: ShardState, root: AbortSignal): void => {
    s.ctl = new AbortController();
    const signal = AbortSignal.any([root, s.ctl.signal]);
    s.mode = 'leading';
    s.running = Promise.all(
      s.symbols.map(async (r) => {
        while (!signal.aborted && s.lease.valid()) {
          try {
            await r.warm(signal);
            const outcome = await r.lead(s.lease, signal);
            if (outcome !== 'fenced') break;
            await sleep(50, signal);
          } catch (err) {
            if (signal.aborted) break;
            onError(`matching ${r.symbol}: leading failed; retrying`, err);
            await sleep(200, signal);
          }
        }
      }),
    );
  };

  /** Stops leading `s` (releasing the lease, or dropping it when lost) and follows again. */
  const stepDown = async (s: ShardState, reason: string, release: boolean, root: AbortSignal): Promise<void> => {
    if (s.mode !== 'leading') return;
    s.mode = 'switching';
    s.ctl.abort();
    await s.running;
    if (release) await within(s.lease.release(), ttl, `release ${s.name}`).catch(() => undefined);
    else s.lease.drop();
    config.onLeadership?.(s.name, false, reason);
    if (!root.aborted) startFollowing(s, root);
  };

  const takeOver = async (s: ShardState, root: AbortSignal): Promise<void> => {
    s.mode = 'switching';
    s.ctl.abort();
    await s.running;
    s.acquiredMs = now();
    s.lastRenewMs = now();
    config.onLeadership?.(s.name, true, 'lease acquired');
    startLeading(s, root);
  };

  /** Live replicas (fresh presence) and the shards each leads, as last seen. */
  let members = new Set<string>([id]);
  let lastPresenceMs = -Infinity;
  let lastReleaseMs = -Infinity;
  let imbalanceSinceMs: number | undefined;

  const refreshPresence = async (): Promise<void> => {
    const t = now();
    await kv.put(
      replicaKey(id),
      JSON.stringify({ id, atMs: t, leading: shards.filter((s) => s.mode === 'leading').length }),
      { ttlMs: ttl },
    );
    const seen = new Set<string>([id]);
    for (const k of await kv.keys('matching-replica.')) {
      const e = await kv.get(k);
      if (e === undefined) continue;
      try {
        const v = JSON.parse(e.value) as { id?: unknown; atMs?: unknown };
        // A replica that missed more than one renewal is treated as gone for balancing (its
        // leases, if any, are about to expire).
        if (typeof v.id === 'string' && typeof v.atMs === 'number' && v.atMs >= t - 1.5 * renewMs) seen.add(v.id);
      } catch {
        // not ours
      }
    }
    members = seen;
  };

  /**
   * Stops leading shards whose lease is no longer valid (refused renewal or deadline passed), and
   * starts due renewals without waiting for them. Synchronous: runs on its own timer too.
   */
  const guard = (root: AbortSignal): void => {
    const t = now();
    for (const s of shards) {
      if (s.mode !== 'leading') continue;
      if (!s.lease.valid()) {
        void stepDown(s, 'lease lost (not renewed before its deadline)', false, root);
        continue;
      }
      if (s.renewing || t - s.lastRenewMs < renewMs) continue;
      s.renewing = true;
      within(s.lease.renew(), ttl, `renew ${s.name}`)
        .then((ok) => {
          if (ok) s.lastRenewMs = t;
        })
        .catch((err: unknown) => onError(`matching ${s.name}: lease renewal failed`, err))
        .finally(() => {
          s.renewing = false;
          if (s.mode === 'leading' && !s.lease.valid())
            void stepDown(s, 'lease lost (renewal refused or too late)', false, root);
        });
    }
  };

  const tick = async (root: AbortSignal): Promise<void> => {
    const t = now();
    guard(root);
    if (t - lastPresenceMs >= renewMs) {
      try {
        await within(refreshPresence(), ttl, 'presence');
        lastPresenceMs = t;
      } catch (err) {
        onError('matching: presence update failed', err);
      }
    }
    // Who leads what.
    await Promise.all(
      shards.map(async (s) => {
        if (s.mode === 'leading') {
          s.holder = id;
          return;
        }
        try {
          s.holder = (await within(s.lease.peek(), ttl, `read lease ${s.name}`))?.holder;
        } catch (err) {
          onError(`matching ${s.name}: lease read failed`, err);
          return;
        }
        if (s.holder === undefined) s.freeSinceMs ??= t;
        else s.freeSinceMs = undefined;
      }),
    );
    const counts = new Map<string, number>();
    for (const m of members) counts.set(m, 0);
    for (const s of shards) if (s.holder !== undefined) counts.set(s.holder, (counts.get(s.holder) ?? 0) + 1);
    // Take free shards: at once when no live replica leads fewer, else after two renew periods.
    for (const s of shards) {
      if (root.aborted) return;
      if (s.mode !== 'following' || s.holder !== undefined) continue;
      const mine = counts.get(id) ?? 0;
      let fewest = Infinity;
      for (const [m, n] of counts) if (m !== id && members.has(m) && n < fewest) fewest = n;
      const waited = t - (s.freeSinceMs ?? t) >= 2 * renewMs;
      if (mine > fewest && !waited) continue;
      try {
        if (!(await within(s.lease.tryAcquire(), ttl, `take lease ${s.name}`))) continue;
      } catch (err) {
        onError(`matching ${s.name}: lease acquisition failed`, err);
        continue;
      }
      s.holder = id;
      counts.set(id, mine + 1);
      await takeOver(s, root);
    }
    // Rebalance: give one shard up when leading more than a fair share while a live replica leads none.
    if (config.rebalance === false) return;
    const led = shards.filter((s) => s.mode === 'leading');
    const fair = Math.ceil(shards.length / Math.max(1, members.size));
    let idle = false;
    for (const m of members) if (m !== id && (counts.get(m) ?? 0) === 0) idle = true;
    if (led.length > fair && idle) {
      imbalanceSinceMs ??= t;
      if (t - imbalanceSinceMs >= renewMs && t - lastReleaseMs >= ttl) {
        const give = led.reduce((a, b) => (b.acquiredMs > a.acquiredMs ? b : a));
        lastReleaseMs = t;
        imbalanceSinceMs = undefined;
        await stepDown(
          give,
          `rebalancing: leading ${led.length} of ${shards.length} shards, fair share ${fair}`,
          true,
          root,
        );
        give.freeSinceMs = undefined;
        give.holder = undefined;
      }
    } else imbalanceSinceMs = undefined;
  };

  return {
    shards: map,
    replicaId: id,
    async run(signal) {
      await Promise.all(
        [...replicas.values()].map((r) =>
          retrying(
            () => r.warm(signal),
            signal,
            (err) => onError(`matching ${r.symbol}: warm-up failed; retrying`, err),
          ),
        ),
      );
      if (signal.aborted) {
        resolveReady();
        return;
      }
      for (const s of shards) startFollowing(s, signal);
      resolveReady();
      // The deadline check and renewals also run on their own timer, so a slow poll (a store
      // that does not answer) cannot keep an expired leader writing.
      const guardLoop = new AbortController();
      void (async () => {
        const g = AbortSignal.any([signal, guardLoop.signal]);
        while (!g.aborted) {
          guard(signal);
          await sleep(pollMs, g);
        }
      })();
      while (!signal.aborted) {
        try {
          await tick(signal);
        } catch (err) {
          onError('matching: leadership tick failed', err);
        }
        await sleep(pollMs, signal);
      }
      // Drain: leaders stop and give their leases up at once, so a standby need not wait a TTL.
      await Promise.all(
        shards.map(async (s) => {
          s.ctl.abort();
          await s.running;
          if (s.mode === 'leading' || s.lease.revision() !== 0) {
            await within(s.lease.release(), ttl, `release ${s.name}`).catch(() => undefined);
            config.onLeadership?.(s.name, false, 'draining');
          }
        }),
      );
      guardLoop.abort();
      await within(kv.delete(replicaKey(id)), ttl, 'presence').catch(() => undefined);
    },
    ready: () => readyP,
    book: (symbol) => replicas.get(symbol)?.book(),
    leading: () => shards.filter((s) => s.mode === 'leading').map((s) => s.name),
  };
}
