/**
 * The public REST API in Binance Spot's shapes: paths, parameter names, field names and
 * `{ code, msg }` errors, so Binance clients work against Ballast. Amounts are decimal strings;
 * nothing is rounded silently.
 *
 * Tracing: `POST /api/v3/order` is a server span, the root of the order's trace (or a child of
 * the client's own `traceparent`).
 *
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '@ballast/db';
import type { BookEvent } from '@ballast/engine';
import { formatMinor, parseMinor, statusOfDone, type Market, type Markets } from '@ballast/contracts';
import type { FeeSchedule, Ledger } from '@ballast/ledger';
import { isInterval, type MarketData } from '@ballast/marketdata';
import { createMemoryRateLimitStore, gcraLimiter, type RateLimiter, type RateLimitStore } from '@ballast/resilience';
import { SpanKind, contextFromCarrier, inSpan, tracingEnabled, type Span } from '@ballast/runtime';
import {
  findOrder,
  toOrderRecord,
  type Oms,
  type OrderRecord,
  type PlaceOrderInput,
  type StpModeName,
} from '@ballast/oms';
import { ErrorCode, isBallastError } from '@ballast/errors';
import type { Kysely } from 'kysely';
import { ApiCode, ApiError, OUTCOME_UNKNOWN_MSG, badRequest, mandatory } from './api-error.ts';
import { clientSignal } from './client-signal.ts';
import { formatOf, orderView } from './format.ts';
import type { OrderResults } from './order-results.ts';
import { cancelAll } from './cancel-all.ts';
import { createSettledReads } from './settled-reads.ts';
import { ticker24View } from './ticker.ts';
import { Params, marketOf, stepsParam } from './params.ts';

/** What the REST routes need. */
export interface RestDeps {
  readonly db: Kysely<Database>;
  /** Order entry: the oms in this process, or a client of remote replicas. */
  readonly oms: Pick<Oms, 'place' | 'cancel'>;
  readonly ledger: Ledger;
  readonly marketData: MarketData;
  readonly markets: Markets;
  readonly results: OrderResults;
  readonly fees: FeeSchedule;
  readonly nowMs: () => number;
  /** Offer `/dev/accounts` and `/dev/faucet`. */
  readonly dev: boolean;
  /** How long RESULT/FULL responses wait for matching. @default 2000 */
  readonly resultWaitMs?: number;
  /**
   * Read your writes: how long an account's reads (balances, trades, orders) wait for the ledger
   * to settle the fills and ends of its orders that this process has already seen, before
   * answering with what is settled. @default 500
   */
  readonly settleWaitMs?: number;
  /** New orders allowed per account per 10 s (Binance's ORDERS limit); 0 = unlimited. @default 100 */
  readonly ordersPer10s?: number;
  /** Requests allowed per client IP per minute (Binance's REQUEST_WEIGHT, weight 1 each); 0 = unlimited. @default 6000 */
  readonly requestsPerMinute?: number;
  /** Where rate-limit state lives (Redis in distributed mode). @default in-process */
  readonly rateLimitStore?: RateLimitStore;
  /**
   * When the rate-limit store fails: `open` lets the request through (availability first),
   * `closed` answers 503 (protection first). Either way it is counted and logged. @default 'open'
   */
  readonly rateLimitOnStoreFailure?: 'open' | 'closed';
  /** Called when the rate-limit store fails (for a metric and a log line). */
  readonly onRateLimitStoreError?: (err: unknown) => void;
}

const SIGNED = ['timestamp', 'recvWindow', 'signature'];
const ORDER_TYPES = [
  'LIMIT',
  'MARKET',
  'LIMIT_MAKER',
  'STOP_LOSS',
  'STOP_LOSS_LIMIT',
  'TAKE_PROFIT',
  'TAKE_PROFIT_LIMIT',
] as const;
const STP_MODES: Record<string, StpModeName> = {
  NONE: 'none',
  EXPIRE_TAKER: 'expireTaker',
  EXPIRE_MAKER: 'expireMaker',
  EXPIRE_BOTH: 'expireBoth',
  DECREMENT: 'decrementCancel',
};
const CLIENT_ID_RE = /^[a-zA-Z0-9_.:-]{1,36}$/;
const OPEN = ['NEW', 'PARTIALLY_FILLED'];

