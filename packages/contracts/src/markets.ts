/**
 * Markets and assets: the configuration operators write (decimal strings), and the compiled
 * integer form every role uses (ticks, lots, minor units).
 *
 * Units: a price is `priceTicks × tickSize`; a quantity `qtyLots × stepSize`; an asset amount is
 * an integer of minor units (`10^-decimals`). One tick·lot of notional is
 * `quoteMinorPerTickLot` minor units of the quote asset; one lot is `baseMinorPerLot` minor
 * units of the base asset.
 *
 * @module
 */
import { parseDecimal, stepsToMinor, toSteps, type Decimal } from './decimal.ts';

/** An asset as configured. */
export interface AssetConfig {
  /** Upper-case name, e.g. `BTC`. */
  readonly asset: string;
  /** Minor units per whole unit, as a power of ten. @default 8 */
  readonly decimals: number;
}

/** A market as configured (decimal strings, as Binance's exchangeInfo filters). */
export interface MarketConfig {
  /** e.g. `BTCUSDT`. */
  readonly symbol: string;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  readonly tickSize: string;
  readonly stepSize: string;
  readonly minQty: string;
  readonly maxQty: string;
  /** Minimum price × quantity, in the quote asset. */
  readonly minNotional: string;
  /** Highest price accepted. */
  readonly maxPrice: string;
}

/** Asset and market configuration. */
export interface MarketsConfig {
  readonly assets: readonly AssetConfig[];
  readonly markets: readonly MarketConfig[];
}

/** The default markets: BTCUSDT, ETHUSDT, ETHBTC. */
export const DEFAULT_MARKETS: MarketsConfig = {
  assets: [
    { asset: 'BTC', decimals: 8 },
    { asset: 'ETH', decimals: 8 },
    { asset: 'USDT', decimals: 8 },
  ],
  markets: [
    {
      symbol: 'BTCUSDT',
      baseAsset: 'BTC',
      quoteAsset: 'USDT',
      tickSize: '0.01',
      stepSize: '0.00001',
      minQty: '0.00001',
      maxQty: '9000',
      minNotional: '5',
      maxPrice: '1000000',
    },
    {
      symbol: 'ETHUSDT',
      baseAsset: 'ETH',
      quoteAsset: 'USDT',
      tickSize: '0.01',
      stepSize: '0.0001',
      minQty: '0.0001',
      maxQty: '9000',
      minNotional: '5',
      maxPrice: '1000000',
    },
    {
      symbol: 'ETHBTC',
      baseAsset: 'ETH',
      quoteAsset: 'BTC',
      tickSize: '0.00001',
      // 0.001 (not Binance's 0.0001) so that one tick × one step is a whole satoshi.
      stepSize: '0.001',
      minQty: '0.001',
      maxQty: '100000',
      minNotional: '0.0001',
      maxPrice: '1000',
    },
  ],
};

/** A market compiled to integers. */
export interface Market {
  readonly symbol: string;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  readonly baseDecimals: number;
  readonly quoteDecimals: number;
  readonly tickSize: Decimal;
  readonly stepSize: Decimal;
  readonly config: MarketConfig;
  readonly minLots: bigint;
  readonly maxLots: bigint;
  readonly maxPriceTicks: bigint;
  /** Minimum notional in tick·lots. */
  readonly minNotionalTickLots: bigint;
  readonly baseMinorPerLot: bigint;
  readonly quoteMinorPerTickLot: bigint;
}

/** Compiled markets by symbol, plus assets. */
export interface Markets {
  readonly assets: ReadonlyMap<string, AssetConfig>;
  readonly bySymbol: ReadonlyMap<string, Market>;
  readonly list: readonly Market[];
}

const ASSET_RE = /^[A-Z0-9]{2,12}$/;
const SYMBOL_RE = /^[A-Z0-9]{4,24}$/;

/**
 * Validates and compiles a configuration.
 *
 * @throws {RangeError} naming the first invalid field.
 */
