import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { createLifecycle, createMetrics, registerObservability } from '@ballast/runtime';

/** Polls `check` on the event loop until it holds or `timeoutMs` passes. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setImmediate(r));
  }
}

describe('HTTP request metrics', () => {
  it('counts a request whose client hangs up before the answer as 499, and no longer in flight', async () => {
    const metrics = createMetrics();
    const app = Fastify({ logger: false });
    registerObservability(app, { lifecycle: createLifecycle(), metrics });
    let arrived!: () => void;
    const arrivedP = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    app.get('/held', async () => {
      arrived();
      await held;
      return 'late';
    });
    app.get('/quick', async () => 'ok');
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const text = () => metrics.registry.metrics();
    try {
      const req = request({ host: '127.0.0.1', port, path: '/held' });
      req.on('error', () => undefined);
      req.end();
      await arrivedP;
      req.destroy(); // the client hangs up while the handler still works
      await eventually(async () => /route="\/held",status="499"\} 1\n/.test(await text()));
      assert.match(await text(), /ballast_http_in_flight 0\n/);
      // An answered request is still counted once, by its status.
      assert.equal((await app.inject({ method: 'GET', url: '/quick' })).statusCode, 200);
      const after = await text();
      assert.match(after, /ballast_http_requests_total\{method="GET",route="\/held",status="499"\} 1\n/);
      assert.match(after, /ballast_http_requests_total\{method="GET",route="\/quick",status="200"\} 1\n/);
      assert.match(after, /ballast_http_in_flight 0\n/);
    } finally {
      release();
      await app.close();
    }
  });
});
