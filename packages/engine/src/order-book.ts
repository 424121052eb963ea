/**
 * The order book of one symbol: a deterministic price-time matching engine.
 *
 * Pure: no I/O, no clock, no randomness. The same sequence of commands always yields the same
 * events, field for field, so any replica can rebuild a book from the command log (or from a
 * {@link OrderBook.snapshot} plus the commands after it) and carry on.
 *
 * @module
 */
import { BookSide } from './internal/book-side.ts';
import type { Level } from './internal/level.ts';
import { IdStatus, IdWindow } from './internal/id-window.ts';
import { Order } from './internal/order.ts';
import { decodeSnapshot, encodeSnapshot, type SnapshotState } from './internal/snapshot-codec.ts';
import { validateAmend, validateCancel, validatePlace } from './internal/validate.ts';
import {
  DoneCause,
  DoneReason,
  OrderType,
  RejectReason,
  Side,
  StpMode,
  TimeInForce,
  type AmendCommand,
  type BookEvent,
  type CancelCommand,
  type Command,
  type DepthLevel,
  type OrderBookConfig,
  type OrderView,
  type PlaceCommand,
} from './types.ts';

const DEFAULT_DEDUP_WINDOW = 1 << 20;

/** Counters describing a book, as returned by {@link OrderBook.stats}. */
export interface BookStats {
  /** Orders resting in the book (pending stops excluded). */
  readonly restingOrders: number;
  readonly bidLevels: number;
  readonly askLevels: number;
  /** Stop orders waiting for their trigger. */
  readonly pendingStops: number;
  /** Trades since the book began. */
  readonly trades: number;
  /** Lots traded since the book began. */
  readonly tradedLots: number;
  /** Sequence number of the last event. */
  readonly seq: number;
  /** Last trade price in ticks, 0 before the first trade. */
  readonly lastTradePriceTicks: number;
}

/**
 * A limit order book with price-time priority.
 *
 * Apply commands with {@link OrderBook.apply}; each returns its events in order, numbered by a
 * per-book sequence. Invalid commands are rejected with a {@link RejectReason} (never thrown).
 *
 * @example
 * ```ts
 * const book = new OrderBook()
 * book.apply({ type: 'place', orderId: 1, account: 7, side: 'sell', orderType: 'limit', priceTicks: 100, qtyLots: 5, timeMs: 0 })
 * const events = book.apply({ type: 'place', orderId: 2, account: 8, side: 'buy', orderType: 'market', qtyLots: 2, timeMs: 1 })
 * // accepted(2), trade(maker 1, taker 2, 100 × 2), level(sell 100 → 3), done(2, filled)
 * ```
 */
export class OrderBook {
  readonly #bids = new BookSide(true);
  readonly #asks = new BookSide(false);
  /** Buy stops trigger when the last price rises to their trigger: lowest trigger first. */
  readonly #buyStops = new BookSide(false);
  /** Sell stops trigger when the last price falls to their trigger: highest trigger first. */
  readonly #sellStops = new BookSide(true);
  /** Live orders (resting and pending stops) by id. */
  readonly #orders = new Map<number, Order>();
  /** Used ids near the highest one, for duplicate rejection after their orders ended. */
  readonly #ids: IdWindow;
  readonly #defaultStp: StpMode;
  #seq = 0;
  #tradeSeq = 0;
  #tradedLots = 0;
  #lastTradePrice = 0;
  #restingCount = 0;
  #timeMs = 0;
  #out: BookEvent[] = [];

  /**
   * Creates an empty book.
   *
   * @param config.defaultStp - Self-trade prevention for orders that name none. @default 'none'
   * @param config.dedupWindow - Order ids below the highest one seen that are still told apart
   *   (rounded up to a power of two); older ids are rejected as `ORDER_ID_TOO_OLD`. @default 1048576
   */
  constructor(config: OrderBookConfig = {}) {
    const stp = config.defaultStp ?? StpMode.None;
    if (!Object.values(StpMode).includes(stp)) throw new RangeError(`invalid defaultStp: ${String(stp)}`);
    const window = config.dedupWindow ?? DEFAULT_DEDUP_WINDOW;
    if (!Number.isSafeInteger(window) || window < 1) {
      throw new RangeError(`invalid dedupWindow: ${String(window)}`);
    }
    this.#defaultStp = stp;
    this.#ids = new IdWindow(window);
  }

