import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { migrateToLatest, type Database } from '@ballast/db';
import { createOms } from '@ballast/oms';
import type { EventLog } from '@ballast/state';
import { openPostgres } from '@ballast/state-postgres';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';
import { ACCOUNT, limitBuy } from './fixtures.ts';

const skip = await skipUnlessService('postgres');
const schema = `ballast_outbox_${process.pid}`;
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

describe('outbox sweepers on PostgreSQL', { skip: skip ?? false }, () => {
  it('two replicas sweeping at once publish every committed command exactly once (SKIP LOCKED)', async () => {
    const db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema, maxConnections: 6 });
    closers.push(async () => {
      await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(db);
      await db.destroy();
    });
    await migrateToLatest(db, 'postgres');
    const logDb = openSqlite<unknown>({ path: ':memory:' });
    closers.push(() => logDb.destroy());
    const inner = await createSqliteEventLog(logDb as Kysely<unknown>);
    let appended = 0;
    const counting: EventLog = {
      ...inner,
      append: async (name, entries, opts) => {
        appended += entries.length;
        // A slow publish keeps each sweeper's rows held while the other one looks.
        await new Promise((r) => setTimeout(r, 50));
        return inner.append(name, entries, opts);
      },
    };
    const rows = Array.from({ length: 300 }, (_, i) => ({
      order_id: i + 1,
      log: 'cmd.BTCUSDT',
      key: `o${i + 1}`,
      payload: JSON.stringify({ type: 'cancel', orderId: i + 1, timeMs: 0 }),
      created_ms: 0,
    }));
    await db.insertInto('outbox').values(rows).execute();
    const markets = compileMarkets(DEFAULT_MARKETS);
    const a = createOms({ db, log: counting, markets, rowLocks: true, maxBatch: 50 });
    const b = createOms({ db, log: counting, markets, rowLocks: true, maxBatch: 50 });
    let swept = 0;
    for (let round = 0; round < 5; round++) {
      const [x, y] = await Promise.all([a.sweepOutbox(0), b.sweepOutbox(0)]);
      swept += x + y;
    }
    assert.equal(swept, 300);
    assert.equal(appended, 300); // nothing published twice
    assert.equal(await inner.lastSeq('cmd.BTCUSDT'), 300);
    const left = await db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(left.n), 0);
  });
});

