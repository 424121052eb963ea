/**
 * Reading order rows.
 *
 * @module
 */
import type { Database, QueryCache } from '@ballast/db';
import type { Kysely, Selectable } from 'kysely';
import type { OrderRecord } from './order-request.ts';

/** Maps a database row to an {@link OrderRecord}. */
export function toOrderRecord(r: Selectable<Database['orders']>): OrderRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    symbol: r.symbol,
    clientOrderId: r.client_order_id,
    side: r.side,
    type: r.type,
    tif: r.tif,
    priceTicks: r.price_ticks,
    qtyLots: r.qty_lots,
    quoteQtyMinor: r.quote_qty_minor,
    stopPriceTicks: r.stop_price_ticks,
    stp: r.stp,
    status: r.status,
    executedLots: r.executed_lots,
    cumQuoteMinor: r.cum_quote_minor,
    createdMs: Number(r.created_ms),
    updatedMs: Number(r.updated_ms),
  };
}

/**
 * Finds an account's order by id or client order id. With `queries`, the statement is compiled
 * once per combination of the given keys (the cancel path runs it for every cancel).
 */
export async function findOrder(
  db: Kysely<Database>,
  accountId: bigint,
  by: { orderId?: bigint; clientOrderId?: string; symbol?: string },
  queries?: QueryCache,
): Promise<OrderRecord | undefined> {
  const data = {
    accountId,
    ...(by.orderId !== undefined ? { orderId: by.orderId } : {}),
    ...(by.clientOrderId !== undefined ? { clientOrderId: by.clientOrderId } : {}),
    ...(by.symbol !== undefined ? { symbol: by.symbol } : {}),
  };
  const build = (d: typeof data) => {
    let q = db.selectFrom('orders').selectAll().where('account_id', '=', d.accountId);
    if (d.orderId !== undefined) q = q.where('id', '=', d.orderId);
    if (d.clientOrderId !== undefined) q = q.where('client_order_id', '=', d.clientOrderId);
    if (d.symbol !== undefined) q = q.where('symbol', '=', d.symbol);
    return q;
  };
  const row =
    queries === undefined
      ? await build(data).executeTakeFirst()
      : (await queries.execute(db, `orders.find:${Object.keys(data).join(',')}`, data, build)).rows[0];
  return row === undefined ? undefined : toOrderRecord(row);
}
