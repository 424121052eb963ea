import assert from 'node:assert/strict';
import { request } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { BallastError, ErrorCode } from '@ballast/errors';
import { classifyPostgresError } from '@ballast/state-postgres';
import {
  encodeCancelRequest,
  encodePlaceInput,
  registerOmsRoutes,
  type CancelRequest,
  type Oms,
  type PlaceOrderInput,
} from '@ballast/oms';

const TOKEN = 'internal-secret-0123456789';
const input = (i: number): PlaceOrderInput => ({
  accountId: 1001n,
  symbol: 'BTCUSDT',
  clientOrderId: `c-${i}-${'x'.repeat(30)}`,
  side: 'buy',
  type: 'limit',
  apiType: 'LIMIT',
  tif: 'GTC',
  postOnly: false,
  stp: 'none',
  priceTicks: 2_000_000n + BigInt(i),
  qtyLots: 100n,
});

/** An oms that refuses every order for lack of funds, recording what it saw. */
const fakeOms = (seen: PlaceOrderInput[]): Oms =>
  ({
    async place(i: PlaceOrderInput) {
      seen.push(i);
      return { ok: false, reason: { _tag: 'InsufficientFunds', message: 'no funds' } };
    },
  }) as unknown as Oms;

const app = (seen: PlaceOrderInput[]) => {
  const a = Fastify({ logger: false, bodyLimit: 64 * 1024 }); // the oms process's server limit
  registerOmsRoutes(a, fakeOms(seen), TOKEN);
  return a;
};
const post = (a: ReturnType<typeof app>, orders: unknown[], token = TOKEN) =>
  a.inject({
    method: 'POST',
    url: '/internal/v1/orders/batch',
    headers: { authorization: `Bearer ${token}` },
    payload: { orders },
  });

