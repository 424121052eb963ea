import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { call, fundedAccount, startInstance, stop, waitForCatchUp, type Instance } from './harness.ts';

/** Sum of `available + reserved` per asset over the given accounts (admin view), in minor units. */
async function holdings(inst: Instance, accountIds: number[]): Promise<Record<string, bigint>> {
  const sums: Record<string, bigint> = {};
  for (const id of accountIds) {
    const r = await call(inst.adminUrl, 'GET', '/admin/balances', {
      token: inst.adminToken,
      params: { accountId: id },
    });
    for (const b of r.body.balances as { asset: string; available: string; reserved: string }[]) {
      const minor = (s: string) => BigInt(s.replace('.', ''));
      sums[b.asset] = (sums[b.asset] ?? 0n) + minor(b.available) + minor(b.reserved);
    }
  }
  return sums;
}

describe('balances are conserved (property, over HTTP)', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance();
  });
  after(async () => {
    await stop(inst);
  });

  const step = fc.oneof(
    fc.record({
      k: fc.constant('limit' as const),
      who: fc.nat(2),
      side: fc.constantFrom('BUY', 'SELL'),
      price: fc.integer({ min: 95, max: 105 }),
      qty: fc.integer({ min: 1, max: 40 }),
      tif: fc.constantFrom('GTC', 'IOC', 'FOK'),
    }),
    fc.record({
      k: fc.constant('market' as const),
      who: fc.nat(2),
      side: fc.constantFrom('BUY', 'SELL'),
      qty: fc.integer({ min: 1, max: 40 }),
    }),
    fc.record({ k: fc.constant('cancel' as const), who: fc.nat(2) }),
  );

  it('users + fees hold exactly what was deposited, after any sequence of orders and cancels', async () => {
    let run = 0;
    // Orders of one run may trade with orders left resting by earlier runs: conserve over everyone.
    const everyone: number[] = [2];
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 25 }), async (steps) => {
        run++;
        const accts = [];
        for (let i = 0; i < 3; i++) accts.push(await fundedAccount(inst, { ETH: '10', USDT: '5000' }));
        everyone.push(...accts.map((a) => a.id));
        const before = await holdings(inst, everyone);
        const placed: number[][] = [[], [], []];
        for (const s of steps) {
          const a = accts[s.who]!;
          if (s.k === 'cancel') {
            const id = placed[s.who]!.pop();
            if (id !== undefined)
              await call(inst.httpUrl, 'DELETE', '/api/v3/order', {
                key: a.key,
                params: { symbol: 'ETHUSDT', orderId: id },
              });
            continue;
          }
          const params: Record<string, string> =
            s.k === 'limit'
              ? {
                  symbol: 'ETHUSDT',
                  side: s.side,
                  type: 'LIMIT',
                  timeInForce: s.tif,
                  price: String(s.price),
                  quantity: (s.qty / 10).toFixed(1),
                }
              : { symbol: 'ETHUSDT', side: s.side, type: 'MARKET', quantity: (s.qty / 10).toFixed(1) };
          const r = await call(inst.httpUrl, 'POST', '/api/v3/order', {
            key: a.key,
            params: { ...params, newOrderRespType: 'ACK', selfTradePreventionMode: 'NONE' },
          });
          if (r.status === 200) placed[s.who]!.push(r.body.orderId);
          else assert.equal(r.body.code, -2010, JSON.stringify(r.body)); // only "insufficient balance" may refuse these
        }
        await waitForCatchUp(inst, 10_000, `run ${run}: ledger to catch up`);
        const after = await holdings(inst, everyone);
        assert.deepEqual(after, before);
        const v = await call(inst.adminUrl, 'GET', '/admin/ledger/verify', { token: inst.adminToken });
        assert.deepEqual(v.body, { ok: true, problems: [] });
      }),
      { numRuns: 8 },
    );
  });
});
