/**
 * The `EventLog` port: named append-only logs of entries numbered 1, 2, 3, … with
 * de-duplication keys. Commands and events travel through it (JetStream streams in distributed
 * mode, SQLite tables embedded).
 *
 * @module
 */

/** One stored entry. */
export interface LogEntry {
  /** Position in its log, from 1, gap-free. */
  readonly seq: number;
  /** De-duplication key given at append, or `null`. */
  readonly key: string | null;
  /** The entry's content (JSON text by convention). */
  readonly payload: string;
  /** Store time at append, in ms since the epoch. */
  readonly timeMs: number;
  /** The headers given at append (e.g. W3C `traceparent`); absent when there were none. */
  readonly headers?: EntryHeaders;
}

/**
 * Text metadata of an entry, next to its payload: W3C trace context (`traceparent`,
 * `tracestate`) so one order is one trace across processes. Names are lower-case ASCII and must
 * not start with `nats-` (adapters may reserve those).
 */
export type EntryHeaders = Readonly<Record<string, string>>;

/** One entry to append. */
export interface AppendInput {
  /** De-duplication key: an entry whose key the log already holds is not appended again. */
  readonly key?: string;
  readonly payload: string;
  /** Stored with the entry and returned by `read`; not part of de-duplication. */
  readonly headers?: EntryHeaders;
}

/** The outcome of appending one entry. */
export interface AppendResult {
  /** The entry's sequence number (the original one for a duplicate). */
  readonly seq: number;
  readonly duplicate: boolean;
}

/** Options of {@link EventLog.append}. */
export interface AppendOptions {
  /**
   * Append only if the log's last sequence is exactly this (fencing: a deposed writer's append is
   * refused with `STATE_FENCED`).
   */
  readonly expectedLastSeq?: number;
  /** Aborting before the append starts prevents it; once started it completes or fails whole. */
  readonly signal?: AbortSignal;
}

/** Options of calls that only wait. */
export interface WaitOptions {
  readonly signal?: AbortSignal;
  /**
   * A stable id of the reading loop (one per tail), so an adapter may keep a streaming cursor for
   * it between calls (JetStream: one ordered consumer per reader instead of one per read). Such
   * a read may return fewer entries than exist, even none, while they are on their way: a tail
   * then waits with {@link EventLog.waitFor} (same reader id) and reads again. Readers without
   * one get plain reads.
   */
  readonly readerId?: string;
}

/** Named append-only logs. */
export interface EventLog {
  /**
   * Appends entries in order. The embedded adapter is atomic (all stored, or found as
   * duplicates, or none). A networked adapter may store part of a call that then fails: with
   * `expectedLastSeq` always a prefix (each entry expects the one before); without it, any subset
   * — so callers retry the same keyed entries (de-duplication makes that idempotent) and must
   * not rely on entries of different keys landing in call order after a failure.
   *
   * @throws BallastError `STATE_FENCED` when `expectedLastSeq` does not match.
   */
  append(log: string, entries: readonly AppendInput[], options?: AppendOptions): Promise<AppendResult[]>;
  /** Up to `limit` entries with `seq >= fromSeq`, in order. */
  read(log: string, fromSeq: number, limit: number, options?: WaitOptions): Promise<LogEntry[]>;
  /** Sequence of the last entry, 0 for an empty log. */
  lastSeq(log: string, options?: WaitOptions): Promise<number>;
  /**
   * Resolves once the log's last sequence is beyond `afterSeq`, or after `maxWaitMs`, whichever
   * comes first. Rejects with the signal's reason when it aborts.
   */
  waitFor(log: string, afterSeq: number, maxWaitMs: number, options?: WaitOptions): Promise<void>;
  /**
   * The reader `readerId` of `log` is done (its tail ended): the adapter frees at once what it
   * kept for it (JetStream: its ordered consumer, which would otherwise stay open, filled up to
   * its pull, until an idle sweep). Optional; never waits or throws.
   */
  endReader?(log: string, readerId: string): void;
}

/** Entries for one log, appended by {@link AppendsInTransaction.appendInTransaction}. */
export interface LogAppend {
  readonly log: string;
  readonly entries: readonly AppendInput[];
}

/**
 * What a log stored in the caller's own database can do besides {@link EventLog}: append in the
 * caller's transaction, so the caller's rows and the entries commit together or not at all — the
 * transactional outbox with the log itself as the outbox. `Trx` is the database's transaction
 * type. The embedded (SQLite) log offers it; a log on another server (JetStream) cannot.
 */
export interface AppendsInTransaction<Trx> {
  /**
   * Runs `work` in one of the log's append transactions (shared with other appends waiting at
   * that moment), then appends the entries it returns, de-duplicated by key as
   * {@link EventLog.append} does, and commits. `logs` names every log `work` may append to.
   * When `work` throws, nothing it wrote is kept (a savepoint) and the promise rejects with what
   * it threw; other appends of the same transaction are not affected.
   *
   * @returns `work`'s result and the outcome of each returned append, in order.
   */
  appendInTransaction<T>(
    logs: readonly string[],
    work: (trx: Trx) => Promise<{ readonly result: T; readonly appends: readonly LogAppend[] }>,
  ): Promise<{ readonly result: T; readonly appended: readonly AppendResult[][] }>;
}
