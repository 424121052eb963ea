/**
 * {@link EventLog} on SQLite: one table, `(log, seq)` primary key, unique `(log, key)`.
 *
 * The embedded store belongs to one writing process (exclusive locking mode, or a pid file as
 * `ballast start` takes), so this adapter keeps each log's last sequence and its most recent
 * entries in memory: tailing consumers read what was just appended without a query. Appends run
 * in one transaction through the shared Kysely connection and update the cache only after
 * commit; waiters are woken in-process.
 *
 * Entry headers (W3C trace context) are kept as JSON in a nullable `headers` column, added to a
 * table made before it existed; entries without headers store `NULL` and cost nothing more.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import type {
  AppendInput,
  AppendOptions,
  AppendResult,
  EntryHeaders,
  AppendsInTransaction,
  EventLog,
  LogAppend,
  LogEntry,
  WaitOptions,
} from '@ballast/state';
import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import { classifySqliteError } from './classify.ts';

interface LogTables {
  log_entries: {
    log: string;
    seq: bigint | number;
    key: string | null;
    payload: string;
    time_ms: bigint | number;
    headers: string | null;
  };
}

const entryOf = (
  seq: number,
  key: string | null,
  payload: string,
  timeMs: number,
  headers: EntryHeaders | undefined,
): LogEntry => (headers === undefined ? { seq, key, payload, timeMs } : { seq, key, payload, timeMs, headers });

/** Rows per multi-row statement (6 parameters each: well under SQLite's 32,766). */
const CHUNK = 200;
const COLUMNS = 6;
const SELECT_KEYS = 'SELECT key, seq FROM log_entries WHERE log = ? AND key IN ';
const insertTexts: string[] = [];
/** `INSERT … VALUES (?,…),(?,…)` for `rows` rows, built once per row count. */
const insertRows = (rows: number): string =>
  (insertTexts[rows] ??=
    'INSERT INTO log_entries (log, seq, key, payload, time_ms, headers) VALUES ' +
    Array.from({ length: rows }, () => '(?,?,?,?,?,?)').join(','));

/** Per-log memory: the last sequence and a window of the newest entries. */
interface Tail {
  last: number;
  /** Entries with seq in (last − entries.length, last], oldest first. */
  entries: LogEntry[];
  /** The payload characters of `entries`. */
  chars: number;
}

/** Options of {@link createSqliteEventLog}. */
export interface SqliteEventLogOptions {
  /** @default Date.now */
  readonly nowMs?: () => number;
  /** Newest entries kept in memory per log (up to a quarter more between trims). @default 20000 */
  readonly cacheEntries?: number;
  /**
   * And at most about this many payload characters of them per log (up to a quarter more between
   * trims; the newest entry is always kept): an entry's size varies (an event entry holds a
   * matching batch). @default 16 MiB (16 × 2²⁰)
   */
  readonly cacheChars?: number;
}