  /**
   * Applies one command and returns the events it caused, in order. Never throws on bad input:
   * a malformed command yields one `rejected` event and changes nothing else.
   */
  apply(cmd: Command): BookEvent[] {
    const out: BookEvent[] = [];
    this.#out = out;
    if (typeof cmd !== 'object' || cmd === null) {
      this.#reject(0, 'unknown', RejectReason.InvalidCommand);
      return out;
    }
    switch (cmd.type) {
      case 'place':
        this.#place(cmd);
        break;
      case 'cancel':
        this.#cancel(cmd);
        break;
      case 'amend':
        this.#amend(cmd);
        break;
      default:
        this.#reject(0, 'unknown', RejectReason.InvalidCommand);
    }
    return out;
  }

  /** Counters: resting orders, levels, trades, sequence. */
  stats(): BookStats {
    return {
      restingOrders: this.#restingCount,
      bidLevels: this.#bids.levels.length,
      askLevels: this.#asks.levels.length,
      pendingStops: this.#orders.size - this.#restingCount,
      trades: this.#tradeSeq,
      tradedLots: this.#tradedLots,
      seq: this.#seq,
      lastTradePriceTicks: this.#lastTradePrice,
    };
  }

  /** Sequence number of the last event emitted (0 for a new book). */
  get seq(): number {
    return this.#seq;
  }

  /** Best bid price in ticks, or `undefined` when there are no bids. */
  bestBid(): number | undefined {
    return this.#bids.best()?.priceTicks;
  }

  /** Best ask price in ticks, or `undefined` when there are no asks. */
  bestAsk(): number | undefined {
    return this.#asks.best()?.priceTicks;
  }