describe('oms internal batch API', () => {
  it('takes a full batch of 1000 orders, far beyond the server-wide body limit, with one result per order in order', async () => {
    const seen: PlaceOrderInput[] = [];
    const orders = Array.from({ length: 1000 }, (_, i) => encodePlaceInput(input(i)));
    assert.ok(JSON.stringify({ orders }).length > 64 * 1024);
    const res = await post(app(seen), orders);
    assert.equal(res.statusCode, 200, res.body);
    const { results } = res.json() as { results: { ok: boolean; result: { ok: boolean } }[] };
    assert.equal(results.length, 1000);
    assert.ok(results.every((r) => r.ok && r.result.ok === false));
    assert.deepEqual(
      seen.map((s) => s.clientOrderId),
      orders.map((o) => o['clientOrderId']),
    );
  });

  it('answers a malformed order alone with STATE_INVALID, placing the others', async () => {
    const seen: PlaceOrderInput[] = [];
    const orders: unknown[] = [encodePlaceInput(input(1)), { symbol: 'BTCUSDT' }, encodePlaceInput(input(2))];
    const res = await post(app(seen), orders);
    const { results } = res.json() as { results: { ok: boolean; error?: { code: string; retryable: boolean } }[] };
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, false, true],
    );
    assert.equal(results[1]?.error?.code, 'STATE_INVALID');
    assert.equal(results[1]?.error?.retryable, false);
    assert.equal(seen.length, 2);
  });

  it('gives each order of a batch a signal that aborts (CANCELLED) when the gateway closes the connection before the answer, and only then', async () => {
    const signals: (AbortSignal | undefined)[] = [];
    let arrived!: () => void;
    const arrivedP = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const oms = {
      async place(_i: PlaceOrderInput, options: { signal?: AbortSignal } = {}) {
        signals.push(options.signal);
        if (signals.length === 2) arrived();
        await held;
        return { ok: false, reason: { _tag: 'InsufficientFunds', message: 'no funds' } };
      },
    } as unknown as Oms;
    const a = Fastify({ logger: false });
    registerOmsRoutes(a, oms, TOKEN);
    await a.listen({ port: 0, host: '127.0.0.1' });
    const sockets: Socket[] = [];
    a.server.on('connection', (k: Socket) => sockets.push(k));
    try {
      const { port } = a.server.address() as AddressInfo;
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/internal/v1/orders/batch',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
      req.on('error', () => undefined);
      req.end(JSON.stringify({ orders: [encodePlaceInput(input(1)), encodePlaceInput(input(2))] }));
      await arrivedP;
      const given = signals.filter((s) => s !== undefined);
      assert.equal(given.length, 2, 'each order has a signal');
      assert.ok(
        given.every((s) => !s.aborted),
        'not aborted while the gateway waits',
      );
      req.destroy(); // the gateway gives up (its timeout)
      await new Promise<void>((r) => given[0]?.addEventListener('abort', () => r(), { once: true }));
      for (const s of given) {
        assert.equal(s.aborted, true);
        assert.equal((s.reason as { code?: string }).code, ErrorCode.Cancelled);
      }
      release();
      // A batch answered in full leaves its signal alone, also once its connection closes.
      const done = await fetch(`http://127.0.0.1:${port}/internal/v1/orders/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ orders: [encodePlaceInput(input(3))] }),
      });
      assert.equal(done.status, 200);
      await done.text();
      await Promise.all(sockets.filter((k) => !k.destroyed).map((k) => once(k, 'close')));
      assert.equal(signals.length, 3);
      assert.equal(signals[2]?.aborted, false);
    } finally {
      release();
      await a.close();
    }
  });

  it('refuses a batch without the internal token, an empty one and one beyond 1000 orders', async () => {
    const a = app([]);
    assert.equal((await post(a, [encodePlaceInput(input(1))], 'wrong-token-0123456789')).statusCode, 401);
    assert.equal((await post(a, [])).statusCode, 400);
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ i }));
    assert.equal((await post(a, tooMany)).statusCode, 400);
  });
});

describe('oms internal single-order API', () => {
  it("answers a failure HTTP 500 with the store's reason (passing or not) and whether it may have taken effect", async () => {
    const failing = (err: unknown): Oms =>
      ({
        async place() {
          throw err;
        },
      }) as unknown as Oms;
    const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });
    // [error, code, retryable, maybeDone]
    const cases = [
      [
        new BallastError(ErrorCode.Unavailable, 'the command log is unreachable', { retryable: true }),
        'UNAVAILABLE',
        true,
        false,
      ],
      [
        new BallastError(ErrorCode.StateConflict, 'balance changed', { retryable: true }),
        'STATE_CONFLICT',
        true,
        false,
      ],
      // PostgreSQL stopping: passing, and nothing was done (the connection was refused).
      [withCode('the database system is shutting down', '57P03'), 'STATE_CONNECTION', true, false],
      [new Error('Connection terminated unexpectedly'), 'STATE_CONNECTION', true, true],
      // A failed statement that is a bug: not passing, nothing done.
      [withCode('column "nope" does not exist', '42703'), 'STATE_INVALID', false, false],
    ] as const;
    for (const [err, code, retryable, maybeDone] of cases) {
      const a = Fastify({ logger: false });
      registerOmsRoutes(a, failing(err), TOKEN, classifyPostgresError);
      const res = await a.inject({
        method: 'POST',
        url: '/internal/v1/orders',
        headers: { authorization: `Bearer ${TOKEN}` },
        payload: encodePlaceInput(input(1)),
      });
      assert.equal(res.statusCode, 500);
      assert.deepEqual(res.json(), { code, msg: err.message, retryable, maybeDone }, err.message);
    }
  });

  it('answers a raw error INTERNAL, not retryable, when it has no classifier', async () => {
    const a = Fastify({ logger: false });
    registerOmsRoutes(
      a,
      {
        async place() {
          throw new Error('Connection terminated unexpectedly');
        },
      } as unknown as Oms,
      TOKEN,
    );
    const res = await a.inject({
      method: 'POST',
      url: '/internal/v1/orders',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: encodePlaceInput(input(1)),
    });
    assert.deepEqual(res.json(), {
      code: 'INTERNAL',
      msg: 'Connection terminated unexpectedly',
      retryable: false,
      maybeDone: true,
    });
  });
});

describe('oms internal batch API for cancels', () => {
  /** An oms whose cancels find no order for odd ids and fail (retryably) for id 13. */
  const cancelOms = (seen: CancelRequest[]): Oms =>
    ({
      async cancel(c: CancelRequest) {
        seen.push(c);
        if (c.orderId === 13n) throw new BallastError(ErrorCode.StateConnection, 'log down', { retryable: true });
        return { ok: false, reason: { _tag: 'NoSuchOrder', message: `no order ${c.orderId}` } };
      },
    }) as unknown as Oms;
  const postCancels = (seen: CancelRequest[], cancels: unknown[]) => {
    const a = Fastify({ logger: false });
    registerOmsRoutes(a, cancelOms(seen), TOKEN);
    return a.inject({
      method: 'POST',
      url: '/internal/v1/cancels/batch',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { cancels },
    });
  };

  it('runs each cancel of a batch on its own: one result per cancel in order, a failure or a malformed one alone', async () => {
    const seen: CancelRequest[] = [];
    const cancel = (orderId: bigint) => encodeCancelRequest({ accountId: 7n, symbol: 'BTCUSDT', orderId });
    const res = await postCancels(seen, [cancel(11n), cancel(13n), { symbol: 'BTCUSDT' }, cancel(15n)]);
    assert.equal(res.statusCode, 200, res.body);
    const { results } = res.json() as {
      results: {
        ok: boolean;
        result?: { ok: boolean; reason: { message: string } };
        error?: { code: string; retryable: boolean; maybeDone: boolean };
      }[];
    };
    // A store's answer lost may come after the effect (maybeDone); an unreadable item did nothing.
    assert.deepEqual(
      results.map((r) =>
        r.ok ? r.result?.reason.message : `${r.error?.code} ${r.error?.retryable} ${r.error?.maybeDone}`,
      ),
      ['no order 11', 'STATE_CONNECTION true true', 'STATE_INVALID false false', 'no order 15'],
    );
    assert.deepEqual(
      seen.map((c) => c.orderId),
      [11n, 13n, 15n],
    );
  });
});
