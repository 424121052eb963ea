import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createMemoryRateLimitStore, gcraLimiter } from '@ballast/resilience';
import {
  Redis,
  classifyRedisError,
  createRedisIdempotencyStore,
  createRedisRateLimitStore,
} from '@ballast/state-redis';
import { FakeClock, SERVICES, skipUnlessService } from '@ballast/testkit';

const skip = await skipUnlessService('redis');
const clients: Redis[] = [];
const open = (): Redis => {
  const r = new Redis(SERVICES.redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  clients.push(r);
  return r;
};
after(async () => {
  for (const r of clients) r.disconnect();
});
const prefix = `ballast:test:${process.pid}:`;

describe('Redis adapters', { skip: skip ?? false }, () => {
  it('GCRA on Redis decides exactly as the in-process store, across replicas', async () => {
    const clock = new FakeClock(1_000_000);
    const store = createRedisRateLimitStore(open(), { prefix });
    const replicaA = gcraLimiter({ ratePerSec: 10, burst: 3, clock, store });
    const replicaB = gcraLimiter({
      ratePerSec: 10,
      burst: 3,
      clock,
      store: createRedisRateLimitStore(open(), { prefix }),
    });
    const local = gcraLimiter({ ratePerSec: 10, burst: 3, clock, store: createMemoryRateLimitStore() });
    const got: boolean[] = [];
    const want: boolean[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await (i % 2 === 0 ? replicaA : replicaB).check('client-1');
      got.push(r.allowed);
      want.push((await local.check('client-1')).allowed);
      await clock.advance(37);
    }
    assert.deepEqual(got, want);
    assert.ok(got.includes(false) && got.includes(true));
  });

  it('idempotency keys: the first claim wins, repeats see its value', async () => {
    const idem = createRedisIdempotencyStore(open(), { prefix });
    assert.equal(await idem.claim('order-abc', '42', 10_000), true);
    assert.equal(await idem.claim('order-abc', '43', 10_000), false);
    assert.equal(await idem.get('order-abc'), '42');
  });

  it('reports a refused connection as retryable', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => undefined); // the refusal is what this test expects
    const err = await Promise.resolve(
      createRedisRateLimitStore(down).gcra('k', 0, { emissionIntervalMs: 100, burst: 1 }, 1),
    ).catch((e: unknown) => e);
    down.disconnect();
    assert.equal((err as { retryable?: boolean }).retryable, true, String(err));
    assert.equal(classifyRedisError(new Error('ERR syntax'), 'x').retryable, false);
  });
});
