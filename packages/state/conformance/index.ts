/**
 * The conformance suite every state adapter runs: the same behaviour sentences for the
 * embedded and the distributed adapter of each port (kysely's DIALECTS pattern).
 *
 * Usage: `eventLogConformance('sqlite', async () => ({ log, close }))` inside a test file.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { EventLog, KeyValue } from '../src/index.ts';

/** Makes a fresh adapter instance; `close` releases it. Log names must be unique per call. */
export type Factory<T> = () => Promise<{ readonly subject: T; readonly close?: () => Promise<void> }>;

let counter = 0;
const unique = (prefix: string): string => `${prefix}.${process.pid}.${Date.now()}.${++counter}`;

/** Options of the conformance suites. */
export interface ConformanceOptions {
  /** Skip the whole suite with this reason (e.g. the service is not running). */
  readonly skip?: string | undefined;
}

/** Runs the EventLog conformance suite against `factory`. */
export function eventLogConformance(name: string, factory: Factory<EventLog>, options: ConformanceOptions = {}): void {
  describe(`EventLog conformance: ${name}`, { skip: options.skip ?? false }, () => {
    const closers: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of closers) await c();
    });
    const open = async (): Promise<EventLog> => {
      const { subject, close } = await factory();
      if (close) closers.push(close);
      return subject;
    };

    it('numbers entries 1, 2, 3 in append order and reads them back from any sequence', async () => {
      const log = await open();
      const l = unique('conf');
      assert.equal(await log.lastSeq(l), 0);
      const r = await log.append(l, [{ payload: 'a' }, { payload: 'b' }]);
      assert.deepEqual(r, [
        { seq: 1, duplicate: false },
        { seq: 2, duplicate: false },
      ]);
      await log.append(l, [{ payload: 'c' }]);
      assert.equal(await log.lastSeq(l), 3);
      assert.deepEqual(
        (await log.read(l, 2, 10)).map((e) => [e.seq, e.payload]),
        [
          [2, 'b'],
          [3, 'c'],
        ],
      );
      assert.deepEqual(
        (await log.read(l, 1, 1)).map((e) => e.seq),
        [1],
      );
      assert.deepEqual(await log.read(l, 4, 10), []);
    });

    it('does not append an entry whose key it already holds, and returns the original sequence', async () => {
      const log = await open();
      const l = unique('conf');
      await log.append(l, [{ key: 'k1', payload: 'first' }]);
      const r = await log.append(l, [
        { key: 'k2', payload: 'x' },
        { key: 'k1', payload: 'again' },
      ]);
      assert.deepEqual(r, [
        { seq: 2, duplicate: false },
        { seq: 1, duplicate: true },
      ]);
      assert.deepEqual(
        (await log.read(l, 1, 10)).map((e) => e.payload),
        ['first', 'x'],
      );
    });

    it('refuses an append whose expected last sequence is stale (fencing) and stores nothing', async () => {
      const log = await open();
      const l = unique('conf');
      await log.append(l, [{ payload: 'a' }], { expectedLastSeq: 0 });
      await assert.rejects(log.append(l, [{ payload: 'b' }], { expectedLastSeq: 0 }), { code: 'STATE_FENCED' });
      assert.equal(await log.lastSeq(l), 1);
      await log.append(l, [{ payload: 'b' }], { expectedLastSeq: 1 });
      assert.equal(await log.lastSeq(l), 2);
    });

    it('returns the headers given at append with the entry, and none for an entry appended without', async () => {
      const log = await open();
      const l = unique('conf');
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await log.append(l, [
        { key: 'h1', payload: 'traced', headers: { traceparent, tracestate: 'v=1' } },
        { payload: 'plain' },
      ]);
      const [traced, plain] = await log.read(l, 1, 10);
      assert.deepEqual(traced?.headers, { traceparent, tracestate: 'v=1' });
      assert.equal(traced?.key, 'h1');
      assert.equal(plain?.headers, undefined);
    });

    it('keeps logs apart', async () => {
      const log = await open();
      const a = unique('conf');
      const b = unique('conf');
      await log.append(a, [{ key: 'same', payload: 'in a' }]);
      const r = await log.append(b, [{ key: 'same', payload: 'in b' }]);
      assert.deepEqual(r, [{ seq: 1, duplicate: false }]);
    });

    it('wakes a waiter when an entry arrives, and times out quietly when none does', async () => {
      const log = await open();
      const l = unique('conf');
      const waiting = log.waitFor(l, 0, 5_000);
      await log.append(l, [{ payload: 'x' }]);
      await waiting;
      const started = performance.now();
      await log.waitFor(l, 1, 50);
      assert.ok(performance.now() - started >= 40);
    });

    it('rejects a wait with the abort reason', async () => {
      const log = await open();
      const ac = new AbortController();
      const waiting = log.waitFor(unique('conf'), 0, 10_000, { signal: ac.signal });
      ac.abort(new Error('stop'));
      await assert.rejects(waiting, /stop/);
    });
  });
}

/** Runs the KeyValue conformance suite against `factory`, with `advanceMs` moving its clock. */
export function keyValueConformance(
  name: string,
  factory: Factory<KeyValue>,
  advanceMs: (ms: number) => Promise<void>,
  options: ConformanceOptions = {},
): void {
  describe(`KeyValue conformance: ${name}`, { skip: options.skip ?? false }, () => {
    it('stores values with increasing revisions', async () => {
      const { subject: kv } = await factory();
      const k = unique('k');
      const r1 = await kv.put(k, 'a');
      const r2 = await kv.put(k, 'b');
      assert.ok(r2 > r1);
      assert.deepEqual(await kv.get(k), { value: 'b', revision: r2 });
    });

    it('compare-and-set: writes only at the expected revision (0 = absent)', async () => {
      const { subject: kv } = await factory();
      const k = unique('k');
      const r1 = await kv.put(k, 'a', { expectedRevision: 0 });
      await assert.rejects(kv.put(k, 'b', { expectedRevision: 0 }), { code: 'STATE_CONFLICT' });
      await kv.put(k, 'c', { expectedRevision: r1 });
      assert.equal((await kv.get(k))?.value, 'c');
    });

    it('expires an entry after its TTL', async () => {
      const { subject: kv } = await factory();
      const k = unique('k');
      await kv.put(k, 'lease', { ttlMs: 1000 });
      assert.equal((await kv.get(k))?.value, 'lease');
      await advanceMs(1500);
      assert.equal(await kv.get(k), undefined);
      await kv.put(k, 'again', { expectedRevision: 0 });
    });

    it('lists the live keys under a prefix', async () => {
      const { subject: kv } = await factory();
      const ns = unique('reg').replace(/\./g, '-');
      await kv.put(`${ns}.a`, '1');
      await kv.put(`${ns}.b`, '2', { ttlMs: 1000 });
      await kv.put(`${ns}x.c`, '3');
      assert.deepEqual((await kv.keys(`${ns}.`)).sort(), [`${ns}.a`, `${ns}.b`]);
      await advanceMs(1500);
      assert.deepEqual(await kv.keys(`${ns}.`), [`${ns}.a`]);
      await kv.delete(`${ns}.a`);
      assert.deepEqual(await kv.keys(`${ns}.`), []);
    });

    it('deletes, with an optional expected revision', async () => {
      const { subject: kv } = await factory();
      const k = unique('k');
      const r = await kv.put(k, 'a');
      await assert.rejects(kv.delete(k, { expectedRevision: r + 100 }), { code: 'STATE_CONFLICT' });
      await kv.delete(k, { expectedRevision: r });
      assert.equal(await kv.get(k), undefined);
    });
  });
}
