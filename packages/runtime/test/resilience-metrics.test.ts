import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { BallastError, ErrorCode } from '@ballast/errors';
import { bindResilienceMetrics } from '@ballast/runtime';
import { circuitBreaker, createPipeline } from '@ballast/resilience';
import { FakeClock } from '@ballast/testkit';

describe('resilience metrics', () => {
  it('counts rejections and exposes breaker state from the diagnostics channels', async () => {
    const registry = new Registry();
    const unbind = bindResilienceMetrics(registry);
    try {
      const clock = new FakeClock(0);
      const p = createPipeline(
        { clock },
        circuitBreaker({ mode: { kind: 'consecutive', failures: 1 }, clock, name: 'pg' }),
      );
      await assert.rejects(
        p.execute(async () => Promise.reject(new BallastError(ErrorCode.StateConnection, 'down', { retryable: true }))),
      );
      await assert.rejects(p.execute(async () => 1));
      const text = await registry.metrics();
      assert.match(text, /ballast_resilience_breaker_state\{name="pg"\} 2/);
      assert.match(text, /ballast_resilience_rejections_total\{name="pg",policy="breaker",code="RES_CIRCUIT_OPEN"\} 1/);
    } finally {
      unbind();
    }
  });
});
