/**
 * `@ballast/contracts`: exact decimals, market and asset configuration compiled to integers.
 *
 * @module
 */
export {
  formatDecimal,
  formatMinor,
  parseDecimal,
  parseMinor,
  stepsToMinor,
  toSteps,
  type Decimal,
} from './decimal.ts';
export {
  DEFAULT_MARKETS,
  compileMarkets,
  type AssetConfig,
  type Market,
  type MarketConfig,
  type Markets,
  type MarketsConfig,
} from './markets.ts';
export { OrderStatus, statusOfDone } from './order-status.ts';