describe(
  'one command-log entry per batch and symbol, through the outbox on PostgreSQL',
  { skip: skip ?? false },
  () => {
    const entrySchema = `ballast_outbox_entry_${process.pid}`;
    /** An oms on a fresh schema with one funded account, and a log whose appends can fail. */
    const open = async () => {
      const db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema: entrySchema, maxConnections: 6 });
      await sql.raw(`DROP SCHEMA IF EXISTS ${entrySchema} CASCADE`).execute(db);
      await sql.raw(`CREATE SCHEMA ${entrySchema}`).execute(db);
      await migrateToLatest(db, 'postgres');
      await db.insertInto('accounts').values({ id: ACCOUNT, kind: 'user', created_ms: 0 }).execute();
      await db
        .insertInto('balances')
        .values({ account_id: ACCOUNT, asset: 'USDT', available: 10n ** 15n, reserved: 0n })
        .execute();
      const logDb = openSqlite<unknown>({ path: ':memory:' });
      const inner = await createSqliteEventLog(logDb as Kysely<unknown>);
      /**
       * `before`: the next append fails without storing; `after`: it stores, then fails (an answer
       * lost); `duplicate`: the log already holds it (a sweeper's copy stored first).
       */
      let fail: 'no' | 'before' | 'after' | 'duplicate' = 'no';
      const appends: number[] = [];
      const log: EventLog = {
        ...inner,
        append: async (name, entries, opts) => {
          const mode = fail;
          fail = 'no';
          if (mode === 'before') throw new Error('connection lost');
          appends.push(entries.length);
          const out = await inner.append(name, entries, opts);
          if (mode === 'after') throw new Error('connection lost');
          if (mode === 'duplicate') return inner.append(name, entries, opts);
          return out;
        },
      };
      const oms = createOms({ db, log, markets: compileMarkets(DEFAULT_MARKETS), rowLocks: true });
      const outboxKeys = async () =>
        (await db.selectFrom('outbox').select(['key']).orderBy('order_id').execute()).map((r) => r.key);
      const close = async () => {
        await sql.raw(`DROP SCHEMA IF EXISTS ${entrySchema} CASCADE`).execute(db);
        await db.destroy();
        await logDb.destroy();
      };
      return {
        db,
        inner,
        oms,
        appends,
        outboxKeys,
        close,
        failNextAppend: (m: 'before' | 'after' | 'duplicate') => (fail = m),
      };
    };

    it("appends a batch's orders of one symbol as one entry, each order answered with that entry and its part in arrival order", async () => {
      const t = await open();
      try {
        const results = await Promise.all(Array.from({ length: 5 }, () => t.oms.place(limitBuy())));
        const placed = results.map((r) => {
          assert.ok(r.ok);
          return r;
        });
        assert.deepEqual(t.appends, [1]); // one entry for the five
        assert.deepEqual(
          placed.map((r) => [r.cmdSeq, r.cmdPart]),
          [0, 1, 2, 3, 4].map((part) => [1, part]),
        );
        const [entry] = await t.inner.read('cmd.BTCUSDT', 1, 10);
        const ids = placed.map((r) => Number(r.order.id));
        assert.equal(entry?.key, `b${ids[0]}-5`);
        assert.deepEqual(
          (JSON.parse(entry!.payload) as { type: string; orderId: number }[]).map((c) => [c.type, c.orderId]),
          ids.map((id) => ['place', id]),
        );
        // A single order later is an entry of one command, as before.
        const one = await t.oms.place(limitBuy());
        assert.ok(one.ok);
        assert.equal(one.cmdSeq, 2);
        assert.equal(one.cmdPart, undefined);
        assert.equal((await t.inner.read('cmd.BTCUSDT', 2, 1))[0]?.key, `o${one.order.id}`);
      } finally {
        await t.close();
      }
    });

    it('cancels sent together are one entry too, each answered with its part', async () => {
      const t = await open();
      try {
        const placed = await Promise.all(Array.from({ length: 3 }, () => t.oms.place(limitBuy())));
        const cancels = await Promise.all(
          placed.map((r) => {
            assert.ok(r.ok);
            return t.oms.cancel({ accountId: ACCOUNT, symbol: 'BTCUSDT', orderId: r.order.id });
          }),
        );
        assert.deepEqual(
          cancels.map((c) => (c.ok ? [c.cmdSeq, c.cmdPart] : c.reason._tag)),
          [
            [2, 0],
            [2, 1],
            [2, 2],
          ],
        );
        const [entry] = await t.inner.read('cmd.BTCUSDT', 2, 1);
        assert.deepEqual(
          (JSON.parse(entry!.payload) as { type: string }[]).map((c) => c.type),
          ['cancel', 'cancel', 'cancel'],
        );
      } finally {
        await t.close();
      }
    });

    it('the sweeper publishes an entry whose append failed as the same entry under the same key, and only with all its rows', async () => {
      const t = await open();
      try {
        t.failNextAppend('before');
        const results = await Promise.all(Array.from({ length: 3 }, () => t.oms.place(limitBuy())));
        // Acknowledged (committed), with no position: the outbox holds the entry's three rows.
        for (const r of results) assert.ok(r.ok && r.cmdSeq === undefined);
        const ids = results.map((r) => (r.ok ? Number(r.order.id) : 0));
        const key = `b${ids[0]}-3`;
        assert.deepEqual(await t.outboxKeys(), [key, key, key]);

        // One of its rows locked (a batch deleting it, another sweeper): the entry is not published in part.
        await t.db.connection().execute(async (conn) => {
          await sql`begin`.execute(conn);
          await sql`select order_id from outbox where order_id = ${ids[1]} for update`.execute(conn);
          try {
            assert.equal(await t.oms.sweepOutbox(0), 0);
            assert.equal(await t.inner.lastSeq('cmd.BTCUSDT'), 0);
          } finally {
            await sql`rollback`.execute(conn);
          }
        });

        assert.equal(await t.oms.sweepOutbox(0), 3);
        const [entry] = await t.inner.read('cmd.BTCUSDT', 1, 10);
        assert.equal(entry?.key, key);
        assert.deepEqual(
          (JSON.parse(entry!.payload) as { orderId: number }[]).map((c) => c.orderId),
          ids,
        );
        assert.deepEqual(await t.outboxKeys(), []);

        // An append that stored the entry but lost its answer: the sweeper's copy is de-duplicated.
        t.failNextAppend('after');
        const again = await Promise.all(Array.from({ length: 2 }, () => t.oms.place(limitBuy())));
        for (const r of again) assert.ok(r.ok && r.cmdSeq === undefined);
        assert.equal(await t.oms.sweepOutbox(0), 2);
        assert.equal(await t.inner.lastSeq('cmd.BTCUSDT'), 2);
        assert.equal(JSON.parse((await t.inner.read('cmd.BTCUSDT', 2, 1))[0]!.payload).length, 2);
      } finally {
        await t.close();
      }
    });

    it('answers orders whose entry the log already held (a duplicate) without a part: the stored copy may order them otherwise', async () => {
      const t = await open();
      try {
        t.failNextAppend('duplicate');
        const results = await Promise.all(Array.from({ length: 3 }, () => t.oms.place(limitBuy())));
        for (const r of results) assert.ok(r.ok && r.cmdSeq === undefined && r.cmdPart === undefined);
        assert.equal(await t.inner.lastSeq('cmd.BTCUSDT'), 1);
      } finally {
        await t.close();
      }
    });

    it('sweeps more than 500 rows of interleaved entries to the end: an entry is read with all its rows together', async () => {
      const t = await open();
      try {
        // Three entries of 200 rows whose order ids interleave (concurrent batches): by order id
        // alone, no 500 rows would hold a whole entry.
        const rows = Array.from({ length: 600 }, (_, i) => ({
          order_id: i + 1,
          log: 'cmd.BTCUSDT',
          key: `b${(i % 3) + 1}-200`,
          payload: JSON.stringify({ type: 'cancel', orderId: i + 1, timeMs: 0 }),
          created_ms: 0,
        }));
        await t.db.insertInto('outbox').values(rows).execute();
        let swept = 0;
        for (let round = 0; round < 3 && swept < 600; round++) swept += await t.oms.sweepOutbox(0);
        assert.equal(swept, 600);
        const entries = await t.inner.read('cmd.BTCUSDT', 1, 10);
        assert.deepEqual(
          entries.map((e) => [e.key, (JSON.parse(e.payload) as unknown[]).length]),
          [
            ['b1-200', 200],
            ['b2-200', 200],
            ['b3-200', 200],
          ],
        );
        assert.deepEqual(await t.outboxKeys(), []);
      } finally {
        await t.close();
      }
    });
  },
);
