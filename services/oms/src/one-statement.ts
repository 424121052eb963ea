/**
 * The oms's PostgreSQL batch in two statements, each one fixed SQL text whatever the batch's size
 * (every list travels as an array parameter and is expanded by `unnest`), so each is one
 * prepared statement per connection, planned once. Texts that changed with the batch's shape
 * made PostgreSQL parse and plan at nearly every execution (in the statement log at 250 orders/s,
 * `bind` took as long as the statement itself).
 *
 * - {@link BATCH_READ}: the balances involved, whether an order of the batch is already stored
 *   (a retry), and as many order ids from the orders' sequence as asked (the oms takes a few
 *   ahead, and skips this read while it remembers the balances; see `writeInOneStatement`).
 * - {@link BATCH_WRITE}: committed on its own (no transaction around it): the outbox clean-up,
 *   the orders, the journal entry, its postings, the outbox rows, the ordered lock of the
 *   balance rows and the guarded reservation. When a guard fails, the statement aborts itself
 *   (and everything it wrote) through `ballast_conflict`, SQLSTATE 40001.
 *
 * @module
 */
import { CONFLICT_FUNCTION, type Database } from '@ballast/db';
import type { Insertable } from 'kysely';

/**
 * Rows `k` = 'b': balance (`account_id`, `asset`, `n` = available, null when no row); 'r': a
 * stored order of the batch (`n` = its id); 'i': an allocated order id (`n`). Parameters: see
 * {@link batchReadParameters}. Each lookup is a correlated subquery on a unique key, so it is an
 * index probe whatever the table's size.
 */
export const BATCH_READ = `SELECT 'b' AS k, x.account_id, x.asset,
  (SELECT b.available FROM balances b WHERE b.account_id = x.account_id AND b.asset = x.asset) AS n
FROM unnest($1::bigint[], $2::text[]) AS x(account_id, asset)
UNION ALL
SELECT * FROM (
  SELECT 'r' AS k, y.account_id, NULL::text AS asset,
    (SELECT o.id FROM orders o WHERE o.account_id = y.account_id AND o.client_order_id = y.client_order_id) AS n
  FROM unnest($3::bigint[], $4::text[]) AS y(account_id, client_order_id)
) r WHERE r.n IS NOT NULL
UNION ALL
SELECT 'i', NULL, NULL, nextval(pg_get_serial_sequence('orders', 'id')) FROM generate_series(1, $5::int)`;

/** A row of {@link BATCH_READ}. */
export interface BatchReadRow {
  readonly k: 'b' | 'r' | 'i';
  readonly account_id: bigint | null;
  readonly asset: string | null;
  readonly n: bigint | null;
}

/** The parameters of {@link BATCH_READ}. */
export const batchReadParameters = (
  balances: readonly { account: bigint; asset: string }[],
  orders: readonly { account: bigint; client: string }[],
  ids: number,
): unknown[] => [
  balances.map((b) => b.account),
  balances.map((b) => b.asset),
  orders.map((o) => o.account),
  orders.map((o) => o.client),
  ids,
];

/**
 * Returns the inserted order rows. Parameters: see {@link batchWriteParameters}.
 *
 * Order of work: PostgreSQL runs data-modifying CTEs as their rows are read, and the ones nobody
 * reads at the end. So the lock CTE reads every other write's rows (the always-true count
 * filter, evaluated once before its scan): the outbox clean-up, all orders, postings and outbox
 * rows are written before any balance row is locked, and the locks are held for the update and
 * the commit only. Without it, the first order row was inserted, then the balances locked, then
 * the other orders: another replica inserting one of those client order ids meanwhile and then
 * waiting for the same balance deadlocked with it. The lock CTE is MATERIALIZED, so its rows are
 * locked in its ORDER BY (account, asset), the order every writer follows, whatever plan the
 * update gets.
 */
