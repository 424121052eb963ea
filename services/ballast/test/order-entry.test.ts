import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BallastError, ErrorCode, isBallastError } from '@ballast/errors';
import type { CancelRequest, EntryOptions, PlaceOrderInput, PlaceResult } from '@ballast/oms';
import { FakeClock, flushMicrotasks } from '@ballast/testkit';
import { guardOrderEntry, type OrderEntry } from '../src/order-entry.ts';

const ORDER = { accountId: 1n, symbol: 'BTCUSDT', clientOrderId: 'c-1' } as unknown as PlaceOrderInput;
const PLACED = { ok: false, reason: { _tag: 'UnknownSymbol', message: 'Invalid symbol.' } } as PlaceResult;

/** A classifier as a store adapter's: BallastErrors as they are, anything else a bug. */
const classify = (err: unknown): BallastError =>
  isBallastError(err) ? err : new BallastError(ErrorCode.Internal, String(err), { cause: err });

/**
 * An oms whose place the test drives: `dispatch()` marks the request dispatched (its batch being
 * written), `answer`/`fail` settle it; a request whose signal aborts before dispatch is withdrawn
 * (rejects with the abort's reason), as the real lanes and batcher do.
 */
function drivenOms() {
  const calls: { options: EntryOptions; resolve: (r: PlaceResult) => void; reject: (e: unknown) => void }[] = [];
  const oms: OrderEntry = {
    place: (_input: PlaceOrderInput, options: EntryOptions = {}) =>
      new Promise<PlaceResult>((resolve, reject) => {
        options.signal?.addEventListener('abort', () => reject(options.signal!.reason), { once: true });
        calls.push({ options, resolve, reject });
      }),
    cancel: (_req: CancelRequest) => Promise.reject(new Error('not used')),
  };
  const last = () => calls.at(-1)!;
  return {
    oms,
    dispatch: () => last().options.onDispatched?.(),
    answer: () => last().resolve(PLACED),
    fail: (err: unknown) => last().reject(err),
    count: () => calls.length,
    signal: () => last().options.signal,
  };
}

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => 'ok',
    (err: unknown) => (isBallastError(err) ? `${err.code}${err.retryable ? ' (retryable)' : ''}` : String(err)),
  );

describe('order entry behind its deadline', () => {
  const setup = (inProcess: boolean) => {
    const clock = new FakeClock(1000);
    const driven = drivenOms();
    const entry = guardOrderEntry(driven.oms, { deadlineMs: 2000, classify, inProcess, clock });
    return { clock, ...driven, entry };
  };

  it('answers a request not dispatched when the deadline passes UNAVAILABLE (retryable: nothing was done), and withdraws it', async () => {
    const { clock, entry, signal } = setup(false);
    const answer = codeOf(entry.place(ORDER));
    await flushMicrotasks();
    assert.equal(signal()?.aborted, false);
    await clock.advance(2005);
    assert.equal(await answer, `${ErrorCode.Unavailable} (retryable)`);
    assert.equal(signal()?.aborted, true, 'its signal aborted: the oms drops it');
  });

  it('answers a request dispatched and unanswered at the deadline OUTCOME_UNKNOWN (not retryable: it may stand)', async () => {
    const { clock, entry, dispatch } = setup(false);
    const told: string[] = [];
    const answer = codeOf(entry.place(ORDER, { onDispatched: () => told.push('dispatched') }));
    await flushMicrotasks();
    dispatch();
    assert.deepEqual(told, ['dispatched'], "the caller's own onDispatched is called too");
    await clock.advance(2005);
    assert.equal(await answer, ErrorCode.OutcomeUnknown);
  });

  it('answers a request answered before the deadline with its result', async () => {
    const { clock, entry, dispatch, answer: settle } = setup(false);
    const answer = entry.place(ORDER);
    await flushMicrotasks();
    dispatch();
    settle();
    assert.deepEqual(await answer, PLACED);
    await clock.advance(2005);
  });

  it("answers a caller's abort before dispatch with the caller's own reason, and the breaker does not count it", async () => {
    const { entry, count } = setup(false);
    for (let i = 0; i < 4; i++) {
      const caller = new AbortController();
      const answer = entry.place(ORDER, { signal: caller.signal });
      await flushMicrotasks();
      const reason = new Error('the client left');
      caller.abort(reason);
      await assert.rejects(answer, (err) => err === reason);
    }
    assert.equal(count(), 4, 'every call reached the oms: the breaker stayed closed');
  });

  it('answers -1090 at the deadline for a request not dispatched when the caller passed its own signal too', async () => {
    const { clock, entry, signal } = setup(false);
    const caller = new AbortController();
    const answer = codeOf(entry.place(ORDER, { signal: caller.signal }));
    await clock.advance(2005);
    assert.equal(await answer, `${ErrorCode.Unavailable} (retryable)`);
    assert.equal(signal()?.aborted, true);
    assert.equal(caller.signal.aborted, false);
  });

  it('in-process: a store failure that may have taken effect is OUTCOME_UNKNOWN; one that surely did not stays retryable; a bug stays a bug', async () => {
    const cases: [unknown, string][] = [
      [
        new BallastError(ErrorCode.StateConnection, 'connection lost during commit', { retryable: true }),
        ErrorCode.OutcomeUnknown,
      ],
      [
        new BallastError(ErrorCode.StateConflict, 'rolled back', { retryable: true }),
        `${ErrorCode.StateConflict} (retryable)`,
      ],
      [new TypeError('a bug'), ErrorCode.Internal],
    ];
    for (const [err, expected] of cases) {
      const { entry, dispatch, fail } = setup(true);
      const answer = codeOf(entry.place(ORDER));
      await flushMicrotasks();
      dispatch();
      fail(err);
      assert.equal(await answer, expected, String(err));
    }
  });

  it("remote: the oms client's own answer passes as it is (it judged what may have been done)", async () => {
    const { entry, dispatch, fail } = setup(false);
    const answer = codeOf(entry.place(ORDER));
    await flushMicrotasks();
    dispatch();
    fail(new BallastError(ErrorCode.StateConnection, 'no oms replica is available', { retryable: true }));
    assert.equal(await answer, `${ErrorCode.StateConnection} (retryable)`);
  });

  it('opens its breaker after three deadlines: the next call answers retryable at once, never reaching the oms; a probe goes through after 1 s', async () => {
    const { clock, entry, count, dispatch, answer: settle } = setup(false);
    for (let i = 0; i < 3; i++) {
      const answer = codeOf(entry.place(ORDER));
      await clock.advance(2005);
      assert.equal(await answer, `${ErrorCode.Unavailable} (retryable)`);
    }
    const refused = await codeOf(entry.place(ORDER));
    assert.equal(refused, `${ErrorCode.ResCircuitOpen} (retryable)`);
    assert.equal(count(), 3, 'the refused call never reached the oms');
    // On the same clock, the breaker lets a probe through once it has been open 1 s.
    await clock.advance(1000);
    const probe = entry.place(ORDER);
    await flushMicrotasks();
    assert.equal(count(), 4, 'the probe reached the oms');
    dispatch();
    settle();
    assert.deepEqual(await probe, PLACED);
  });
});
