/**
 * PostgreSQL through the same Kysely code as SQLite: a pooled dialect, driver errors classified
 * into Ballast's reasons, and migrations that many replicas can start at once (Kysely's Migrator
 * takes a PostgreSQL advisory lock while it runs).
 *
 * @module
 */
import { BallastError, ErrorCode, isBallastError } from '@ballast/errors';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { preparedStatementPool } from './prepared-pool.ts';

/** Options of {@link openPostgres}. */
export interface OpenPostgresOptions {
  /** `postgres://user@host:port/db`. */
  readonly url: string;
  /** Pool size. @default 10 */
  readonly maxConnections?: number;
  /** Schema to use (created if missing); isolates tests and tenants. @default 'public' */
  readonly schema?: string;
  /** Per-statement timeout on the server. @default 5000 */
  readonly statementTimeoutMs?: number;
  /** Longest wait for a connection (a down server fails fast instead of hanging). @default 1000 */
  readonly connectTimeoutMs?: number;
  /**
   * Run Kysely's queries as named prepared statements (parsed and planned once per connection).
   * Turn off behind a pooler in transaction mode without prepared-statement support. @default true
   */
  readonly preparedStatements?: boolean;
  /** Called when an idle pooled connection breaks (the pool replaces it). Never throws. */
  readonly onIdleError?: (err: unknown) => void;
}

/** Opens a pooled Kysely instance on PostgreSQL; BIGINT and NUMERIC are read as `bigint`. */
export async function openPostgres<DB>(options: OpenPostgresOptions): Promise<Kysely<DB>> {
  const schema = options.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new RangeError(`invalid schema name ${schema}`);
  if (schema !== 'public') {
    const c = new pg.Client({ connectionString: options.url });
    await c.connect();
    try {
      // CREATE SCHEMA IF NOT EXISTS races between replicas starting together: serialise it.
      await c.query('BEGIN');
      await c.query("SELECT pg_advisory_xact_lock(hashtext('ballast:create-schema'))");
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
  }
  const types = {
    getTypeParser: (oid: number, format?: string) =>
      oid === 20 || oid === 1700 ? (v: string) => BigInt(v) : pg.types.getTypeParser(oid, format as never),
  };
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 1000,
    keepAlive: true,
    options: `-c search_path=${schema} -c statement_timeout=${options.statementTimeoutMs ?? 5000}`,
    types: types as never,
  });
  // A connection that breaks (server restart, network cut) must not take the process down: the
  // pool handles idle ones; a checked-out one between two queries of a transaction emits 'error'
  // on the client itself, so every client gets a listener (its next query then fails, and the
  // caller's error handling takes over).
  pool.on('error', (err) => options.onIdleError?.(err));
  pool.on('connect', (client) => client.on('error', (err) => options.onIdleError?.(err)));
  return new Kysely<DB>({
    dialect: new PostgresDialect({ pool: options.preparedStatements === false ? pool : preparedStatementPool(pool) }),
  });
}

/** Node's socket error codes: the server could not be reached, or the connection broke. */
const SOCKET_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Classifies a `pg` error by SQLSTATE: connection classes (08…, 57P…) → `STATE_CONNECTION`
 * (retryable); serialization failure / deadlock (40001, 40P01) → `STATE_CONFLICT` (retryable);
 * unique violation (23505) → `STATE_CONFLICT`; statement timeout (57014) → `TIMEOUT` (retryable).
 * A socket error (by its code, also inside the AggregateError Node raises when every address of a
 * host refused, whose message is empty), the pool's "timeout exceeded when trying to connect", a
 * server out of resources (53…) or read-only (25006) → `STATE_CONNECTION` (retryable); a lock not
 * available (55P03) → `STATE_CONFLICT` (retryable).
 */
export function classifyPostgresError(err: unknown, what: string): BallastError {
  if (isBallastError(err)) return err;
  const code = (err as { code?: unknown }).code;
  const msg = err instanceof Error ? err.message : String(err);
  if (code === '40001' || code === '40P01') {
    return new BallastError(ErrorCode.StateConflict, `${what}: ${msg}`, { cause: err, retryable: true });
  }
  if (code === '23505') return new BallastError(ErrorCode.StateConflict, `${what}: ${msg}`, { cause: err });
  // A lock not available at once (NOWAIT, lock_timeout): a conflict that passes.
  if (code === '55P03')
    return new BallastError(ErrorCode.StateConflict, `${what}: ${msg}`, { cause: err, retryable: true });
  if (code === '57014') return new BallastError(ErrorCode.Timeout, `${what}: ${msg}`, { cause: err, retryable: true });
  if (
    // 53…: out of connections, memory or disk; 25006: a read-only server (a replica just after a
    // failover). Both pass.
    (typeof code === 'string' &&
      (code.startsWith('08') ||
        code.startsWith('57P') ||
        code.startsWith('53') ||
        code === '25006' ||
        SOCKET_ERRORS.has(code))) ||
    (err instanceof AggregateError &&
      err.errors.some((e) => SOCKET_ERRORS.has(String((e as { code?: unknown })?.code)))) ||
    /ECONNREFUSED|ECONNRESET|terminat|Connection|timeout exceeded when trying to connect/i.test(msg)
  ) {
    return new BallastError(ErrorCode.StateConnection, `${what}: ${msg}`, { cause: err, retryable: true });
  }
  return new BallastError(ErrorCode.StateInvalid, `${what}: ${msg}`, { cause: err });
}
