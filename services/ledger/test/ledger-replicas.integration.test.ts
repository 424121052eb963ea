import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { migrateToLatest, type Database } from '@ballast/db';
import { createLedger, verifyLedger } from '@ballast/ledger';
import { createMatching } from '@ballast/matching';
import { createOms } from '@ballast/oms';
import { openPostgres } from '@ballast/state-postgres';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import type { EventLog } from '@ballast/state';
import { SERVICES, skipUnlessService } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';

const skip = await skipUnlessService('postgres');
const schema = `ballast_ledger_${process.pid}`;
let db: Kysely<Database> | undefined;
after(async () => {
  if (db !== undefined) {
    await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(db);
    await db.destroy();
  }
});

const waitFor = async (what: string, f: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + 10_000;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('ledger replicas sharing one database', { skip: skip ?? false }, () => {
  it(
    'never moves the offset back when a replica behind the other settles an older batch, so nothing is settled twice',
    { timeout: 30_000 },
    async () => {
      db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema });
      await migrateToLatest(db, 'postgres');
      const markets = compileMarkets(DEFAULT_MARKETS);
      const logDb = openSqlite<unknown>({ path: ':memory:' });
      const log = await createSqliteEventLog(logDb);
      const oms = createOms({ db, log, markets, lockOutbox: true });
      const matching = createMatching({ db, log, markets });
      const stop = new AbortController();
      const loops = [matching.run(stop.signal)];
      await matching.ready();

      // Two accounts trade 20 times: 40 orders, 20 trades.
      const funded = async (asset: string, amount: bigint): Promise<bigint> => {
        const a = await db!
          .insertInto('accounts')
          .values({ kind: 'user', created_ms: Date.now() })
          .returning('id')
          .executeTakeFirstOrThrow();
        await createLedger({ db: db!, log, markets }).deposit(a.id, asset, amount, `d-${a.id}`);
        return a.id;
      };
      const seller = await funded('BTC', 100_000_000n); // 1 BTC
      const buyer = await funded('USDT', 1_000_000_000_000n); // 10,000 USDT (8 decimals)
      const order = (accountId: bigint, side: 'buy' | 'sell', i: number) =>
        oms.place({
          accountId,
          symbol: 'BTCUSDT',
          clientOrderId: `${side}-${i}`,
          side,
          type: 'limit',
          apiType: 'LIMIT',
          tif: 'GTC',
          postOnly: false,
          stp: 'none',
          priceTicks: 2_000_000n, // 20,000.00
          qtyLots: 100n, // 0.001 BTC
        });
      for (let i = 0; i < 20; i++) {
        assert.equal((await order(seller, 'sell', i)).ok, true);
        assert.equal((await order(buyer, 'buy', i)).ok, true);
      }
      const evt = 'evt.BTCUSDT';
      await waitFor('matching', async () => (await log.lastSeq(evt)) >= 40);
      const last = await log.lastSeq(evt);

      // Replica A settles everything; replica B, started at the same time, sees its first read
      // only afterwards, and only the first 5 events (a slow replica with an older batch).
      let releaseB!: () => void;
      const bMayRead = new Promise<void>((r) => (releaseB = r));
      let firstRead = true;
      const slowLog: EventLog = {
        ...log,
        async read(name, fromSeq, limit, options) {
          if (name === evt && firstRead) {
            firstRead = false;
            await bMayRead;
            return (await log.read(name, fromSeq, limit, options)).slice(0, 5);
          }
          return log.read(name, fromSeq, limit, options);
        },
      };
      const errors: unknown[] = [];
      const onError = (_m: string, err: unknown) => errors.push(err);
      const a = createLedger({ db, log, markets, lockOffsets: true, onError });
      const b = createLedger({ db, log: slowLog, markets, lockOffsets: true, onError });
      loops.push(b.run(stop.signal));
      await new Promise((r) => setTimeout(r, 50)); // B has read its starting offset (0)
      loops.push(a.run(stop.signal));
      const offset = async () =>
        Number(
          (
            await db!
              .selectFrom('consumer_offsets')
              .select('seq')
              .where('consumer', '=', 'ledger')
              .where('log', '=', evt)
              .executeTakeFirst()
          )?.seq ?? 0n,
        );
      await waitFor('replica A to settle every event', async () => (await offset()) === last);
      releaseB();
      await new Promise((r) => setTimeout(r, 300)); // B settles its old batch, then follows

      const offsetAfter = await offset();
      stop.abort();
      await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
      assert.equal(offsetAfter, last, 'the offset stays at the last settled event');
      assert.deepEqual(errors, []);
      assert.deepEqual(await verifyLedger(db), []);
      const balance = async (account: bigint, asset: string) =>
        (
          await db!
            .selectFrom('balances')
            .select(['available', 'reserved'])
            .where('account_id', '=', account)
            .where('asset', '=', asset)
            .executeTakeFirstOrThrow()
        ).available;
      // 20 × 0.001 BTC bought at 20,000 = 400 USDT, less the 0.1% taker fee in BTC (buyer took).
      assert.equal(await balance(seller, 'BTC'), 100_000_000n - 2_000_000n);
      assert.equal(await balance(buyer, 'USDT'), 1_000_000_000_000n - 40_000_000_000n);
    },
  );
});
