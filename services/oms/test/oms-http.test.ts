import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { encodePlaceInput, registerOmsRoutes, type Oms, type PlaceOrderInput } from '@ballast/oms';

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

  it('refuses a batch without the internal token, an empty one and one beyond 1000 orders', async () => {
    const a = app([]);
    assert.equal((await post(a, [encodePlaceInput(input(1))], 'wrong-token-0123456789')).statusCode, 401);
    assert.equal((await post(a, [])).statusCode, 400);
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ i }));
    assert.equal((await post(a, tooMany)).statusCode, 400);
  });
});
