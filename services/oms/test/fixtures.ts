/** Shared oms test fixtures: a migrated in-memory SQLite database with one funded account, and a limit buy. */
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { migrateToLatest, type Database } from '@ballast/db';
import type { PlaceOrderInput } from '@ballast/oms';
import { openSqlite } from '@ballast/state-sqlite';
import type { Kysely } from 'kysely';

/** The default markets, compiled. */
export const markets = compileMarkets(DEFAULT_MARKETS);
const btc = markets.bySymbol.get('BTCUSDT')!;

/** The account every fixture order belongs to. */
export const ACCOUNT = 10n;

/** A migrated in-memory database where {@link ACCOUNT} holds 10^15 minor units of USDT. */
export async function fundedDb(): Promise<Kysely<Database>> {
  const db = openSqlite<Database>({ path: ':memory:' });
  await migrateToLatest(db, 'sqlite');
  await db.insertInto('accounts').values({ id: ACCOUNT, kind: 'user', created_ms: 0 }).execute();
  await db
    .insertInto('balances')
    .values({ account_id: ACCOUNT, asset: 'USDT', available: 10n ** 15n, reserved: 0 })
    .execute();
  return db;
}

let n = 0;
/** A BTCUSDT limit buy of {@link ACCOUNT} well inside the filters; a fresh client order id unless given. */
export const limitBuy = (clientOrderId = `c${++n}`): PlaceOrderInput => ({
  accountId: ACCOUNT,
  symbol: 'BTCUSDT',
  clientOrderId,
  side: 'buy',
  type: 'limit',
  apiType: 'LIMIT',
  tif: 'GTC',
  postOnly: false,
  priceTicks: btc.maxPriceTicks / 2n,
  qtyLots: btc.minLots * 10n,
  stp: 'none',
});
