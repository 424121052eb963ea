/**
 * A leadership lease on any {@link KeyValue}: one key per leased resource (a matching shard),
 * holding `{"holder":…}` with a TTL. It is taken by compare-and-set on "absent" (expected
 * revision 0), renewed by compare-and-set on the revision of the holder's last write, and given
 * up by deleting that revision. The revision is the fencing token.
 *
 * The holder keeps a local deadline: the time just before its last successful write started,
 * plus the TTL, minus a safety margin. Past that deadline the lease counts as lost even if no one
 * else has taken it yet — `valid()` turns false and `renew()` refuses — so a process that was
 * paused (SIGSTOP, a long GC, a stalled VM) notices on waking, before writing anything. The
 * deadline is measured on the holder's own clock, from before the write, so it is never later
 * than the expiry other readers see (they measure from after the write). Stores that compare
 * expiries across machines (NATS KV here) need clocks in sync well within the margin.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import type { KeyValue } from './key-value.ts';

/** Options of {@link createLease}. */
export interface LeaseOptions {
  /** The KV key of the lease, e.g. `matching-lease.s0`. */
  readonly key: string;
  /** Who takes it (unique per process, e.g. `<host>-<pid>`). */
  readonly holder: string;
  /** Lifetime of one write of the lease, in ms. */
  readonly ttlMs: number;
  /** Taken off the local deadline, in ms. @default ttlMs / 10 */
  readonly marginMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

/** Who holds a lease, as read from the store. */
export interface LeaseHolder {
  readonly holder: string;
  readonly revision: number;
}

/** One lease, seen from one would-be holder. */
export interface Lease {
  readonly key: string;
  readonly holder: string;
  /** True while this process holds the lease and its local deadline has not passed. */
  valid(): boolean;
  /** The local deadline in ms (0 when not held). */
  validUntilMs(): number;
  /** Revision of the holder's last write (the fencing token); 0 when not held. */
  revision(): number;
  /**
   * Takes the lease if no one holds it. Resolves true when taken, false when someone else holds
   * it (or won the race).
   *
   * @throws BallastError from the store (unreachable, …); the lease is then not held.
   */
  tryAcquire(options?: { signal?: AbortSignal }): Promise<boolean>;
  /**
   * Extends the held lease by a TTL from now. Resolves false — and the lease is no longer held —
   * when it was not held, its local deadline has passed, or someone else's write replaced it.
   *
   * @throws BallastError from the store; the lease stays held until its local deadline.
   */
  renew(options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Gives the lease up: deletes it if it is still this holder's write. Never throws. */
  release(options?: { signal?: AbortSignal }): Promise<void>;
  /** Forgets the lease locally (no store write), e.g. after being fenced. */
  drop(): void;
  /** Reads the current holder from the store, or `undefined` when the lease is free. */
  peek(options?: { signal?: AbortSignal }): Promise<LeaseHolder | undefined>;
}

const isConflict = (err: unknown): boolean => err instanceof BallastError && err.code === ErrorCode.StateConflict;

/** Decodes a lease value (`{"holder":…}`), or `undefined` when it is not one. */
export function parseLeaseValue(value: string): string | undefined {
  try {
    const v = JSON.parse(value) as { holder?: unknown };
    return typeof v.holder === 'string' ? v.holder : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the lease `options.key` for `options.holder` on `kv` (no store call until used). */
export function createLease(kv: KeyValue, options: LeaseOptions): Lease {
  const { key, holder, ttlMs } = options;
  if (!(ttlMs > 0)) throw new RangeError(`lease ttlMs must be positive, got ${ttlMs}`);
  const margin = options.marginMs ?? Math.floor(ttlMs / 10);
  const now = options.nowMs ?? Date.now;
  const value = JSON.stringify({ holder });
  let rev = 0;
  let until = 0;
  const lose = (): false => {
    rev = 0;
    until = 0;
    return false;
  };
  return {
    key,
    holder,
    valid: () => rev !== 0 && now() < until,
    validUntilMs: () => until,
    revision: () => rev,
    async tryAcquire(o = {}) {
      const start = now();
      try {
        const r = await kv.put(key, value, { expectedRevision: 0, ttlMs, ...(o.signal ? { signal: o.signal } : {}) });
        rev = r;
        until = start + ttlMs - margin;
        return true;
      } catch (err) {
        lose();
        if (isConflict(err)) return false;
        throw err;
      }
    },
    async renew(o = {}) {
      const start = now();
      if (rev === 0 || start >= until) return lose();
      try {
        const r = await kv.put(key, value, {
          expectedRevision: rev,
          ttlMs,
          ...(o.signal ? { signal: o.signal } : {}),
        });
        rev = r;
        until = start + ttlMs - margin;
        return true;
      } catch (err) {
        if (isConflict(err)) return lose();
        throw err;
      }
    },
    async release(o = {}) {
      const r = rev;
      lose();
      if (r === 0) return;
      await kv.delete(key, { expectedRevision: r, ...(o.signal ? { signal: o.signal } : {}) }).catch(() => undefined);
    },
    drop: () => void lose(),
    async peek(o = {}) {
      const e = await kv.get(key, o.signal ? { signal: o.signal } : {});
      if (e === undefined) return undefined;
      return { holder: parseLeaseValue(e.value) ?? '', revision: e.revision };
    },
  };
}
