/**
 * Migrations, written once with Kysely's schema builder for SQLite and PostgreSQL. Kysely's
 * Migrator takes a lock while it runs (an advisory lock on PostgreSQL), so many replicas can
 * start at once.
 *
 * @module
 */
import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';

/** Which SQL dialect the migrations target. */
export type SqlDialect = 'sqlite' | 'postgres';

function migrations(dialect: SqlDialect): Record<string, Migration> {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    '0001_initial': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      async up(db: Kysely<any>) {
        const id = (t: string) =>
          dialect === 'postgres'
            ? db.schema.createTable(t).addColumn('id', 'bigserial', (c) => c.primaryKey())
            : db.schema.createTable(t).addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        await id('accounts')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('created_ms', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('api_keys')
          .addColumn('api_key', 'text', (c) => c.primaryKey())
          .addColumn('account_id', big, (c) => c.notNull().references('accounts.id'))
          .addColumn('created_ms', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('balances')
          .addColumn('account_id', big, (c) => c.notNull().references('accounts.id'))
          .addColumn('asset', 'text', (c) => c.notNull())
          .addColumn('available', big, (c) => c.notNull().defaultTo(0))
          .addColumn('reserved', big, (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('balances_pk', ['account_id', 'asset'])
          .execute();
        await id('journal')
          .addColumn('event_key', 'text', (c) => c.notNull().unique())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('time_ms', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('postings')
          .addColumn('journal_id', big, (c) => c.notNull().references('journal.id'))
          .addColumn('account_id', big, (c) => c.notNull())
          .addColumn('asset', 'text', (c) => c.notNull())
          .addColumn('bucket', 'text', (c) => c.notNull())
          .addColumn('amount', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('postings_journal').on('postings').column('journal_id').execute();
        await id('orders')
          .addColumn('account_id', big, (c) => c.notNull())
          .addColumn('symbol', 'text', (c) => c.notNull())
          .addColumn('client_order_id', 'text', (c) => c.notNull())
          .addColumn('side', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('tif', 'text', (c) => c.notNull())
          .addColumn('price_ticks', big, (c) => c.notNull())
          .addColumn('qty_lots', big, (c) => c.notNull())
          .addColumn('quote_qty_minor', big, (c) => c.notNull())
          .addColumn('stop_price_ticks', big, (c) => c.notNull())
          .addColumn('stp', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('executed_lots', big, (c) => c.notNull())
          .addColumn('cum_quote_minor', big, (c) => c.notNull())
          .addColumn('reserve_asset', 'text', (c) => c.notNull())
          .addColumn('reserved_minor', big, (c) => c.notNull())
          .addColumn('created_ms', big, (c) => c.notNull())
          .addColumn('updated_ms', big, (c) => c.notNull())
          .addUniqueConstraint('orders_client_id', ['account_id', 'client_order_id'])
          .execute();
        await db.schema
          .createIndex('orders_account_symbol')
          .on('orders')
          .columns(['account_id', 'symbol', 'id'])
          .execute();
        await db.schema
          .createTable('trades')
          .addColumn('symbol', 'text', (c) => c.notNull())
          .addColumn('trade_id', big, (c) => c.notNull())
          .addColumn('price_ticks', big, (c) => c.notNull())
          .addColumn('qty_lots', big, (c) => c.notNull())
          .addColumn('quote_minor', big, (c) => c.notNull())
          .addColumn('buyer_order_id', big, (c) => c.notNull())
          .addColumn('seller_order_id', big, (c) => c.notNull())
          .addColumn('buyer_account', big, (c) => c.notNull())
          .addColumn('seller_account', big, (c) => c.notNull())
          .addColumn('buyer_is_maker', big, (c) => c.notNull())
          .addColumn('buyer_fee_minor', big, (c) => c.notNull())
          .addColumn('seller_fee_minor', big, (c) => c.notNull())
          .addColumn('time_ms', big, (c) => c.notNull())
          .addPrimaryKeyConstraint('trades_pk', ['symbol', 'trade_id'])
          .execute();
        await db.schema.createIndex('trades_buyer').on('trades').columns(['buyer_account', 'symbol']).execute();
        await db.schema.createIndex('trades_seller').on('trades').columns(['seller_account', 'symbol']).execute();
        await db.schema
          .createTable('outbox')
          .addColumn('order_id', big, (c) => c.primaryKey())
          .addColumn('log', 'text', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('created_ms', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('consumer_offsets')
          .addColumn('consumer', 'text', (c) => c.notNull())
          .addColumn('log', 'text', (c) => c.notNull())
          .addColumn('seq', big, (c) => c.notNull())
          .addPrimaryKeyConstraint('consumer_offsets_pk', ['consumer', 'log'])
          .execute();
        await db.schema
          .createTable('snapshots')
          .addColumn('shard', 'text', (c) => c.notNull())
          .addColumn('cmd_seq', big, (c) => c.notNull())
          .addColumn('evt_seq', big, (c) => c.notNull())
          .addColumn('bytes', blob, (c) => c.notNull())
          .addColumn('created_ms', big, (c) => c.notNull())
          .addPrimaryKeyConstraint('snapshots_pk', ['shard', 'cmd_seq'])
          .execute();
        const now = Date.now();
        await sql`INSERT INTO accounts (id, kind, created_ms) VALUES (1, 'external', ${now}), (2, 'fees', ${now})`.execute(
          db,
        );
        if (dialect === 'postgres') {
          await sql`SELECT setval(pg_get_serial_sequence('accounts', 'id'), 1000)`.execute(db);
        } else {
          await sql`INSERT INTO sqlite_sequence (name, seq) VALUES ('accounts', 1000)`.execute(db);
        }
      },
    },
    '0002_marketdata_snapshots': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('marketdata_snapshots')
          .addColumn('symbol', 'text', (c) => c.primaryKey())
          .addColumn('evt_seq', big, (c) => c.notNull())
          .addColumn('body_gz', blob, (c) => c.notNull())
          .addColumn('created_ms', big, (c) => c.notNull())
          .execute();
      },
    },
    '0003_conflict_function': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      async up(db: Kysely<any>) {
        // PostgreSQL: a statement aborts itself with this when what it read has changed (the
        // oms's one-statement batch, when a balance fell below what it reserves). SQLSTATE 40001,
        // serialization failure: drivers and callers already retry it. SQLite has no functions to
        // add; its one writer checks between statements.
        if (dialect === 'postgres') {
          await sql`CREATE OR REPLACE FUNCTION ${sql.raw(CONFLICT_FUNCTION)}(reason text) RETURNS bigint
            LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '%', reason USING ERRCODE = 'serialization_failure'; END $$`.execute(
            db,
          );
        }
      },
    },
  };
}

/**
 * A PostgreSQL function, `ballast_conflict(reason text) RETURNS bigint`, that raises `reason` as a
 * serialization failure (SQLSTATE 40001): a statement calls it to abort itself, and everything it
 * wrote, when a check on what it read fails.
 */
export const CONFLICT_FUNCTION = 'ballast_conflict';

/**
 * Brings the schema to the latest version.
 *
 * @throws Error when a migration fails (the Migrator's error, with the failed migration named).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateToLatest(db: Kysely<any>, dialect: SqlDialect): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  // PostgreSQL: keep Kysely's migration tables in the schema the connection works in (its
  // search_path), or Kysely would take another schema's tables of the same name for its own.
  const migrationTableSchema =
    dialect === 'postgres'
      ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s
      : undefined;
  const migrator = new Migrator({
    db,
    provider,
    ...(migrationTableSchema !== undefined ? { migrationTableSchema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error !== undefined) {
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${String((error as Error).message ?? error)}`, {
      cause: error,
    });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
