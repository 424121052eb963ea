import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeCommandResults, type BookEvent } from '@ballast/engine';
import type { LogEntry } from '@ballast/state';
import { createOrderResults } from '../src/order-results.ts';

/** An `evt.<symbol>` entry at `seq` holding command `cmdSeq`'s events. */
const entry = (seq: number, cmdSeq: number, events: unknown[]): LogEntry => ({
  seq,
  key: null,
  payload: JSON.stringify({ cmdSeq, events }),
  timeMs: 0,
});
const REJECTED = { seq: 1, type: 'rejected', orderId: 7, command: 'place', reason: 'POST_ONLY_WOULD_TAKE' };
const ACCEPTED = { seq: 1, type: 'accepted', orderId: 8 };

describe('order results, for orders answered before their result (ACK)', () => {
  it("mark the account when the result that arrives later rejects the order, so its reads wait for that entry's settlement", () => {
    const results = createOrderResults();
    results.noteIfRejected(1n, 'BTCUSDT', 5);
    assert.equal(results.settleTarget(1n, 'BTCUSDT'), 0);
    results.apply('BTCUSDT', [entry(41, 5, [REJECTED])]);
    assert.equal(results.settleTarget(1n, 'BTCUSDT'), 41);
  });

  it('mark the account at once when the rejection is already held', () => {
    const results = createOrderResults();
    results.apply('BTCUSDT', [entry(41, 5, [REJECTED])]);
    results.noteIfRejected(1n, 'BTCUSDT', 5);
    assert.equal(results.settleTarget(1n, 'BTCUSDT'), 41);
  });

  it('leave the account unmarked when the order was accepted (reads need not wait for a resting order)', () => {
    const results = createOrderResults();
    results.noteIfRejected(1n, 'BTCUSDT', 6);
    results.apply('BTCUSDT', [entry(42, 6, [ACCEPTED])]);
    results.noteIfRejected(2n, 'BTCUSDT', 6);
    assert.equal(results.settleTarget(1n, 'BTCUSDT'), 0);
    assert.equal(results.settleTarget(2n, 'BTCUSDT'), 0);
  });

  it('keep at most `capacity` notes awaiting their result, dropping the oldest', () => {
    const results = createOrderResults({ capacity: 2 });
    results.noteIfRejected(1n, 'BTCUSDT', 1);
    results.noteIfRejected(2n, 'BTCUSDT', 2);
    results.noteIfRejected(3n, 'BTCUSDT', 3);
    results.apply('BTCUSDT', [entry(10, 1, [REJECTED]), entry(11, 2, [REJECTED]), entry(12, 3, [REJECTED])]);
    assert.equal(results.settleTarget(1n, 'BTCUSDT'), 0, 'the oldest note was dropped');
    assert.equal(results.settleTarget(2n, 'BTCUSDT'), 11);
    assert.equal(results.settleTarget(3n, 'BTCUSDT'), 12);
  });
});

describe('order results of an entry that holds a run of commands (one matching batch)', () => {
  it("answer each command's wait with its own events, and mark accounts with the entry's sequence", async () => {
    const results = createOrderResults();
    results.noteIfRejected(1n, 'BTCUSDT', 9);
    const waiting = results.wait('BTCUSDT', 8, 1000);
    const run: LogEntry = {
      seq: 50,
      key: null,
      payload: encodeCommandResults([
        { cmdSeq: 7, events: [] },
        { cmdSeq: 8, events: [ACCEPTED as BookEvent] },
        { cmdSeq: 9, events: [REJECTED as BookEvent] },
      ]),
      timeMs: 0,
    };
    results.apply('BTCUSDT', [run]);
    assert.deepEqual(await waiting, [ACCEPTED]);
    assert.deepEqual(await results.wait('BTCUSDT', 9, 1000), [REJECTED]);
    assert.deepEqual(await results.wait('BTCUSDT', 7, 1000), []);
    assert.equal(results.settleTarget(1n, 'BTCUSDT'), 50);
  });
});

describe('order results of an entry of several commands (an oms batch)', () => {
  const parts = (seq: number, cmdSeq: number, events: unknown[][]): LogEntry => ({
    seq,
    key: null,
    payload: JSON.stringify({ cmdSeq, parts: events }),
    timeMs: 0,
  });

  it("answer each part's own events, waited for before or after they arrive", async () => {
    const results = createOrderResults();
    const early = results.wait('BTCUSDT', 9, 1000, 1);
    results.apply('BTCUSDT', [parts(30, 9, [[ACCEPTED], [REJECTED]])]);
    assert.deepEqual(await early, [REJECTED]);
    assert.deepEqual(await results.wait('BTCUSDT', 9, 1000, 0), [ACCEPTED]);
  });

  it('mark the account of a rejected part, not of an accepted one', () => {
    const results = createOrderResults();
    results.noteIfRejected(1n, 'BTCUSDT', 9, 0);
    results.noteIfRejected(2n, 'BTCUSDT', 9, 1);
    results.apply('BTCUSDT', [parts(30, 9, [[ACCEPTED], [REJECTED]])]);
    assert.equal(results.settleTarget(1n, 'BTCUSDT'), 0);
    assert.equal(results.settleTarget(2n, 'BTCUSDT'), 30);
  });
});
