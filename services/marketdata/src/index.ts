/**
 * `@ballast/marketdata`: the market-data role.
 *
 * @module
 */
export {
  createMarketData,
  type AggTradeView,
  type BookTickerView,
  type Candle,
  type DepthView,
  type MarketData,
  type MarketDataConfig,
  type MarketDataEvent,
  type Ticker24h,
  type TradeView,
} from './market-data.ts';
export { INTERVALS, intervalStart, isInterval, type Interval } from './intervals.ts';