/**
 * The SQLite log: an {@link EventLog} that can also append in a transaction of the database it
 * lives in (the oms writes an order and its command in one commit).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SqliteEventLog = EventLog & AppendsInTransaction<Transaction<any>>;

/** Creates the table if needed and returns the log. */
export async function createSqliteEventLog(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  anyDb: Kysely<any>,
  options: SqliteEventLogOptions = {},
): Promise<SqliteEventLog> {
  const db = anyDb as Kysely<LogTables>;
  const now = options.nowMs ?? Date.now;
  const cacheMax = options.cacheEntries ?? 20_000;
  const cacheChars = options.cacheChars ?? 16 * 2 ** 20;
  await sql`CREATE TABLE IF NOT EXISTS log_entries (
    log TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT, payload TEXT NOT NULL, time_ms INTEGER NOT NULL,
    headers TEXT, PRIMARY KEY (log, seq)) WITHOUT ROWID`.execute(db);
  const columns = await sql<{ name: string }>`PRAGMA table_info(log_entries)`.execute(db);
  if (!columns.rows.some((c) => c.name === 'headers')) {
    await sql`ALTER TABLE log_entries ADD COLUMN headers TEXT`.execute(db);
  }
  await sql`CREATE UNIQUE INDEX IF NOT EXISTS log_entries_key ON log_entries (log, key) WHERE key IS NOT NULL`.execute(
    db,
  );

  const tails = new Map<string, Tail>();
  const tailOf = async (log: string): Promise<Tail> => {
    let t = tails.get(log);
    if (t === undefined) {
      const row = await db
        .selectFrom('log_entries')
        .select((eb) => eb.fn.max('seq').as('last'))
        .where('log', '=', log)
        .executeTakeFirst();
      t = tails.get(log) ?? { last: row?.last == null ? 0 : Number(row.last), entries: [], chars: 0 };
      tails.set(log, t);
    }
    return t;
  };

  const waiters = new Map<string, Set<() => void>>();
  const wake = (log: string): void => {
    const set = waiters.get(log);
    if (set === undefined) return;
    waiters.delete(log);
    for (const w of set) w();
  };

  interface AppendRequest {
    readonly log: string;
    readonly entries: readonly AppendInput[];
    readonly opts: AppendOptions;
    readonly resolve: (r: AppendResult[]) => void;
    readonly reject: (e: unknown) => void;
  }
  /** The caller's work, run in the group's transaction, and the entries it returns. */
  interface WorkRequest {
    readonly logs: readonly string[];
    readonly work: (trx: Transaction<LogTables>) => Promise<{ result: unknown; appends: readonly LogAppend[] }>;
    readonly resolve: (r: { result: unknown; appended: AppendResult[][] }) => void;
    readonly reject: (e: unknown) => void;
  }
  type Request = AppendRequest | WorkRequest;
  const isWork = (r: Request): r is WorkRequest => 'work' in r;
  // Group commit: appends that arrive while a transaction is running are written together in the
  // next one (one commit for all of them), in arrival order. One group at a time, so the cached
  // last sequences are the ones the transaction sees.
  let queue: Request[] = [];
  let running = false;

  /**
   * Inserts one append's entries in `trx` after `last.get(log)` (updated), skipping keys already
   * in the log; the new entries are added to `added` (for the cache, after commit).
   */
  const insertEntries = async (
    trx: Transaction<LogTables>,
    log: string,
    entries: readonly AppendInput[],
    timeMs: number,
    last: Map<string, number>,
    added: Map<string, LogEntry[]>,
  ): Promise<AppendResult[]> => {
    let seq = last.get(log) as number;
    const out: AppendResult[] = [];
    let list = added.get(log);
    if (list === undefined) added.set(log, (list = []));
    // Keys already in the log (this transaction's earlier inserts included): one query.
    const keys = entries.flatMap((e) => (e.key == null ? [] : [e.key]));
    const taken = new Map<string, number>();
    for (let i = 0; i < keys.length; i += CHUNK) {
      const part = keys.slice(i, i + CHUNK);
      const found = await trx.executeQuery<{ key: string; seq: bigint | number }>(
        CompiledQuery.raw(`${SELECT_KEYS}(${part.map(() => '?').join(',')})`, [log, ...part]),
      );
      for (const row of found.rows) taken.set(row.key, Number(row.seq));
    }
    const params: (string | number | null)[] = [];
    for (const e of entries) {
      const key = e.key ?? null;
      const dup = key === null ? undefined : taken.get(key);
      if (dup !== undefined) {
        out.push({ seq: dup, duplicate: true }); // the key is taken: report the original entry
        continue;
      }
      seq++;
      if (key !== null) taken.set(key, seq);
      params.push(log, seq, key, e.payload, timeMs, e.headers === undefined ? null : JSON.stringify(e.headers));
      list.push(entryOf(seq, key, e.payload, timeMs, e.headers));
      out.push({ seq, duplicate: false });
    }
    // New entries in multi-row inserts of precompiled text (no query building per entry). A
    // sequence already taken fails the statement, and with it the transaction.
    for (let i = 0; i < params.length; i += CHUNK * COLUMNS) {
      const part = params.slice(i, i + CHUNK * COLUMNS);
      await trx.executeQuery(CompiledQuery.raw(insertRows(part.length / COLUMNS), part));
    }
    last.set(log, seq);
    return out;
  };

  /** The work and its appends, in `trx`. */
  const doWork = async (
    trx: Transaction<LogTables>,
    r: WorkRequest,
    timeMs: number,
    last: Map<string, number>,
    added: Map<string, LogEntry[]>,
  ): Promise<{ result: unknown; appended: AppendResult[][] }> => {
    const { result, appends } = await r.work(trx);
    const appended: AppendResult[][] = [];
    for (const a of appends) {
      if (!r.logs.includes(a.log)) throw new Error(`appendInTransaction: log ${a.log} was not named in logs`);
      appended.push(await insertEntries(trx, a.log, a.entries, timeMs, last, added));
    }
    return { result, appended };
  };

  /**
   * A work request behind a savepoint: when the work (or its appends) fails, only its own writes
   * are undone, in the database and in `last` / `added`, and the error is its outcome.
   */
  const runWork = async (
    trx: Transaction<LogTables>,
    r: WorkRequest,
    timeMs: number,
    last: Map<string, number>,
    added: Map<string, LogEntry[]>,
  ): Promise<{ result: unknown; appended: AppendResult[][] } | { failed: unknown }> => {
    const lastBefore = new Map(last);
    const sizesBefore = new Map([...added].map(([l, list]) => [l, list.length]));
    await sql`SAVEPOINT log_work`.execute(trx);
    try {
      const done = await doWork(trx, r, timeMs, last, added);
      await sql`RELEASE log_work`.execute(trx);
      return done;
    } catch (err) {
      try {
        await sql`ROLLBACK TO log_work`.execute(trx);
        await sql`RELEASE log_work`.execute(trx);
      } catch {
        // SQLite already rolled the whole transaction back (disk full, I/O error: the savepoint is
        // gone): the group fails with the work's own error, which says whether a retry can help.
        throw err;
      }
      for (const [l, seq] of lastBefore) last.set(l, seq);
      for (const [l, list] of added) list.length = sizesBefore.get(l) ?? 0;
      return { failed: err };
    }
  };

  const appendGroup = async (group: Request[]): Promise<void> => {
    const logs = [...new Set(group.flatMap((r) => (isWork(r) ? r.logs : [r.log])))];
    const rejectAll = (err: unknown): void => {
      for (const r of group)
        r.reject(classifySqliteError(err, isWork(r) ? 'append in a transaction' : `append to ${r.log}`));
    };
    const tails = new Map<string, Tail>();
    try {
      for (const l of logs) tails.set(l, await tailOf(l));
    } catch (err) {
      rejectAll(err);
      return;
    }
    const timeMs = now();
    const outcomes: unknown[] = [];
    const added = new Map<string, LogEntry[]>();
    // A work request alone in its group needs no savepoint (two statements, and a copy of every
    // page it changes): its failure undoes the whole transaction, and is its outcome.
    const lone = group.length === 1 && isWork(group[0] as Request) ? (group[0] as WorkRequest) : undefined;
    let loneFailed: { err: unknown } | undefined;
    try {
      await db.transaction().execute(async (trx) => {
        const last = new Map(logs.map((l) => [l, (tails.get(l) as Tail).last]));
        if (lone !== undefined) {
          try {
            outcomes.push(await doWork(trx, lone, timeMs, last, added));
          } catch (err) {
            loneFailed = { err };
            throw err;
          }
          return;
        }
        for (const r of group) {
          if (isWork(r)) {
            outcomes.push(await runWork(trx, r, timeMs, last, added));
            continue;
          }
          const seq = last.get(r.log) as number;
          if (r.opts.expectedLastSeq !== undefined && r.opts.expectedLastSeq !== seq) {
            outcomes.push(
              new BallastError(
                ErrorCode.StateFenced,
                `log ${r.log}: expected last sequence ${r.opts.expectedLastSeq}, found ${seq}`,
              ),
            );
            continue;
          }
          outcomes.push(await insertEntries(trx, r.log, r.entries, timeMs, last, added));
        }
      });
    } catch (err) {
      if (lone !== undefined && loneFailed !== undefined) lone.reject(loneFailed.err);
      else rejectAll(err);
      return;
    }
    for (const [l, list] of added) {
      if (list.length === 0) continue;
      const tail = tails.get(l) as Tail;
      tail.last = (list.at(-1) as LogEntry).seq;
      for (const e of list) {
        tail.entries.push(e);
        tail.chars += e.payload.length;
      }
      // Trimmed in bulk, once the window is a quarter over: one copy per cacheMax / 4 entries. A
      // splice per append copied the whole window every time (6% of the main thread at 1,500/s).
      if (tail.entries.length > cacheMax + (cacheMax >> 2) || tail.chars > cacheChars + (cacheChars >> 2)) {
        let drop = Math.max(0, tail.entries.length - cacheMax);
        let chars = tail.chars;
        for (let i = 0; i < drop; i++) chars -= (tail.entries[i] as LogEntry).payload.length;
        while (chars > cacheChars && drop < tail.entries.length - 1)
          chars -= (tail.entries[drop++] as LogEntry).payload.length;
        tail.entries = tail.entries.slice(drop);
        tail.chars = chars;
      }
      wake(l);
    }
    group.forEach((r, i) => {
      const o = outcomes[i];
      if (isWork(r)) {
        const w = o as { result: unknown; appended: AppendResult[][] } | { failed: unknown };
        if ('failed' in w) r.reject(w.failed);
        else r.resolve(w);
      } else if (o instanceof BallastError) r.reject(o);
      else r.resolve(o as AppendResult[]);
    });
  };

  const enqueue = (r: Request): void => {
    queue.push(r);
    if (!running) {
      running = true;
      void drainQueue();
    }
  };

  const drainQueue = async (): Promise<void> => {
    try {
      while (queue.length > 0) {
        const group = queue;
        queue = [];
        await appendGroup(group);
      }
    } finally {
      running = false;
    }
  };

  return {
    append(log, entries, opts = {}) {
      opts.signal?.throwIfAborted();
      if (entries.length === 0) return Promise.resolve([]);
      return new Promise<AppendResult[]>((resolve, reject) => enqueue({ log, entries, opts, resolve, reject }));
    },

    appendInTransaction<T>(
      logs: readonly string[],
      work: (trx: Transaction<unknown>) => Promise<{ readonly result: T; readonly appends: readonly LogAppend[] }>,
    ) {
      return new Promise<{ result: T; appended: AppendResult[][] }>((resolve, reject) =>
        enqueue({
          logs,
          work: work as unknown as WorkRequest['work'],
          resolve: resolve as WorkRequest['resolve'],
          reject,
        }),
      );
    },

    async read(log, fromSeq, limit, opts: WaitOptions = {}) {
      opts.signal?.throwIfAborted();
      const tail = await tailOf(log);
      const first = tail.entries[0];
      if (first !== undefined && fromSeq >= first.seq) {
        const i = fromSeq - first.seq;
        return tail.entries.slice(i, i + limit);
      }
      if (fromSeq > tail.last) return [];
      try {
        const rows = await db
          .selectFrom('log_entries')
          .select(['seq', 'key', 'payload', 'time_ms', 'headers'])
          .where('log', '=', log)
          .where('seq', '>=', fromSeq)
          .orderBy('seq')
          .limit(limit)
          .execute();
        return rows.map((r) =>
          entryOf(
            Number(r.seq),
            r.key,
            r.payload,
            Number(r.time_ms),
            r.headers === null ? undefined : (JSON.parse(r.headers) as EntryHeaders),
          ),
        );
      } catch (err) {
        throw classifySqliteError(err, `read ${log}`);
      }
    },

    async lastSeq(log, opts: WaitOptions = {}) {
      opts.signal?.throwIfAborted();
      try {
        return (await tailOf(log)).last;
      } catch (err) {
        throw classifySqliteError(err, `last sequence of ${log}`);
      }
    },

    async waitFor(log, afterSeq, maxWaitMs, opts: WaitOptions = {}) {
      opts.signal?.throwIfAborted();
      if ((await tailOf(log)).last > afterSeq) return;
      opts.signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        let set = waiters.get(log);
        if (set === undefined) waiters.set(log, (set = new Set()));
        const done = (): void => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          set.delete(done);
          resolve();
        };
        const onAbort = (): void => {
          clearTimeout(timer);
          set.delete(done);
          reject(opts.signal?.reason);
        };
        const timer = setTimeout(done, maxWaitMs);
        set.add(done);
        opts.signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