export const BATCH_WRITE = `WITH done AS (
  DELETE FROM outbox WHERE order_id = ANY($1::bigint[]) RETURNING order_id
), o AS (
  INSERT INTO orders (id, account_id, symbol, client_order_id, side, type, tif, price_ticks, qty_lots,
    quote_qty_minor, stop_price_ticks, stp, reserve_asset, reserved_minor,
    status, executed_lots, cum_quote_minor, created_ms, updated_ms)
  SELECT v.*, 'NEW', 0, 0, $15::bigint, $15::bigint
  FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::text[], $16::bigint[]) AS v
  RETURNING *
), j AS (
  INSERT INTO journal (event_key, kind, time_ms) VALUES ($17, 'reserve', $15) RETURNING id
), p AS (
  INSERT INTO postings (journal_id, account_id, asset, bucket, amount)
  SELECT j.id, v.* FROM j, unnest($18::bigint[], $19::text[], $20::text[], $21::bigint[]) AS v
  RETURNING journal_id
), ob AS (
  INSERT INTO outbox (order_id, log, key, payload, created_ms)
  SELECT v.*, $15::bigint FROM unnest($22::bigint[], $23::text[], $24::text[], $25::text[]) AS v
  RETURNING order_id
), d AS (
  SELECT * FROM unnest($26::bigint[], $27::text[], $28::bigint[]) AS d(account_id, asset, amount)
), l AS MATERIALIZED (
  SELECT b.account_id, b.asset FROM balances b JOIN d ON b.account_id = d.account_id AND b.asset = d.asset
  WHERE (SELECT count(*) FROM done) + (SELECT count(*) FROM o) + (SELECT count(*) FROM p)
    + (SELECT count(*) FROM ob) >= 0
  ORDER BY b.account_id, b.asset FOR UPDATE OF b
), u AS (
  UPDATE balances SET available = balances.available - d.amount, reserved = balances.reserved + d.amount
  FROM l JOIN d ON l.account_id = d.account_id AND l.asset = d.asset
  WHERE balances.account_id = l.account_id AND balances.asset = l.asset AND balances.available >= d.amount
  RETURNING 1
)
SELECT * FROM o
WHERE CASE WHEN (SELECT count(*) FROM u) = cardinality($26::bigint[]) THEN true
  ELSE ${CONFLICT_FUNCTION}('a balance fell below its reservation since it was read') = 0 END`;

/** What {@link BATCH_WRITE} writes. */
export interface BatchWrite {
  /** Outbox rows already published, deleted. */
  readonly cleanUp: readonly bigint[];
  /** The orders, each with an id allocated by {@link BATCH_READ} (now or for an earlier batch). */
  readonly orders: readonly (Insertable<Database['orders']> & { readonly id: bigint })[];
  readonly timeMs: number;
  readonly journalKey: string;
  readonly postings: readonly { account_id: bigint; asset: string; bucket: string; amount: bigint }[];
  readonly outbox: readonly { order_id: bigint; log: string; key: string; payload: string }[];
  /** Reservations summed by balance; each row's guard is `available >= amount`. */
  readonly reservations: readonly { account: bigint; asset: string; amount: bigint }[];
}

/** The parameters of {@link BATCH_WRITE}. */
export const batchWriteParameters = (w: BatchWrite): unknown[] => {
  const col = <T, V>(rows: readonly T[], f: (row: T) => V): V[] => rows.map(f);
  const o = w.orders;
  return [
    [...w.cleanUp],
    col(o, (r) => r.id),
    col(o, (r) => r.account_id),
    col(o, (r) => r.symbol),
    col(o, (r) => r.client_order_id),
    col(o, (r) => r.side),
    col(o, (r) => r.type),
    col(o, (r) => r.tif),
    col(o, (r) => r.price_ticks),
    col(o, (r) => r.qty_lots),
    col(o, (r) => r.quote_qty_minor),
    col(o, (r) => r.stop_price_ticks),
    col(o, (r) => r.stp),
    col(o, (r) => r.reserve_asset),
    BigInt(w.timeMs),
    col(o, (r) => r.reserved_minor),
    w.journalKey,
    col(w.postings, (p) => p.account_id),
    col(w.postings, (p) => p.asset),
    col(w.postings, (p) => p.bucket),
    col(w.postings, (p) => p.amount),
    col(w.outbox, (r) => r.order_id),
    col(w.outbox, (r) => r.log),
    col(w.outbox, (r) => r.key),
    col(w.outbox, (r) => r.payload),
    col(w.reservations, (r) => r.account),
    col(w.reservations, (r) => r.asset),
    col(w.reservations, (r) => r.amount),
  ];
};
