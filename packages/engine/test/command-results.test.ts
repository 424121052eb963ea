import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  OrderBook,
  applyCommandEntry,
  decodeCommandEntry,
  decodeCommandResults,
  encodeCommandResults,
  type CommandResult,
} from '@ballast/engine';
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
      '{"cmdSeq":3,"parts":[]}',
      '{"cmdSeq":3,"parts":[[],{}]}',
      '{"cmdSeq":3}',
      '{"cmdSeq":3,"fromCmdSeq":2,"results":[[],{"parts":[]}]}',
      '{"cmdSeq":3,"fromCmdSeq":2,"results":[[],{"parts":[[],3]}]}',
      '{"cmdSeq":3,"from":0,"parts":[[]]}',
      '{"cmdSeq":3,"from":1.5,"parts":[[]]}',
      '{"cmdSeq":3,"fromCmdSeq":2,"results":[[],{"from":4,"parts":[[]]}]}',
      '{"cmdSeq":3,"from":2,"events":[]}',
      '{"cmdSeq":3,"events":[],"parts":[[]]}',
    ]) {
      assert.equal(decodeCommandResults(bad), undefined, bad);
    }
  });
});

describe('command-log entries of several commands (an oms batch)', () => {
  const script = [limit(1, 'sell', 101, 5), limit(2, 'buy', 99, 4), market(3, 'buy', 2), cancel(2), cancel(42)];

  it('an entry of several commands gives the events each would give alone, as parts 0, 1, 2, … of its sequence', () => {
    const alone = new OrderBook();
    const expected = script.map((c) => alone.apply(c));
    const results = applyCommandEntry(new OrderBook(), 9, JSON.stringify(script));
    assert.deepEqual(
      results,
      expected.map((events, part) => ({ cmdSeq: 9, part, events })),
    );
  });

  it('an entry of one command (an object) has one result without a part, as before', () => {
    const results = applyCommandEntry(new OrderBook(), 4, JSON.stringify(script[0]));
    assert.equal(results.length, 1);
    assert.equal(results[0]?.part, undefined);
    assert.equal(results[0]?.cmdSeq, 4);
  });

  it('a payload that is not JSON, or an empty array, is one command the book rejects; an element that is not a command is rejected in its place', () => {
    for (const bad of ['not json', '[]']) {
      const [r, ...rest] = applyCommandEntry(new OrderBook(), 1, bad);
      assert.equal(rest.length, 0);
      assert.equal(r?.events[0]?.type, 'rejected', bad);
    }
    assert.deepEqual(decodeCommandEntry('[]').several, false);
    const results = applyCommandEntry(new OrderBook(), 1, JSON.stringify([script[0], 7, script[1]]));
    assert.deepEqual(
      results.map((r) => r.events[0]?.type),
      ['accepted', 'rejected', 'accepted'],
    );
  });

  it("one entry's parts encode as {cmdSeq, parts}, and runs mixing entries of one and of several round-trip canonically", () => {
    const book = new OrderBook();
    const several = applyCommandEntry(book, 7, JSON.stringify(script.slice(0, 3)));
    const payload = encodeCommandResults(several);
    assert.equal(payload, JSON.stringify({ cmdSeq: 7, parts: several.map((r) => r.events) }));
    assert.deepEqual(decodeCommandResults(payload), several);

    const one = applyCommandEntry(book, 8, JSON.stringify(script[3]));
    const more = applyCommandEntry(book, 9, JSON.stringify([script[4], script[0]]));
    const run = [...several, ...one, ...more];
    const runPayload = encodeCommandResults(run);
    const parsed = JSON.parse(runPayload) as { cmdSeq: number; fromCmdSeq: number; results: unknown[] };
    assert.deepEqual([parsed.fromCmdSeq, parsed.cmdSeq, parsed.results.length], [7, 9, 3]);
    assert.deepEqual(decodeCommandResults(runPayload), run);
    assert.equal(encodeCommandResults(decodeCommandResults(runPayload) as CommandResult[]), runPayload);
  });

  it('replaying the same entries, of one command or several, gives the same bytes, with a result for every command (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 }), (sizes) => {
        // Entries of `sizes` commands each, cut from the script (cycled).
        const entries: string[] = [];
        let k = 0;
        for (const n of sizes) {
          const cmds = Array.from({ length: n }, () => script[k++ % script.length]);
          entries.push(n === 1 ? JSON.stringify(cmds[0]) : JSON.stringify(cmds));
        }
        const apply = () => {
          const book = new OrderBook();
          return entries.flatMap((p, i) => applyCommandEntry(book, i + 1, p));
        };
        const results = apply();
        const leader = encodeCommandResults(results);
        assert.equal(encodeCommandResults(apply()), leader);
        assert.equal(decodeCommandResults(leader)?.length, k);
        // Split anywhere (inside an entry of several or between entries), both halves round-trip
        // canonically.
        for (let cut = 1; cut < results.length; cut++) {
          for (const half of [results.slice(0, cut), results.slice(cut)]) {
            const payload = encodeCommandResults(half);
            assert.deepEqual(decodeCommandResults(payload), half);
            assert.equal(encodeCommandResults(decodeCommandResults(payload) as CommandResult[]), payload);
          }
        }
      }),
    );
  });

  it("an entry's events split over two payloads: the first stops inside the entry, the second starts at the part it names", () => {
    const book = new OrderBook();
    const before = applyCommandEntry(book, 6, JSON.stringify(script[0]));
    const parts = applyCommandEntry(book, 7, JSON.stringify(script.slice(1)));
    const after = applyCommandEntry(book, 8, JSON.stringify(script[0]));
    const head = [...before, ...parts.slice(0, 2)];
    const tail = [...parts.slice(2), ...after];
    const a = encodeCommandResults(head);
    const b = encodeCommandResults(tail);
    assert.deepEqual((JSON.parse(b) as { results: unknown[] }).results[0], {
      from: 2,
      parts: parts.slice(2).map((r) => r.events),
    });
    assert.deepEqual(decodeCommandResults(a), head);
    assert.deepEqual(decodeCommandResults(b), tail);
    const alone = encodeCommandResults(parts.slice(3));
    assert.equal(alone, JSON.stringify({ cmdSeq: 7, from: 3, parts: parts.slice(3).map((r) => r.events) }));
    assert.deepEqual(decodeCommandResults(alone), parts.slice(3));
    assert.throws(
      () => encodeCommandResults([...before, ...parts.slice(1)]),
      RangeError,
      'only the first may start later',
    );
  });

  it('refuses to encode parts out of order, or an entry of one after parts of the same sequence', () => {
    assert.throws(
      () =>
        encodeCommandResults([
          { cmdSeq: 1, part: 1, events: [] },
          { cmdSeq: 1, part: 0, events: [] },
        ]),
      RangeError,
    );
    assert.throws(
      () =>
        encodeCommandResults([
          { cmdSeq: 1, part: 0, events: [] },
          { cmdSeq: 1, events: [] },
        ]),
      RangeError,
    );
  });
});
