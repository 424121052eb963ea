/**
 * Kysely on `node:sqlite` (Node's built-in SQLite, no native addon to build): adapts
 * `DatabaseSync` to Kysely's `SqliteDatabase`, with a prepared-statement cache and every INTEGER
 * read as `bigint` (money never passes through a float).
 *
 * Why node:sqlite rather than better-sqlite3: it ships with Node 24, so `npm ci` builds nothing
 * and needs no prebuilt binary from outside the npm registry; its synchronous API has the same
 * shape and, for our statements, comparable speed.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { startCheckpointer, type Checkpointer } from './checkpointer.ts';

type Param = null | number | bigint | string | Uint8Array;

const toParam = (v: unknown): Param => {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v as Param;
};

class CachedStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #st: StatementSync;
  constructor(st: StatementSync) {
    this.#st = st;
    this.reader = st.columns().length > 0;
  }
  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#st.all(...parameters.map(toParam));
  }
  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#st.run(...parameters.map(toParam));
  }
  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#st.iterate(...parameters.map(toParam)) as IterableIterator<unknown>;
  }
}

/** `DatabaseSync` seen as Kysely's `SqliteDatabase`, statements prepared once per SQL text. */
class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, CachedStatement>();
  readonly #checkpointer: Checkpointer | undefined;
  constructor(db: DatabaseSync, checkpointer: Checkpointer | undefined) {
    this.#db = db;
    this.#checkpointer = checkpointer;
  }
  prepare(sql: string): SqliteStatement {
    let st = this.#cache.get(sql);
    if (st === undefined) {
      const raw = this.#db.prepare(sql);
      raw.setReadBigInts(true);
      st = new CachedStatement(raw);
      if (this.#cache.size < 1000) this.#cache.set(sql, st);
    }
    return st;
  }
  close(): void {
    this.#checkpointer?.stop();
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Options of {@link openSqlite}. */
export interface OpenSqliteOptions {
  /** `:memory:` or a file path (its folder must exist). */
  readonly path: string;
  /**
   * `FULL` fsyncs every commit (durable against power loss); `NORMAL` (WAL) is durable against
   * process crashes — `kill -9` — which is what embedded mode promises. @default 'NORMAL'
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /**
   * Hold the database for this process alone (SQLite exclusive locking mode): another process
   * cannot open the file meanwhile. Incompatible with `backgroundCheckpoint` (its thread has a
   * connection of its own); a caller that turns it off and needs one writing process (the event
   * log caches its tail) must ensure that itself, as `ballast start` does with a pid file.
   * @default true, unless `backgroundCheckpoint`
   */
  readonly exclusive?: boolean;
  /**
   * Checkpoint the WAL on a worker thread instead of on the committing thread (see
   * `checkpointer.ts`): commits do not wait for a checkpoint's fsyncs, except once per
   * `walLimitPages`, when this connection finishes the thread's work so the WAL can start over.
   * File databases only. @default false
   */
  readonly backgroundCheckpoint?: boolean;
  /**
   * With `backgroundCheckpoint`: WAL size, in pages (4 KiB), past which the committing connection
   * checkpoints the remainder itself, keeping the WAL file bounded. @default 16384 (64 MiB)
   */
  readonly walLimitPages?: number;
  /** Called with background checkpoint errors (the checkpointer keeps trying). */
  readonly onCheckpointError?: (message: string) => void;
}

/**
 * Opens (creating if needed) a SQLite database in WAL mode and returns a Kysely instance over
 * it. Every statement goes through Kysely's single connection, so a transaction is never
 * interleaved with another statement.
 */
export function openSqlite<DB>(options: OpenSqliteOptions): Kysely<DB> {
  const background = options.backgroundCheckpoint === true && options.path !== ':memory:';
  const exclusive = options.exclusive ?? !background;
  if (background && exclusive) throw new Error('openSqlite: backgroundCheckpoint needs exclusive: false');
  const db = new DatabaseSync(options.path);
  db.exec(`PRAGMA busy_timeout = 5000;${exclusive ? ' PRAGMA locking_mode = EXCLUSIVE;' : ''}
    PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.synchronous ?? 'NORMAL'}; PRAGMA foreign_keys = ON;
    ${background ? `PRAGMA wal_autocheckpoint = ${options.walLimitPages ?? 16_384};` : ''}`);
  const checkpointer = background
    ? startCheckpointer({
        path: options.path,
        ...(options.onCheckpointError !== undefined ? { onError: options.onCheckpointError } : {}),
      })
    : undefined;
  return new Kysely<DB>({ dialect: new SqliteDialect({ database: new NodeSqliteDatabase(db, checkpointer) }) });
}
