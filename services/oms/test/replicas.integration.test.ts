import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { migrateToLatest, type Database } from '@ballast/db';
import { createOms, type PlaceResult } from '@ballast/oms';
import { openPostgres } from '@ballast/state-postgres';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import { SERVICES, pollUntil, skipUnlessService, withApplicationName } from '@ballast/testkit';
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
  /** Batches committed by each path, over every oms this suite creates. */
  const paths = { statement: 0, remembered: 0, transaction: 0 };
  const newOms = async (onBalanceConflict?: () => void) =>
    createOms({
      db,
      log: await createSqliteEventLog(logDb),
      markets,
      rowLocks: true,
      onBatchWritten: (path) => paths[path]++,
      ...(onBalanceConflict !== undefined ? { onBalanceConflict } : {}),
    });
  /** Opens a transaction on `conn` holding the account's USDT balance row (committed by the caller). */
  const holdBalanceRow = async (conn: Kysely<Database>) => {
    await sql`begin`.execute(conn);
    await conn
      .selectFrom('balances')
      .select('available')
      .where('account_id', '=', ACCOUNT)
      .where('asset', '=', 'USDT')
      .forUpdate()
      .execute();
  };
  /** Polls until `count` statements of this suite (its own application name) wait for a lock. */
  const lockWaiters = async () => {
    const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
      where wait_event_type = 'Lock' and application_name = ${schema}`.execute(db);
    return r.rows[0]?.n ?? 0;
  };
  const waitingForLock = (count: number) =>
    pollUntil(`${count} of this suite's statements waiting for a lock`, async () => (await lockWaiters()) >= count);
  const pathsSince = (before: typeof paths) => ({
    statement: paths.statement - before.statement,
    remembered: paths.remembered - before.remembered,
    transaction: paths.transaction - before.transaction,
  });
  /** Adds `amount` to the account's available USDT, as a deposit or the ledger's release would. */
  const credit = (amount: bigint) =>
    db
      .updateTable('balances')
      .set((eb) => ({ available: eb('available', '+', amount) }))
      .where('account_id', '=', ACCOUNT)
      .where('asset', '=', 'USDT')
      .execute();

  before(async () => {
    db = await openPostgres<Database>({
      url: withApplicationName(SERVICES.postgres.url, schema),
      schema,
      maxConnections: 8,
    });
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
    assert.ok(paths.statement > 0, 'batches take the two-round-trip path');
    assert.deepEqual(await balance(), { available: perOrder / 2n, reserved: 10n * perOrder });
  });

  it('a balance that fell between the unlocked read and the update: the batch is written again with rows locked first, and refused', async () => {
    await setAvailable(perOrder + perOrder / 2n);
    let conflicts = 0;
    const oms = await newOms(() => conflicts++);
    // Another writer holds the balance row, so the batch stops at its lock, after its read.
    const other = await db.connection().execute(async (conn) => {
      await holdBalanceRow(conn);
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

  it('a replica that remembers the balance writes the next batch without reading it; one remembered too high (another replica reserved) is written again with rows locked, and refused', async () => {
    await setAvailable(3n * perOrder);
    let conflicts = 0;
    const [a, b] = [await newOms(() => conflicts++), await newOms()];
    const before = { ...paths };
    assert.ok((await a.place(limitBuy())).ok);
    assert.deepEqual(pathsSince(before), { statement: 1, remembered: 0, transaction: 0 }, 'the first batch reads');
    assert.ok((await a.place(limitBuy())).ok);
    assert.deepEqual(pathsSince(before), { statement: 1, remembered: 1, transaction: 0 }, 'the second does not');
    // a remembers one order's worth left; b takes it.
    assert.ok((await b.place(limitBuy())).ok);
    const r = await a.place(limitBuy());
    assert.equal(!r.ok && r.reason._tag, 'InsufficientFunds');
    assert.equal(conflicts, 1, 'the guard caught the remembered balance');
    assert.deepEqual(await balance(), { available: 0n, reserved: 3n * perOrder });
    await credit(perOrder);
    const mid = { ...paths };
    assert.ok((await a.place(limitBuy())).ok);
    assert.deepEqual(pathsSince(mid), { statement: 1, remembered: 0, transaction: 0 }, 'a forgotten balance is read');
  });

  it('drops order ids taken ahead once they are a second old, so ids keep rising with time across replicas', async () => {
    await setAvailable(10n * perOrder);
    let nowMs = 1_800_000_000_000;
    const oms = createOms({
      db,
      log: await createSqliteEventLog(logDb),
      markets,
      rowLocks: true,
      nowMs: () => nowMs,
      onBatchWritten: (path) => paths[path]++,
    });
    const first = await oms.place(limitBuy());
    const soon = await oms.place(limitBuy());
    assert.ok(first.ok && soon.ok);
    assert.equal(soon.order.id, first.order.id + 1n, 'the next id taken ahead');
    nowMs += 1001;
    const before = { ...paths };
    const later = await oms.place(limitBuy());
    assert.ok(later.ok);
    assert.ok(later.order.id > soon.order.id + 30n, `${later.order.id}: a fresh id from the sequence`);
    assert.deepEqual(pathsSince(before), { statement: 1, remembered: 0, transaction: 0 });
  });

  it('sizes a market order by quantity (which reserves what is available) on a balance read now, not a remembered one', async () => {
    await setAvailable(3n * perOrder);
    const oms = await newOms();
    assert.ok((await oms.place(limitBuy())).ok); // remembers two orders' worth
    await credit(perOrder);
    const before = { ...paths };
    const market = await oms.place({ ...limitBuy(), type: 'market', apiType: 'MARKET', tif: 'IOC' });
    assert.ok(market.ok);
    assert.deepEqual(pathsSince(before), { statement: 1, remembered: 0, transaction: 0 });
    assert.deepEqual(await balance(), { available: 0n, reserved: 4n * perOrder }, 'all that was there, read now');
  });

  it('never refuses on a remembered balance: one remembered too low (the ledger released since) is read, and the order placed', async () => {
    await setAvailable(perOrder + perOrder / 2n);
    const oms = await newOms();
    assert.ok((await oms.place(limitBuy())).ok); // remembers half an order's worth
    await credit(perOrder);
    const before = { ...paths };
    const r = await oms.place(limitBuy());
    assert.ok(r.ok && !r.duplicate);
    assert.deepEqual(pathsSince(before), { statement: 1, remembered: 0, transaction: 0 });
    assert.deepEqual(await balance(), { available: perOrder / 2n, reserved: 2n * perOrder });
  });

  it('answers a retry with the original order, in a later batch or the same one, and reserves once', async () => {
    await setAvailable(10n * perOrder);
    let conflicts = 0;
    const oms = await newOms(() => conflicts++);
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
    assert.equal(conflicts, 0, 'a retry is not a balance conflict');
    // A replica that remembers nothing reads, finds the stored order, and answers in a transaction.
    const before = { ...paths };
    const elsewhere = await newOms();
    const [found, placed] = await Promise.all([elsewhere.place(limitBuy('retry-later')), elsewhere.place(limitBuy())]);
    assert.equal(found.ok && found.order.id, first.ok && first.order.id);
    assert.ok(placed.ok && !placed.duplicate);
    assert.deepEqual(pathsSince(before), { statement: 0, remembered: 0, transaction: 1 });
    // That transaction reserved from the balance its read saw: the next batch reads it again.
    assert.ok((await elsewhere.place(limitBuy())).ok);
    assert.deepEqual(pathsSince(before), { statement: 1, remembered: 0, transaction: 1 });
    assert.deepEqual(await balance(), { available: 5n * perOrder, reserved: 5n * perOrder });
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

  it('reserves from two balances of one account in one batch in one statement, each by what its order needs', async () => {
    await setAvailable(10n * perOrder);
    const btcBefore = 10n ** 12n;
    await db
      .insertInto('balances')
      .values({ account_id: ACCOUNT, asset: 'BTC', available: btcBefore, reserved: 0n })
      .onConflict((oc) => oc.columns(['account_id', 'asset']).doUpdateSet({ available: btcBefore, reserved: 0n }))
      .execute();
    const oms = await newOms();
    const before = { ...paths };
    const [buy, sell] = await Promise.all([oms.place(limitBuy()), oms.place({ ...limitBuy(), side: 'sell' })]);
    assert.ok(buy.ok && sell.ok);
    assert.deepEqual(pathsSince(before), { statement: 1, remembered: 0, transaction: 0 });
    assert.deepEqual(await balance(), { available: 9n * perOrder, reserved: perOrder });
    const btc = await db
      .selectFrom('balances')
      .select(['available', 'reserved'])
      .where('account_id', '=', ACCOUNT)
      .where('asset', '=', 'BTC')
      .executeTakeFirstOrThrow();
    assert.ok(btc.reserved > 0n);
    assert.equal(btc.available + btc.reserved, btcBefore);
    const sold = await db
      .selectFrom('orders')
      .select(['reserve_asset', 'reserved_minor'])
      .where('id', '=', sell.ok ? sell.order.id : -1n)
      .executeTakeFirstOrThrow();
    assert.deepEqual(sold, { reserve_asset: 'BTC', reserved_minor: btc.reserved });
  });

  it("writes a batch's orders before locking balances: a replica inserting one of them meanwhile waits, and no deadlock", async () => {
    await setAvailable(100n * perOrder);
    const [a, b] = [await newOms(), await newOms()];
    const deadlocks = async () => {
      await sql`select pg_stat_clear_snapshot()`.execute(db);
      const r = await sql<{ n: string }>`select deadlocks::text as n from pg_stat_database
        where datname = current_database()`.execute(db);
      return BigInt(r.rows[0]?.n ?? '0');
    };
    const deadlocksBefore = await deadlocks();
    // The balance row is held, so each batch stops at its lock: A's batch of two first, then B's
    // batch holding A's second client order id.
    const outcome = await db.connection().execute(async (conn) => {
      await holdBalanceRow(conn);
      const fromA = Promise.all([a.place(limitBuy('order-first-a')), a.place(limitBuy('order-first-both'))]);
      await waitingForLock(1);
      const fromB = b.place(limitBuy('order-first-both'));
      await waitingForLock(2);
      await sql`commit`.execute(conn);
      return { fromA: await fromA, fromB: await fromB };
    });
    const [only, shared] = outcome.fromA;
    assert.ok(only.ok && shared.ok && outcome.fromB.ok);
    assert.equal(shared.ok && shared.order.id, outcome.fromB.ok && outcome.fromB.order.id);
    assert.deepEqual(await balance(), { available: 98n * perOrder, reserved: 2n * perOrder });
    // Statistics reach pg_stat_database within a second of a backend going idle.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await deadlocks(), deadlocksBefore);
  });

  it('a batch written in a transaction that meets the same client order id from another replica is written again: that order answered as a duplicate, the rest placed', async () => {
    await setAvailable(100n * perOrder);
    const [a, b] = [await newOms(), await newOms()];
    const earlier = await a.place(limitBuy('tx-earlier'));
    assert.ok(earlier.ok);
    const before = { ...paths };
    const outcome = await db.connection().execute(async (conn) => {
      await holdBalanceRow(conn);
      // B's one statement stores 'tx-both', then waits for the balance row.
      const fromB = b.place(limitBuy('tx-both'));
      await waitingForLock(1);
      // A's batch holds a retry: its statement (A remembers the balance, so no read) fails on the
      // stored 'tx-earlier', and the batch takes the transaction, which waits for the row too.
      const fromA = Promise.all([
        a.place(limitBuy('tx-earlier')),
        a.place(limitBuy('tx-both')),
        a.place(limitBuy('tx-fresh')),
      ]);
      await waitingForLock(2);
      await sql`commit`.execute(conn);
      return { fromA: await fromA, fromB: await fromB };
    });
    const [retry, shared, fresh] = outcome.fromA;
    assert.ok(retry.ok && retry.duplicate);
    assert.equal(retry.ok && retry.order.id, earlier.ok && earlier.order.id);
    assert.ok(outcome.fromB.ok && !outcome.fromB.duplicate);
    assert.ok(shared.ok && shared.duplicate);
    assert.equal(shared.ok && shared.order.id, outcome.fromB.ok && outcome.fromB.order.id);
    assert.ok(fresh.ok && !fresh.duplicate);
    assert.deepEqual(await balance(), { available: 97n * perOrder, reserved: 3n * perOrder });
    assert.deepEqual(pathsSince(before), { statement: 1, remembered: 0, transaction: 1 });
  });

  it('a client order id sent to two replicas, one holding it in a larger batch: both answered with the same order', async () => {
    await setAvailable(100n * perOrder);
    const [a, b] = [await newOms(), await newOms()];
    for (let i = 0; i < 5; i++) {
      const [first, shared, other] = await Promise.all([
        a.place(limitBuy(`dl-${i}-a`)),
        a.place(limitBuy(`dl-${i}-both`)),
        b.place(limitBuy(`dl-${i}-both`)),
      ]);
      assert.ok(first.ok && shared.ok && other.ok);
      assert.equal(shared.ok && shared.order.id, other.ok && other.order.id);
    }
    assert.deepEqual(await balance(), { available: 90n * perOrder, reserved: 10n * perOrder });
  });

  it('the sweeper vacuums the outbox rows published orders left dead, and not while no order came; it refreshes the statistics once enough orders came', async () => {
    await setAvailable(100n * perOrder);
    // Earlier tests' last outbox rows would be swept (and deleted) once 5 s old, at any moment.
    await db.deleteFrom('outbox').execute();
    const vacuums: number[] = [];
    const oms = createOms({
      db,
      log: await createSqliteEventLog(logDb),
      markets,
      rowLocks: true,
      outboxVacuumEveryMs: 20,
      analyzeAfterOrders: 5,
      onOutboxVacuum: (ms) => vacuums.push(ms),
    });
    // Each batch deletes the outbox rows of the one before: ten batches leave nine dead.
    for (let i = 0; i < 10; i++) assert.ok((await oms.place(limitBuy())).ok);
    const deadRows = async () => {
      const r = await sql<{ n: number }>`select coalesce(n_dead_tup, 0)::int as n from pg_stat_user_tables
        where schemaname = ${schema} and relname = 'outbox'`.execute(db);
      return r.rows[0]?.n ?? 0;
    };
    await pollUntil('the dead outbox rows to be counted', async () => (await deadRows()) > 0);

    const analyzed = async () => {
      const r = await sql<{ n: number }>`select analyze_count::int as n from pg_stat_user_tables
        where schemaname = ${schema} and relname = 'orders'`.execute(db);
      return r.rows[0]?.n ?? 0;
    };
    const analyzedBefore = await analyzed();
    const stop = new AbortController();
    const sweeping = oms.runSweeper(stop.signal, 10);
    try {
      await pollUntil('an outbox vacuum', async () => vacuums.length > 0);
      await pollUntil('no dead outbox rows', async () => (await deadRows()) === 0);
      await pollUntil('the orders table analyzed', async () => (await analyzed()) > analyzedBefore);
      // No order since: the next sweeps find nothing deleted and do not vacuum again.
      const ran = vacuums.length;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(vacuums.length, ran);
    } finally {
      stop.abort();
      await sweeping;
    }
  });

  it('cancels sent together look their orders up in one statement, each answered with its own; an unknown id, another account or another symbol finds none', async () => {
    await setAvailable(100n * perOrder);
    const oms = await newOms();
    const ids = (await Promise.all([oms.place(limitBuy()), oms.place(limitBuy()), oms.place(limitBuy())])).map((r) => {
      assert.ok(r.ok);
      return r.order.id;
    }) as [bigint, bigint, bigint];
    const cancel = (orderId: bigint, accountId = ACCOUNT, symbol = 'BTCUSDT') =>
      oms.cancel({ accountId, symbol, orderId });
    const outcome = await db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      await sql`lock table orders in access exclusive mode`.execute(conn);
      const first = cancel(ids[0]);
      await waitingForLock(1);
      // Sent while the first lookup waits: they queue in the oms and are read together after it.
      const rest = Promise.all([
        cancel(ids[1]),
        cancel(ids[2]),
        cancel(999_999_999n),
        cancel(ids[0], ACCOUNT + 1n),
        cancel(ids[1], ACCOUNT, 'ETHUSDT'),
      ]);
      await new Promise((r) => setTimeout(r, 100));
      const waiting = await lockWaiters();
      await sql`commit`.execute(conn);
      return { first: await first, rest: await rest, waiting };
    });
    assert.equal(outcome.waiting, 1, 'one lookup statement at a time, not one per cancel');
    const [second, third, unknown, otherAccount, otherSymbol] = outcome.rest;
    assert.deepEqual(
      [outcome.first, second, third].map((r) => r.ok && r.order.id),
      ids,
    );
    for (const r of [unknown, otherAccount, otherSymbol]) assert.equal(!r.ok && r.reason._tag, 'NoSuchOrder');
  });
});
