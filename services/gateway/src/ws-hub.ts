/**
 * WebSocket market data in Binance's shapes at `/ws`, `/ws/<streams>` and
 * `/stream?streams=a/b` (combined: `{ stream, data }`), with `SUBSCRIBE`, `UNSUBSCRIBE` and
 * `LIST_SUBSCRIPTIONS` frames. Each message is serialised once per stream, not per client.
 *
 * A client whose unsent data exceeds `maxBufferedBytes` is disconnected (a slow consumer must
 * not grow memory without bound). Malformed frames get an error reply; a connection never
 * takes the process down.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Market, Markets } from '@ballast/contracts';
import { isInterval, type Candle, type MarketData, type MarketDataEvent } from '@ballast/marketdata';
import { WebSocket, WebSocketServer } from 'ws';
import { formatOf } from './format.ts';
import { ticker24View } from './ticker.ts';

/** Options of {@link createWsHub}. */
export interface WsHubOptions {
  readonly markets: Markets;
  readonly marketData: MarketData;
  readonly nowMs: () => number;
  /** @default 1 MiB */
  readonly maxBufferedBytes?: number;
  /** Most streams one connection may hold. @default 1024 */
  readonly maxStreamsPerConnection?: number;
  readonly onConnections?: (count: number) => void;
  readonly onSlowConsumer?: () => void;
}

/** The hub. */
export interface WsHub {
  /** Handles an HTTP upgrade; returns false when the path is not a stream path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes every connection with 1001 (going away). */
  close(): Promise<void>;
  readonly connections: number;
}

interface Conn {
  readonly ws: WebSocket;
  readonly combined: boolean;
  readonly streams: Set<string>;
}

type StreamKind =
  | { kind: 'trade' | 'aggTrade' | 'bookTicker' | 'ticker'; market: Market }
  | { kind: 'depthDiff'; market: Market; everyMs: 100 | 1000 }
  | { kind: 'depthPartial'; market: Market; levels: number; everyMs: 100 | 1000 }
  | { kind: 'kline'; market: Market; interval: string };

/** The part of a WebSocket {@link sendBounded} uses. */
export interface BoundedSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(text: string): void;
  terminate(): void;
}

/**
 * Sends `text` unless the socket already holds more than `maxBufferedBytes` unsent; then it
 * terminates the socket (a slow consumer) and returns false. Closed sockets are skipped.
 */
export function sendBounded(ws: BoundedSocket, text: string, maxBufferedBytes: number): boolean {
  if (ws.readyState !== WebSocket.OPEN) return true;
  if (ws.bufferedAmount > maxBufferedBytes) {
    ws.terminate();
    return false;
  }
  ws.send(text);
  return true;
}

const STREAM_RE =
  /^([a-z0-9]+)@(trade|aggTrade|bookTicker|ticker|depth(5|10|20)?(@100ms|@1000ms)?|kline_([0-9a-zA-Z]+))$/;

/** Parses a stream name, or `undefined` when it names nothing Ballast serves. */
export function parseStream(name: string, markets: Markets): StreamKind | undefined {
  const m = STREAM_RE.exec(name);
  if (m === null) return undefined;
  const market = markets.bySymbol.get((m[1] as string).toUpperCase());
  if (market === undefined) return undefined;
  const what = m[2] as string;
  if (what === 'trade' || what === 'aggTrade' || what === 'bookTicker' || what === 'ticker')
    return { kind: what, market };
  if (what.startsWith('kline_')) {
    const interval = m[5] as string;
    return isInterval(interval) ? { kind: 'kline', market, interval } : undefined;
  }
  const everyMs = m[4] === '@100ms' ? 100 : 1000;
  if (m[3] !== undefined) return { kind: 'depthPartial', market, levels: Number(m[3]), everyMs };
  return { kind: 'depthDiff', market, everyMs };
}

