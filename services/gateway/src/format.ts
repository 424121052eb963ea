/**
 * Integers to Binance-shaped decimal strings (fixed places, as Binance prints them).
 *
 * @module
 */
import { formatMinor, stepsToMinor, type Market } from '@ballast/contracts';
import type { OrderRecord } from '@ballast/oms';

/** Formats prices and quantities of one market. */
export interface MarketFormat {
  price(ticks: bigint | number): string;
  qty(lots: bigint | number): string;
  /** Quote-asset minor units. */
  quote(minor: bigint): string;
  /** Base-asset minor units. */
  base(minor: bigint): string;
  /** Quote amount of `tickLots` (price ticks × lots). */
  notional(tickLots: bigint): string;
}

const cache = new WeakMap<Market, MarketFormat>();

/** The formatter of `m`. */
export function formatOf(m: Market): MarketFormat {
  let f = cache.get(m);
  if (f === undefined) {
    const perTick = stepsToMinor(1n, m.tickSize, m.quoteDecimals) as bigint;
    f = {
      price: (ticks) => formatMinor(BigInt(ticks) * perTick, m.quoteDecimals),
      qty: (lots) => formatMinor(BigInt(lots) * m.baseMinorPerLot, m.baseDecimals),
      quote: (minor) => formatMinor(minor, m.quoteDecimals),
      base: (minor) => formatMinor(minor, m.baseDecimals),
      notional: (tickLots) => formatMinor(tickLots * m.quoteMinorPerTickLot, m.quoteDecimals),
    };
    cache.set(m, f);
  }
  return f;
}

/** Engine STP mode → Binance's name. */
export const STP_API_NAME: Record<string, string> = {
  none: 'NONE',
  expireTaker: 'EXPIRE_TAKER',
  expireMaker: 'EXPIRE_MAKER',
  expireBoth: 'EXPIRE_BOTH',
  decrementCancel: 'DECREMENT',
};

/** An order in the shape of Binance's `GET /api/v3/order`. */
export function orderView(
  o: OrderRecord,
  m: Market,
  overrides: { status?: string; executedLots?: bigint; cumQuoteMinor?: bigint } = {},
) {
  const f = formatOf(m);
  return {
    symbol: o.symbol,
    orderId: Number(o.id),
    orderListId: -1,
    clientOrderId: o.clientOrderId,
    price: f.price(o.priceTicks),
    origQty: f.qty(o.qtyLots),
    executedQty: f.qty(overrides.executedLots ?? o.executedLots),
    cummulativeQuoteQty: f.quote(overrides.cumQuoteMinor ?? o.cumQuoteMinor),
    status: overrides.status ?? o.status,
    timeInForce: o.tif,
    type: o.type,
    side: o.side === 'buy' ? 'BUY' : 'SELL',
    stopPrice: f.price(o.stopPriceTicks),
    icebergQty: f.qty(0n),
    time: o.createdMs,
    updateTime: o.updatedMs,
    isWorking: true,
    workingTime: o.createdMs,
    origQuoteOrderQty: f.quote(o.quoteQtyMinor),
    selfTradePreventionMode: STP_API_NAME[o.stp] ?? 'NONE',
  };
}
