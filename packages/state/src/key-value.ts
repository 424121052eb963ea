/**
 * The `KeyValue` port: small values with revisions for compare-and-set, and optional TTLs
 * (leases, registry entries, idempotency keys). NATS KV in distributed mode, in-process embedded.
 *
 * @module
 */

/** A stored value with its revision (increases on every write to the key). */
export interface KvEntry {
  readonly value: string;
  readonly revision: number;
}

/** Options of {@link KeyValue.put}. */
export interface PutOptions {
  /** Write only if the key's current revision is this (0 = the key must not exist). */
  readonly expectedRevision?: number;
  /** Expire the entry this long after the write. */
  readonly ttlMs?: number;
  readonly signal?: AbortSignal;
}

/** Keys with revisioned values. */
export interface KeyValue {
  /** The live entry, or `undefined` (missing or expired). */
  get(key: string, options?: { signal?: AbortSignal }): Promise<KvEntry | undefined>;
  /**
   * Writes `value`; returns the new revision.
   *
   * @throws BallastError `STATE_CONFLICT` when `expectedRevision` does not match.
   */
  put(key: string, value: string, options?: PutOptions): Promise<number>;
  /** Live keys starting with `prefix` (a dot-separated namespace such as `oms.`), in no set order. */
  keys(prefix: string, options?: { signal?: AbortSignal }): Promise<string[]>;
  /** Deletes the key; with `expectedRevision`, only if it matches (else `STATE_CONFLICT`). */
  delete(key: string, options?: { expectedRevision?: number; signal?: AbortSignal }): Promise<void>;
}
