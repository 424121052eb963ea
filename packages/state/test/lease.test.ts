import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLease, createMemoryKeyValue } from '@ballast/state';
import { FakeClock } from '@ballast/testkit';

const setup = () => {
  const clock = new FakeClock(1_000_000);
  const kv = createMemoryKeyValue({ nowMs: clock.now });
  const lease = (holder: string) =>
    createLease(kv, { key: 'matching-lease.s0', holder, ttlMs: 1000, nowMs: clock.now });
  return { clock, kv, lease };
};

describe('lease on the KeyValue port', () => {
  it('is taken by one holder only; the other sees who holds it', async () => {
    const { lease } = setup();
    const a = lease('a');
    const b = lease('b');
    assert.equal(await a.tryAcquire(), true);
    assert.equal(await b.tryAcquire(), false);
    assert.equal(a.valid(), true);
    assert.equal(b.valid(), false);
    assert.deepEqual(await b.peek(), { holder: 'a', revision: a.revision() });
  });

  it('two holders racing for a free lease: exactly one wins', async () => {
    const { lease } = setup();
    const results = await Promise.all(['a', 'b', 'c'].map((h) => lease(h).tryAcquire()));
    assert.equal(results.filter(Boolean).length, 1);
  });

  it('renewal extends it and changes the revision (the fencing token)', async () => {
    const { clock, lease } = setup();
    const a = lease('a');
    await a.tryAcquire();
    const first = a.revision();
    await clock.advance(600);
    assert.equal(await a.renew(), true);
    assert.notEqual(a.revision(), first);
    await clock.advance(600); // 1200 ms after taking, 600 after renewing
    assert.equal(a.valid(), true);
    assert.equal(await lease('b').tryAcquire(), false);
  });

  it('turns invalid at its local deadline (TTL minus a 10% margin), before the store lets anyone else take it', async () => {
    const { clock, lease } = setup();
    const a = lease('a');
    await a.tryAcquire();
    assert.equal(a.validUntilMs(), 1_000_000 + 900);
    await clock.advance(899);
    assert.equal(a.valid(), true);
    await clock.advance(1);
    assert.equal(a.valid(), false);
    assert.equal(await lease('b').tryAcquire(), false); // still in the store for 100 ms more
    await clock.advance(100);
    assert.equal(await lease('b').tryAcquire(), true);
  });

  it('a paused holder waking past its deadline does not renew, even if no one took the lease', async () => {
    const { clock, lease, kv } = setup();
    const a = lease('a');
    await a.tryAcquire();
    await clock.advance(5000); // SIGSTOP longer than the TTL
    assert.equal(await a.renew(), false);
    assert.equal(a.valid(), false);
    assert.equal(a.revision(), 0);
    assert.equal(await kv.get('matching-lease.s0'), undefined);
  });

  it('a renewal after someone else took the lease reports it lost', async () => {
    const { lease, kv } = setup();
    const a = lease('a');
    await a.tryAcquire();
    await kv.delete('matching-lease.s0'); // e.g. an operator removed it
    assert.equal(await lease('b').tryAcquire(), true);
    assert.equal(await a.renew(), false);
    assert.equal(a.valid(), false);
  });

  it('release deletes only its own write, so the next holder can take it at once', async () => {
    const { lease } = setup();
    const a = lease('a');
    const b = lease('b');
    await a.tryAcquire();
    await a.release();
    assert.equal(a.valid(), false);
    assert.equal(await b.tryAcquire(), true);
    await a.release(); // not held: no write
    assert.equal((await b.peek())?.holder, 'b');
  });

  it('store errors surface from tryAcquire and renew; the lease stays valid until its deadline', async () => {
    const { clock, kv } = setup();
    let fail = false;
    const flaky = {
      ...kv,
      put: (...args: Parameters<typeof kv.put>) => (fail ? Promise.reject(new Error('down')) : kv.put(...args)),
    };
    const a = createLease(flaky, { key: 'k', holder: 'a', ttlMs: 1000, nowMs: clock.now });
    await a.tryAcquire();
    fail = true;
    await clock.advance(400);
    await assert.rejects(a.renew(), /down/);
    assert.equal(a.valid(), true);
    await clock.advance(500);
    assert.equal(a.valid(), false);
  });
});
