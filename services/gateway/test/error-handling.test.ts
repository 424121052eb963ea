import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { BallastError, ErrorCode } from '@ballast/errors';
import { ApiError } from '../src/api-error.ts';
import { installErrorHandling } from '../src/error-handling.ts';

describe('gateway error answers', () => {
  let app: FastifyInstance;
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const errors: string[] = [];
  beforeEach(async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    warnings.length = 0;
    errors.length = 0;
    app = Fastify({ logger: false });
    installErrorHandling(app, {
      warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }),
      error: (_obj, msg) => errors.push(msg),
    });
    app.get('/down', async () => {
      throw new BallastError(ErrorCode.StateConnection, 'oms: no replica', { retryable: true });
    });
    app.get('/unknown', async () => {
      throw new BallastError(ErrorCode.OutcomeUnknown, 'oms: sent, and no answer came back');
    });
    app.get('/route-unknown', async () => {
      throw new ApiError(503, -1007, 'Send status unknown.', 1, new Error('oms: sent, and no answer came back'));
    });
    app.get('/bug', async () => {
      throw new TypeError('x is undefined');
    });
    await app.ready();
  });
  afterEach(async () => {
    mock.timers.reset();
    await app.close();
  });

  it('answers a dependency failure 503 with Retry-After, and logs it at most once a second with the count of the others', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await app.inject({ method: 'GET', url: '/down' });
      assert.equal(r.statusCode, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.deepEqual(r.json(), { code: -1090, msg: 'Service temporarily unavailable; retry.' });
    }
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.obj['route'], '/down');
    assert.match(String((warnings[0]?.obj['err'] as Error).message), /no replica/);
    mock.timers.tick(1000);
    await app.inject({ method: 'GET', url: '/down' });
    assert.equal(warnings.length, 2);
    assert.equal(warnings[1]?.obj['alsoSince'], 4, 'the four answers not logged in the second before');
    assert.deepEqual(errors, []);
  });

  it('answers a request sent to a service that never answered 503 -1007 "execution status unknown" (not -1090 "retry"), logged as a 503', async () => {
    const r = await app.inject({ method: 'GET', url: '/unknown' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.headers['retry-after'], '1');
    assert.deepEqual(r.json(), {
      code: -1007,
      msg: 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.',
    });
    assert.equal(warnings.length, 1);
    assert.deepEqual(errors, []);
  });

  it('logs a 503 a route answered itself (its -1007 for an order) with the failure behind it, as the other 503s', async () => {
    const r = await app.inject({ method: 'GET', url: '/route-unknown' });
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json(), { code: -1007, msg: 'Send status unknown.' });
    assert.equal(warnings.length, 1);
    assert.match(String((warnings[0]?.obj['err'] as Error).message), /no answer came back/);
  });

  it('answers an unexpected failure 500 and logs every one at error', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await app.inject({ method: 'GET', url: '/bug' })).statusCode, 500);
    assert.deepEqual(errors, ['request failed', 'request failed']);
    assert.equal(warnings.length, 0);
  });
});
