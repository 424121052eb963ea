/**
 * The market-data role: per symbol, an L2 book, recent trades, aggregate trades, candles for
 * every Binance interval and 24-hour statistics, all rebuilt from the event log (it keeps no
 * state a replica cannot lose). Publishes trades, aggregate trades, depth diffs (every
 * `depthIntervalMs`), best bid/offer changes and candle updates to subscribers.
 *
 * Update ids: `lastUpdateId` is the engine sequence of the last event applied; a depth diff
 * covers `U` (previous diff's `u` + 1) to `u` (the `lastUpdateId` when it was cut), so a client
 * syncs a local book from REST `/depth` plus diffs exactly as with Binance.
 *
 * Tracing (when on): once caught up, an entry carrying a sampled W3C trace context is applied
 * inside a consumer span `apply evt.<symbol>` of the order's trace (never during the rebuild).
 *
 * Snapshots (with a `snapshots` store): every `snapshotEveryEntries` entries, or `snapshotEveryMs`
 * after the last one when entries arrived, the state of a symbol is saved with the sequence of
 * the last entry applied; a restart loads it and reads the log only after it, so start-up time
 * does not grow with the log. A snapshot that cannot be read is reported and ignored (full replay).
 *
 * @module
 */
import { decodeCommandResults } from '@ballast/engine';
import type { Markets } from '@ballast/contracts';
import { SpanKind, contextFromCarrier, startSpan, tracingEnabled } from '@ballast/runtime';
import { tailLog, within, type EventLog, type LogEntry } from '@ballast/state';
import { INTERVALS, intervalStart, isInterval, type Interval } from './intervals.ts';

/** A trade as market data shows it. */
export interface TradeView {
  readonly id: number;
  readonly priceTicks: number;
  readonly qtyLots: number;
  readonly timeMs: number;
  readonly isBuyerMaker: boolean;
}

/** An aggregate trade: consecutive fills of one taker at one price. */
export interface AggTradeView {
  readonly id: number;
  readonly priceTicks: number;
  readonly qtyLots: number;
  readonly firstTradeId: number;
  readonly lastTradeId: number;
  readonly timeMs: number;
  readonly isBuyerMaker: boolean;
}

/** One candle. Quote volumes are in tick·lots. */
export interface Candle {
  readonly interval: Interval;
  readonly openTime: number;
  readonly closeTime: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volumeLots: number;
  quoteTickLots: bigint;
  trades: number;
  takerBuyLots: number;
  takerBuyQuoteTickLots: bigint;
  firstTradeId: number;
  lastTradeId: number;
}

/** A depth view: levels best first, `[priceTicks, qtyLots]`. */
export interface DepthView {
  readonly lastUpdateId: number;
  readonly bids: [number, number][];
  readonly asks: [number, number][];
}

/** Best bid and offer. */
export interface BookTickerView {
  readonly updateId: number;
  readonly bid: [number, number] | null;
  readonly ask: [number, number] | null;
}

/** 24-hour rolling statistics (minute resolution). */
export interface Ticker24h {
  readonly openTime: number;
  readonly closeTime: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly last: number;
  readonly lastQtyLots: number;
  readonly prevClose: number;
  readonly volumeLots: number;
  readonly quoteTickLots: bigint;
  readonly firstId: number;
  readonly lastId: number;
  readonly count: number;
}

/** What subscribers receive. */
export type MarketDataEvent =
  | { readonly kind: 'trade'; readonly symbol: string; readonly trade: TradeView }
  | { readonly kind: 'aggTrade'; readonly symbol: string; readonly agg: AggTradeView }
  | {
      readonly kind: 'depthDiff';
      readonly symbol: string;
      readonly firstUpdateId: number;
      readonly lastUpdateId: number;
      readonly bids: [number, number][];
      readonly asks: [number, number][];
    }
  | { readonly kind: 'bookTicker'; readonly symbol: string; readonly ticker: BookTickerView }
  | { readonly kind: 'kline'; readonly symbol: string; readonly candle: Candle; readonly closed: boolean }
  | { readonly kind: 'tick'; readonly everyMs: 100 | 1000 };

