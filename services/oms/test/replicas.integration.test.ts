import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { migrateToLatest, type Database } from '@ballast/db';
import { createOms, type PlaceResult } from '@ballast/oms';
import { openPostgres } from '@ballast/state-postgres';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';
import { ACCOUNT, limitBuy, markets } from './fixtures.ts';

const skip = await skipUnlessService('postgres');
const schema = `ballast_omsrep_${process.pid}`;

describe('oms replicas reserving from one account on PostgreSQL', { skip: skip ?? false }, () => {
  let db: Kysely<Database>;
  let logDb: Kysely<unknown>;
  /** What one fixture order reserves (USDT minor units). */
  let perOrder: bigint;
  const balance = async () =>
    db
      .selectFrom('balances')
      .select(['available', 'reserved'])
      .where('account_id', '=', ACCOUNT)
      .where('asset', '=', 'USDT')
      .executeTakeFirstOrThrow();
  const setAvailable = (available: bigint) =>
    db
      .updateTable('balances')
      .set({ available, reserved: 0n })
      .where('account_id', '=', ACCOUNT)
      .where('asset', '=', 'USDT')
      .execute();
  const newOms = async (onBalanceConflict?: () => void) =>
    createOms({
      db,
      log: await createSqliteEventLog(logDb),
      markets,
      rowLocks: true,
      ...(onBalanceConflict !== undefined ? { onBalanceConflict } : {}),
    });

  before(async () => {
    db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema, maxConnections: 8 });
    await migrateToLatest(db, 'postgres');
    logDb = openSqlite<unknown>({ path: ':memory:' });
    await db.insertInto('accounts').values({ id: ACCOUNT, kind: 'user', created_ms: 0 }).execute();
    await db
      .insertInto('balances')
      .values({ account_id: ACCOUNT, asset: 'USDT', available: 10n ** 15n, reserved: 0n })
      .execute();
    const probe = await (await newOms()).place(limitBuy());
    assert.ok(probe.ok);
    perOrder = (await balance()).reserved;
    assert.ok(perOrder > 0n);
  });
  after(async () => {
    await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(db);
    await db.destroy();
    await logDb.destroy();
  });

  it('two replicas placing at once never overdraw it: exactly what the balance covers is accepted, the rest refused', async () => {
    await setAvailable(10n * perOrder + perOrder / 2n);
    const [a, b] = [await newOms(), await newOms()];
    const results: PlaceResult[] = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).place(limitBuy())),
    );
    const accepted = results.filter((r) => r.ok).length;
    const refused = results.filter((r) => !r.ok && r.reason._tag === 'InsufficientFunds').length;
    assert.equal(accepted, 10);
    assert.equal(refused, 20);
    assert.deepEqual(await balance(), { available: perOrder / 2n, reserved: 10n * perOrder });
  });

  it('a balance that fell between the unlocked read and the update: the batch is written again with rows locked first, and refused', async () => {
    await setAvailable(perOrder + perOrder / 2n);
    let conflicts = 0;
    const oms = await newOms(() => conflicts++);
    // Another writer holds the balance row, so the batch stops at its lock, after its read.
    const other = await db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      await conn
        .selectFrom('balances')
        .select('available')
        .where('account_id', '=', ACCOUNT)
        .where('asset', '=', 'USDT')
        .forUpdate()
        .execute();
      const holder = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(conn)).rows[0]?.pid;
      const order = limitBuy();
      const placing = oms.place(order);
      let blocked = false;
      for (let i = 0; i < 500 && !blocked; i++) {
        const waiting = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
          where ${holder}::int = any(pg_blocking_pids(pid))`.execute(db);
        blocked = (waiting.rows[0]?.n ?? 0) > 0;
      }
      assert.ok(blocked, 'the batch waits for the row lock');
      // It reserves what the batch's read saw as available, and commits.
      await conn
        .updateTable('balances')
        .set({ available: perOrder / 2n, reserved: perOrder })
        .where('account_id', '=', ACCOUNT)
        .where('asset', '=', 'USDT')
        .execute();
      await sql`commit`.execute(conn);
      return { placing, order };
    });
    const r = await other.placing;
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason._tag, 'InsufficientFunds');
    assert.equal(conflicts, 1);
    assert.deepEqual(await balance(), { available: perOrder / 2n, reserved: perOrder });
    const row = await db
      .selectFrom('orders')
      .select('id')
      .where('client_order_id', '=', other.order.clientOrderId)
      .executeTakeFirst();
    assert.equal(row, undefined, 'nothing of the first attempt is kept');
  });

  it('answers a retry with the original order, in a later batch or the same one, and reserves once', async () => {
    await setAvailable(10n * perOrder);
    const oms = await newOms();
    const first = await oms.place(limitBuy('retry-later'));
    assert.ok(first.ok && !first.duplicate);
    // A later batch holding the retry beside a new order: the new one is placed, the retry answered.
    const [again, fresh] = await Promise.all([oms.place(limitBuy('retry-later')), oms.place(limitBuy())]);
    assert.ok(again.ok && again.duplicate);
    assert.equal(again.ok && again.order.id, first.ok && first.order.id);
    assert.ok(fresh.ok && !fresh.duplicate);
    // Twice in one batch: one order, the second answered as its duplicate.
    const [x, y] = await Promise.all([oms.place(limitBuy('twice')), oms.place(limitBuy('twice'))]);
    assert.ok(x.ok && y.ok);
    assert.equal(x.ok && x.order.id, y.ok && y.order.id);
    assert.deepEqual([x.ok && x.duplicate, y.ok && y.duplicate], [false, true]);
    assert.deepEqual(await balance(), { available: 7n * perOrder, reserved: 3n * perOrder });
  });

  it('two replicas given the same client order id at once store one order and answer both with it', async () => {
    await setAvailable(10n * perOrder);
    const [a, b] = [await newOms(), await newOms()];
    for (let i = 0; i < 5; i++) {
      const [x, y] = await Promise.all([a.place(limitBuy(`both-${i}`)), b.place(limitBuy(`both-${i}`))]);
      assert.ok(x.ok && y.ok);
      assert.equal(x.ok && x.order.id, y.ok && y.order.id);
      assert.equal([x, y].filter((r) => r.ok && r.duplicate).length, 1);
    }
    assert.deepEqual(await balance(), { available: 5n * perOrder, reserved: 5n * perOrder });
  });
});