/** Registers the REST API on `app`. */
export function registerRestRoutes(app: FastifyInstance, deps: RestDeps): void {
  const { db, markets, marketData, oms, ledger } = deps;
  const waitMs = deps.resultWaitMs ?? 2000;
  const store = deps.rateLimitStore ?? createMemoryRateLimitStore();
  const ordersPer10s = deps.ordersPer10s ?? 100;
  const requestsPerMinute = deps.requestsPerMinute ?? 6000;
  const orderLimiter =
    ordersPer10s > 0 ? gcraLimiter({ ratePerSec: ordersPer10s / 10, burst: ordersPer10s, store }) : undefined;
  const failOpen = (deps.rateLimitOnStoreFailure ?? 'open') === 'open';
  /** Asks a limiter; a store failure allows (fail open) or refuses with 503 (fail closed). */
  const checkLimit = async (limiter: RateLimiter, key: string): Promise<{ allowed: boolean; retryAfterMs: number }> => {
    try {
      return await limiter.check(key);
    } catch (err) {
      deps.onRateLimitStoreError?.(err);
      if (failOpen) return { allowed: true, retryAfterMs: 0 };
      throw new ApiError(503, ApiCode.ServiceUnavailable, 'Rate limiting is unavailable; retry shortly.', 1);
    }
  };
  const requestLimiter =
    requestsPerMinute > 0
      ? gcraLimiter({ ratePerSec: requestsPerMinute / 60, burst: requestsPerMinute, store })
      : undefined;
  if (requestLimiter !== undefined) {
    app.addHook('onRequest', async (req, reply) => {
      if (!req.url.startsWith('/api/')) return;
      const d = await checkLimit(requestLimiter, `ip:${req.ip}`);
      if (!d.allowed) {
        reply.header('retry-after', String(Math.ceil(d.retryAfterMs / 1000)));
        throw new ApiError(
          429,
          ApiCode.TooManyRequests,
          `Too many requests; current limit is ${requestsPerMinute} requests per minute.`,
        );
      }
    });
  }
  const keyCache = new Map<string, bigint>();

  const auth = async (req: FastifyRequest): Promise<bigint> => {
    const key = req.headers['x-mbx-apikey'];
    if (typeof key !== 'string' || !/^[A-Za-z0-9]{16,128}$/.test(key)) {
      throw new ApiError(401, ApiCode.BadApiKeyFormat, 'API-key format invalid.');
    }
    const cached = keyCache.get(key);
    if (cached !== undefined) return cached;
    const row = await db.selectFrom('api_keys').select('account_id').where('api_key', '=', key).executeTakeFirst();
    if (row === undefined)
      throw new ApiError(401, ApiCode.RejectedApiKey, 'Invalid API-key, IP, or permissions for action.');
    if (keyCache.size > 100_000) keyCache.clear();
    keyCache.set(key, row.account_id);
    return row.account_id;
  };

  const { settled } = createSettledReads({
    results: deps.results,
    ledger,
    ...(deps.settleWaitMs !== undefined ? { waitMs: deps.settleWaitMs } : {}),
  });
  const allSymbols = markets.list.map((m) => m.symbol);

  const symbolsParam = (p: Params): Market[] | undefined => {
    const one = p.opt('symbol');
    const many = p.opt('symbols');
    if (one !== undefined && many !== undefined) {
      throw badRequest(ApiCode.InvalidParameter, "Parameters 'symbol' and 'symbols' cannot be sent together.");
    }
    if (one !== undefined) return [marketOf(markets, one)];
    if (many !== undefined) {
      let list: unknown;
      try {
        list = JSON.parse(many);
      } catch {
        throw badRequest(ApiCode.IllegalChars, "Parameter 'symbols' must be a JSON array of symbols.");
      }
      if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string')) {
        throw badRequest(ApiCode.IllegalChars, "Parameter 'symbols' must be a JSON array of symbols.");
      }
      return (list as string[]).map((s) => marketOf(markets, s));
    }
    return undefined;
  };

  // ---------------------------------------------------------------- public market data

  app.get('/api/v3/ping', async (req) => {
    Params.from(req.query, undefined, []);
    return {};
  });

  app.get('/api/v3/time', async (req) => {
    Params.from(req.query, undefined, []);
    return { serverTime: deps.nowMs() };
  });

  app.get('/api/v3/exchangeInfo', async (req) => {
    const p = Params.from(req.query, undefined, ['symbol', 'symbols']);
    const list = symbolsParam(p) ?? markets.list;
    return {
      timezone: 'UTC',
      serverTime: deps.nowMs(),
      rateLimits: [],
      exchangeFilters: [],
      symbols: list.map((m) => {
        const f = formatOf(m);
        return {
          symbol: m.symbol,
          status: 'TRADING',
          baseAsset: m.baseAsset,
          baseAssetPrecision: m.baseDecimals,
          quoteAsset: m.quoteAsset,
          quotePrecision: m.quoteDecimals,
          quoteAssetPrecision: m.quoteDecimals,
          baseCommissionPrecision: m.baseDecimals,
          quoteCommissionPrecision: m.quoteDecimals,
          orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS', 'STOP_LOSS_LIMIT'],
          icebergAllowed: false,
          ocoAllowed: false,
          otoAllowed: false,
          quoteOrderQtyMarketAllowed: true,
          allowTrailingStop: false,
          cancelReplaceAllowed: false,
          isSpotTradingAllowed: true,
          isMarginTradingAllowed: false,
          filters: [
            {
              filterType: 'PRICE_FILTER',
              minPrice: f.price(1n),
              maxPrice: f.price(m.maxPriceTicks),
              tickSize: f.price(1n),
            },
            { filterType: 'LOT_SIZE', minQty: f.qty(m.minLots), maxQty: f.qty(m.maxLots), stepSize: f.qty(1n) },
            {
              filterType: 'NOTIONAL',
              minNotional: f.notional(m.minNotionalTickLots),
              applyMinToMarket: true,
              maxNotional: '9000000000.00000000',
              applyMaxToMarket: false,
              avgPriceMins: 0,
            },
          ],
          permissions: [],
          permissionSets: [['SPOT']],
          defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
          allowedSelfTradePreventionModes: Object.keys(STP_MODES),
        };
      }),
    };
  });

  app.get('/api/v3/depth', async (req) => {
    const p = Params.from(req.query, undefined, ['symbol', 'limit']);
    const m = marketOf(markets, p.req('symbol'));
    const limit = p.int('limit', 100, 1, 5000) as number;
    const d = marketData.depth(m.symbol, limit);
    const f = formatOf(m);
    return {
      lastUpdateId: d?.lastUpdateId ?? 0,
      bids: (d?.bids ?? []).map(([pr, q]) => [f.price(pr), f.qty(q)]),
      asks: (d?.asks ?? []).map(([pr, q]) => [f.price(pr), f.qty(q)]),
    };
  });

  app.get('/api/v3/trades', async (req) => {
    const p = Params.from(req.query, undefined, ['symbol', 'limit']);
    const m = marketOf(markets, p.req('symbol'));
    const f = formatOf(m);
    return marketData.recentTrades(m.symbol, p.int('limit', 500, 1, 1000) as number).map((t) => ({
      id: t.id,
      price: f.price(t.priceTicks),
      qty: f.qty(t.qtyLots),
      quoteQty: f.notional(BigInt(t.priceTicks) * BigInt(t.qtyLots)),
      time: t.timeMs,
      isBuyerMaker: t.isBuyerMaker,
      isBestMatch: true,
    }));
  });

  app.get('/api/v3/aggTrades', async (req) => {
    const p = Params.from(req.query, undefined, ['symbol', 'fromId', 'startTime', 'endTime', 'limit']);
    const m = marketOf(markets, p.req('symbol'));
    const f = formatOf(m);
    const q = {
      limit: p.int('limit', 500, 1, 1000) as number,
      ...(p.opt('fromId') !== undefined ? { fromId: p.int('fromId', 0, 0, Number.MAX_SAFE_INTEGER) as number } : {}),
      ...(p.opt('startTime') !== undefined
        ? { startTime: p.int('startTime', 0, 0, Number.MAX_SAFE_INTEGER) as number }
        : {}),
      ...(p.opt('endTime') !== undefined ? { endTime: p.int('endTime', 0, 0, Number.MAX_SAFE_INTEGER) as number } : {}),
    };
    return marketData.aggTrades(m.symbol, q).map((a) => ({
      a: a.id,
      p: f.price(a.priceTicks),
      q: f.qty(a.qtyLots),
      f: a.firstTradeId,
      l: a.lastTradeId,
      T: a.timeMs,
      m: a.isBuyerMaker,
      M: true,
    }));
  });

  app.get('/api/v3/klines', async (req) => {
    const p = Params.from(req.query, undefined, ['symbol', 'interval', 'startTime', 'endTime', 'timeZone', 'limit']);
    const m = marketOf(markets, p.req('symbol'));
    const interval = p.req('interval');
    if (!isInterval(interval)) throw badRequest(ApiCode.InvalidInterval, 'Invalid interval.');
    const f = formatOf(m);
    const q = {
      limit: p.int('limit', 500, 1, 1000) as number,
      ...(p.opt('startTime') !== undefined
        ? { startTime: p.int('startTime', 0, 0, Number.MAX_SAFE_INTEGER) as number }
        : {}),
      ...(p.opt('endTime') !== undefined ? { endTime: p.int('endTime', 0, 0, Number.MAX_SAFE_INTEGER) as number } : {}),
    };
    return marketData
      .klines(m.symbol, interval, q)
      .map((c) => [
        c.openTime,
        f.price(c.open),
        f.price(c.high),
        f.price(c.low),
        f.price(c.close),
        f.qty(c.volumeLots),
        c.closeTime,
        f.notional(c.quoteTickLots),
        c.trades,
        f.qty(c.takerBuyLots),
        f.notional(c.takerBuyQuoteTickLots),
        '0',
      ]);
  });

  const ticker24 = (m: Market) => ticker24View(m, marketData);

  app.get('/api/v3/ticker/24hr', async (req) => {
    const p = Params.from(req.query, undefined, ['symbol', 'symbols', 'type']);
    const list = symbolsParam(p);
    if (list !== undefined && p.opt('symbol') !== undefined) return ticker24(list[0] as Market);
    return (list ?? markets.list).map(ticker24);
  });

  app.get('/api/v3/ticker/price', async (req) => {
    const p = Params.from(req.query, undefined, ['symbol', 'symbols']);
    const list = symbolsParam(p);
    const view = (m: Market) => ({
      symbol: m.symbol,
      price: formatOf(m).price(marketData.ticker24h(m.symbol)?.last ?? 0),
    });
    if (list !== undefined && p.opt('symbol') !== undefined) return view(list[0] as Market);
    return (list ?? markets.list).map(view);
  });

  app.get('/api/v3/ticker/bookTicker', async (req) => {
    const p = Params.from(req.query, undefined, ['symbol', 'symbols']);
    const list = symbolsParam(p);
    const view = (m: Market) => {
      const b = marketData.bookTicker(m.symbol);
      const f = formatOf(m);
      return {
        symbol: m.symbol,
        bidPrice: f.price(b?.bid?.[0] ?? 0),
        bidQty: f.qty(b?.bid?.[1] ?? 0),
        askPrice: f.price(b?.ask?.[0] ?? 0),
        askQty: f.qty(b?.ask?.[1] ?? 0),
      };
    };
    if (list !== undefined && p.opt('symbol') !== undefined) return view(list[0] as Market);
    return (list ?? markets.list).map(view);
  });

  // ---------------------------------------------------------------- orders

  const ORDER_PARAMS = [
    'symbol',
    'side',
    'type',
    'timeInForce',
    'quantity',
    'quoteOrderQty',
    'price',
    'newClientOrderId',
    'stopPrice',
    'selfTradePreventionMode',
    'newOrderRespType',
    'strategyId',
    'strategyType',
    'icebergQty',
    ...SIGNED,
  ];

  const parseOrder = (p: Params, accountId: bigint): { input: PlaceOrderInput; respType: string; market: Market } => {
    const m = marketOf(markets, p.req('symbol'));
    const side = p.enumOf('side', ['BUY', 'SELL'] as const, ApiCode.InvalidSide);
    if (side === undefined) throw mandatory('side');
    const type = p.enumOf('type', ORDER_TYPES, ApiCode.InvalidOrderType);
    if (type === undefined) throw mandatory('type');
    if (type === 'TAKE_PROFIT' || type === 'TAKE_PROFIT_LIMIT') {
      throw badRequest(ApiCode.InvalidOrderType, `Order type ${type} is not supported.`);
    }
    const iceberg = p.opt('icebergQty');
    if (iceberg !== undefined && !/^0*(\.0*)?$/.test(iceberg)) {
      throw badRequest(ApiCode.UnsupportedOperation, 'Iceberg orders are not supported.');
    }
    const tifRaw = p.enumOf('timeInForce', ['GTC', 'IOC', 'FOK'] as const, ApiCode.InvalidTimeInForce);
    const price = stepsParam(p, 'price', m.tickSize, 'PRICE_FILTER');
    const stopPrice = stepsParam(p, 'stopPrice', m.tickSize, 'PRICE_FILTER');
    const qty = stepsParam(p, 'quantity', m.stepSize, 'LOT_SIZE');
    const quoteRaw = p.opt('quoteOrderQty');
    let quoteQtyMinor: bigint | undefined;
    if (quoteRaw !== undefined) {
      const v = parseMinor(quoteRaw, m.quoteDecimals);
      if (v === null) throw badRequest(ApiCode.BadPrecision, "Parameter 'quoteOrderQty' has too much precision.");
      if (v <= 0n) throw badRequest(ApiCode.InvalidParameter, "Parameter 'quoteOrderQty' must be greater than zero.");
      quoteQtyMinor = v;
    }
    const stpRaw =
      p.enumOf('selfTradePreventionMode', Object.keys(STP_MODES), ApiCode.InvalidParameter) ?? 'EXPIRE_MAKER';
    const respType = p.enumOf('newOrderRespType', ['ACK', 'RESULT', 'FULL'] as const, ApiCode.InvalidParameter);
    let clientOrderId = p.opt('newClientOrderId');
    if (clientOrderId !== undefined && !CLIENT_ID_RE.test(clientOrderId)) {
      throw badRequest(
        ApiCode.IllegalChars,
        "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_.:]{1,36}$'.",
      );
    }
    // randomUUID draws from a cached entropy pool: far cheaper than randomBytes per order.
    clientOrderId ??= `x-${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    const notRequired = (name: string): never => {
      throw badRequest(ApiCode.InvalidParameter, `Parameter '${name}' sent when not required.`);
    };
    const base = {
      accountId,
      symbol: m.symbol,
      clientOrderId,
      side: side === 'BUY' ? ('buy' as const) : ('sell' as const),
      apiType: type,
      stp: STP_MODES[stpRaw] as StpModeName,
    };
    let input: PlaceOrderInput;
    switch (type) {
      case 'LIMIT':
      case 'LIMIT_MAKER':
      case 'STOP_LOSS_LIMIT': {
        if (tifRaw === undefined && type !== 'LIMIT_MAKER') throw mandatory('timeInForce');
        if (tifRaw !== undefined && type === 'LIMIT_MAKER') notRequired('timeInForce');
        if (qty === undefined) throw mandatory('quantity');
        if (price === undefined) throw mandatory('price');
        if (quoteQtyMinor !== undefined) notRequired('quoteOrderQty');
        const isStop = type === 'STOP_LOSS_LIMIT';
        if (isStop && stopPrice === undefined) throw mandatory('stopPrice');
        if (!isStop && stopPrice !== undefined) notRequired('stopPrice');
        input = {
          ...base,
          type: isStop ? 'stopLimit' : 'limit',
          tif: tifRaw ?? 'GTC',
          postOnly: type === 'LIMIT_MAKER',
          priceTicks: price,
          qtyLots: qty,
          ...(isStop ? { stopPriceTicks: stopPrice as bigint } : {}),
        };
        break;
      }
      case 'MARKET':
      case 'STOP_LOSS': {
        if (tifRaw !== undefined) notRequired('timeInForce');
        if (price !== undefined) notRequired('price');
        if ((qty === undefined) === (quoteQtyMinor === undefined)) {
          throw badRequest(ApiCode.InvalidParameter, "Exactly one of 'quantity' or 'quoteOrderQty' must be sent.");
        }
        const isStop = type === 'STOP_LOSS';
        if (isStop && stopPrice === undefined) throw mandatory('stopPrice');
        if (!isStop && stopPrice !== undefined) notRequired('stopPrice');
        input = {
          ...base,
          type: isStop ? 'stopMarket' : 'market',
          tif: 'IOC',
          postOnly: false,
          ...(qty !== undefined ? { qtyLots: qty } : {}),
          ...(quoteQtyMinor !== undefined ? { quoteQtyMinor } : {}),
          ...(isStop ? { stopPriceTicks: stopPrice as bigint } : {}),
        };
        break;
      }
    }
    const defaultResp = type === 'LIMIT' || type === 'MARKET' ? 'FULL' : 'ACK';
    return { input, respType: respType ?? defaultResp, market: m };
  };

  const rejectionError = (reason: string): ApiError => {
    const msg: Record<string, string> = {
      POST_ONLY_WOULD_TAKE: 'Order would immediately match and take.',
      STOP_WOULD_TRIGGER_IMMEDIATELY: 'Order would trigger immediately.',
    };
    return badRequest(ApiCode.NewOrderRejected, msg[reason] ?? `Order rejected: ${reason}.`);
  };

  /** Builds RESULT/FULL fields from the events of the command that placed `o`. */
  const resultFromEvents = (o: OrderRecord, m: Market, events: BookEvent[]) => {
    const f = formatOf(m);
    let executed = 0n;
    let cumTickLots = 0n;
    let status = 'NEW';
    const fills: { price: string; qty: string; commission: string; commissionAsset: string; tradeId: number }[] = [];
    const id = Number(o.id);
    const takerBps = BigInt(deps.fees.takerBps);
    for (const e of events) {
      if (e.type === 'rejected' && e.orderId === id) throw rejectionError(e.reason);
      if (e.type === 'trade' && e.takerOrderId === id) {
        const qty = BigInt(e.qtyLots);
        const tickLots = BigInt(e.priceTicks) * qty;
        executed += qty;
        cumTickLots += tickLots;
        status = 'PARTIALLY_FILLED';
        const received = o.side === 'buy' ? qty * m.baseMinorPerLot : tickLots * m.quoteMinorPerTickLot;
        const fee = (received * takerBps) / 10_000n;
        fills.push({
          price: f.price(e.priceTicks),
          qty: f.qty(e.qtyLots),
          commission: o.side === 'buy' ? f.base(fee) : f.quote(fee),
          commissionAsset: o.side === 'buy' ? m.baseAsset : m.quoteAsset,
          tradeId: e.tradeId,
        });
      }
      if (e.type === 'done' && e.orderId === id) {
        status = statusOfDone(e.reason, e.cause);
      }
    }
    return { executed, cumQuote: cumTickLots * m.quoteMinorPerTickLot, status, fills };
  };

  app.post('/api/v3/order', (req, reply) =>
    tracingEnabled()
      ? inSpan(
          'POST /api/v3/order',
          {
            kind: SpanKind.SERVER,
            parent: contextFromCarrier(req.headers),
            attributes: { 'http.request.method': 'POST', 'http.route': '/api/v3/order' },
          },
          (span) => placeOrder(req, reply, span),
        )
      : placeOrder(req, reply, undefined),
  );

  const placeOrder = async (req: FastifyRequest, reply: FastifyReply, span: Span | undefined) => {
    const accountId = await auth(req);
    const p = Params.from(req.query, req.body, ORDER_PARAMS);
    const { input, respType, market } = parseOrder(p, accountId);
    if (orderLimiter !== undefined) {
      const d = await checkLimit(orderLimiter, `orders:${accountId}`);
      if (!d.allowed) {
        throw new ApiError(
          429,
          ApiCode.TooManyOrders,
          `Too many new orders; current limit is ${ordersPer10s} orders per 10 SECOND.`,
          Math.ceil(d.retryAfterMs / 1000),
        );
      }
    }
    span?.setAttribute('ballast.symbol', input.symbol);
    // The client's connection: an order still waiting for an oms slot when its client hangs up
    // is not sent (no one would learn its id). Cancels get no such signal: a cancel is sent even
    // if its client left, rather than leave an order the client meant to end resting.
    let r;
    try {
      r = await oms.place(input, { signal: clientSignal(reply) });
    } catch (err) {
      // Sent to an oms that never answered: the order may stand, or be written later still (an
      // oms that has it in a batch being written), so a look-up that finds nothing proves
      // nothing. Sending it again with its client order id (the client's own, or the one made
      // here) is what settles it: answered with the order if it stands, placed once if not.
      if (isBallastError(err) && err.code === ErrorCode.OutcomeUnknown)
        throw new ApiError(
          503,
          ApiCode.OutcomeUnknown,
          `${OUTCOME_UNKNOWN_MSG} Send it again with newClientOrderId=${input.clientOrderId}: you get the order if it stands, or it is placed once.`,
          1,
          err,
        );
      throw err;
    }
    if (r.ok) span?.setAttribute('ballast.order_id', Number(r.order.id));
    if (!r.ok) {
      const code =
        r.reason._tag === 'UnknownSymbol'
          ? ApiCode.BadSymbol
          : r.reason._tag === 'FilterFailure'
            ? ApiCode.FilterFailure
            : ApiCode.NewOrderRejected;
      throw badRequest(code, r.reason.message);
    }
    const o = r.order;
    const ack = {
      symbol: o.symbol,
      orderId: Number(o.id),
      orderListId: -1,
      clientOrderId: o.clientOrderId,
      transactTime: o.createdMs,
    };
    // A rejection names no account: should matching reject this order (whether the answer waits
    // for it or not), this account's next reads wait for the ledger to release its reservation.
    if (r.cmdSeq !== undefined) deps.results.noteIfRejected(accountId, o.symbol, r.cmdSeq, r.cmdPart);
    if (respType === 'ACK') return ack;
    let events: BookEvent[] | undefined;
    if (r.cmdSeq !== undefined) events = await deps.results.wait(o.symbol, r.cmdSeq, waitMs, r.cmdPart);
    const view = orderView(o, market);
    const result = events === undefined ? undefined : resultFromEvents(o, market, events);
    const f = formatOf(market);
    const body = {
      ...ack,
      price: view.price,
      origQty: view.origQty,
      executedQty: result === undefined ? view.executedQty : f.qty(result.executed),
      origQuoteOrderQty: view.origQuoteOrderQty,
      cummulativeQuoteQty: result === undefined ? view.cummulativeQuoteQty : f.quote(result.cumQuote),
      status: result?.status ?? o.status,
      timeInForce: o.tif,
      type: o.type,
      side: view.side,
      workingTime: o.createdMs,
      selfTradePreventionMode: view.selfTradePreventionMode,
      ...(o.stopPriceTicks > 0n ? { stopPrice: view.stopPrice } : {}),
    };
    return respType === 'FULL' ? { ...body, fills: result?.fills ?? [] } : body;
  };

  const orderRef = (p: Params): { orderId?: bigint; clientOrderId?: string } => {
    const id = p.opt('orderId');
    const cid = p.opt('origClientOrderId');
    if (id === undefined && cid === undefined) throw mandatory('orderId');
    if (id !== undefined && !/^\d{1,16}$/.test(id))
      throw badRequest(ApiCode.InvalidParameter, "Parameter 'orderId' must be an integer.");
    return {
      ...(id !== undefined ? { orderId: BigInt(id) } : {}),
      ...(cid !== undefined ? { clientOrderId: cid } : {}),
    };
  };

  app.get('/api/v3/order', async (req) => {
    const accountId = await auth(req);
    const p = Params.from(req.query, undefined, ['symbol', 'orderId', 'origClientOrderId', ...SIGNED]);
    const m = marketOf(markets, p.req('symbol'));
    const ref = orderRef(p);
    await settled(accountId, [m.symbol]);
    const o = await findOrder(db, accountId, { ...ref, symbol: m.symbol });
    if (o === undefined) throw badRequest(ApiCode.NoSuchOrder, 'Order does not exist.');
    return orderView(o, m);
  });

  const cancelOne = async (accountId: bigint, m: Market, ref: { orderId?: bigint; clientOrderId?: string }) => {
    const r = await oms.cancel({ accountId, symbol: m.symbol, ...ref });
    if (!r.ok) {
      throw badRequest(
        r.reason._tag === 'NoSuchOrder' ? ApiCode.NoSuchOrder : ApiCode.CancelRejected,
        r.reason._tag === 'NoSuchOrder' ? 'Order does not exist.' : 'Unknown order sent.',
      );
    }
    const events = await deps.results.wait(m.symbol, r.cmdSeq, waitMs, r.cmdPart);
    const id = Number(r.order.id);
    if (events === undefined)
      throw new ApiError(
        503,
        ApiCode.OutcomeUnknown,
        'Cancel sent; its result is not known yet (execution status unknown). Query the order.',
        1,
      );
    const rejected = events.find((e) => e.type === 'rejected' && e.orderId === id);
    if (rejected !== undefined) throw badRequest(ApiCode.CancelRejected, 'Unknown order sent.');
    const done = events.find((e) => e.type === 'done' && e.orderId === id);
    const view = orderView(r.order, m, {
      status: 'CANCELED',
      ...(done?.type === 'done' ? { executedLots: BigInt(done.filledLots) } : {}),
    });
    return {
      symbol: m.symbol,
      origClientOrderId: r.order.clientOrderId,
      orderId: id,
      orderListId: -1,
      clientOrderId: `cancel-${id}`,
      transactTime: deps.nowMs(),
      price: view.price,
      origQty: view.origQty,
      executedQty: view.executedQty,
      cummulativeQuoteQty: view.cummulativeQuoteQty,
      status: 'CANCELED',
      timeInForce: view.timeInForce,
      type: view.type,
      side: view.side,
      selfTradePreventionMode: view.selfTradePreventionMode,
    };
  };

  app.delete('/api/v3/order', async (req) => {
    const accountId = await auth(req);
    const p = Params.from(req.query, req.body, [
      'symbol',
      'orderId',
      'origClientOrderId',
      'newClientOrderId',
      'cancelRestrictions',
      ...SIGNED,
    ]);
    const m = marketOf(markets, p.req('symbol'));
    return cancelOne(accountId, m, orderRef(p));
  });

  app.delete('/api/v3/openOrders', async (req) => {
    const accountId = await auth(req);
    const p = Params.from(req.query, req.body, ['symbol', ...SIGNED]);
    const m = marketOf(markets, p.req('symbol'));
    const open = await db
      .selectFrom('orders')
      .select('id')
      .where('account_id', '=', accountId)
      .where('symbol', '=', m.symbol)
      .where('status', 'in', OPEN)
      .orderBy('id')
      .execute();
    return cancelAll(
      open.map((o) => o.id),
      (orderId) => cancelOne(accountId, m, { orderId }),
    );
  });

  app.get('/api/v3/openOrders', async (req) => {
    const accountId = await auth(req);
    const p = Params.from(req.query, undefined, ['symbol', ...SIGNED]);
    const sym = p.opt('symbol');
    const m = sym === undefined ? undefined : marketOf(markets, sym);
    await settled(accountId, m === undefined ? allSymbols : [m.symbol]);
    let q = db.selectFrom('orders').selectAll().where('account_id', '=', accountId).where('status', 'in', OPEN);
    if (m !== undefined) q = q.where('symbol', '=', m.symbol);
    const rows = await q.orderBy('id').limit(1000).execute();
    return rows.map((r) => orderView(toOrderRecord(r), markets.bySymbol.get(r.symbol) as Market));
  });

  app.get('/api/v3/allOrders', async (req) => {
    const accountId = await auth(req);
    const p = Params.from(req.query, undefined, ['symbol', 'orderId', 'startTime', 'endTime', 'limit', ...SIGNED]);
    const m = marketOf(markets, p.req('symbol'));
    let q = db.selectFrom('orders').selectAll().where('account_id', '=', accountId).where('symbol', '=', m.symbol);
    const fromId = p.int('orderId', undefined, 0, Number.MAX_SAFE_INTEGER);
    const start = p.int('startTime', undefined, 0, Number.MAX_SAFE_INTEGER);
    const end = p.int('endTime', undefined, 0, Number.MAX_SAFE_INTEGER);
    if (fromId !== undefined) q = q.where('id', '>=', BigInt(fromId));
    if (start !== undefined) q = q.where('created_ms', '>=', BigInt(start));
    if (end !== undefined) q = q.where('created_ms', '<=', BigInt(end));
    const limit = p.int('limit', 500, 1, 1000) as number;
    await settled(accountId, [m.symbol]);
    const rows =
      fromId !== undefined || start !== undefined
        ? await q.orderBy('id').limit(limit).execute()
        : (await q.orderBy('id', 'desc').limit(limit).execute()).reverse();
    return rows.map((r) => orderView(toOrderRecord(r), m));
  });

  app.get('/api/v3/account', async (req) => {
    const accountId = await auth(req);
    Params.from(req.query, undefined, ['omitZeroBalances', ...SIGNED]);
    await settled(accountId, allSymbols);
    const rows = await db.selectFrom('balances').selectAll().where('account_id', '=', accountId).execute();
    const byAsset = new Map(rows.map((r) => [r.asset, r]));
    return {
      makerCommission: Math.round(deps.fees.makerBps),
      takerCommission: Math.round(deps.fees.takerBps),
      buyerCommission: 0,
      sellerCommission: 0,
      commissionRates: {
        maker: formatMinor(BigInt(deps.fees.makerBps) * 10_000n, 8),
        taker: formatMinor(BigInt(deps.fees.takerBps) * 10_000n, 8),
        buyer: '0.00000000',
        seller: '0.00000000',
      },
      canTrade: true,
      canWithdraw: true,
      canDeposit: true,
      brokered: false,
      requireSelfTradePrevention: false,
      preventSor: false,
      updateTime: deps.nowMs(),
      accountType: 'SPOT',
      balances: [...markets.assets.values()].map((a) => {
        const b = byAsset.get(a.asset);
        return {
          asset: a.asset,
          free: formatMinor(b?.available ?? 0n, a.decimals),
          locked: formatMinor(b?.reserved ?? 0n, a.decimals),
        };
      }),
      permissions: ['SPOT'],
      uid: Number(accountId),
    };
  });

  app.get('/api/v3/myTrades', async (req) => {
    const accountId = await auth(req);
    const p = Params.from(req.query, undefined, [
      'symbol',
      'orderId',
      'startTime',
      'endTime',
      'fromId',
      'limit',
      ...SIGNED,
    ]);
    const m = marketOf(markets, p.req('symbol'));
    const f = formatOf(m);
    let q = db
      .selectFrom('trades')
      .selectAll()
      .where('symbol', '=', m.symbol)
      .where((eb) => eb.or([eb('buyer_account', '=', accountId), eb('seller_account', '=', accountId)]));
    const orderId = p.int('orderId', undefined, 0, Number.MAX_SAFE_INTEGER);
    const fromId = p.int('fromId', undefined, 0, Number.MAX_SAFE_INTEGER);
    const start = p.int('startTime', undefined, 0, Number.MAX_SAFE_INTEGER);
    const end = p.int('endTime', undefined, 0, Number.MAX_SAFE_INTEGER);
    if (orderId !== undefined) {
      q = q.where((eb) =>
        eb.or([eb('buyer_order_id', '=', BigInt(orderId)), eb('seller_order_id', '=', BigInt(orderId))]),
      );
    }
    if (fromId !== undefined) q = q.where('trade_id', '>=', BigInt(fromId));
    if (start !== undefined) q = q.where('time_ms', '>=', BigInt(start));
    if (end !== undefined) q = q.where('time_ms', '<=', BigInt(end));
    const limit = p.int('limit', 500, 1, 1000) as number;
    await settled(accountId, [m.symbol]);
    const rows = (await q.orderBy('trade_id', 'desc').limit(limit).execute()).reverse();
    const out = [];
    for (const t of rows) {
      // A self-trade has the account on both sides: one row per side, as Binance does.
      const sides: boolean[] = [];
      if (t.buyer_account === accountId) sides.push(true);
      if (t.seller_account === accountId) sides.push(false);
      for (const isBuyer of sides) {
        out.push({
          symbol: m.symbol,
          id: Number(t.trade_id),
          orderId: Number(isBuyer ? t.buyer_order_id : t.seller_order_id),
          orderListId: -1,
          price: f.price(t.price_ticks),
          qty: f.qty(t.qty_lots),
          quoteQty: f.quote(t.quote_minor),
          commission: isBuyer ? f.base(t.buyer_fee_minor) : f.quote(t.seller_fee_minor),
          commissionAsset: isBuyer ? m.baseAsset : m.quoteAsset,
          time: Number(t.time_ms),
          isBuyer,
          isMaker: isBuyer === (t.buyer_is_maker === 1n),
          isBestMatch: true,
        });
      }
    }
    return out;
  });

  // ---------------------------------------------------------------- dev conveniences

  if (deps.dev) {
    app.post('/dev/accounts', async (req) => {
      Params.from(req.query, req.body, []);
      return createAccount(db, deps.nowMs());
    });
    app.post('/dev/faucet', async (req) => {
      const accountId = await auth(req);
      const p = Params.from(req.query, req.body, ['asset', 'amount']);
      const asset = p.req('asset');
      const a = markets.assets.get(asset);
      if (a === undefined) throw badRequest(ApiCode.InvalidParameter, `Unknown asset '${asset}'.`);
      const amount = parseMinor(p.req('amount'), a.decimals);
      if (amount === null || amount <= 0n) throw mandatory('amount');
      if (amount > 1_000_000n * 10n ** BigInt(a.decimals)) {
        throw badRequest(ApiCode.InvalidParameter, 'The faucet gives at most 1000000 of an asset per call.');
      }
      const r = await deps.ledger.deposit(accountId, asset, amount, `faucet-${randomBytes(12).toString('hex')}`);
      if (!r.ok) throw badRequest(ApiCode.InvalidParameter, r.reason);
      return { asset, amount: p.req('amount') };
    });
  }
}

/** Creates a user account with a fresh API key. */
export async function createAccount(
  db: Kysely<Database>,
  nowMs: number,
): Promise<{ accountId: number; apiKey: string }> {
  return db.transaction().execute(async (trx) => {
    const acct = await trx
      .insertInto('accounts')
      .values({ kind: 'user', created_ms: nowMs })
      .returning('id')
      .executeTakeFirstOrThrow();
    const apiKey = randomBytes(32).toString('hex');
    await trx.insertInto('api_keys').values({ api_key: apiKey, account_id: acct.id, created_ms: nowMs }).execute();
    return { accountId: Number(acct.id), apiKey };
  });
}