const MAX_TRADES = 1000;
const MAX_CANDLES = 1500;

class SymbolState {
  /** Sequence of the last event-log entry applied. */
  logSeq = 0;
  /** Entries applied since the last snapshot. */
  sinceSnapshot = 0;
  lastSnapshotMs = 0;
  /** The save in progress, if any. */
  saving: Promise<void> | undefined;
  /** The last save failed (the store is down): no extra save on stop. */
  saveFailed = false;
  readonly bids = new Map<number, number>();
  readonly asks = new Map<number, number>();
  bestBid = 0;
  bestAsk = 0;
  lastUpdateId = 0;
  lastFlushedU = 0;
  readonly pendingBids = new Map<number, number>();
  readonly pendingAsks = new Map<number, number>();
  readonly trades: TradeView[] = [];
  readonly aggs: AggTradeView[] = [];
  aggSeq = 0;
  readonly candles = new Map<Interval, Candle[]>();
  readonly dirtyCandles = new Set<Interval>();
  lastTrade: TradeView | undefined;
}

/** Where market data keeps one snapshot per symbol (see {@link createSqlMarketDataSnapshots}). */
export interface MarketDataSnapshotStore {
  /** The newest snapshot of `symbol`: the state after event-log entry `logSeq`. */
  load(symbol: string, signal: AbortSignal): Promise<{ readonly logSeq: number; readonly body: string } | undefined>;
  /** Stores a snapshot; one older than the stored one must not replace it. */
  save(symbol: string, logSeq: number, body: string): Promise<void>;
}

/** Construction config of market data. */
export interface MarketDataConfig {
  readonly log: EventLog;
  readonly markets: Markets;
  /** Snapshots to start from and to save; absent = replay every log from its start. */
  readonly snapshots?: MarketDataSnapshotStore;
  /** Save snapshots (false: only load them, e.g. on gateway replicas). @default true */
  readonly saveSnapshots?: boolean;
  /** Save a snapshot after this many log entries. @default 50000 */
  readonly snapshotEveryEntries?: number;
  /** Also save when this long has passed since the last snapshot and entries arrived. @default 60000 */
  readonly snapshotEveryMs?: number;
  /** On stop, wait at most this long for the last snapshots. @default 2000 */
  readonly finalSnapshotMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
  /** @default 100 */
  readonly depthIntervalMs?: number;
  readonly onError?: (message: string, err: unknown) => void;
  /**
   * Called with each batch of a symbol's event-log entries once applied, for the entries after
   * the log's end when the view started (those a tail from the end would have read), so another
   * follower in the same process (a gateway's order results) needs no second consumer of the
   * log. Must not throw (a throw is reported to `onError` and ignored).
   */
  readonly onLiveEntries?: (symbol: string, entries: readonly LogEntry[]) => void;
}

/** The market-data role. */
export interface MarketData {
  /** Replays and follows every symbol's event log until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** Resolves once every symbol has caught up with its log as it was at start. */
  ready(): Promise<void>;
  depth(symbol: string, limit: number): DepthView | undefined;
  recentTrades(symbol: string, limit: number): TradeView[];
  aggTrades(
    symbol: string,
    q: { fromId?: number; startTime?: number; endTime?: number; limit: number },
  ): AggTradeView[];
  klines(symbol: string, interval: Interval, q: { startTime?: number; endTime?: number; limit: number }): Candle[];
  ticker24h(symbol: string): Ticker24h | undefined;
  bookTicker(symbol: string): BookTickerView | undefined;
  /** Adds a listener; returns its remover. Listeners must not throw. */
  subscribe(listener: (e: MarketDataEvent) => void): () => void;
}

const sortedLevels = (m: Map<number, number>, desc: boolean, limit: number): [number, number][] => {
  const prices = [...m.keys()].sort((a, b) => (desc ? b - a : a - b));
  const out: [number, number][] = [];
  for (const p of prices) {
    if (out.length >= limit) break;
    out.push([p, m.get(p) as number]);
  }
  return out;
};

const SNAPSHOT_VERSION = 1;