export function compileMarkets(config: MarketsConfig): Markets {
  const assets = new Map<string, AssetConfig>();
  for (const a of config.assets) {
    if (!ASSET_RE.test(a.asset)) throw new RangeError(`asset name ${JSON.stringify(a.asset)} is invalid`);
    if (!Number.isInteger(a.decimals) || a.decimals < 0 || a.decimals > 18) {
      throw new RangeError(`asset ${a.asset}: decimals must be an integer 0..18`);
    }
    if (assets.has(a.asset)) throw new RangeError(`asset ${a.asset} is listed twice`);
    assets.set(a.asset, a);
  }
  const bySymbol = new Map<string, Market>();
  for (const m of config.markets) {
    const where = `market ${m.symbol}`;
    if (!SYMBOL_RE.test(m.symbol)) throw new RangeError(`${where}: symbol is invalid`);
    if (bySymbol.has(m.symbol)) throw new RangeError(`${where}: listed twice`);
    const base = assets.get(m.baseAsset);
    const quote = assets.get(m.quoteAsset);
    if (base === undefined) throw new RangeError(`${where}: unknown base asset ${m.baseAsset}`);
    if (quote === undefined) throw new RangeError(`${where}: unknown quote asset ${m.quoteAsset}`);
    const dec = (field: keyof MarketConfig): Decimal => {
      const d = parseDecimal(m[field]);
      if (d === null) throw new RangeError(`${where}: ${field} ${JSON.stringify(m[field])} is not a decimal`);
      return d;
    };
    const tick = dec('tickSize');
    const step = dec('stepSize');
    if (tick.mantissa === 0n || step.mantissa === 0n)
      throw new RangeError(`${where}: tickSize and stepSize must be > 0`);
    const steps = (field: keyof MarketConfig, unit: Decimal): bigint => {
      const n = toSteps(dec(field), unit);
      if (n === null) throw new RangeError(`${where}: ${field} is not a multiple of its step`);
      return n;
    };
    const minLots = steps('minQty', step);
    const maxLots = steps('maxQty', step);
    const maxPriceTicks = steps('maxPrice', tick);
    if (minLots < 1n || maxLots < minLots) throw new RangeError(`${where}: need 0 < minQty <= maxQty`);
    const baseMinorPerLot = stepsToMinor(1n, step, base.decimals);
    if (baseMinorPerLot === null) throw new RangeError(`${where}: stepSize is finer than ${base.asset}'s decimals`);
    const tickLot: Decimal = { mantissa: tick.mantissa * step.mantissa, scale: tick.scale + step.scale };
    const quoteMinorPerTickLot = stepsToMinor(1n, tickLot, quote.decimals);
    if (quoteMinorPerTickLot === null) {
      throw new RangeError(`${where}: tickSize × stepSize is finer than ${quote.asset}'s decimals`);
    }
    const minNotional = dec('minNotional');
    // minNotional in tick·lots, rounded up.
    const num = minNotional.mantissa * 10n ** BigInt(tickLot.scale);
    const den = tickLot.mantissa * 10n ** BigInt(minNotional.scale);
    const minNotionalTickLots = (num + den - 1n) / den;
    // The engine works in safe integers: prices and quantities must stay below 2^53. (Notionals
    // are computed in bigint outside the engine; quote budgets are capped per order.)
    const safe = BigInt(Number.MAX_SAFE_INTEGER);
    if (maxPriceTicks > safe || maxLots > safe) {
      throw new RangeError(`${where}: maxPrice or maxQty is too large for exact integer matching`);
    }
    bySymbol.set(m.symbol, {
      symbol: m.symbol,
      baseAsset: base.asset,
      quoteAsset: quote.asset,
      baseDecimals: base.decimals,
      quoteDecimals: quote.decimals,
      tickSize: tick,
      stepSize: step,
      config: m,
      minLots,
      maxLots,
      maxPriceTicks,
      minNotionalTickLots,
      baseMinorPerLot,
      quoteMinorPerTickLot,
    });
  }
  return { assets, bySymbol, list: [...bySymbol.values()] };
}
