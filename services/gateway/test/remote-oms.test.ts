import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { ErrorCode } from '@ballast/errors';
import { encodePlaceResult, type PlaceOrderInput } from '@ballast/oms';
import { within, type Instance } from '@ballast/state';
import { createRemoteOms } from '../src/remote-oms.ts';

/** An oms stand-in on 127.0.0.1 that answers every cancel "no such order", alone or in a batch. */
async function startOms(): Promise<{ server: Server; url: string; calls: () => number }> {
  let calls = 0;
  const server = createServer((req, res) => {
    calls++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const result = { ok: false, reason: { _tag: 'NoSuchOrder', message: 'Unknown order sent.' } };
      res.setHeader('content-type', 'application/json');
      if (req.url !== '/internal/v1/cancels/batch') {
        res.end(JSON.stringify(result));
        return;
      }
      const { cancels } = JSON.parse(Buffer.concat(chunks).toString()) as { cancels: unknown[] };
      res.end(JSON.stringify({ results: cancels.map(() => ({ ok: true, result })) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls: () => calls };
}

const CANCEL = { accountId: 1n, symbol: 'BTCUSDT', orderId: 7n };
const ORDER: PlaceOrderInput = {
  accountId: 1n,
  symbol: 'BTCUSDT',
  clientOrderId: 'c-1',
  side: 'buy',
  type: 'limit',
  apiType: 'LIMIT',
  tif: 'GTC',
  postOnly: false,
  stp: 'none',
  priceTicks: 2_000_000n,
  qtyLots: 100n,
};
/** A call that may have been carried out: `OUTCOME_UNKNOWN`, not retryable. */
const outcomeUnknown = (err: { code?: string; retryable?: boolean }): boolean =>
  err.code === ErrorCode.OutcomeUnknown && err.retryable === false;

describe('remote oms discovery', () => {
  let ac: AbortController;
  const servers: Server[] = [];
  beforeEach(() => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    ac = new AbortController();
  });
  afterEach(() => {
    ac.abort();
    mock.timers.reset();
    for (const s of servers.splice(0)) s.close();
  });

  it('uses a replica that registered after its last refresh at once, without waiting for the next refresh', async () => {
    const oms = await startOms();
    servers.push(oms.server);
    let registered: Instance[] = [];
    let lookups = 0;
    const remote = createRemoteOms({
      instances: async () => (lookups++, registered),
      token: 't',
      refreshMs: 60_000,
    });
    const running = remote.run(ac.signal);
    await new Promise((r) => setImmediate(r)); // the first refresh: nothing registered yet
    assert.equal(lookups, 1);
    registered = [{ id: 'oms-1', url: oms.url }];
    mock.timers.tick(300);
    const r = await remote.cancel(CANCEL);
    assert.deepEqual(r, { ok: false, reason: { _tag: 'NoSuchOrder', message: 'Unknown order sent.' } });
    assert.equal(oms.calls(), 1);
    assert.deepEqual(remote.replicas, ['oms-1']);
    ac.abort();
    await running;
  });

  it('while none is registered, answers unavailable (retryable) and asks the registry at most once per rediscoverMs', async () => {
    let lookups = 0;
    const remote = createRemoteOms({
      instances: async () => (lookups++, []),
      token: 't',
      refreshMs: 60_000,
      rediscoverMs: 250,
    });
    const running = remote.run(ac.signal);
    await new Promise((r) => setImmediate(r));
    mock.timers.tick(300);
    const burst = await Promise.allSettled(Array.from({ length: 20 }, () => remote.cancel(CANCEL)));
    for (const b of burst) {
      assert.equal(b.status, 'rejected');
      assert.equal((b.reason as { retryable?: boolean }).retryable, true);
    }
    assert.equal(lookups, 2, 'the periodic refresh and one shared rediscovery');
    await Promise.allSettled([remote.cancel(CANCEL)]);
    assert.equal(lookups, 2, 'no second rediscovery within rediscoverMs');
    mock.timers.tick(250);
    await Promise.allSettled([remote.cancel(CANCEL)]);
    assert.equal(lookups, 3);
    ac.abort();
    await running;
  });

  it('once a replica is known, a registry listing that never answers holds neither requests nor the refresh loop', async () => {
    const oms = await startOms();
    servers.push(oms.server);
    let lookups = 0;
    const remote = createRemoteOms({
      instances: () => (++lookups === 1 ? Promise.resolve([{ id: 'oms-1', url: oms.url }]) : new Promise(() => {})),
      token: 't',
      refreshMs: 0,
      discoveryTimeoutMs: 20,
    });
    const running = remote.run(ac.signal);
    while (lookups < 2) await new Promise((r) => setImmediate(r)); // the second listing hangs
    const r = await within(remote.cancel(CANCEL), 5000, 'cancel while the registry hangs');
    assert.equal(r.ok, false);
    assert.equal(oms.calls(), 1);
    while (lookups < 3) await new Promise((r) => setImmediate(r)); // the loop went on past it
    assert.deepEqual(remote.replicas, ['oms-1']);
    ac.abort();
    await running;
  });
});

describe('remote oms batches', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      s.close();
    }
  });

  /** An HTTP server on 127.0.0.1 answering with `handler`, closed after the test; its URL. */
  const listen = async (handler: RequestListener): Promise<{ url: string }> => {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  };
  /** An oms stand-in that calls `onBatch`, then sends headers and part of a body and drops the connection. */
  const cutting = (onBatch: () => void): Promise<{ url: string }> =>
    listen((req, res) => {
      req.resume();
      req.on('end', () => {
        onBatch();
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"results":[{"ok":true,');
        setImmediate(() => res.socket?.destroy());
      });
    });

  /**
   * An oms stand-in that records each batch's size (and its items: cancels or orders) and holds
   * its answer until `release` (or, after `answerAll`, answers at once); with `failing`, the
   * answer is HTTP 500 saying nothing was done (`maybeDone: false`, a refusal), with `'lost'`
   * HTTP 500 that leaves it open (a store's answer lost); with `items`, HTTP 200 with this
   * per-item failure for each. Orders are answered as cancels are (only requests never answered
   * are sent orders here).
   */
  async function startHeldOms(
    failing: boolean | 'lost' | 'bug' | { maybeDone?: boolean; code?: string; retryable?: boolean } = false,
  ): Promise<{
    url: string;
    sizes: number[];
    items: unknown[];
    release: () => void;
    answerAll: () => void;
  }> {
    const sizes: number[] = [];
    const items: unknown[] = [];
    let held: (() => void)[] = [];
    let atOnce = false;
    const { url } = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { cancels?: unknown[]; orders?: unknown[] };
        const cancels = body.cancels ?? body.orders ?? [];
        sizes.push(cancels.length);
        items.push(...cancels);
        const result = { ok: false, reason: { _tag: 'NoSuchOrder', message: 'Unknown order sent.' } };
        const answer = (): void => {
          res.setHeader('content-type', 'application/json');
          if (failing === true) res.writeHead(500).end('{"code":"UNAVAILABLE","maybeDone":false}');
          else if (failing === 'lost') res.writeHead(500).end('{"code":"STATE_CONNECTION","maybeDone":true}');
          else if (failing === 'bug') res.writeHead(500).end('{"code":"INTERNAL","retryable":false,"maybeDone":false}');
          else if (failing !== false) {
            const error = { code: 'STATE_CONNECTION', msg: 'lost', retryable: true, ...failing };
            res.end(JSON.stringify({ results: cancels.map(() => ({ ok: false, error })) }));
          } else res.end(JSON.stringify({ results: cancels.map(() => ({ ok: true, result })) }));
        };
        if (atOnce) answer();
        else held.push(answer);
      });
    });
    const release = (): void => {
      const now = held;
      held = [];
      for (const h of now) h();
    };
    return {
      url,
      sizes,
      items,
      release,
      answerAll: () => {
        atOnce = true;
        release();
      },
    };
  }
  const until = (cond: () => boolean, what: string): Promise<void> =>
    within(
      (async () => {
        while (!cond()) await new Promise((r) => setTimeout(r, 1));
      })(),
      5000,
      what,
    );
  const NO_SUCH_ORDER = { ok: false, reason: { _tag: 'NoSuchOrder', message: 'Unknown order sent.' } };
  /**
   * A remote oms over `replicas` (ids `oms-1`, `oms-2`, …), running and with every replica found;
   * `stop` ends it.
   */
  const remoteOn = async (
    replicas: readonly { url: string }[],
    options: { batchesInFlightPerReplica?: number; timeoutMs?: number; placeAttemptTimeoutMs?: number } = {},
  ) => {
    const ac = new AbortController();
    const remote = createRemoteOms({
      instances: async () => replicas.map((r, i) => ({ id: `oms-${i + 1}`, url: r.url })),
      token: 't',
      refreshMs: 60_000,
      ...options,
    });
    const running = remote.run(ac.signal);
    await until(() => remote.replicas.length === replicas.length, 'discovery');
    return {
      remote,
      stop: async (): Promise<void> => {
        ac.abort();
        await running;
      },
    };
  };

  it('are self-clocked: with a replica at its in-flight limit, requests wait and leave as one batch when a batch answers, and every request gets its own result', async () => {
    const oms = await startHeldOms();
    const { remote, stop } = await remoteOn([oms], { batchesInFlightPerReplica: 2 });
    try {
      const first = remote.cancel(CANCEL);
      await until(() => oms.sizes.length === 1, 'the first batch');
      const second = [remote.cancel(CANCEL), remote.cancel(CANCEL)];
      await until(() => oms.sizes.length === 2, 'the second batch');
      // Two batches are out: these five wait, however many turns they arrive over.
      const waiting: Promise<unknown>[] = [];
      for (let i = 0; i < 5; i++) {
        waiting.push(remote.cancel(CANCEL));
        await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(oms.sizes, [1, 2], 'nothing more left while two batches were in flight');
      oms.release();
      for (const a of await Promise.all([first, ...second])) assert.deepEqual(a, NO_SUCH_ORDER);
      await until(() => oms.sizes.length === 3, 'the waiting requests');
      assert.deepEqual(oms.sizes, [1, 2, 5], 'the five waiting requests left as one batch');
      oms.release();
      const rest = await Promise.all(waiting);
      assert.equal(rest.length, 5);
      for (const a of rest) assert.deepEqual(a, NO_SUCH_ORDER);
    } finally {
      oms.answerAll();
      await stop();
    }
  });

  it('a replica that never answers holds only its own slots: the other replica takes every later request', async () => {
    const hung = await startHeldOms();
    const healthy = await startHeldOms();
    healthy.answerAll();
    const { remote, stop } = await remoteOn([hung, healthy], { timeoutMs: 60_000, batchesInFlightPerReplica: 1 });
    try {
      // One request at a time: a pick lands on each replica at random, so within 60 requests one
      // reaches the hung replica (all miss it with probability 0.5^60) and is held there; every
      // later one must go to the other replica, the hung one's single slot being taken.
      const held: Promise<unknown>[] = [];
      for (let i = 0; i < 60; i++) {
        const r = remote.cancel(CANCEL);
        const answer = await Promise.race([r, new Promise((res) => setTimeout(() => res('held'), 200))]);
        if (answer === 'held') held.push(r);
        else assert.deepEqual(answer, NO_SUCH_ORDER);
      }
      assert.equal(held.length, 1, 'one request held by the hung replica, no more');
      assert.deepEqual(hung.sizes, [1], 'the hung replica was sent one batch, and nothing after it');
      hung.release();
      assert.deepEqual(await within(held[0] as Promise<unknown>, 5000, 'the held request'), NO_SUCH_ORDER);
    } finally {
      hung.answerAll();
      await stop();
    }
  });

  it('retries a new order a replica has not answered within placeAttemptTimeoutMs on another replica, which places it before the order-entry deadline; a cancel is not cut short', async () => {
    const hung = await startHeldOms();
    // Answers each order with a valid place result (a rejection will do) at once.
    const placed: string[] = [];
    const rejected = encodePlaceResult({ ok: false, reason: { _tag: 'UnknownSymbol', message: 'Invalid symbol.' } });
    const healthy = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          orders?: { clientOrderId: string }[];
          cancels?: unknown[];
        };
        res.setHeader('content-type', 'application/json');
        if (body.cancels !== undefined) {
          res.end(JSON.stringify({ results: body.cancels.map(() => ({ ok: true, result: NO_SUCH_ORDER })) }));
          return;
        }
        const orders = body.orders ?? [];
        placed.push(...orders.map((x) => x.clientOrderId));
        res.end(JSON.stringify({ results: orders.map(() => ({ ok: true, result: rejected })) }));
      });
    });
    const { remote, stop } = await remoteOn([hung, healthy], { timeoutMs: 60_000, placeAttemptTimeoutMs: 300 });
    try {
      // A pick lands on each replica at random: within 40 orders one goes to the hung replica
      // first (all miss it with probability 0.5^40).
      let i = 0;
      while (hung.sizes.length === 0 && i < 40) {
        const clientOrderId = `o-${i++}`;
        const started = performance.now();
        const r = await remote.place({ ...ORDER, clientOrderId });
        assert.equal(r.ok, false, 'the healthy replica answered it');
        assert.equal(placed.at(-1), clientOrderId);
        if (hung.sizes.length > 0) {
          const tookMs = performance.now() - started;
          assert.ok(tookMs >= 290 && tookMs < 2000, `answered after the attempt's ${tookMs} ms, within the deadline`);
        }
      }
      assert.equal(hung.sizes.length, 1, 'an order went to the hung replica');
      // A cancel there waits for its answer up to timeoutMs: it is not retried once sent.
      let held: Promise<unknown> | undefined;
      for (let j = 0; j < 40 && held === undefined; j++) {
        const c = remote.cancel(CANCEL);
        await new Promise((r) => setTimeout(r, 20));
        if ((hung.sizes.length as number) === 2) held = c;
        else assert.deepEqual(await c, NO_SUCH_ORDER);
      }
      assert.ok(held !== undefined, 'a cancel went to the hung replica');
      let settled = false;
      void held.finally(() => (settled = true)).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(settled, false, 'still waiting for the hung replica after twice placeAttemptTimeoutMs');
      hung.release();
      assert.deepEqual(await held, NO_SUCH_ORDER, "the hung replica's answer");
    } finally {
      hung.answerAll();
      await stop();
    }
  });

  it("does not cut a new order's attempt short when no other replica could take the retry: it waits the whole timeoutMs", async () => {
    const alone = await startHeldOms();
    const { remote, stop } = await remoteOn([alone], { timeoutMs: 600, placeAttemptTimeoutMs: 100 });
    try {
      const started = performance.now();
      await assert.rejects(remote.place(ORDER), outcomeUnknown);
      const tookMs = performance.now() - started;
      assert.ok(tookMs >= 590, `gave up after ${tookMs} ms, not at the 100 ms attempt time`);
      assert.deepEqual(alone.sizes, [1], 'sent once');
    } finally {
      alone.answerAll();
      await stop();
    }
  });

  it('does not send a request whose caller gave up while it waited for a slot, and answers it with the abort reason at once', async () => {
    const oms = await startHeldOms();
    const { remote, stop } = await remoteOn([oms], { batchesInFlightPerReplica: 1 });
    try {
      const first = remote.cancel(CANCEL);
      await until(() => oms.sizes.length === 1, 'the first batch');
      const caller = new AbortController();
      const givenUp = remote.cancel(CANCEL, { signal: caller.signal });
      const kept = remote.cancel(CANCEL);
      // Both wait for the slot (a flush has found none free), then the caller gives up.
      await new Promise((r) => setTimeout(r, 20));
      caller.abort(new Error('the caller timed out'));
      // Answered while the batch ahead of it is still held, not when a slot frees.
      // (The call's own timeout, 3 s, would free the slot and answer it too: not that late.)
      await assert.rejects(within(givenUp, 1000, 'the given-up request'), /the caller timed out/);
      assert.deepEqual(oms.sizes, [1]);
      oms.release();
      assert.deepEqual(await first, NO_SUCH_ORDER);
      await until(() => oms.sizes.length === 2, 'the kept request');
      assert.deepEqual(oms.sizes, [1, 1], 'the given-up request was not sent');
      oms.release();
      assert.deepEqual(await kept, NO_SUCH_ORDER);
    } finally {
      oms.answerAll();
      await stop();
    }
  });

  it('calls onDispatched when a request is sent, once even when retried, and never for one withdrawn while it waited for a slot', async () => {
    const oms = await startHeldOms();
    const { remote, stop } = await remoteOn([oms], { batchesInFlightPerReplica: 1 });
    try {
      const sent: string[] = [];
      const mark = (name: string) => () => void sent.push(name);
      const first = remote.cancel(CANCEL, { onDispatched: mark('first') });
      await until(() => oms.sizes.length === 1, 'the first batch');
      assert.deepEqual(sent, ['first'], 'told when its batch left');
      const caller = new AbortController();
      const givenUp = remote.cancel(CANCEL, { signal: caller.signal, onDispatched: mark('givenUp') });
      const kept = remote.cancel(CANCEL, { onDispatched: mark('kept') });
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(sent, ['first'], 'not while they wait for the slot');
      caller.abort(new Error('the caller timed out'));
      await assert.rejects(givenUp, /the caller timed out/);
      oms.release();
      await first;
      await until(() => oms.sizes.length === 2, 'the kept request');
      oms.release();
      await kept;
      assert.deepEqual(sent, ['first', 'kept'], 'the withdrawn request was never dispatched');
    } finally {
      oms.answerAll();
      await stop();
    }
    // A place retried on a second replica after the first lost it: told once.
    let reached = 0;
    const a = await cutting(() => reached++);
    const b = await cutting(() => reached++);
    const two = await remoteOn([a, b]);
    try {
      let told = 0;
      await assert.rejects(two.remote.place(ORDER, { onDispatched: () => void told++ }), outcomeUnknown);
      assert.equal(reached, 2, 'sent to both replicas');
      assert.equal(told, 1);
    } finally {
      await two.stop();
    }
  });

  it('answers a request unavailable once it has waited timeoutMs for a slot, even while the batches ahead are still being retried, and never sends it', async () => {
    const a = await startHeldOms();
    const b = await startHeldOms();
    const { remote, stop } = await remoteOn([a, b], { timeoutMs: 400, batchesInFlightPerReplica: 1 });
    try {
      // Both replicas hang: each order batch times out after 400 ms and is retried on the other
      // one (a place is idempotent), so no slot frees for about 800 ms (a slot moved with a retry
      // is not taken before a flush: the waiting request is queued well before the first move).
      let aheadSettled = false;
      const ahead: Promise<unknown>[] = [];
      for (let i = 1; i <= 2; i++) {
        const r = remote.place({ ...ORDER, clientOrderId: `ahead-${i}` });
        void r.catch(() => undefined).finally(() => (aheadSettled = true));
        ahead.push(r);
        await until(() => a.sizes.length + b.sizes.length === i, `batch ${i} out`);
      }
      const started = performance.now();
      const waiting = remote.place({ ...ORDER, clientOrderId: 'waiting' });
      await assert.rejects(
        within(waiting, 5000, 'the waiting request'),
        (err: { retryable?: boolean; message?: string }) =>
          err.retryable === true && /within 400 ms/.test(err.message ?? ''),
      );
      assert.ok(performance.now() - started >= 390, 'it waited for its time');
      assert.equal(aheadSettled, false, 'answered at its own deadline, before a slot freed');
      // Sent twice and never answered: they may stand, and their callers are told so.
      for (const r of ahead) await assert.rejects(r, outcomeUnknown);
      assert.equal(
        [...a.sizes, ...b.sizes].reduce((x, y) => x + y, 0),
        4,
        'the two batches and their retries, never the expired request',
      );
    } finally {
      a.answerAll();
      b.answerAll();
      await stop();
    }
  });

  it('retries a failed batch on another replica with only the requests whose callers still wait', async () => {
    const a = await startHeldOms(true);
    const b = await startHeldOms(true);
    const { remote, stop } = await remoteOn([a, b]);
    try {
      const caller = new AbortController();
      const givenUp = remote.cancel(CANCEL, { signal: caller.signal });
      const waiting = remote.cancel(CANCEL);
      await until(() => a.sizes.length + b.sizes.length === 1, 'the first attempt');
      const [first, second] = a.sizes.length === 1 ? [a, b] : [b, a];
      assert.deepEqual(first.sizes, [2], 'both requests in the first attempt');
      caller.abort(new Error('the caller timed out'));
      first.release(); // HTTP 500: retryable, so the batch goes to the other replica
      await assert.rejects(givenUp, /the caller timed out/);
      await until(() => second.sizes.length === 1, 'the retry');
      assert.deepEqual(second.sizes, [1], 'the retry carried only the request still waited for');
      second.release();
      await assert.rejects(waiting, (err: { retryable?: boolean }) => err.retryable === true);
    } finally {
      a.answerAll();
      b.answerAll();
      await stop();
    }
  });

  it('retries a place that reached a replica and got no answer on another one, the same order each time, and then fails OUTCOME_UNKNOWN, not "retry"', async () => {
    const a = await startHeldOms();
    const b = await startHeldOms();
    const { remote, stop } = await remoteOn([a, b], { timeoutMs: 100 });
    try {
      await assert.rejects(within(remote.place(ORDER), 5000, 'the place'), outcomeUnknown);
      assert.deepEqual([a.sizes, b.sizes], [[1], [1]], 'one attempt on each replica');
      const ids = [...a.items, ...b.items].map((i) => (i as { clientOrderId: string }).clientOrderId);
      assert.deepEqual(ids, ['c-1', 'c-1'], 'the retry carried the same client order id');
    } finally {
      a.answerAll();
      b.answerAll();
      await stop();
    }
  });

  it('does not retry a cancel that reached a replica and got no answer (a second cancel would be rejected): OUTCOME_UNKNOWN at once', async () => {
    const a = await startHeldOms();
    const b = await startHeldOms();
    const { remote, stop } = await remoteOn([a, b], { timeoutMs: 100 });
    try {
      await assert.rejects(within(remote.cancel(CANCEL), 5000, 'the cancel'), outcomeUnknown);
      assert.equal(a.sizes.length + b.sizes.length, 1, 'sent once');
    } finally {
      a.answerAll();
      b.answerAll();
      await stop();
    }
  });

  it('answers a call that no replica accepted a connection for retryable (nothing was sent), after trying each', async () => {
    const closed = async (): Promise<{ url: string }> => {
      const s = createServer();
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`; // closed below: refuses
      await new Promise((r) => s.close(r));
      return { url };
    };
    const { remote, stop } = await remoteOn([await closed(), await closed()]);
    try {
      for (const call of [(): Promise<unknown> => remote.place(ORDER), (): Promise<unknown> => remote.cancel(CANCEL)])
        await assert.rejects(
          within(call(), 5000, 'the call'),
          (err: { code?: string; retryable?: boolean }) =>
            err.code === ErrorCode.StateConnection && err.retryable === true,
        );
    } finally {
      await stop();
    }
  });

  it('counts an answer cut off after its headers as maybe carried out: a place is retried on the other replica, a cancel is not; both end OUTCOME_UNKNOWN', async () => {
    let batches = 0;
    const { remote, stop } = await remoteOn([await cutting(() => batches++), await cutting(() => batches++)]);
    try {
      await assert.rejects(within(remote.cancel(CANCEL), 5000, 'the cancel'), outcomeUnknown);
      assert.equal(batches, 1, 'the cancel was sent once');
      await assert.rejects(within(remote.place(ORDER), 5000, 'the place'), outcomeUnknown);
      assert.equal(batches, 3, 'the place was sent to both replicas');
    } finally {
      await stop();
    }
  });

  it('takes an oms failure answer at its word: "nothing done" is retried (a cancel too) and ends retryable; a failure that leaves it open is not retried for a cancel and ends OUTCOME_UNKNOWN', async () => {
    for (const [failing, sends, ending] of [
      [
        true,
        2,
        (e: { code?: string; retryable?: boolean }) => e.code === ErrorCode.StateConnection && e.retryable === true,
      ],
      ['lost', 1, outcomeUnknown],
      ['bug', 1, (e: { code?: string; retryable?: boolean }) => e.code === ErrorCode.Internal && e.retryable === false],
    ] as const) {
      const a = await startHeldOms(failing);
      const b = await startHeldOms(failing);
      a.answerAll();
      b.answerAll();
      const { remote, stop } = await remoteOn([a, b]);
      try {
        await assert.rejects(within(remote.cancel(CANCEL), 5000, 'the cancel'), ending);
        assert.equal(a.sizes.length + b.sizes.length, sends, `a 500 ${JSON.stringify(failing)}`);
      } finally {
        await stop();
      }
    }
  });

  it('answers an item the oms failed OUTCOME_UNKNOWN when the oms says it may have been done (or does not say), retryable when it says it was not, and a refused unreadable item as a bug', async () => {
    for (const [failing, ending] of [
      [{ maybeDone: true }, outcomeUnknown],
      [{}, outcomeUnknown],
      [{ code: 'STATE_INVALID', retryable: false }, outcomeUnknown],
      [
        { code: 'INTERNAL', retryable: false, maybeDone: false },
        (e: { code?: string; retryable?: boolean }) => e.code === ErrorCode.Internal && e.retryable === false,
      ],
      [
        { code: 'STATE_INVALID', retryable: false, maybeDone: false },
        (e: { code?: string; retryable?: boolean }) => e.code === ErrorCode.Internal && e.retryable === false,
      ],
      [
        { maybeDone: false },
        (e: { code?: string; retryable?: boolean }) => e.code === ErrorCode.StateConnection && e.retryable === true,
      ],
    ] as const) {
      const oms = await startHeldOms(failing);
      oms.answerAll();
      const { remote, stop } = await remoteOn([oms]);
      try {
        await assert.rejects(within(remote.place(ORDER), 5000, 'the place'), ending, JSON.stringify(failing));
      } finally {
        await stop();
      }
    }
  });

  it('answers an item OUTCOME_UNKNOWN when an earlier attempt may have carried it out, even if the replica that answered says it did not', async () => {
    const hits: string[] = [];
    const cut = await cutting(() => hits.push('cut'));
    const refusing = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        hits.push('refused');
        const error = { code: 'STATE_CONFLICT', msg: 'conflict', retryable: true, maybeDone: false };
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ results: [{ ok: false, error }] }));
      });
    });
    const { remote, stop } = await remoteOn([cut, refusing]);
    try {
      // Which replica a call tries first is random: each case is checked as it comes, until the
      // cut-off-first case has come (all 40 missing it has probability about 2^-40).
      const seen = new Set<string>();
      for (let i = 0; i < 40 && !seen.has('cut,refused'); i++) {
        hits.length = 0;
        const err = await remote.place({ ...ORDER, clientOrderId: `c-${i}` }).then(
          () => assert.fail('no replica placed it'),
          (e: { code?: string; retryable?: boolean }) => e,
        );
        seen.add(hits.join(','));
        if (hits[0] === 'cut') assert.ok(outcomeUnknown(err), `after a cut-off answer: ${JSON.stringify(err)}`);
        else assert.ok(err.code === ErrorCode.StateConnection && err.retryable === true, JSON.stringify(err));
      }
      assert.ok(seen.has('cut,refused'), 'the cut-off replica was tried first at least once');
    } finally {
      await stop();
    }
  });

  it("moves a batch retried on another replica to that replica's count: the first is free again, the second at its limit takes no more", async () => {
    // A refuses its first batch (it did nothing) and answers every later one; B holds its batches.
    // Which replica a call tries first is random: the case where A is tried first is checked once it comes.
    for (let round = 0; round < 40; round++) {
      let aBatches = 0;
      const a = await listen((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          if (aBatches++ === 0) {
            res.writeHead(500).end('{"code":"UNAVAILABLE","maybeDone":false}');
            return;
          }
          const { cancels } = JSON.parse(Buffer.concat(chunks).toString()) as { cancels: unknown[] };
          res.end(JSON.stringify({ results: cancels.map(() => ({ ok: true, result: NO_SUCH_ORDER })) }));
        });
      });
      const b = await startHeldOms();
      const { remote, stop } = await remoteOn([a, b], {
        batchesInFlightPerReplica: 1,
      });
      try {
        const first = remote.cancel(CANCEL);
        await until(() => b.sizes.length === 1, 'a batch held by B');
        if (aBatches === 0) continue; // B was tried first: not the case under test
        // The first batch failed on A and is held by B: A has nothing out, B its one batch.
        assert.deepEqual(await within(remote.cancel(CANCEL), 5000, 'the second cancel'), NO_SUCH_ORDER);
        assert.equal(aBatches, 2, 'the second batch went to A');
        assert.deepEqual(b.sizes, [1], 'B, at its limit, was sent nothing more');
        b.release();
        assert.deepEqual(await first, NO_SUCH_ORDER);
        return;
      } finally {
        b.answerAll();
        await stop();
      }
    }
    assert.fail('A was never tried first in 40 rounds');
  });

  it('refuses a batchesInFlightPerReplica that is not an integer ≥ 1 or Infinity', () => {
    for (const bad of [0, 1.5, Number.NaN, -1])
      assert.throws(
        () => createRemoteOms({ instances: async () => [], token: 't', batchesInFlightPerReplica: bad }),
        RangeError,
      );
    assert.doesNotThrow(() =>
      createRemoteOms({ instances: async () => [], token: 't', batchesInFlightPerReplica: Infinity }),
    );
  });
});