/**
 * A symbol's state captured at one log sequence, cheaply: closed candles, trades and aggregate
 * trades are never changed once made, so arrays of references are enough; only each interval's
 * open candle (still changing) and the book levels are copied.
 */
interface CapturedState {
  readonly logSeq: number;
  readonly lastUpdateId: number;
  readonly bids: [number, number][];
  readonly asks: [number, number][];
  readonly trades: readonly TradeView[];
  readonly aggs: readonly AggTradeView[];
  readonly aggSeq: number;
  readonly candles: readonly (readonly [Interval, readonly Candle[]])[];
}

function captureState(s: SymbolState): CapturedState {
  return {
    logSeq: s.logSeq,
    lastUpdateId: s.lastUpdateId,
    bids: [...s.bids],
    asks: [...s.asks],
    trades: s.trades.slice(),
    aggs: s.aggs.slice(),
    aggSeq: s.aggSeq,
    candles: [...s.candles].map(([interval, list]): [Interval, Candle[]] => {
      const last = list.at(-1);
      return [interval, last === undefined ? [] : [...list.slice(0, -1), { ...last }]];
    }),
  };
}

const tradeRow = (t: TradeView): unknown[] => [t.id, t.priceTicks, t.qtyLots, t.timeMs, t.isBuyerMaker ? 1 : 0];
const aggRow = (a: AggTradeView): unknown[] => [
  a.id,
  a.priceTicks,
  a.qtyLots,
  a.firstTradeId,
  a.lastTradeId,
  a.timeMs,
  a.isBuyerMaker ? 1 : 0,
];
const candleRow = (c: Candle): unknown[] => [
  c.openTime,
  c.closeTime,
  c.open,
  c.high,
  c.low,
  c.close,
  c.volumeLots,
  c.quoteTickLots.toString(),
  c.trades,
  c.takerBuyLots,
  c.takerBuyQuoteTickLots.toString(),
  c.firstTradeId,
  c.lastTradeId,
];
/** Candles serialized between two yields (a few milliseconds of work). */
const CANDLES_PER_SLICE = 500;

/**
 * The snapshot body (JSON, rows as arrays, bigints as decimal strings), built in slices with
 * `yieldNow` between them, so a large state (thousands of candles) never blocks the thread long.
 */
async function snapshotBody(c: CapturedState, yieldNow: () => Promise<void>): Promise<string> {
  const parts = [
    `{"v":${SNAPSHOT_VERSION},"logSeq":${c.logSeq},"lastUpdateId":${c.lastUpdateId},"aggSeq":${c.aggSeq}`,
    `,"bids":${JSON.stringify(c.bids)},"asks":${JSON.stringify(c.asks)}`,
    `,"trades":${JSON.stringify(c.trades.map(tradeRow))},"aggs":${JSON.stringify(c.aggs.map(aggRow))},"candles":[`,
  ];
  let first = true;
  for (const [interval, list] of c.candles) {
    for (let i = 0; i < list.length || i === 0; i += CANDLES_PER_SLICE) {
      await yieldNow();
      const rows = JSON.stringify(list.slice(i, i + CANDLES_PER_SLICE).map(candleRow)).slice(1, -1);
      if (i === 0) parts.push(`${first ? '' : ','}["${interval}",[${rows}`);
      else if (rows.length > 0) parts.push(`,${rows}`);
      first = false;
    }
    parts.push(']]');
  }
  parts.push(']}');
  return parts.join('');
}

const isNumberRow = (x: unknown, n: number): x is number[] =>
  Array.isArray(x) && x.length === n && x.every((v) => typeof v === 'number' && Number.isFinite(v));
const isPairList = (x: unknown): x is [number, number][] => Array.isArray(x) && x.every((p) => isNumberRow(p, 2));

/**
 * Restores a snapshot body into `s` (empty); returns the log sequence it covers.
 *
 * @throws Error when the body is not a snapshot of this version (then `s` is unchanged).
 */
