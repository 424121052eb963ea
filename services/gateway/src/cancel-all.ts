/**
 * Cancelling every open order of a symbol (`DELETE /api/v3/openOrders`): the cancels go out
 * together (the oms client sends those of one turn as one batch), and the answer says truthfully
 * what became of them when some fail.
 *
 * @module
 */
import { ErrorCode, isBallastError } from '@ballast/errors';
import { ApiCode, ApiError, OUTCOME_UNKNOWN_MSG } from './api-error.ts';

/** Cancels started at once at most; the rest follow as these settle. */
const CHUNK = 200;

/** Whether a failed cancel may still have been carried out (answered -1007 on its own). */
const mayHaveBeenDone = (err: unknown): boolean =>
  (err instanceof ApiError && err.code === ApiCode.OutcomeUnknown) ||
  (isBallastError(err) && err.code === ErrorCode.OutcomeUnknown);

/** An order that ended before its cancel reached matching: nothing to cancel. */
const alreadyEnded = (err: unknown): boolean =>
  err instanceof ApiError && (err.code === ApiCode.CancelRejected || err.code === ApiCode.NoSuchOrder);

/**
 * Cancels each of `orderIds` with `cancelOne` (at most 200 at once) and returns the cancelled
 * orders' answers in `orderIds` order; orders that ended meanwhile (-2011, -2013) are left out.
 * When some fail:
 * - none was cancelled and none may have been: rejects with the first failure as it is (a -1090
 *   then says truly that nothing was done; a bug stays a 500), without sending the cancels of
 *   later chunks;
 * - otherwise rejects 503 -1007 ("execution status unknown"), saying how many were cancelled:
 *   the client queries its open orders and sends the request again, not a blind retry of a
 *   request that was partly carried out.
 */
export async function cancelAll<T>(
  orderIds: readonly bigint[],
  cancelOne: (orderId: bigint) => Promise<T>,
): Promise<T[]> {
  const done: T[] = [];
  let ended = 0;
  let failed = 0;
  let first: unknown;
  let unknown = false;
  for (let i = 0; i < orderIds.length; i += CHUNK) {
    const settled = await Promise.allSettled(orderIds.slice(i, i + CHUNK).map((id) => cancelOne(id)));
    for (const s of settled) {
      if (s.status === 'fulfilled') done.push(s.value);
      else if (alreadyEnded(s.reason)) ended++;
      else {
        failed++;
        first ??= s.reason;
        if (mayHaveBeenDone(s.reason)) unknown = true;
      }
    }
    // Nothing carried out so far, and a failure that did nothing (a dependency down): the rest
    // would fail as these did; stop here.
    if (failed > 0 && done.length === 0 && !unknown) throw first;
  }
  if (failed === 0) return done;
  throw new ApiError(
    503,
    ApiCode.OutcomeUnknown,
    `${OUTCOME_UNKNOWN_MSG} Of the ${orderIds.length} open orders, ${done.length} were cancelled, ${ended} had ` +
      `already ended, and ${failed} could not be cancelled or may have been: query the open orders, then cancel again.`,
    1,
    first,
  );
}
