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
