/**
 * `@ballast/engine`: a deterministic, exact price-time matching engine for one symbol.
 *
 * Integers only (ticks, lots, tick·lots, milliseconds); no I/O and no clock reads; every
 * command returns its events in order, numbered by a per-book sequence; the whole state can be
 * snapshotted to bytes and restored, and replay after a restore is byte-identical.
 *
 * @module
 */
export { OrderBook, type BookStats } from './order-book.ts';
export { encodeEvent, encodeEvents } from './event-codec.ts';
export { comparePositions, decodeCommandResults, encodeCommandResults, type CommandResult } from './command-results.ts';
export { applyCommandEntry, decodeCommandEntry } from './command-entry.ts';
export {
  DoneCause,
  DoneReason,
  OrderType,
  RejectReason,
  Side,
  StpMode,
  TimeInForce,
  type AcceptedEvent,
  type AmendCommand,
  type AmendedEvent,
  type BookEvent,
  type CancelCommand,
  type Command,
  type DepthLevel,
  type DoneEvent,
  type LevelEvent,
  type OrderBookConfig,
  type OrderView,
  type PlaceCommand,
  type ReducedEvent,
  type RejectedEvent,
  type TradeEvent,
  type TriggeredEvent,
} from './types.ts';