  /** Up to `maxLevels` levels of `side`, best first. */
  depth(side: Side, maxLevels = Number.POSITIVE_INFINITY): DepthLevel[] {
    const levels = (side === Side.Buy ? this.#bids : this.#asks).levels;
    const result: DepthLevel[] = [];
    for (let i = levels.length - 1; i >= 0 && result.length < maxLevels; i--) {
      const l = levels[i] as Level;
      result.push({ priceTicks: l.priceTicks, qtyLots: l.qtyLots, orders: l.count });
    }
    return result;
  }

  /** Orders of one level of `side` in time priority (ids), or `[]` when there is no such level. */
  levelOrders(side: Side, priceTicks: number): number[] {
    const level = (side === Side.Buy ? this.#bids : this.#asks).byPrice.get(priceTicks);
    const ids: number[] = [];
    for (let o = level?.head ?? null; o !== null; o = o.next) ids.push(o.orderId);
    return ids;
  }

  /** A copy of a live order (resting or pending stop), or `undefined`. */
  getOrder(orderId: number): OrderView | undefined {
    const o = this.#orders.get(orderId);
    if (o === undefined) return undefined;
    return {
      orderId: o.orderId,
      account: o.account,
      side: o.side,
      orderType: o.orderType,
      priceTicks: o.priceTicks,
      triggerPriceTicks: o.triggerPriceTicks,
      openLots: o.openLots,
      filledLots: o.filledLots,
      pending: o.pending,
    };
  }

  /**
   * The whole state as bytes (UTF-8 JSON, deterministic). {@link OrderBook.restore} of these bytes
   * followed by the same commands yields byte-identical events to the book that took the snapshot.
   */
  snapshot(): Uint8Array {
    const state: SnapshotState = {
      defaultStp: this.#defaultStp,
      dedupWindow: this.#ids.size,
      seq: this.#seq,
      tradeSeq: this.#tradeSeq,
      tradedLots: this.#tradedLots,
      lastTradePriceTicks: this.#lastTradePrice,
      ids: this.#ids.toJSON(),
      sides: [this.#bids.levels, this.#asks.levels, this.#buyStops.levels, this.#sellStops.levels],
    };
    return encodeSnapshot(state);
  }

  /**
   * Rebuilds a book from {@link OrderBook.snapshot} bytes.
   *
   * @throws {RangeError} when the bytes are not a valid snapshot.
   */
  static restore(bytes: Uint8Array): OrderBook {
    const s = decodeSnapshot(bytes);
    const book = new OrderBook({ defaultStp: s.defaultStp, dedupWindow: s.dedupWindow });
    book.#seq = s.seq;
    book.#tradeSeq = s.tradeSeq;
    book.#tradedLots = s.tradedLots;
    book.#lastTradePrice = s.lastTradePriceTicks;
    if (!book.#ids.load(s.ids)) throw new RangeError('invalid order book snapshot: ids');
    const sides = [book.#bids, book.#asks, book.#buyStops, book.#sellStops] as const;
    for (let i = 0; i < sides.length; i++) {
      const side = sides[i] as BookSide;
      for (const lvl of s.sides[i] ?? []) {
        const level = side.getOrCreate(lvl.priceTicks);
        for (const o of lvl.orders) {
          level.append(o);
          book.#orders.set(o.orderId, o);
          if (!o.pending) book.#restingCount++;
        }
      }
    }
    return book;
  }

  // ---------------------------------------------------------------- commands

  #place(c: PlaceCommand): void {
    const invalid = validatePlace(c);
    if (invalid !== null) {
      this.#reject(Number.isSafeInteger(c.orderId) ? c.orderId : 0, 'place', invalid);
      return;
    }
    const id = c.orderId;
    const idStatus = this.#ids.check(id);
    if (idStatus !== IdStatus.Fresh || this.#orders.has(id)) {
      const reason = idStatus === IdStatus.TooOld ? RejectReason.OrderIdTooOld : RejectReason.DuplicateOrderId;
      this.#reject(id, 'place', reason);
      return;
    }
    const type = c.orderType;
    const isBuy = c.side === Side.Buy;
    const isStop = type === OrderType.StopLimit || type === OrderType.StopMarket;
    const trigger = c.triggerPriceTicks ?? 0;
    if (isStop && this.#lastTradePrice > 0) {
      const last = this.#lastTradePrice;
      if (isBuy ? last >= trigger : last <= trigger) {
        this.#reject(id, 'place', RejectReason.StopWouldTriggerImmediately);
        return;
      }
    }
    const price = c.priceTicks ?? 0;
    if (c.postOnly === true && this.#crosses(isBuy, price)) {
      this.#reject(id, 'place', RejectReason.PostOnlyWouldTake);
      return;
    }
    const byQuote = c.quoteLots !== undefined;
    const qtyLimited = c.qtyLots !== undefined;
    const o = new Order(
      id,
      c.account,
      c.side,
      type,
      c.tif ?? TimeInForce.GTC,
      c.postOnly === true,
      c.stp ?? this.#defaultStp,
      price,
      trigger,
      qtyLimited ? (c.qtyLots as number) : 0,
      0,
      byQuote ? (c.quoteLots as number) : 0,
      byQuote,
      qtyLimited,
      c.timeMs,
      isStop,
    );
    this.#timeMs = c.timeMs;
    this.#ids.add(id);
    this.#out.push({ seq: ++this.#seq, type: 'accepted', orderId: id });
    if (isStop) {
      (isBuy ? this.#buyStops : this.#sellStops).getOrCreate(trigger).append(o);
      this.#orders.set(id, o);
      return;
    }
    this.#execute(o);
    this.#triggerStops();
  }

  #cancel(c: CancelCommand): void {
    const invalid = validateCancel(c);
    if (invalid !== null) {
      this.#reject(Number.isSafeInteger(c.orderId) ? c.orderId : 0, 'cancel', invalid);
      return;
    }
    const o = this.#orders.get(c.orderId);
    if (o === undefined) {
      this.#reject(c.orderId, 'cancel', RejectReason.UnknownOrder);
      return;
    }
    if (c.account !== undefined && c.account !== o.account) {
      this.#reject(c.orderId, 'cancel', RejectReason.AccountMismatch);
      return;
    }
    this.#timeMs = c.timeMs;
    const level = o.level as Level;
    const remaining = o.openLots;
    level.unlink(o);
    this.#orders.delete(o.orderId);
    if (o.pending) {
      if (level.count === 0) (o.side === Side.Buy ? this.#buyStops : this.#sellStops).remove(level);
      this.#done(o, DoneReason.Canceled, DoneCause.User, remaining);
      return;
    }
    this.#restingCount--;
    this.#done(o, DoneReason.Canceled, DoneCause.User, remaining);
    this.#levelChanged(o.side, level);
  }

  #amend(c: AmendCommand): void {
    const invalid = validateAmend(c);
    if (invalid !== null) {
      this.#reject(Number.isSafeInteger(c.orderId) ? c.orderId : 0, 'amend', invalid);
      return;
    }
    const o = this.#orders.get(c.orderId);
    if (o === undefined) {
      this.#reject(c.orderId, 'amend', RejectReason.UnknownOrder);
      return;
    }
    if (c.account !== undefined && c.account !== o.account) {
      this.#reject(c.orderId, 'amend', RejectReason.AccountMismatch);
      return;
    }
    if (o.pending) {
      this.#reject(c.orderId, 'amend', RejectReason.NotAmendable);
      return;
    }
    const oldPrice = o.priceTicks;
    const newPrice = c.priceTicks ?? oldPrice;
    const newQty = c.qtyLots ?? o.openLots;
    if (newPrice === oldPrice && newQty === o.openLots) {
      this.#reject(c.orderId, 'amend', RejectReason.NoChange);
      return;
    }
    const isBuy = o.side === Side.Buy;
    if (newPrice !== oldPrice && o.postOnly && this.#crosses(isBuy, newPrice)) {
      this.#reject(c.orderId, 'amend', RejectReason.PostOnlyWouldTake);
      return;
    }
    this.#timeMs = c.timeMs;
    const level = o.level as Level;
    if (newPrice === oldPrice && newQty < o.openLots) {
      // Size down at the same price: keeps its place in the queue.
      level.qtyLots -= o.openLots - newQty;
      o.openLots = newQty;
      this.#out.push({
        seq: ++this.#seq,
        type: 'amended',
        orderId: o.orderId,
        priceTicks: newPrice,
        qtyLots: newQty,
        keptPriority: true,
      });
      this.#levelChanged(o.side, level);
      return;
    }
    // Price change or size up: out of the queue, then in again as if new (it may trade).
    const side = isBuy ? this.#bids : this.#asks;
    level.unlink(o);
    this.#restingCount--;
    this.#orders.delete(o.orderId);
    this.#out.push({
      seq: ++this.#seq,
      type: 'amended',
      orderId: o.orderId,
      priceTicks: newPrice,
      qtyLots: newQty,
      keptPriority: false,
    });
    if (newPrice !== oldPrice) this.#levelChanged(o.side, level);
    else if (level.count === 0) side.remove(level);
    o.priceTicks = newPrice;
    o.openLots = newQty;
    this.#execute(o);
    this.#triggerStops();
  }

