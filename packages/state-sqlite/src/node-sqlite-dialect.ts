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
  constructor(db: DatabaseSync) {
    this.#db = db;
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
   * Hold the database for this process alone (SQLite exclusive locking mode): faster, and what
   * lets the event log cache its tail. Another process cannot open the file meanwhile.
   * @default true
   */
  readonly exclusive?: boolean;
}

/**
 * Opens (creating if needed) a SQLite database in WAL mode and returns a Kysely instance over
 * it. Every statement goes through Kysely's single connection, so a transaction is never
 * interleaved with another statement.
 */
export function openSqlite<DB>(options: OpenSqliteOptions): Kysely<DB> {
  const db = new DatabaseSync(options.path);
  db.exec(`PRAGMA busy_timeout = 5000;${options.exclusive === false ? '' : ' PRAGMA locking_mode = EXCLUSIVE;'}
    PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.synchronous ?? 'NORMAL'}; PRAGMA foreign_keys = ON;`);
  return new Kysely<DB>({ dialect: new SqliteDialect({ database: new NodeSqliteDatabase(db) }) });
}
