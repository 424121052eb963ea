import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { OrderBook, decodeCommandResults, encodeCommandResults, type CommandResult } from '@ballast/engine';
import { cancel, limit, market } from './helpers.ts';

/** The results of a short script on a fresh book, numbered from `firstSeq`. */
const scriptResults = (firstSeq: number): CommandResult[] => {
  const book = new OrderBook();
  const script = [limit(1, 'sell', 101, 5), limit(2, 'buy', 99, 4), market(3, 'buy', 2), cancel(2), cancel(42)];
  return script.map((c, i) => ({ cmdSeq: firstSeq + i, events: book.apply(c) }));
};

describe('event entry payloads (command results)', () => {
  it('one command keeps the per-command format: {"cmdSeq", "events"}', () => {
    const [r] = scriptResults(7);
    const payload = encodeCommandResults([r as CommandResult]);
    assert.equal(payload, JSON.stringify({ cmdSeq: 7, events: (r as CommandResult).events }));
    assert.deepEqual(decodeCommandResults(payload), [r]);
  });

  it('a run of commands is one payload whose cmdSeq is its last command, decoded back in order', () => {
    const results = scriptResults(11);
    const payload = encodeCommandResults(results);
    const parsed = JSON.parse(payload) as { cmdSeq: number; fromCmdSeq: number };
    assert.equal(parsed.cmdSeq, 15);
    assert.equal(parsed.fromCmdSeq, 11);
    assert.deepEqual(decodeCommandResults(payload), results);
  });

  it('encodes canonically: re-encoding what was decoded gives the same bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 5 }), (first, n) => {
        const payload = encodeCommandResults(scriptResults(first).slice(0, n));
        assert.equal(encodeCommandResults(decodeCommandResults(payload) as CommandResult[]), payload);
      }),
    );
  });

  it('refuses to encode no results or commands that are not consecutive', () => {
    assert.throws(() => encodeCommandResults([]), RangeError);
    assert.throws(
      () =>
        encodeCommandResults([
          { cmdSeq: 1, events: [] },
          { cmdSeq: 3, events: [] },
        ]),
      RangeError,
    );
  });

  it('answers undefined for payloads that are not command results', () => {
    for (const bad of [
      'not json',
      'null',
      '[]',
      '{"events":[]}',
      '{"cmdSeq":0,"events":[]}',
      '{"cmdSeq":1.5,"events":[]}',
      '{"cmdSeq":"1","events":[]}',
      '{"cmdSeq":1,"events":{}}',
      '{"cmdSeq":3,"fromCmdSeq":1,"results":[[],[]]}',
      '{"cmdSeq":3,"fromCmdSeq":2,"results":[[],{}]}',
      '{"cmdSeq":3,"fromCmdSeq":4,"results":[]}',
      '{"cmdSeq":3,"fromCmdSeq":2}',
    ]) {
      assert.equal(decodeCommandResults(bad), undefined, bad);
    }
  });
});