  // ---------------------------------------------------------------- matching

  /** True when a buy (or sell) at `priceTicks` would take liquidity. */
  #crosses(isBuy: boolean, priceTicks: number): boolean {
    const best = (isBuy ? this.#asks : this.#bids).best();
    if (best === undefined) return false;
    return isBuy ? best.priceTicks <= priceTicks : best.priceTicks >= priceTicks;
  }

  /**
   * Runs a (new, amended or triggered) order as taker, then rests or ends it. `o` must not be in
   * the id index; it is added when it rests.
   */
  #execute(o: Order): void {
    const isLimit = o.orderType === OrderType.Limit;
    if (isLimit && o.tif === TimeInForce.FOK && !this.#canFill(o)) {
      this.#done(o, DoneReason.Expired, DoneCause.FillOrKill, o.openLots);
      return;
    }
    const bookEmptied = this.#match(o);
    if (o.stpExpired) {
      this.#done(o, DoneReason.Expired, DoneCause.SelfTrade, o.openLots);
      return;
    }
    if (o.byQuote) {
      const remaining = o.qtyLimited ? o.openLots : 0;
      // Filled: the quantity asked for, or (by budget alone) as much as the budget could buy.
      const filled = o.qtyLimited ? remaining === 0 : o.filledLots > 0 && !bookEmptied;
      if (filled) this.#done(o, DoneReason.Filled, null, 0);
      else {
        const cause = bookEmptied ? DoneCause.ImmediateOrCancel : DoneCause.QuoteExhausted;
        this.#done(o, DoneReason.Expired, cause, remaining);
      }
      return;
    }
    if (o.openLots === 0) {
      this.#done(o, DoneReason.Filled, null, 0);
      return;
    }
    if (isLimit && o.tif === TimeInForce.GTC) {
      const level = (o.side === Side.Buy ? this.#bids : this.#asks).getOrCreate(o.priceTicks);
      level.append(o);
      o.pending = false;
      this.#orders.set(o.orderId, o);
      this.#restingCount++;
      this.#levelChanged(o.side, level);
      return;
    }
    this.#done(o, DoneReason.Expired, DoneCause.ImmediateOrCancel, o.openLots);
  }

