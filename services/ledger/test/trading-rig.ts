/**
 * Test rig: a private PostgreSQL schema, an in-memory SQLite event log, an oms and matching, and
 * two funded accounts that trade with each other — for ledger tests that need real events.
 */
import assert from 'node:assert/strict';
import { DEFAULT_MARKETS, compileMarkets, type Markets } from '@ballast/contracts';
import { migrateToLatest, type Database } from '@ballast/db';
import { decodeCommandResults } from '@ballast/engine';
import { createLedger } from '@ballast/ledger';
import { createMatching } from '@ballast/matching';
import { createOms } from '@ballast/oms';
import { openPostgres } from '@ballast/state-postgres';
import { createSqliteEventLog, openSqlite } from '@ballast/state-sqlite';
import type { EventLog } from '@ballast/state';
import { SERVICES, pollUntil } from '@ballast/testkit';
import { sql, type Kysely } from 'kysely';

export interface TradingRig {
  readonly db: Kysely<Database>;
  readonly log: EventLog;
  readonly markets: Markets;
  readonly seller: bigint;
  readonly buyer: bigint;
  /** Places `n` crossing pairs (0.001 BTC at 20,000 each) and waits until matching has their events. */
  trade(n: number): Promise<number>;
  /** The ledger's settlement offset of `evt.BTCUSDT`. */
  offset(): Promise<number>;
  /** The available amount of `asset` of `account`, in minor units. */
  available(account: bigint, asset: string): Promise<bigint>;
  close(): Promise<void>;
}

/** Polls `f` until it is true (10 s at most, every 20 ms). */
export const waitFor = (what: string, f: () => Promise<boolean>): Promise<void> => pollUntil(what, f, { stepMs: 20 });

/** Starts the rig in schema `schema` (dropped by `close`). */
export async function startTradingRig(schema: string): Promise<TradingRig> {
  const db = await openPostgres<Database>({ url: SERVICES.postgres.url, schema });
  await migrateToLatest(db, 'postgres');
  const markets = compileMarkets(DEFAULT_MARKETS);
  const log = await createSqliteEventLog(openSqlite<unknown>({ path: ':memory:' }));
  const oms = createOms({ db, log, markets, rowLocks: true });
  const matching = createMatching({ db, log, markets });
  const stop = new AbortController();
  const running = matching.run(stop.signal);
  await matching.ready();
  const funded = async (asset: string, amount: bigint): Promise<bigint> => {
    const a = await db
      .insertInto('accounts')
      .values({ kind: 'user', created_ms: Date.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    await createLedger({ db, log, markets }).deposit(a.id, asset, amount, `d-${a.id}`);
    return a.id;
  };
  const seller = await funded('BTC', 100_000_000n); // 1 BTC
  const buyer = await funded('USDT', 1_000_000_000_000n); // 10,000 USDT (8 decimals)
  let placed = 0;
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
  return {
    db,
    log,
    markets,
    seller,
    buyer,
    async trade(n) {
      for (let k = 0; k < n; k++, placed++) {
        assert.equal((await order(seller, 'sell', placed)).ok, true);
        assert.equal((await order(buyer, 'buy', placed)).ok, true);
      }
      // Every command matched: the last event entry holds the results of the last command.
      await waitFor('matching', async () => {
        const last = await log.lastSeq('evt.BTCUSDT');
        const entry = last === 0 ? undefined : (await log.read('evt.BTCUSDT', last, 1))[0];
        return (entry === undefined ? 0 : (decodeCommandResults(entry.payload)?.at(-1)?.cmdSeq ?? 0)) >= 2 * placed;
      });
      return log.lastSeq('evt.BTCUSDT');
    },
    async offset() {
      const row = await db
        .selectFrom('consumer_offsets')
        .select('seq')
        .where('consumer', '=', 'ledger')
        .where('log', '=', 'evt.BTCUSDT')
        .executeTakeFirst();
      return Number(row?.seq ?? 0n);
    },
    async available(account, asset) {
      const row = await db
        .selectFrom('balances')
        .select('available')
        .where('account_id', '=', account)
        .where('asset', '=', asset)
        .executeTakeFirstOrThrow();
      return row.available;
    },
    async close() {
      stop.abort();
      await running;
      await sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).execute(db);
      await db.destroy();
    },
  };
}
