/**
 * Table types of the platform database (Kysely). Integer columns are read as `bigint` (money,
 * ids) and written as `bigint` or `number`.
 *
 * @module
 */
import type { ColumnType, Generated } from 'kysely';

type Int = ColumnType<bigint, bigint | number, bigint | number>;
type IntId = ColumnType<bigint, bigint | number | undefined, never>;

/** Accounts: users, and the system accounts `external` (1) and `fees` (2). */
export interface AccountsTable {
  id: IntId;
  kind: 'user' | 'external' | 'fees';
  created_ms: Int;
}
/** API keys → accounts. */
export interface ApiKeysTable {
  api_key: string;
  account_id: Int;
  created_ms: Int;
}
/** Balance per account and asset, in minor units. Always the sum of the account's postings. */
export interface BalancesTable {
  account_id: Int;
  asset: string;
  available: Int;
  reserved: Int;
}
/** Journal entries: one per applied event; `event_key` unique, so nothing is applied twice. */
export interface JournalTable {
  id: Generated<bigint>;
  event_key: string;
  kind: string;
  time_ms: Int;
}
/** Double-entry postings: per journal entry and asset they sum to zero. */
export interface PostingsTable {
  journal_id: Int;
  account_id: Int;
  asset: string;
  bucket: 'available' | 'reserved';
  amount: Int;
}
/** Orders and their history. `id` is also the engine's order id. */
export interface OrdersTable {
  id: IntId;
  account_id: Int;
  symbol: string;
  client_order_id: string;
  side: 'buy' | 'sell';
  type: string;
  tif: string;
  price_ticks: Int;
  qty_lots: Int;
  quote_qty_minor: Int;
  stop_price_ticks: Int;
  stp: string;
  status: string;
  executed_lots: Int;
  cum_quote_minor: Int;
  reserve_asset: string;
  reserved_minor: Int;
  created_ms: Int;
  updated_ms: Int;
}
/** Trades, per symbol and engine trade id. */
export interface TradesTable {
  symbol: string;
  trade_id: Int;
  price_ticks: Int;
  qty_lots: Int;
  quote_minor: Int;
  buyer_order_id: Int;
  seller_order_id: Int;
  buyer_account: Int;
  seller_account: Int;
  buyer_is_maker: Int;
  buyer_fee_minor: Int;
  seller_fee_minor: Int;
  time_ms: Int;
}
/** Commands committed but not yet known to be in the log (transactional outbox). */
export interface OutboxTable {
  order_id: Int;
  log: string;
  key: string;
  payload: string;
  created_ms: Int;
}
/** How far each consumer has applied each log, updated in the same transaction as its effects. */
export interface ConsumerOffsetsTable {
  consumer: string;
  log: string;
  seq: Int;
}
/** Order-book snapshots per shard. */
export interface SnapshotsTable {
  shard: string;
  cmd_seq: Int;
  evt_seq: Int;
  bytes: Uint8Array;
  created_ms: Int;
}

/** The newest market-data snapshot per symbol (its state after event-log entry `evt_seq`), gzipped JSON. */
export interface MarketDataSnapshotsTable {
  symbol: string;
  evt_seq: Int;
  body_gz: Uint8Array;
  created_ms: Int;
}

/** The whole database. */
export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  balances: BalancesTable;
  journal: JournalTable;
  postings: PostingsTable;
  orders: OrdersTable;
  trades: TradesTable;
  outbox: OutboxTable;
  consumer_offsets: ConsumerOffsetsTable;
  snapshots: SnapshotsTable;
  marketdata_snapshots: MarketDataSnapshotsTable;
}

/** System account ids. */
export const SystemAccount = { External: 1n, Fees: 2n } as const;
