/**
 * Reading order rows.
 *
 * @module
 */
import type { Database } from '@ballast/db';
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

/** Finds an account's order by id or client order id. */
export async function findOrder(
  db: Kysely<Database>,
  accountId: bigint,
  by: { orderId?: bigint; clientOrderId?: string; symbol?: string },
): Promise<OrderRecord | undefined> {
  let q = db.selectFrom('orders').selectAll().where('account_id', '=', accountId);
  if (by.orderId !== undefined) q = q.where('id', '=', by.orderId);
  if (by.clientOrderId !== undefined) q = q.where('client_order_id', '=', by.clientOrderId);
  if (by.symbol !== undefined) q = q.where('symbol', '=', by.symbol);
  const row = await q.executeTakeFirst();
  return row === undefined ? undefined : toOrderRecord(row);
}
