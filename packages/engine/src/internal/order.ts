/**
 * A live order: an intrusive doubly-linked list node of its price level (or trigger level, for
 * a pending stop), so that cancel and amend unlink it in O(1) at any depth.
 *
 * @module
 */
import type { OrderType, Side, StpMode, TimeInForce } from '../types.ts';
import type { Level } from './level.ts';

/** Mutable order state. Internal: never handed out; {@link OrderView} is the public copy. */
export class Order {
  readonly orderId: number;
  readonly account: number;
  readonly side: Side;
  /** Current type: a triggered stop-limit becomes `limit`, a stop-market `market`. */
  orderType: OrderType;
  readonly tif: TimeInForce;
  readonly postOnly: boolean;
  readonly stp: StpMode;
  /** Limit price in ticks; 0 for market orders. */
  priceTicks: number;
  /** Trigger price in ticks; 0 when none. */
  readonly triggerPriceTicks: number;
  /** Open quantity in lots (0 and unused when `qtyLimited` is false). */
  openLots: number;
  filledLots: number;
  /** Unspent quote budget in tick·lots, when `byQuote`. */
  quoteLots: number;
  /** Spending is capped by `quoteLots`. */
  readonly byQuote: boolean;
  /** Quantity is capped by `openLots` (false only for market orders by quote budget alone). */
  readonly qtyLimited: boolean;
  readonly timeMs: number;
  /** True while a stop order waits for its trigger. */
  pending: boolean;
  /** Set when self-trade prevention expired this order while it was taking. */
  stpExpired: boolean;
  level: Level | null;
  prev: Order | null;
  next: Order | null;

  constructor(
    orderId: number,
    account: number,
    side: Side,
    orderType: OrderType,
    tif: TimeInForce,
    postOnly: boolean,
    stp: StpMode,
    priceTicks: number,
    triggerPriceTicks: number,
    openLots: number,
    filledLots: number,
    quoteLots: number,
    byQuote: boolean,
    qtyLimited: boolean,
    timeMs: number,
    pending: boolean,
  ) {
    this.orderId = orderId;
    this.account = account;
    this.side = side;
    this.orderType = orderType;
    this.tif = tif;
    this.postOnly = postOnly;
    this.stp = stp;
    this.priceTicks = priceTicks;
    this.triggerPriceTicks = triggerPriceTicks;
    this.openLots = openLots;
    this.filledLots = filledLots;
    this.quoteLots = quoteLots;
    this.byQuote = byQuote;
    this.qtyLimited = qtyLimited;
    this.timeMs = timeMs;
    this.pending = pending;
    this.stpExpired = false;
    this.level = null;
    this.prev = null;
    this.next = null;
  }
}
