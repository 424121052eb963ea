import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BallastError, ErrorCode } from '@ballast/errors';
import { ApiCode, ApiError, badRequest } from '../src/api-error.ts';
import { cancelAll } from '../src/cancel-all.ts';

const unavailable = (): BallastError =>
  new BallastError(ErrorCode.Unavailable, 'the command log is unreachable', { retryable: true });
const outcomeUnknown = (): BallastError => new BallastError(ErrorCode.OutcomeUnknown, 'sent, no answer');

/** A `cancelOne` answering each order id as `by` says: a value, or an error thrown. */
const cancelling =
  (by: Record<string, unknown>) =>
  async (id: bigint): Promise<string> => {
    const r = by[String(id)];
    if (r instanceof Error) throw r;
    return String(r ?? `cancelled ${id}`);
  };

describe('cancelAll (DELETE /api/v3/openOrders)', () => {
  it('cancels every order and answers them in order, leaving out those that ended meanwhile', async () => {
    const out = await cancelAll(
      [1n, 2n, 3n, 4n],
      cancelling({
        2: badRequest(ApiCode.CancelRejected, 'Unknown order sent.'),
        4: badRequest(ApiCode.NoSuchOrder, 'Order does not exist.'),
      }),
    );
    assert.deepEqual(out, ['cancelled 1', 'cancelled 3']);
  });

  it('sends the cancels together, not one after another', async () => {
    let inFlight = 0;
    let most = 0;
    const ids = Array.from({ length: 450 }, (_, i) => BigInt(i + 1));
    const out = await cancelAll(ids, async (id) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return id;
    });
    assert.deepEqual(out, ids);
    assert.equal(most, 200, 'at most 200 at once, and that many');
  });

  it('when nothing was cancelled and nothing may have been, rejects with the failure as it is', async () => {
    const first = unavailable();
    await assert.rejects(cancelAll([1n, 2n], cancelling({ 1: first, 2: unavailable() })), (err) => err === first);
    const bug = new Error('a bug');
    await assert.rejects(cancelAll([1n], cancelling({ 1: bug })), (err) => err === bug);
  });

  it('stops after a chunk in which nothing was cancelled and every failure did nothing', async () => {
    const asked: bigint[] = [];
    const ids = Array.from({ length: 450 }, (_, i) => BigInt(i + 1));
    await assert.rejects(
      cancelAll(ids, async (id) => {
        asked.push(id);
        throw unavailable();
      }),
      (err: BallastError) => err.code === ErrorCode.Unavailable,
    );
    assert.equal(asked.length, 200, 'only the first chunk was sent');
  });

  it('when some were cancelled and others failed, answers -1007 saying how many, not "retry"', async () => {
    await assert.rejects(cancelAll([1n, 2n, 3n], cancelling({ 2: unavailable() })), (err: ApiError) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 503);
      assert.equal(err.code, ApiCode.OutcomeUnknown);
      assert.equal(err.retryAfterS, 1);
      assert.match(err.message, /execution status unknown/);
      assert.match(err.message, /Of the 3 open orders, 2 were cancelled, 0 had already ended, and 1 could not be/);
      return true;
    });
  });

  it('when a failed cancel may have been carried out, answers -1007 even if none is known to be cancelled', async () => {
    for (const maybe of [
      outcomeUnknown(),
      new ApiError(503, ApiCode.OutcomeUnknown, 'Cancel sent; its result is not known yet', 1),
    ]) {
      await assert.rejects(
        cancelAll([1n, 2n], cancelling({ 1: unavailable(), 2: maybe })),
        (err: ApiError) => err instanceof ApiError && err.code === ApiCode.OutcomeUnknown && err.cause !== undefined,
      );
    }
  });

  it('answers an account with no open order with an empty list', async () => {
    assert.deepEqual(await cancelAll([], cancelling({})), []);
  });
});
