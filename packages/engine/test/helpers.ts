/**
 * Builders for engine tests: short ways to write commands and read events.
 */
import type { OrderBook } from '@ballast/engine';
import {
  type BookEvent,
  type PlaceCommand,
  type Side,
  type StpMode,
  type TimeInForce,
  type TradeEvent,
} from '@ballast/engine';

let clock = 0;

/** A limit order command. */
export function limit(
  orderId: number,
  side: Side,
  priceTicks: number,
  qtyLots: number,
  extra: { account?: number; tif?: TimeInForce; postOnly?: boolean; stp?: StpMode } = {},
): PlaceCommand {
  return {
    type: 'place',
    orderId,
    account: extra.account ?? orderId,
    side,
    orderType: 'limit',
    priceTicks,
    qtyLots,
    timeMs: ++clock,
    ...(extra.tif !== undefined ? { tif: extra.tif } : {}),
    ...(extra.postOnly !== undefined ? { postOnly: extra.postOnly } : {}),
    ...(extra.stp !== undefined ? { stp: extra.stp } : {}),
  };
}

/** A market order by base quantity. */
export function market(orderId: number, side: Side, qtyLots: number, account = orderId, stp?: StpMode): PlaceCommand {
  return {
    type: 'place',
    orderId,
    account,
    side,
    orderType: 'market',
    qtyLots,
    timeMs: ++clock,
    ...(stp !== undefined ? { stp } : {}),
  };
}

/** A market order by quote budget (tick·lots). */
export function marketQuote(orderId: number, side: Side, quoteLots: number, account = orderId): PlaceCommand {
  return { type: 'place', orderId, account, side, orderType: 'market', quoteLots, timeMs: ++clock };
}

/** A cancel command. */
export function cancel(orderId: number, account?: number) {
  return { type: 'cancel', orderId, timeMs: ++clock, ...(account !== undefined ? { account } : {}) } as const;
}

/** An amend command. */
export function amend(orderId: number, change: { priceTicks?: number; qtyLots?: number }) {
  return { type: 'amend', orderId, timeMs: ++clock, ...change } as const;
}

/** Applies commands in order, returning all events. */
export function run(book: OrderBook, ...cmds: Parameters<OrderBook['apply']>[0][]): BookEvent[] {
  return cmds.flatMap((c) => book.apply(c));
}

/** The trades among `events`, as `[maker, taker, price, qty]`. */
export function trades(events: readonly BookEvent[]): [number, number, number, number][] {
  return events
    .filter((e): e is TradeEvent => e.type === 'trade')
    .map((t) => [t.makerOrderId, t.takerOrderId, t.priceTicks, t.qtyLots]);
}

/** Event types in order. */
export function types(events: readonly BookEvent[]): string[] {
  return events.map((e) => e.type);
}

/** The `done` event of `orderId` among `events`, if any. */
export function doneOf(events: readonly BookEvent[], orderId: number) {
  return events.find((e) => e.type === 'done' && e.orderId === orderId) as
    Extract<BookEvent, { type: 'done' }> | undefined;
}

/** The reject reason among `events`, if any. */
export function rejection(events: readonly BookEvent[]): string | undefined {
  const r = events.find((e) => e.type === 'rejected');
  return r?.type === 'rejected' ? r.reason : undefined;
}
