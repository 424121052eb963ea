/**
 * Order statuses at the API (Binance's names) and how an engine `done` event maps onto them.
 *
 * @module
 */

/** Binance order statuses Ballast uses. */
export const OrderStatus = {
  New: 'NEW',
  PartiallyFilled: 'PARTIALLY_FILLED',
  Filled: 'FILLED',
  Canceled: 'CANCELED',
  Expired: 'EXPIRED',
  /** Expired by self-trade prevention. */
  ExpiredInMatch: 'EXPIRED_IN_MATCH',
  Rejected: 'REJECTED',
} as const;
/** One of {@link OrderStatus}. */
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];

/** The final status of an order from its engine `done` event's `reason` and `cause`. */
export function statusOfDone(reason: string, cause: string | null): OrderStatus {
  if (reason === 'filled') return OrderStatus.Filled;
  if (reason === 'canceled') return OrderStatus.Canceled;
  return cause === 'stp' ? OrderStatus.ExpiredInMatch : OrderStatus.Expired;
}
