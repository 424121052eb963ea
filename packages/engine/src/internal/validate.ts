/**
 * Command validation: every field checked before the book changes, each failure named by a
 * stable {@link RejectReason}. Never throws, whatever the input.
 *
 * @module
 */
import {
  OrderType,
  RejectReason,
  Side,
  StpMode,
  TimeInForce,
  type AmendCommand,
  type CancelCommand,
  type PlaceCommand,
} from '../types.ts';

const isPositiveInt = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;
const isNonNegativeInt = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

const SIDES: ReadonlySet<unknown> = new Set(Object.values(Side));
const ORDER_TYPES: ReadonlySet<unknown> = new Set(Object.values(OrderType));
const TIFS: ReadonlySet<unknown> = new Set(Object.values(TimeInForce));
const STP_MODES: ReadonlySet<unknown> = new Set(Object.values(StpMode));

/** The reason `c` cannot be placed, or `null` when its fields are valid. */
export function validatePlace(c: PlaceCommand): RejectReason | null {
  if (!isPositiveInt(c.orderId)) return RejectReason.InvalidOrderId;
  if (!isNonNegativeInt(c.account)) return RejectReason.InvalidAccount;
  if (!SIDES.has(c.side)) return RejectReason.InvalidSide;
  if (!ORDER_TYPES.has(c.orderType)) return RejectReason.InvalidOrderType;
  if (!isNonNegativeInt(c.timeMs)) return RejectReason.InvalidTime;
  if (c.stp !== undefined && !STP_MODES.has(c.stp)) return RejectReason.InvalidStpMode;
  const type = c.orderType;
  const hasLimitPrice = type === OrderType.Limit || type === OrderType.StopLimit;
  if (hasLimitPrice) {
    if (!isPositiveInt(c.priceTicks)) return RejectReason.InvalidPrice;
    if (!isPositiveInt(c.qtyLots)) return RejectReason.InvalidQuantity;
    if (c.quoteLots !== undefined) return RejectReason.InvalidQuoteQuantity;
    if (c.tif !== undefined && !TIFS.has(c.tif)) return RejectReason.InvalidTimeInForce;
  } else {
    if (c.priceTicks !== undefined) return RejectReason.InvalidPrice;
    if (c.tif !== undefined) return RejectReason.InvalidTimeInForce;
    const byQty = c.qtyLots !== undefined;
    const byQuote = c.quoteLots !== undefined;
    if (!byQty && !byQuote) return RejectReason.InvalidQuantity;
    if (byQty && !isPositiveInt(c.qtyLots)) return RejectReason.InvalidQuantity;
    if (byQuote && !isPositiveInt(c.quoteLots)) return RejectReason.InvalidQuoteQuantity;
  }
  if (c.postOnly !== undefined && typeof c.postOnly !== 'boolean') {
    return RejectReason.InvalidPostOnly;
  }
  if (c.postOnly === true && (type !== OrderType.Limit || (c.tif ?? 'GTC') !== 'GTC')) {
    return RejectReason.InvalidPostOnly;
  }
  const isStop = type === OrderType.StopLimit || type === OrderType.StopMarket;
  if (isStop) {
    if (!isPositiveInt(c.triggerPriceTicks)) return RejectReason.InvalidTriggerPrice;
  } else if (c.triggerPriceTicks !== undefined) {
    return RejectReason.InvalidTriggerPrice;
  }
  return null;
}

/** The reason `c` cannot be applied, or `null` when its fields are valid. */
export function validateCancel(c: CancelCommand): RejectReason | null {
  if (!isPositiveInt(c.orderId)) return RejectReason.InvalidOrderId;
  if (c.account !== undefined && !isNonNegativeInt(c.account)) return RejectReason.InvalidAccount;
  if (!isNonNegativeInt(c.timeMs)) return RejectReason.InvalidTime;
  return null;
}

/** The reason `c` cannot be applied, or `null` when its fields are valid. */
export function validateAmend(c: AmendCommand): RejectReason | null {
  if (!isPositiveInt(c.orderId)) return RejectReason.InvalidOrderId;
  if (c.account !== undefined && !isNonNegativeInt(c.account)) return RejectReason.InvalidAccount;
  if (!isNonNegativeInt(c.timeMs)) return RejectReason.InvalidTime;
  if (c.priceTicks === undefined && c.qtyLots === undefined) return RejectReason.NoChange;
  if (c.priceTicks !== undefined && !isPositiveInt(c.priceTicks)) return RejectReason.InvalidPrice;
  if (c.qtyLots !== undefined && !isPositiveInt(c.qtyLots)) return RejectReason.InvalidQuantity;
  return null;
}
