/**
 * `@ballast/oms`: the order management role.
 *
 * @module
 */
export {
  checkFilters,
  commandLog,
  createOms,
  type CancelRequest,
  type EntryOptions,
  type Oms,
  type OmsConfig,
} from './oms.ts';
export { findOrder, toOrderRecord } from './order-record.ts';
export type {
  CancelResult,
  OrderRecord,
  PlaceOrderInput,
  PlaceRejection,
  PlaceResult,
  StpModeName,
} from './order-request.ts';
export { registerOmsRoutes } from './oms-http.ts';
export { mayHaveTakenEffect } from './failure-outcome.ts';
export {
  decodeCancelRequest,
  decodeCancelResult,
  decodeOrder,
  decodePlaceInput,
  decodePlaceResult,
  encodeCancelRequest,
  encodeCancelResult,
  encodeOrder,
  encodePlaceInput,
  encodePlaceResult,
} from './wire.ts';
