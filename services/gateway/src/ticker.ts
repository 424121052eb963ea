/**
 * The 24-hour ticker in Binance's REST shape (the WebSocket `@ticker` stream renames its fields).
 * Exact: the percentage is computed in integers and truncated toward zero.
 *
 * @module
 */
import { formatMinor, type Market } from '@ballast/contracts';
import type { MarketData } from '@ballast/marketdata';
import { formatOf } from './format.ts';

/** `GET /api/v3/ticker/24hr` for one market. */
export function ticker24View(m: Market, marketData: MarketData) {
  const t = marketData.ticker24h(m.symbol);
  const b = marketData.bookTicker(m.symbol);
  const f = formatOf(m);
  const open = t?.open ?? 0;
  const last = t?.last ?? 0;
  const change = BigInt(last - open);
  return {
    symbol: m.symbol,
    priceChange: f.price(change),
    priceChangePercent: open === 0 ? '0.000' : formatMinor((change * 100_000n) / BigInt(open), 3),
    weightedAvgPrice: f.price(t !== undefined && t.volumeLots > 0 ? t.quoteTickLots / BigInt(t.volumeLots) : 0n),
    prevClosePrice: f.price(t?.prevClose ?? 0),
    lastPrice: f.price(last),
    lastQty: f.qty(t?.lastQtyLots ?? 0),
    bidPrice: f.price(b?.bid?.[0] ?? 0),
    bidQty: f.qty(b?.bid?.[1] ?? 0),
    askPrice: f.price(b?.ask?.[0] ?? 0),
    askQty: f.qty(b?.ask?.[1] ?? 0),
    openPrice: f.price(open),
    highPrice: f.price(t?.high ?? 0),
    lowPrice: f.price(t?.low ?? 0),
    volume: f.qty(t?.volumeLots ?? 0),
    quoteVolume: f.notional(t?.quoteTickLots ?? 0n),
    openTime: t?.openTime ?? 0,
    closeTime: t?.closeTime ?? 0,
    firstId: t?.firstId ?? -1,
    lastId: t?.lastId ?? -1,
    count: t?.count ?? 0,
  };
}
