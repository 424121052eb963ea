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
  type MarketDataSnapshotStore,
  type Ticker24h,
  type TradeView,
} from './market-data.ts';
export { createSqlMarketDataSnapshots } from './sql-snapshots.ts';
export { INTERVALS, intervalStart, isInterval, type Interval } from './intervals.ts';