  /**
   * Matches taker `o` against the opposite side while it crosses. Returns true when it stopped
   * because the opposite side ran out of (crossing) liquidity, false when the taker was
   * satisfied, its quote budget could not buy one more lot, or self-trade prevention stopped it.
   */
  #match(o: Order): boolean {
    const isBuy = o.side === Side.Buy;
    const opp = isBuy ? this.#asks : this.#bids;
    const oppSide = isBuy ? Side.Sell : Side.Buy;
    const hasLimit = o.orderType === OrderType.Limit;
    const limit = o.priceTicks;
    const byQuote = o.byQuote;
    const qtyLimited = o.qtyLimited;
    const stp = o.stp;
    const out = this.#out;
    for (;;) {
      if ((qtyLimited && o.openLots === 0) || (byQuote && o.quoteLots === 0)) return false;
      const level = opp.best();
      if (level === undefined) return true;
      const price = level.priceTicks;
      if (hasLimit && (isBuy ? price > limit : price < limit)) return true;
      let changed = false;
      let stop = false;
      let m = level.head;
      while (m !== null) {
        let want = o.openLots;
        if (byQuote) {
          const affordable = Math.floor(o.quoteLots / price);
          if (!qtyLimited || affordable < want) want = affordable;
        }
        if (want === 0) {
          stop = true;
          break;
        }
        const next: Order | null = m.next;
        if (stp !== StpMode.None && m.account === o.account) {
          if (stp === StpMode.ExpireTaker) {
            o.stpExpired = true;
            stop = true;
            break;
          }
          if (stp === StpMode.DecrementCancel) {
            const d = want < m.openLots ? want : m.openLots;
            m.openLots -= d;
            level.qtyLots -= d;
            changed = true;
            out.push({ seq: ++this.#seq, type: 'reduced', orderId: m.orderId, byLots: d, openLots: m.openLots });
            if (byQuote) o.quoteLots -= d * price;
            if (qtyLimited) o.openLots -= d;
            out.push({
              seq: ++this.#seq,
              type: 'reduced',
              orderId: o.orderId,
              byLots: d,
              openLots: o.openLots,
            });
            if (m.openLots === 0) this.#removeMaker(m, level, DoneReason.Expired, DoneCause.SelfTrade);
            if ((qtyLimited && o.openLots === 0) || (byQuote && o.quoteLots < price)) {
              o.stpExpired = true;
              stop = true;
              break;
            }
            m = next;
            continue;
          }
          // expireMaker or expireBoth: the maker goes.
          changed = true;
          this.#removeMaker(m, level, DoneReason.Expired, DoneCause.SelfTrade);
          if (stp === StpMode.ExpireBoth) {
            o.stpExpired = true;
            stop = true;
            break;
          }
          m = next;
          continue;
        }
        const q = want < m.openLots ? want : m.openLots;
        m.openLots -= q;
        m.filledLots += q;
        level.qtyLots -= q;
        o.filledLots += q;
        if (byQuote) o.quoteLots -= q * price;
        if (qtyLimited) o.openLots -= q;
        changed = true;
        this.#lastTradePrice = price;
        this.#tradedLots += q;
        out.push({
          seq: ++this.#seq,
          type: 'trade',
          tradeId: ++this.#tradeSeq,
          makerOrderId: m.orderId,
          takerOrderId: o.orderId,
          makerAccount: m.account,
          takerAccount: o.account,
          takerSide: o.side,
          priceTicks: price,
          qtyLots: q,
          timeMs: this.#timeMs,
        });
        if (m.openLots === 0) this.#removeMaker(m, level, DoneReason.Filled, null);
        if ((qtyLimited && o.openLots === 0) || (byQuote && o.quoteLots === 0)) break;
        m = next;
      }
      if (changed) {
        out.push({ seq: ++this.#seq, type: 'level', side: oppSide, priceTicks: price, qtyLots: level.qtyLots });
      }
      if (level.count === 0) opp.remove(level);
      if (stop) return false;
    }
  }

  /** Takes maker `m` out of `level` and the id index, and emits its `done`. */
  #removeMaker(m: Order, level: Level, reason: DoneReason, cause: DoneCause | null): void {
    const remaining = m.openLots;
    level.unlink(m);
    this.#orders.delete(m.orderId);
    this.#restingCount--;
    this.#done(m, reason, cause, remaining);
  }

  /**
   * True when limit taker `o` can be filled completely right now, counting self-trade prevention:
   * under expireMaker its own orders are skipped; under any other mode but none, meeting one
   * means it cannot fill completely.
   */
  #canFill(o: Order): boolean {
    const isBuy = o.side === Side.Buy;
    const levels = (isBuy ? this.#asks : this.#bids).levels;
    const need = o.openLots;
    const stp = o.stp;
    let have = 0;
    for (let i = levels.length - 1; i >= 0; i--) {
      const level = levels[i] as Level;
      if (isBuy ? level.priceTicks > o.priceTicks : level.priceTicks < o.priceTicks) return false;
      if (stp === StpMode.None) {
        have += level.qtyLots;
        if (have >= need) return true;
        continue;
      }
      for (let m = level.head; m !== null; m = m.next) {
        if (m.account === o.account) {
          if (stp === StpMode.ExpireMaker) continue;
          return false;
        }
        have += m.openLots;
        if (have >= need) return true;
      }
    }
    return false;
  }

  /**
   * Triggers pending stops whose trigger the last trade price has reached, one at a time, in
   * order: buy stops (lowest trigger first) before sell stops (highest first), each in time
   * priority, re-reading the last price after every triggered order.
   */
  #triggerStops(): void {
    for (;;) {
      const last = this.#lastTradePrice;
      if (last === 0) return;
      let side = this.#buyStops;
      let level = side.best();
      if (level === undefined || last < level.priceTicks) {
        side = this.#sellStops;
        level = side.best();
        if (level === undefined || last > level.priceTicks) return;
      }
      const o = level.head as Order;
      level.unlink(o);
      this.#orders.delete(o.orderId);
      if (level.count === 0) side.remove(level);
      o.pending = false;
      o.orderType = o.orderType === OrderType.StopLimit ? OrderType.Limit : OrderType.Market;
      this.#out.push({ seq: ++this.#seq, type: 'triggered', orderId: o.orderId, lastPriceTicks: last });
      this.#execute(o);
    }
  }

  // ---------------------------------------------------------------- helpers

  #done(o: Order, reason: DoneReason, cause: DoneCause | null, remainingLots: number): void {
    this.#out.push({
      seq: ++this.#seq,
      type: 'done',
      orderId: o.orderId,
      account: o.account,
      reason,
      cause,
      filledLots: o.filledLots,
      remainingLots,
    });
  }

  #levelChanged(side: Side, level: Level): void {
    this.#out.push({ seq: ++this.#seq, type: 'level', side, priceTicks: level.priceTicks, qtyLots: level.qtyLots });
    if (level.count === 0) (side === Side.Buy ? this.#bids : this.#asks).remove(level);
  }

  #reject(orderId: number, command: 'place' | 'cancel' | 'amend' | 'unknown', reason: RejectReason): void {
    this.#out.push({ seq: ++this.#seq, type: 'rejected', orderId, command, reason });
  }
}