/** Creates the hub. */
export function createWsHub(opts: WsHubOptions): WsHub {
  const { markets, marketData } = opts;
  const maxBuffered = opts.maxBufferedBytes ?? 1024 * 1024;
  const maxStreams = opts.maxStreamsPerConnection ?? 1024;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const conns = new Set<Conn>();
  const byStream = new Map<string, Set<Conn>>();
  /** Depth diffs merged for @1000ms subscribers, per symbol. */
  const slowDiffs = new Map<string, { U: number; u: number; bids: Map<number, number>; asks: Map<number, number> }>();

  const send = (c: Conn, text: string): void => {
    if (!sendBounded(c.ws, text, maxBuffered)) {
      opts.onSlowConsumer?.();
      drop(c);
    }
  };

  const publish = (stream: string, data: unknown): void => {
    const subs = byStream.get(stream);
    if (subs === undefined || subs.size === 0) return;
    let raw: string | undefined;
    let combined: string | undefined;
    for (const c of subs) {
      if (c.combined) send(c, (combined ??= JSON.stringify({ stream, data })));
      else send(c, (raw ??= JSON.stringify(data)));
    }
  };

  const has = (stream: string): boolean => (byStream.get(stream)?.size ?? 0) > 0;
  const lower = (symbol: string): string => symbol.toLowerCase();

  const klineData = (m: Market, c: Candle, closed: boolean) => {
    const f = formatOf(m);
    return {
      e: 'kline',
      E: opts.nowMs(),
      s: m.symbol,
      k: {
        t: c.openTime,
        T: c.closeTime,
        s: m.symbol,
        i: c.interval,
        f: c.firstTradeId,
        L: c.lastTradeId,
        o: f.price(c.open),
        c: f.price(c.close),
        h: f.price(c.high),
        l: f.price(c.low),
        v: f.qty(c.volumeLots),
        n: c.trades,
        x: closed,
        q: f.notional(c.quoteTickLots),
        V: f.qty(c.takerBuyLots),
        Q: f.notional(c.takerBuyQuoteTickLots),
        B: '0',
      },
    };
  };

  const onEvent = (e: MarketDataEvent): void => {
    if (e.kind === 'tick') {
      for (const m of markets.list) {
        const s = lower(m.symbol);
        const f = formatOf(m);
        for (const levels of [5, 10, 20]) {
          const name = `${s}@depth${levels}${e.everyMs === 100 ? '@100ms' : ''}`;
          const alias = e.everyMs === 1000 ? `${s}@depth${levels}@1000ms` : undefined;
          if (!has(name) && !(alias !== undefined && has(alias))) continue;
          const d = marketData.depth(m.symbol, levels);
          const data = {
            lastUpdateId: d?.lastUpdateId ?? 0,
            bids: (d?.bids ?? []).map(([p, q]) => [f.price(p), f.qty(q)]),
            asks: (d?.asks ?? []).map(([p, q]) => [f.price(p), f.qty(q)]),
          };
          publish(name, data);
          if (alias !== undefined) publish(alias, data);
        }
        if (e.everyMs === 1000) {
          const slow = slowDiffs.get(m.symbol);
          if (slow !== undefined) {
            slowDiffs.delete(m.symbol);
            const data = diffData(
              m,
              slow.U,
              slow.u,
              [...slow.bids].sort((a, b) => b[0] - a[0]),
              [...slow.asks].sort((a, b) => a[0] - b[0]),
            );
            publish(`${s}@depth`, data);
            publish(`${s}@depth@1000ms`, data);
          }
          if (has(`${s}@ticker`)) publish(`${s}@ticker`, tickerData(m));
        }
      }
      return;
    }
    const m = markets.bySymbol.get(e.symbol);
    if (m === undefined) return;
    const s = lower(m.symbol);
    const f = formatOf(m);
    switch (e.kind) {
      case 'trade':
        if (has(`${s}@trade`)) {
          publish(`${s}@trade`, {
            e: 'trade',
            E: opts.nowMs(),
            s: m.symbol,
            t: e.trade.id,
            p: f.price(e.trade.priceTicks),
            q: f.qty(e.trade.qtyLots),
            T: e.trade.timeMs,
            m: e.trade.isBuyerMaker,
            M: true,
          });
        }
        break;
      case 'aggTrade':
        if (has(`${s}@aggTrade`)) {
          publish(`${s}@aggTrade`, {
            e: 'aggTrade',
            E: opts.nowMs(),
            s: m.symbol,
            a: e.agg.id,
            p: f.price(e.agg.priceTicks),
            q: f.qty(e.agg.qtyLots),
            f: e.agg.firstTradeId,
            l: e.agg.lastTradeId,
            T: e.agg.timeMs,
            m: e.agg.isBuyerMaker,
            M: true,
          });
        }
        break;
      case 'bookTicker':
        if (has(`${s}@bookTicker`)) {
          publish(`${s}@bookTicker`, {
            u: e.ticker.updateId,
            s: m.symbol,
            b: f.price(e.ticker.bid?.[0] ?? 0),
            B: f.qty(e.ticker.bid?.[1] ?? 0),
            a: f.price(e.ticker.ask?.[0] ?? 0),
            A: f.qty(e.ticker.ask?.[1] ?? 0),
          });
        }
        break;
      case 'depthDiff': {
        publish(`${s}@depth@100ms`, diffData(m, e.firstUpdateId, e.lastUpdateId, e.bids, e.asks));
        if (has(`${s}@depth`) || has(`${s}@depth@1000ms`)) {
          let slow = slowDiffs.get(m.symbol);
          if (slow === undefined) {
            slowDiffs.set(
              m.symbol,
              (slow = { U: e.firstUpdateId, u: e.lastUpdateId, bids: new Map(), asks: new Map() }),
            );
          }
          slow.u = e.lastUpdateId;
          for (const [p, q] of e.bids) slow.bids.set(p, q);
          for (const [p, q] of e.asks) slow.asks.set(p, q);
        }
        break;
      }
      case 'kline':
        publish(`${s}@kline_${e.candle.interval}`, klineData(m, e.candle, e.closed));
        break;
    }
  };

  const diffData = (m: Market, U: number, u: number, bids: [number, number][], asks: [number, number][]) => {
    const f = formatOf(m);
    return {
      e: 'depthUpdate',
      E: opts.nowMs(),
      s: m.symbol,
      U,
      u,
      b: bids.map(([p, q]) => [f.price(p), f.qty(q)]),
      a: asks.map(([p, q]) => [f.price(p), f.qty(q)]),
    };
  };

  const tickerData = (m: Market) => {
    const t = ticker24View(m, marketData);
    return {
      e: '24hrTicker',
      E: opts.nowMs(),
      s: m.symbol,
      p: t.priceChange,
      P: t.priceChangePercent,
      w: t.weightedAvgPrice,
      x: t.prevClosePrice,
      c: t.lastPrice,
      Q: t.lastQty,
      b: t.bidPrice,
      B: t.bidQty,
      a: t.askPrice,
      A: t.askQty,
      o: t.openPrice,
      h: t.highPrice,
      l: t.lowPrice,
      v: t.volume,
      q: t.quoteVolume,
      O: t.openTime,
      C: t.closeTime,
      F: t.firstId,
      L: t.lastId,
      n: t.count,
    };
  };

  const unsubscribeFromMarketData = marketData.subscribe(onEvent);

  const subscribe = (c: Conn, names: string[]): string | undefined => {
    for (const n of names)
      if (parseStream(n, markets) === undefined) return `Invalid request: unknown stream name '${n}'`;
    if (c.streams.size + names.length > maxStreams)
      return `Invalid request: at most ${maxStreams} streams per connection`;
    for (const n of names) {
      c.streams.add(n);
      let set = byStream.get(n);
      if (set === undefined) byStream.set(n, (set = new Set()));
      set.add(c);
    }
    return undefined;
  };
  const unsubscribe = (c: Conn, names: Iterable<string>): void => {
    for (const n of [...names]) {
      c.streams.delete(n);
      const set = byStream.get(n);
      set?.delete(c);
      if (set?.size === 0) byStream.delete(n);
    }
  };
  const drop = (c: Conn): void => {
    if (!conns.delete(c)) return;
    unsubscribe(c, c.streams);
    opts.onConnections?.(conns.size);
  };

  const errorReply = (c: Conn, id: unknown, msg: string): void =>
    send(c, JSON.stringify({ error: { code: 2, msg }, id: id ?? null }));

  const onMessage = (c: Conn, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void => {
    if (isBinary) return errorReply(c, null, 'Invalid request: binary frames are not accepted');
    let req: unknown;
    try {
      req = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
    } catch {
      return errorReply(c, null, 'Invalid JSON');
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req))
      return errorReply(c, null, 'Invalid request: expected an object');
    const { method, params, id } = req as { method?: unknown; params?: unknown; id?: unknown };
    if (
      id !== undefined &&
      id !== null &&
      !(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) &&
      !(typeof id === 'string' && id.length <= 64)
    ) {
      return errorReply(c, null, 'Invalid request: request ID must be an unsigned integer or a short string');
    }
    if (method === 'LIST_SUBSCRIPTIONS') return send(c, JSON.stringify({ result: [...c.streams], id: id ?? null }));
    if (method !== 'SUBSCRIBE' && method !== 'UNSUBSCRIBE')
      return errorReply(c, id, `Invalid request: unknown method '${String(method)}'`);
    if (!Array.isArray(params) || params.length === 0 || !params.every((p) => typeof p === 'string')) {
      return errorReply(c, id, 'Invalid request: params must be a non-empty array of stream names');
    }
    if (method === 'SUBSCRIBE') {
      const err = subscribe(c, params as string[]);
      if (err !== undefined) return errorReply(c, id, err);
    } else unsubscribe(c, params as string[]);
    send(c, JSON.stringify({ result: null, id: id ?? null }));
  };

  return {
    handleUpgrade(req, socket, head) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname;
      let combined: boolean;
      let initial: string[] = [];
      if (path === '/ws' || path === '/ws/') combined = false;
      else if (path.startsWith('/ws/')) {
        combined = false;
        initial = path.slice(4).split('/').filter(Boolean);
      } else if (path === '/stream' || path === '/stream/') {
        combined = true;
        initial = (url.searchParams.get('streams') ?? '').split('/').filter(Boolean);
      } else return false;
      const bad = initial.find((n) => parseStream(n, markets) === undefined);
      if (bad !== undefined) {
        socket.end(
          `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${JSON.stringify({ code: -1121, msg: `Invalid stream name '${bad}'.` })}`,
        );
        return true;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const c: Conn = { ws, combined, streams: new Set() };
        conns.add(c);
        opts.onConnections?.(conns.size);
        subscribe(c, initial);
        ws.on('message', (data, isBinary) => onMessage(c, data, isBinary));
        ws.on('close', () => drop(c));
        ws.on('error', () => drop(c));
      });
      return true;
    },
    async close() {
      unsubscribeFromMarketData();
      const closing = [...conns].map(
        (c) =>
          new Promise<void>((resolve) => {
            c.ws.once('close', () => resolve());
            c.ws.close(1001, 'server shutting down');
            setTimeout(() => {
              c.ws.terminate();
              resolve();
            }, 1000).unref();
          }),
      );
      await Promise.all(closing);
      wss.close();
    },
    get connections() {
      return conns.size;
    },
  };
}
