/**
 * {@link EventLog} on SQLite: one table, `(log, seq)` primary key, unique `(log, key)`.
 * Appends run in one transaction through the shared Kysely connection; waiters are woken
 * in-process after each commit.
 *
 * @module
 */
import { BallastError, ErrorCode } from '@ballast/errors';
import type { AppendInput, AppendOptions, AppendResult, EventLog, LogEntry, WaitOptions } from '@ballast/state';
import { sql, type Kysely } from 'kysely';
import { classifySqliteError } from './classify.ts';

interface LogTables {
  log_entries: { log: string; seq: bigint | number; key: string | null; payload: string; time_ms: bigint | number };
}

/** Creates the table if needed and returns the log. `nowMs` defaults to `Date.now`. */
export async function createSqliteEventLog(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  anyDb: Kysely<any>,
  options: { nowMs?: () => number } = {},
): Promise<EventLog> {
  const db = anyDb as Kysely<LogTables>;
  const now = options.nowMs ?? Date.now;
  await sql`CREATE TABLE IF NOT EXISTS log_entries (
    log TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT, payload TEXT NOT NULL, time_ms INTEGER NOT NULL,
    PRIMARY KEY (log, seq)) WITHOUT ROWID`.execute(db);
  await sql`CREATE UNIQUE INDEX IF NOT EXISTS log_entries_key ON log_entries (log, key) WHERE key IS NOT NULL`.execute(
    db,
  );

  const waiters = new Map<string, Set<() => void>>();
  const wake = (log: string): void => {
    const set = waiters.get(log);
    if (set === undefined) return;
    waiters.delete(log);
    for (const w of set) w();
  };
  const lastSeqOf = async (q: Kysely<LogTables>, log: string): Promise<number> => {
    const row = await q
      .selectFrom('log_entries')
      .select((eb) => eb.fn.max('seq').as('last'))
      .where('log', '=', log)
      .executeTakeFirst();
    return row?.last == null ? 0 : Number(row.last);
  };

  return {
    async append(log: string, entries: readonly AppendInput[], opts: AppendOptions = {}): Promise<AppendResult[]> {
      opts.signal?.throwIfAborted();
      if (entries.length === 0) return [];
      let results: AppendResult[];
      try {
        results = await db.transaction().execute(async (trx) => {
          let last = await lastSeqOf(trx, log);
          if (opts.expectedLastSeq !== undefined && opts.expectedLastSeq !== last) {
            throw new BallastError(
              ErrorCode.StateFenced,
              `log ${log}: expected last sequence ${opts.expectedLastSeq}, found ${last}`,
            );
          }
          const out: AppendResult[] = [];
          const timeMs = now();
          for (const e of entries) {
            if (e.key !== undefined) {
              const dup = await trx
                .selectFrom('log_entries')
                .select('seq')
                .where('log', '=', log)
                .where('key', '=', e.key)
                .executeTakeFirst();
              if (dup !== undefined) {
                out.push({ seq: Number(dup.seq), duplicate: true });
                continue;
              }
            }
            last++;
            await trx
              .insertInto('log_entries')
              .values({ log, seq: last, key: e.key ?? null, payload: e.payload, time_ms: timeMs })
              .execute();
            out.push({ seq: last, duplicate: false });
          }
          return out;
        });
      } catch (err) {
        throw classifySqliteError(err, `append to ${log}`);
      }
      wake(log);
      return results;
    },

    async read(log: string, fromSeq: number, limit: number, opts: WaitOptions = {}): Promise<LogEntry[]> {
      opts.signal?.throwIfAborted();
      try {
        const rows = await db
          .selectFrom('log_entries')
          .select(['seq', 'key', 'payload', 'time_ms'])
          .where('log', '=', log)
          .where('seq', '>=', fromSeq)
          .orderBy('seq')
          .limit(limit)
          .execute();
        return rows.map((r) => ({ seq: Number(r.seq), key: r.key, payload: r.payload, timeMs: Number(r.time_ms) }));
      } catch (err) {
        throw classifySqliteError(err, `read ${log}`);
      }
    },

    async lastSeq(log: string, opts: WaitOptions = {}): Promise<number> {
      opts.signal?.throwIfAborted();
      try {
        return await lastSeqOf(db, log);
      } catch (err) {
        throw classifySqliteError(err, `last sequence of ${log}`);
      }
    },

    async waitFor(log: string, afterSeq: number, maxWaitMs: number, opts: WaitOptions = {}): Promise<void> {
      opts.signal?.throwIfAborted();
      if ((await lastSeqOf(db, log)) > afterSeq) return;
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
