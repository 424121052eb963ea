import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { SystemAccount, migrateToLatest, type Database } from '@ballast/db';
import { MAX_BALANCE_MINOR, createLedger, verifyLedger, type Ledger } from '@ballast/ledger';
import { openPostgres } from '@ballast/state-postgres';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import { SERVICES, pollUntil, skipUnlessService, withApplicationName } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';

const skip = await skipUnlessService('postgres');
const schema = `ballast_transfers_it_${process.pid}`;
/** Assets no test deposits before the race for their first transfers. */
const FRESH_ASSETS = 20;

describe('transfers racing each other on PostgreSQL', { skip: skip ?? false }, () => {
  let db: Kysely<Database>;
  let logDb: Kysely<unknown>;
  let ledger: Ledger;
  let account = 0n;

  const available = async (id: bigint, asset: string) =>
    (
      await db
        .selectFrom('balances')
        .select('available')
        .where('account_id', '=', id)
        .where('asset', '=', asset)
        .executeTakeFirst()
    )?.available ?? 0n;
  const usdt = (id: bigint) => available(id, 'USDT');

  /**
   * Runs `race` while another connection holds the external account's USDT balance row, until
   * `waiting` statements on balances wait for a lock; then lets them go. Returns what `race` gave.
   */
  const whileExternalHeld = async <T>(waiting: number, race: () => Promise<T>): Promise<T> =>
    db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      await sql`select available from balances where account_id = ${SystemAccount.External} and asset = 'USDT' for update`.execute(
        conn,
      );
      const raced = race();
      await pollUntil(`${waiting} transfers waiting for the balance lock`, async () => {
        const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
          where wait_event_type = 'Lock' and application_name = ${schema}`.execute(db);
        return (r.rows[0]?.n ?? 0) >= waiting;
      });
      await sql`commit`.execute(conn);
      return raced;
    });

  before(async () => {
    db = await openPostgres<Database>({
      url: withApplicationName(SERVICES.postgres.url, schema),
      schema,
      maxConnections: 8,
    });
    await migrateToLatest(db, 'postgres');
    logDb = openSqlite<unknown>({ path: ':memory:' });
    ledger = createLedger({
      db,
      log: await createSqliteEventLog(logDb),
      markets: compileMarkets({
        ...DEFAULT_MARKETS,
        assets: [
          ...DEFAULT_MARKETS.assets,
          ...Array.from({ length: FRESH_ASSETS }, (_, i) => ({ asset: `FRESH${i}`, decimals: 8 })),
        ],
      }),
      lockOffsets: true,
    });
    account = (
      await db.insertInto('accounts').values({ kind: 'user', created_ms: 0 }).returning('id').executeTakeFirstOrThrow()
    ).id;
    assert.deepEqual(await ledger.deposit(account, 'USDT', 100n, 'seed'), { ok: true, duplicate: false });
  });
  after(async () => {
    await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(db);
    await db.destroy();
    await logDb.destroy();
  });

  it('the first transfers of an asset on the venue race for its external balance row: a retry is answered as a duplicate, and the 64-bit bound holds', async () => {
    // No FRESH* asset has been deposited yet: no external row to lock until one transfer creates it.
    for (let i = 0; i < FRESH_ASSETS; i += 2) {
      const retried = await Promise.all([
        ledger.deposit(account, `FRESH${i}`, 5n, `first-${i}`),
        ledger.deposit(account, `FRESH${i}`, 5n, `first-${i}`),
      ]);
      assert.deepEqual(retried.map((r) => r.ok && r.duplicate).sort(), [false, true]);
      const huge = await Promise.all([
        ledger.deposit(account, `FRESH${i + 1}`, MAX_BALANCE_MINOR - 5n, `huge-${i}-a`),
        ledger.deposit(account, `FRESH${i + 1}`, MAX_BALANCE_MINOR - 5n, `huge-${i}-b`),
      ]);
      assert.deepEqual(huge.map((r) => (r.ok ? 'ok' : r.reason)).sort(), ['AmountOutOfRange', 'ok']);
      assert.equal(await available(account, `FRESH${i}`), 5n);
      assert.equal(await available(account, `FRESH${i + 1}`), MAX_BALANCE_MINOR - 5n);
    }
    assert.deepEqual(await verifyLedger(db), []);
  });

  it('two withdrawals of the same funds at once: one is paid, the other refused, and the balance never goes below zero', async () => {
    const results = await whileExternalHeld(2, () =>
      Promise.all([ledger.withdraw(account, 'USDT', 100n, 'w-1'), ledger.withdraw(account, 'USDT', 100n, 'w-2')]),
    );
    assert.deepEqual(results.map((r) => r.ok).sort(), [false, true]);
    assert.ok(results.some((r) => !r.ok && r.reason === 'InsufficientFunds'));
    assert.equal(await usdt(account), 0n);
    assert.deepEqual(await verifyLedger(db), []);
  });

  it('a deposit retried while the original is still being written is applied once, the retry answered as a duplicate', async () => {
    const before = await usdt(account);
    const results = await whileExternalHeld(2, () =>
      Promise.all([ledger.deposit(account, 'USDT', 40n, 'd-again'), ledger.deposit(account, 'USDT', 40n, 'd-again')]),
    );
    assert.deepEqual(results.map((r) => r.ok && r.duplicate).sort(), [false, true]);
    assert.equal(await usdt(account), before + 40n);
    assert.deepEqual(await verifyLedger(db), []);
  });
});
