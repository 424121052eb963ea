/**
 * Where state lives, chosen by settings: the embedded SQLite file (default), or PostgreSQL,
 * NATS JetStream and Redis when their URLs are given — the same role code runs on either.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { migrateToLatest, type Database } from '@ballast/db';
import type { RateLimitStore } from '@ballast/resilience';
import type { AppendsInTransaction, EventLog, KeyValue } from '@ballast/state';
import { connect, createNatsEventLog, createNatsKeyValue, type NatsConnection } from '@ballast/state-nats';
import { classifyPostgresError, openPostgres } from '@ballast/state-postgres';
import type { BallastError } from '@ballast/errors';
import { Redis, createRedisRateLimitStore } from '@ballast/state-redis';
import { classifySqliteError, createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import { releasePidFile, takePidFile } from '@ballast/runtime';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { StartSettings } from './settings.ts';

/** The opened stores. */
export interface Stores {
  readonly db: Kysely<Database>;
  readonly log: EventLog;
  /** The log, when it lives in `db` (embedded): it can append in a transaction of `db`. */
  readonly logInTransaction: AppendsInTransaction<Transaction<Database>> | undefined;
  /** Shared rate-limit state (Redis), or `undefined` for in-process limits. */
  readonly rateLimitStore: RateLimitStore | undefined;
  /** Service registry (NATS KV), or `undefined` in embedded mode. */
  readonly registry: KeyValue | undefined;
  /** Human-readable description, e.g. `sqlite ./data/ballast.db` or `postgres + nats + redis`. */
  readonly describe: string;
  /** Readiness checks per dependency. */
  readonly checks: Record<string, () => Promise<void>>;
  /** False while the event log's connection is down (NATS disconnected); always true embedded. */
  readonly logAvailable: () => boolean;
  /** Classifies a database driver error (retryable or not). */
  readonly classify: (err: unknown, what: string) => BallastError;
  /** Closes every connection. */
  close(): Promise<void>;
}

/**
 * Opens the database alone and brings its schema up to date (for `ballast migrate`). An embedded
 * SQLite file is held with a pid file (`<path>.pid`) until the process exits: a second process on
 * the same file is refused. `close` closes the database and gives the pid file back.
 * `onWarning` receives background WAL checkpoint problems.
 */
export async function openDatabase(
  settings: StartSettings,
  onWarning: (message: string) => void = () => undefined,
): Promise<{ db: Kysely<Database>; where: string; close: () => Promise<void> }> {
  if (settings.postgresUrl !== '') {
    const db = await openPostgres<Database>({
      url: settings.postgresUrl,
      preparedStatements: settings.postgresPrepared,
    });
    await migrateToLatest(db, 'postgres');
    return { db, where: 'postgres', close: () => db.destroy() };
  }
  const path = settings.dbPath !== '' ? settings.dbPath : join(settings.dataDir, 'ballast.db');
  // One process per database file (the event log caches its tail): a pid file next to it, since
  // the connection is not in exclusive locking mode (the WAL checkpointer thread has its own).
  const lock = path !== ':memory:' ? `${path}.pid` : undefined;
  if (lock !== undefined) {
    mkdirSync(dirname(path), { recursive: true });
    const holder = takePidFile(lock);
    if (holder !== undefined) throw new Error(`the database ${path} is in use by another ballast (pid ${holder})`);
  }
  const db = openSqlite<Database>({
    path,
    synchronous: settings.sqliteSync,
    ...(lock !== undefined ? { exclusive: false, backgroundCheckpoint: true, onCheckpointError: onWarning } : {}),
  });
  const close = async (): Promise<void> => {
    await db.destroy();
    if (lock !== undefined) releasePidFile(lock);
  };
  try {
    await migrateToLatest(db, 'sqlite');
  } catch (err) {
    await close();
    throw err;
  }
  return { db, where: path, close };
}

/** Opens every store the settings name. */
export async function openStores(
  settings: StartSettings,
  onWarning: (message: string) => void = () => undefined,
): Promise<Stores> {
  const { db, where, close } = await openDatabase(settings, onWarning);
  const closers: (() => Promise<void>)[] = [close];
  const checks: Record<string, () => Promise<void>> = {
    database: async () => {
      await sql`SELECT 1`.execute(db);
    },
  };
  let log: EventLog;
  let logInTransaction: AppendsInTransaction<Transaction<Database>> | undefined;
  let natsUp = true;
  let nc: NatsConnection | undefined;
  let registry: KeyValue | undefined;
  if (settings.natsUrl !== '') {
    // noAsyncTraces: nats.js otherwise builds two Error objects (stack traces) per request — about
    // 30 µs of CPU per published command.
    nc = await connect({ servers: settings.natsUrl, name: 'ballast', maxReconnectAttempts: -1, noAsyncTraces: true });
    log = await createNatsEventLog(nc, { prefix: settings.natsPrefix });
    registry = await createNatsKeyValue(nc, `${settings.natsPrefix}_registry`);
    const conn = nc;
    closers.unshift(() => conn.drain());
    void (async () => {
      for await (const s of conn.status()) {
        if (s.type === 'disconnect') natsUp = false;
        else if (s.type === 'reconnect') natsUp = true;
      }
    })();
    checks['nats'] = async () => {
      if (conn.isClosed()) throw new Error('NATS connection closed');
      await conn.flush();
    };
  } else {
    if (settings.postgresUrl !== '') {
      throw new Error('--postgres needs --nats: the command and event logs live in JetStream in distributed mode');
    }
    const sqliteLog = await createSqliteEventLog(db);
    log = sqliteLog;
    logInTransaction = sqliteLog;
  }
  let rateLimitStore: RateLimitStore | undefined;
  if (settings.redisUrl !== '') {
    const redis = new Redis(settings.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    redis.on('error', () => undefined); // readiness reports it; ioredis reconnects by itself
    await redis.connect();
    rateLimitStore = createRedisRateLimitStore(redis);
    closers.unshift(async () => {
      redis.disconnect();
    });
    checks['redis'] = async () => {
      await redis.ping();
    };
  }
  const parts = [settings.postgresUrl !== '' ? 'postgres' : `sqlite ${where}`];
  if (nc !== undefined) parts.push('nats');
  if (rateLimitStore !== undefined) parts.push('redis');
  return {
    db,
    log,
    logInTransaction,
    rateLimitStore,
    registry,
    classify: settings.postgresUrl !== '' ? classifyPostgresError : classifySqliteError,
    describe: parts.join(' + '),
    checks,
    logAvailable: () => natsUp,
    async close() {
      for (const c of closers) await c().catch(() => undefined);
    },
  };
}
