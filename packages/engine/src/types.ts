/**
 * Commands the engine accepts and events it emits.
 *
 * Every number is an integer: prices in ticks, quantities in lots, quote amounts in
 * tick·lots (price × quantity), times in milliseconds supplied by the caller. The engine
 * never reads a clock.
 *
 * @module
 */

/** Order side. */
export const Side = { Buy: 'buy', Sell: 'sell' } as const;
/** Order side: `'buy'` or `'sell'`. */
export type Side = (typeof Side)[keyof typeof Side];

/** Order type. Stop orders wait for the last trade price to reach their trigger. */
export const OrderType = {
  Limit: 'limit',
  Market: 'market',
  StopLimit: 'stopLimit',
  StopMarket: 'stopMarket',
} as const;
/** Order type, one of {@link OrderType}. */
export type OrderType = (typeof OrderType)[keyof typeof OrderType];

/**
 * Time in force of a limit order: `GTC` rests what it cannot fill, `IOC` expires it,
 * `FOK` fills completely at once or expires without trading.
 */
export const TimeInForce = { GTC: 'GTC', IOC: 'IOC', FOK: 'FOK' } as const;
/** Time in force, one of {@link TimeInForce}. */
export type TimeInForce = (typeof TimeInForce)[keyof typeof TimeInForce];

/**
 * Self-trade prevention, taken from the taker order when it meets a maker of the same account.
 *
 * - `none`: trade with yourself.
 * - `expireTaker`: expire the taker's remaining quantity; the maker rests.
 * - `expireMaker`: expire the maker and keep matching.
 * - `expireBoth`: expire both.
 * - `decrementCancel`: reduce both by the smaller quantity without trading; whichever reaches
 *   zero is done (expired), the other goes on (the taker keeps matching).
 */
export const StpMode = {
  None: 'none',
  ExpireTaker: 'expireTaker',
  ExpireMaker: 'expireMaker',
  ExpireBoth: 'expireBoth',
  DecrementCancel: 'decrementCancel',
} as const;
/** Self-trade prevention mode, one of {@link StpMode}. */
export type StpMode = (typeof StpMode)[keyof typeof StpMode];

/** Why a command was rejected. Stable codes: part of the API. */
export const RejectReason = {
  InvalidCommand: 'INVALID_COMMAND',
  InvalidOrderId: 'INVALID_ORDER_ID',
  InvalidAccount: 'INVALID_ACCOUNT',
  InvalidSide: 'INVALID_SIDE',
  InvalidOrderType: 'INVALID_ORDER_TYPE',
  InvalidPrice: 'INVALID_PRICE',
  InvalidQuantity: 'INVALID_QUANTITY',
  InvalidQuoteQuantity: 'INVALID_QUOTE_QUANTITY',
  InvalidTimeInForce: 'INVALID_TIME_IN_FORCE',
  InvalidPostOnly: 'INVALID_POST_ONLY',
  InvalidStpMode: 'INVALID_STP_MODE',
  InvalidTriggerPrice: 'INVALID_TRIGGER_PRICE',
  InvalidTime: 'INVALID_TIME',
  DuplicateOrderId: 'DUPLICATE_ORDER_ID',
  OrderIdTooOld: 'ORDER_ID_TOO_OLD',
  PostOnlyWouldTake: 'POST_ONLY_WOULD_TAKE',
  StopWouldTriggerImmediately: 'STOP_WOULD_TRIGGER_IMMEDIATELY',
  UnknownOrder: 'UNKNOWN_ORDER',
  AccountMismatch: 'ACCOUNT_MISMATCH',
  NotAmendable: 'NOT_AMENDABLE',
  NoChange: 'NO_CHANGE',
} as const;
/** Reject reason, one of {@link RejectReason}. */
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** How an order ended. */
export const DoneReason = { Filled: 'filled', Canceled: 'canceled', Expired: 'expired' } as const;
/** Done reason, one of {@link DoneReason}. */
export type DoneReason = (typeof DoneReason)[keyof typeof DoneReason];

/** What made an order expire or be canceled (`null` for filled orders and user cancels). */
export const DoneCause = {
  /** Canceled by a cancel command. */
  User: 'user',
  /** IOC or market remainder, or no liquidity. */
  ImmediateOrCancel: 'ioc',
  /** FOK that could not be filled completely. */
  FillOrKill: 'fok',
  /** Market order by quote budget that spent all it could. */
  QuoteExhausted: 'quoteExhausted',
  /** Self-trade prevention. */
  SelfTrade: 'stp',
} as const;
/** Done cause, one of {@link DoneCause}. */
export type DoneCause = (typeof DoneCause)[keyof typeof DoneCause];

/** Places an order. Fields not used by `orderType` must be left out. */
export interface PlaceCommand {
  readonly type: 'place';
  /** Order id, a positive safe integer unique per book. */
  readonly orderId: number;
  /** Owner account, a non-negative safe integer (used for self-trade prevention). */
  readonly account: number;
  readonly side: Side;
  readonly orderType: OrderType;
  /** Limit price in ticks (limit and stop-limit). */
  readonly priceTicks?: number;
  /** Quantity in lots. Required except for a market or stop-market order by quote budget. */
  readonly qtyLots?: number;
  /**
   * Quote budget in tick·lots, for market and stop-market orders: instead of `qtyLots` (spend up
   * to this much), or together with it (buy or sell up to `qtyLots`, spending at most this much).
   */
  readonly quoteLots?: number;
  /** Trigger price in ticks (stop orders). */
  readonly triggerPriceTicks?: number;
  /** @default 'GTC' (limit and stop-limit only) */
  readonly tif?: TimeInForce;
  /** Reject if the order would take liquidity (limit only). @default false */
  readonly postOnly?: boolean;
  /** @default the book's `defaultStp` */
  readonly stp?: StpMode;
  /** Command time in milliseconds, supplied by the sequencer. */
  readonly timeMs: number;
}