function restoreSnapshot(s: SymbolState, body: string): number {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const o = JSON.parse(body) as any;
  if (o?.v !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${String(o?.v)}, expected ${SNAPSHOT_VERSION}`);
  if (![o.logSeq, o.lastUpdateId, o.aggSeq].every((x) => Number.isSafeInteger(x) && x >= 0)) {
    throw new Error('snapshot without sequences');
  }
  if (!isPairList(o.bids) || !isPairList(o.asks)) throw new Error('snapshot without a book');
  if (!Array.isArray(o.trades) || !o.trades.every((r: unknown) => isNumberRow(r, 5))) {
    throw new Error('snapshot with malformed trades');
  }
  if (!Array.isArray(o.aggs) || !o.aggs.every((r: unknown) => isNumberRow(r, 7))) {
    throw new Error('snapshot with malformed aggregate trades');
  }
  if (!Array.isArray(o.candles)) throw new Error('snapshot without candles');
  // Everything that can throw happens before `s` changes.
  const candles = (o.candles as unknown[]).map((entry): [Interval, Candle[]] => {
    const [interval, rows] = entry as [unknown, unknown];
    if (!isInterval(interval) || !Array.isArray(rows)) throw new Error('snapshot with malformed candles');
    return [
      interval,
      rows.slice(-MAX_CANDLES).map((r: unknown): Candle => {
        const a = r as unknown[];
        if (!Array.isArray(a) || a.length !== 13) throw new Error('snapshot with malformed candles');
        const n = (i: number): number => {
          const v = a[i];
          if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error('snapshot with malformed candles');
          return v;
        };
        return {
          interval,
          openTime: n(0),
          closeTime: n(1),
          open: n(2),
          high: n(3),
          low: n(4),
          close: n(5),
          volumeLots: n(6),
          quoteTickLots: BigInt(a[7] as string),
          trades: n(8),
          takerBuyLots: n(9),
          takerBuyQuoteTickLots: BigInt(a[10] as string),
          firstTradeId: n(11),
          lastTradeId: n(12),
        };
      }),
    ];
  });
  const trades = (o.trades as number[][])
    .slice(-MAX_TRADES)
    .map(([id, priceTicks, qtyLots, timeMs, maker]): TradeView => ({
      id: id!,
      priceTicks: priceTicks!,
      qtyLots: qtyLots!,
      timeMs: timeMs!,
      isBuyerMaker: maker === 1,
    }));
  const aggs = (o.aggs as number[][])
    .slice(-MAX_TRADES)
    .map(([id, priceTicks, qtyLots, firstTradeId, lastTradeId, timeMs, maker]): AggTradeView => ({
      id: id!,
      priceTicks: priceTicks!,
      qtyLots: qtyLots!,
      firstTradeId: firstTradeId!,
      lastTradeId: lastTradeId!,
      timeMs: timeMs!,
      isBuyerMaker: maker === 1,
    }));
  for (const [p, q] of o.bids as [number, number][]) s.bids.set(p, q);
  for (const [p, q] of o.asks as [number, number][]) s.asks.set(p, q);
  s.bestBid = s.bids.size === 0 ? 0 : Math.max(...s.bids.keys());
  s.bestAsk = s.asks.size === 0 ? 0 : Math.min(...s.asks.keys());
  s.lastUpdateId = o.lastUpdateId;
  s.lastFlushedU = o.lastUpdateId;
  s.trades.push(...trades);
  s.aggs.push(...aggs);
  s.aggSeq = o.aggSeq;
  for (const [interval, list] of candles) s.candles.set(interval, list);
  s.lastTrade = trades.at(-1);
  s.logSeq = o.logSeq;
  return o.logSeq;
}

/** Creates the market-data role. */
export function createMarketData(config: MarketDataConfig): MarketData {
  const now = config.nowMs ?? Date.now;
  const states = new Map<string, SymbolState>();
  for (const m of config.markets.list) states.set(m.symbol, new SymbolState());
  const listeners = new Set<(e: MarketDataEvent) => void>();
  const emit = (e: MarketDataEvent): void => {
    for (const l of listeners) {
      try {
        l(e);
      } catch (err) {
        config.onError?.('market data listener failed', err);
      }
    }
  };
  let resolveReady!: () => void;
  const readyP = new Promise<void>((r) => (resolveReady = r));

  const bookTickerOf = (s: SymbolState): BookTickerView => ({
    updateId: s.lastUpdateId,
    bid: s.bestBid > 0 ? [s.bestBid, s.bids.get(s.bestBid) as number] : null,
    ask: s.bestAsk > 0 ? [s.bestAsk, s.asks.get(s.bestAsk) as number] : null,
  });

  const applyCandle = (s: SymbolState, symbol: string, t: TradeView, live: boolean): void => {
    for (const interval of INTERVALS) {
      let list = s.candles.get(interval);
      if (list === undefined) s.candles.set(interval, (list = []));
      const [openTime, closeTime] = intervalStart(interval, t.timeMs);
      let c = list.at(-1);
      if (c !== undefined && c.openTime > openTime) continue; // out-of-order time: keep candles monotonic
      if (c === undefined || c.openTime !== openTime) {
        if (c !== undefined && live) emit({ kind: 'kline', symbol, candle: c, closed: true });
        c = {
          interval,
          openTime,
          closeTime,
          open: t.priceTicks,
          high: t.priceTicks,
          low: t.priceTicks,
          close: t.priceTicks,
          volumeLots: 0,
          quoteTickLots: 0n,
          trades: 0,
          takerBuyLots: 0,
          takerBuyQuoteTickLots: 0n,
          firstTradeId: t.id,
          lastTradeId: t.id,
        };
        list.push(c);
        if (list.length > MAX_CANDLES) list.shift();
      }
      if (t.priceTicks > c.high) c.high = t.priceTicks;
      if (t.priceTicks < c.low) c.low = t.priceTicks;
      c.close = t.priceTicks;
      c.volumeLots += t.qtyLots;
      const quote = BigInt(t.priceTicks) * BigInt(t.qtyLots);
      c.quoteTickLots += quote;
      c.trades++;
      c.lastTradeId = t.id;
      if (!t.isBuyerMaker) {
        c.takerBuyLots += t.qtyLots;
        c.takerBuyQuoteTickLots += quote;
      }
      s.dirtyCandles.add(interval);
    }
  };

  const applyEntry = (symbol: string, s: SymbolState, entry: LogEntry, live: boolean): void => {
    const results = decodeCommandResults(entry.payload);
    if (results === undefined) {
      config.onError?.(`market data: entry ${entry.seq} of ${symbol} is malformed; skipped`, undefined);
      return;
    }
    const prevBid = s.bestBid;
    const prevAsk = s.bestAsk;
    const prevBidQty = s.bids.get(prevBid);
    const prevAskQty = s.asks.get(prevAsk);
    let agg:
      | {
          priceTicks: number;
          qtyLots: number;
          first: number;
          last: number;
          taker: number;
          timeMs: number;
          isBuyerMaker: boolean;
        }
      | undefined;
    const flushAgg = (): void => {
      if (agg === undefined) return;
      const view: AggTradeView = {
        id: ++s.aggSeq,
        priceTicks: agg.priceTicks,
        qtyLots: agg.qtyLots,
        firstTradeId: agg.first,
        lastTradeId: agg.last,
        timeMs: agg.timeMs,
        isBuyerMaker: agg.isBuyerMaker,
      };
      s.aggs.push(view);
      if (s.aggs.length > MAX_TRADES) s.aggs.shift();
      if (live) emit({ kind: 'aggTrade', symbol, agg: view });
      agg = undefined;
    };
    // An aggregate trade is one taker's fills at one price: it never spans two commands.
    for (const { events } of results) {
      for (const e of events) {
        s.lastUpdateId = e.seq;
        if (e.type === 'level') {
          const side = e.side === 'buy' ? s.bids : s.asks;
          const pending = e.side === 'buy' ? s.pendingBids : s.pendingAsks;
          pending.set(e.priceTicks, e.qtyLots);
          if (e.qtyLots === 0) side.delete(e.priceTicks);
          else side.set(e.priceTicks, e.qtyLots);
          if (e.side === 'buy') {
            if (e.qtyLots > 0 && e.priceTicks > s.bestBid) s.bestBid = e.priceTicks;
            else if (e.qtyLots === 0 && e.priceTicks === s.bestBid) s.bestBid = Math.max(0, ...s.bids.keys());
          } else {
            if (e.qtyLots > 0 && (s.bestAsk === 0 || e.priceTicks < s.bestAsk)) s.bestAsk = e.priceTicks;
            else if (e.qtyLots === 0 && e.priceTicks === s.bestAsk) {
              s.bestAsk = s.asks.size === 0 ? 0 : Math.min(...s.asks.keys());
            }
          }
        } else if (e.type === 'trade') {
          const t: TradeView = {
            id: e.tradeId,
            priceTicks: e.priceTicks,
            qtyLots: e.qtyLots,
            timeMs: e.timeMs,
            isBuyerMaker: e.takerSide === 'sell',
          };
          s.trades.push(t);
          if (s.trades.length > MAX_TRADES) s.trades.shift();
          s.lastTrade = t;
          if (live) emit({ kind: 'trade', symbol, trade: t });
          applyCandle(s, symbol, t, live);
          if (agg !== undefined && (agg.taker !== e.takerOrderId || agg.priceTicks !== e.priceTicks)) flushAgg();
          if (agg === undefined) {
            agg = {
              priceTicks: e.priceTicks,
              qtyLots: 0,
              first: e.tradeId,
              last: e.tradeId,
              taker: e.takerOrderId,
              timeMs: e.timeMs,
              isBuyerMaker: e.takerSide === 'sell',
            };
          }
          agg.qtyLots += e.qtyLots;
          agg.last = e.tradeId;
        }
      }
      flushAgg();
    }
    if (
      live &&
      (prevBid !== s.bestBid ||
        prevAsk !== s.bestAsk ||
        prevBidQty !== s.bids.get(s.bestBid) ||
        prevAskQty !== s.asks.get(s.bestAsk))
    ) {
      emit({ kind: 'bookTicker', symbol, ticker: bookTickerOf(s) });
    }
  };

  const flushDepth = (): void => {
    for (const [symbol, s] of states) {
      if (s.pendingBids.size === 0 && s.pendingAsks.size === 0) continue;
      const diff: MarketDataEvent = {
        kind: 'depthDiff',
        symbol,
        firstUpdateId: s.lastFlushedU + 1,
        lastUpdateId: s.lastUpdateId,
        bids: [...s.pendingBids].sort((a, b) => b[0] - a[0]),
        asks: [...s.pendingAsks].sort((a, b) => a[0] - b[0]),
      };
      s.pendingBids.clear();
      s.pendingAsks.clear();
      s.lastFlushedU = s.lastUpdateId;
      emit(diff);
    }
  };

  const everyEntries = config.snapshotEveryEntries ?? 50_000;
  const everyMs = config.snapshotEveryMs ?? 60_000;
  const saveStore = config.saveSnapshots === false ? undefined : config.snapshots;
  const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));
  const maybeSnapshot = (symbol: string, s: SymbolState, force = false): void => {
    if (saveStore === undefined || s.saving !== undefined || s.sinceSnapshot === 0) return;
    const t = now();
    if (!force && s.sinceSnapshot < everyEntries && t - s.lastSnapshotMs < everyMs) return;
    // Captured now (consistent at this log sequence), serialized and saved in the background.
    const captured = captureState(s);
    s.sinceSnapshot = 0;
    s.lastSnapshotMs = t;
    s.saving = (async () => {
      try {
        await saveStore.save(symbol, captured.logSeq, await snapshotBody(captured, yieldNow));
        s.saveFailed = false;
      } catch (err) {
        s.saveFailed = true;
        config.onError?.(`market data ${symbol}: snapshot failed`, err);
      } finally {
        s.saving = undefined;
      }
    })();
  };
  /**
   * On stop: waits for saves in progress, then saves what changed since (a restart then reads
   * nothing), within `finalSnapshotMs` in all: a store that is down must not eat the drain's grace.
   */
  const finalSnapshots = async (): Promise<void> => {
    const saves = async (): Promise<void> => {
      await Promise.all([...states.values()].map((s) => s.saving));
      for (const [symbol, s] of states) if (!s.saveFailed) maybeSnapshot(symbol, s, true);
      await Promise.all([...states.values()].map((s) => s.saving));
    };
    await within(saves(), config.finalSnapshotMs ?? 2000, 'market data: last snapshots on stop').catch((err: unknown) =>
      config.onError?.('market data: last snapshots not saved; a restart replays the log after the previous ones', err),
    );
  };

  const flushCandles = (): void => {
    for (const [symbol, s] of states) {
      for (const interval of s.dirtyCandles) {
        const c = s.candles.get(interval)?.at(-1);
        if (c !== undefined) emit({ kind: 'kline', symbol, candle: c, closed: false });
      }
      s.dirtyCandles.clear();
    }
  };

  /** {@link applyEntry} of a live entry, in a span when the entry continues a sampled trace. */
  const applyTraced = (symbol: string, s: SymbolState, entry: LogEntry): void => {
    const parent = entry.headers !== undefined ? contextFromCarrier(entry.headers) : undefined;
    if (parent === undefined) return applyEntry(symbol, s, entry, true);
    const name = `evt.${symbol}`;
    const span = startSpan(`apply ${name}`, {
      parent,
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.operation.type': 'process',
        'messaging.destination.name': name,
        'ballast.symbol': symbol,
        'ballast.evt_seq': entry.seq,
      },
    });
    try {
      applyEntry(symbol, s, entry, true);
    } finally {
      span.end();
    }
  };

  /**
   * Restores the stored snapshot of `symbol` into `s`; returns the first log sequence to read. A
   * snapshot beyond the log's last entry (`lastSeq`) belongs to another log — a recreated stream,
   * another prefix — and is not used: its state would hide the entries up to its sequence.
   */
  const loadSnapshot = async (
    symbol: string,
    s: SymbolState,
    lastSeq: number,
    signal: AbortSignal,
  ): Promise<number> => {
    let snap: { readonly logSeq: number; readonly body: string } | undefined;
    try {
      snap = await config.snapshots!.load(symbol, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      config.onError?.(`market data ${symbol}: snapshot unreadable; replaying the whole log`, err);
      return 1;
    }
    if (snap === undefined) return 1;
    if (snap.logSeq > lastSeq) {
      config.onError?.(
        `market data ${symbol}: snapshot at ${snap.logSeq} is beyond the log's last entry ${lastSeq}; replaying the whole log`,
        undefined,
      );
      return 1;
    }
    try {
      return restoreSnapshot(s, snap.body) + 1;
    } catch (err) {
      config.onError?.(`market data ${symbol}: snapshot at ${snap.logSeq} unusable; replaying the whole log`, err);
      return 1;
    }
  };

  return {
    async run(signal) {
      const depthMs = config.depthIntervalMs ?? 100;
      let ticks = 0;
      const timer = setInterval(() => {
        flushDepth();
        emit({ kind: 'tick', everyMs: 100 });
        ticks += depthMs;
        if (ticks >= 1000) {
          ticks = 0;
          flushCandles();
          emit({ kind: 'tick', everyMs: 1000 });
          for (const [symbol, s] of states) maybeSnapshot(symbol, s);
        }
      }, depthMs);
      timer.unref();
      let caughtUp = 0;
      const total = states.size;
      if (total === 0) resolveReady();
      try {
        await Promise.all(
          [...states].map(async ([symbol, s]) => {
            const name = `evt.${symbol}`;
            s.lastSnapshotMs = now();
            let target = await config.log.lastSeq(name, { signal });
            const endAtStart = target;
            const fromSeq = config.snapshots !== undefined ? await loadSnapshot(symbol, s, target, signal) : 1;
            let live = target < fromSeq;
            const markCaughtUp = (): void => {
              live = true;
              // Diffs start after what the first REST snapshot will show.
              s.pendingBids.clear();
              s.pendingAsks.clear();
              s.lastFlushedU = s.lastUpdateId;
              s.dirtyCandles.clear();
              if (++caughtUp === total) resolveReady();
            };
            if (live) markCaughtUp();
            await tailLog(
              config.log,
              name,
              (entries) => {
                const traced = live && tracingEnabled();
                for (const e of entries) {
                  // An entry the view cannot apply (its events malformed: a writer of another
                  // version) is reported and skipped, not retried forever: the view, and the
                  // follower below, move on.
                  try {
                    if (traced) applyTraced(symbol, s, e);
                    else applyEntry(symbol, s, e, live);
                  } catch (err) {
                    config.onError?.(`market data: entry ${e.seq} of ${symbol} could not be applied; skipped`, err);
                  }
                }
                if (config.onLiveEntries !== undefined) {
                  const fresh =
                    (entries[0] as LogEntry).seq > endAtStart ? entries : entries.filter((e) => e.seq > endAtStart);
                  try {
                    if (fresh.length > 0) config.onLiveEntries(symbol, fresh);
                  } catch (err) {
                    config.onError?.(`market data ${symbol}: a live-entries follower failed`, err);
                  }
                }
                s.logSeq = (entries.at(-1) as LogEntry).seq;
                s.sinceSnapshot += entries.length;
                if (!live && s.logSeq >= target) {
                  target = 0;
                  markCaughtUp();
                }
                maybeSnapshot(symbol, s);
              },
              { fromSeq, signal, onError: (err) => config.onError?.(`market data ${symbol}: read failed`, err) },
            );
          }),
        );
      } finally {
        clearInterval(timer);
        await finalSnapshots();
      }
    },
    ready: () => readyP,
    depth(symbol, limit) {
      const s = states.get(symbol);
      if (s === undefined) return undefined;
      return {
        lastUpdateId: s.lastUpdateId,
        bids: sortedLevels(s.bids, true, limit),
        asks: sortedLevels(s.asks, false, limit),
      };
    },
    recentTrades(symbol, limit) {
      const s = states.get(symbol);
      return s === undefined ? [] : s.trades.slice(-limit);
    },
    aggTrades(symbol, q) {
      const s = states.get(symbol);
      if (s === undefined) return [];
      let list = s.aggs;
      if (q.fromId !== undefined) list = list.filter((a) => a.id >= (q.fromId as number));
      if (q.startTime !== undefined) list = list.filter((a) => a.timeMs >= (q.startTime as number));
      if (q.endTime !== undefined) list = list.filter((a) => a.timeMs <= (q.endTime as number));
      return q.fromId !== undefined || q.startTime !== undefined ? list.slice(0, q.limit) : list.slice(-q.limit);
    },
    klines(symbol, interval, q) {
      const s = states.get(symbol);
      let list = s?.candles.get(interval) ?? [];
      if (q.startTime !== undefined) list = list.filter((c) => c.openTime >= (q.startTime as number));
      if (q.endTime !== undefined) list = list.filter((c) => c.openTime <= (q.endTime as number));
      return q.startTime !== undefined ? list.slice(0, q.limit) : list.slice(-q.limit);
    },
    ticker24h(symbol) {
      const s = states.get(symbol);
      if (s === undefined) return undefined;
      const to = now();
      const from = to - 24 * 60 * 60 * 1000;
      const minutes = s.candles.get('1m') ?? [];
      let open = 0;
      let high = 0;
      let low = 0;
      let volumeLots = 0;
      let quoteTickLots = 0n;
      let count = 0;
      let firstId = -1;
      let lastId = -1;
      let prevClose = 0;
      for (const c of minutes) {
        if (c.closeTime < from) {
          prevClose = c.close;
          continue;
        }
        if (count === 0) {
          open = c.open;
          high = c.high;
          low = c.low;
          firstId = c.firstTradeId;
        }
        if (c.high > high) high = c.high;
        if (c.low < low) low = c.low;
        volumeLots += c.volumeLots;
        quoteTickLots += c.quoteTickLots;
        count += c.trades;
        lastId = c.lastTradeId;
      }
      const last = count > 0 ? (s.lastTrade?.priceTicks ?? 0) : 0;
      return {
        openTime: from,
        closeTime: to,
        open,
        high,
        low,
        last,
        lastQtyLots: count > 0 ? (s.lastTrade?.qtyLots ?? 0) : 0,
        prevClose,
        volumeLots,
        quoteTickLots,
        firstId,
        lastId,
        count,
      };
    },
    bookTicker(symbol) {
      const s = states.get(symbol);
      return s === undefined ? undefined : bookTickerOf(s);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