/** Cancels a resting or pending-stop order. */
export interface CancelCommand {
  readonly type: 'cancel';
  readonly orderId: number;
  /** When given, must be the order's account. */
  readonly account?: number;
  readonly timeMs: number;
}

/**
 * Amends a resting limit order. `qtyLots` is the new open (unfilled) quantity.
 * Reducing the quantity at the same price keeps time priority; a price change or a larger
 * quantity loses it (the order is taken out and re-entered, and may trade).
 */
export interface AmendCommand {
  readonly type: 'amend';
  readonly orderId: number;
  readonly account?: number;
  readonly priceTicks?: number;
  readonly qtyLots?: number;
  readonly timeMs: number;
}

/** Any command a book applies. */
export type Command = PlaceCommand | CancelCommand | AmendCommand;

/** The order was accepted by the book (it may then trade, rest, wait for its trigger or expire). */
export interface AcceptedEvent {
  readonly seq: number;
  readonly type: 'accepted';
  readonly orderId: number;
}
/** The command was rejected and changed nothing but the sequence. */
export interface RejectedEvent {
  readonly seq: number;
  readonly type: 'rejected';
  /** The command's order id (0 when it had none that was valid). */
  readonly orderId: number;
  /** The command's type, or `'unknown'` when it had none that was valid. */
  readonly command: Command['type'] | 'unknown';
  readonly reason: RejectReason;
}
/** One trade between a resting maker and an incoming taker, at the maker's price. */
export interface TradeEvent {
  readonly seq: number;
  readonly type: 'trade';
  /** Per-book trade id, 1, 2, 3, ... */
  readonly tradeId: number;
  readonly makerOrderId: number;
  readonly takerOrderId: number;
  readonly makerAccount: number;
  readonly takerAccount: number;
  readonly takerSide: Side;
  readonly priceTicks: number;
  readonly qtyLots: number;
  readonly timeMs: number;
}
/** An order left the book (or never rested): filled, canceled or expired. */
export interface DoneEvent {
  readonly seq: number;
  readonly type: 'done';
  readonly orderId: number;
  readonly account: number;
  readonly reason: DoneReason;
  readonly cause: DoneCause | null;
  /** Total quantity filled over the order's life. */
  readonly filledLots: number;
  /** Open quantity that was canceled or expired (0 when filled; 0 for orders by quote budget alone). */
  readonly remainingLots: number;
}
/** Total open quantity at one price level after the command (0 = level gone). */
export interface LevelEvent {
  readonly seq: number;
  readonly type: 'level';
  readonly side: Side;
  readonly priceTicks: number;
  readonly qtyLots: number;
}
/** A stop order's trigger was reached; it now executes as a limit or market order. */
export interface TriggeredEvent {
  readonly seq: number;
  readonly type: 'triggered';
  readonly orderId: number;
  readonly lastPriceTicks: number;
}
/** An amend took effect. */
export interface AmendedEvent {
  readonly seq: number;
  readonly type: 'amended';
  readonly orderId: number;
  readonly priceTicks: number;
  /** New open quantity. */
  readonly qtyLots: number;
  readonly keptPriority: boolean;
}
/** Self-trade prevention (decrement-and-cancel) reduced a resting or incoming order without a trade. */
export interface ReducedEvent {
  readonly seq: number;
  readonly type: 'reduced';
  readonly orderId: number;
  readonly byLots: number;
  /** Open quantity left after the reduction. */
  readonly openLots: number;
}

/** Any event a book emits. */
export type BookEvent =
  AcceptedEvent | RejectedEvent | TradeEvent | DoneEvent | LevelEvent | TriggeredEvent | AmendedEvent | ReducedEvent;

/** Construction config of an {@link OrderBook}. */
export interface OrderBookConfig {
  /** Self-trade prevention for orders that do not name one. @default 'none' */
  readonly defaultStp?: StpMode;
  /**
   * How far below the highest order id seen an id may arrive and still be told apart from a
   * duplicate (rounded up to a power of two). Older ids are rejected as `ORDER_ID_TOO_OLD`.
   * Costs one bit per id of the window. @default 1048576
   */
  readonly dedupWindow?: number;
}

/** An order resting in the book, as returned by {@link OrderBook.getOrder}. */
export interface OrderView {
  readonly orderId: number;
  readonly account: number;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly priceTicks: number;
  readonly triggerPriceTicks: number;
  readonly openLots: number;
  readonly filledLots: number;
  /** `true` for a stop order still waiting for its trigger. */
  readonly pending: boolean;
}

/** One price level, as returned by {@link OrderBook.depth}. */
export interface DepthLevel {
  readonly priceTicks: number;
  readonly qtyLots: number;
  readonly orders: number;
}
