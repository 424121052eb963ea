import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import {
  SpanKind,
  contextFromCarrier,
  endSpan,
  inSpan,
  otlpTracesUrl,
  sampledContext,
  setupTracing,
  startSpan,
  traceCarrier,
  tracingEnabled,
} from '../src/index.ts';

// One process, one tracer provider: the tests run in order, off first.
describe('tracing', () => {
  it('stays off without an endpoint: no SDK registered, helpers fall through, nothing carried', async () => {
    const t = await setupTracing({ serviceName: 'test', otlpEndpoint: '' });
    assert.equal(t.enabled, false);
    assert.equal(tracingEnabled(), false);
    assert.equal(traceCarrier(), undefined);
    assert.equal(contextFromCarrier({ traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` }), undefined);
    assert.equal(await inSpan('x', {}, (span) => (span === undefined ? 'ran' : 'spanned')), 'ran');
  });

  it('builds the OTLP traces URL from a base URL or keeps a full one', () => {
    assert.equal(otlpTracesUrl('http://collector:4318'), 'http://collector:4318/v1/traces');
    assert.equal(otlpTracesUrl('http://collector:4318/'), 'http://collector:4318/v1/traces');
    assert.equal(otlpTracesUrl('https://x.example/otlp/v1/traces'), 'https://x.example/otlp/v1/traces');
  });

  const exporter = new InMemorySpanExporter();
  let shutdown: () => Promise<void> = async () => undefined;
  const spans = async () => {
    await new Promise((r) => setTimeout(r, 30));
    return exporter.getFinishedSpans();
  };

  it('continues a trace through a carrier, as a child of the span that made it', async () => {
    const t = await setupTracing({ serviceName: 'test', exporter, exportDelayMs: 5 });
    shutdown = t.shutdown;
    assert.equal(tracingEnabled(), true);
    let carrier: Record<string, string> | undefined;
    await inSpan('gateway', { kind: SpanKind.SERVER }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      carrier = { ...traceCarrier() };
    });
    assert.match(carrier?.['traceparent'] ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // "Another process": only the carrier crosses.
    const parent = contextFromCarrier(carrier);
    assert.ok(parent !== undefined);
    await inSpan('oms', { parent, kind: SpanKind.SERVER }, async () => {
      const child = startSpan('oms write', { kind: SpanKind.CLIENT, attributes: { symbol: 'BTCUSDT' } });
      endSpan(child);
    });
    await t.flush();
    const byName = new Map((await spans()).map((s) => [s.name, s]));
    const gw = byName.get('gateway');
    const oms = byName.get('oms');
    const write = byName.get('oms write');
    assert.ok(gw && oms && write);
    const traceId = gw.spanContext().traceId;
    assert.equal(oms.spanContext().traceId, traceId);
    assert.equal(write.spanContext().traceId, traceId);
    assert.equal(oms.parentSpanContext?.spanId, gw.spanContext().spanId);
    assert.equal(oms.parentSpanContext?.isRemote, true);
    assert.equal(write.parentSpanContext?.spanId, oms.spanContext().spanId);
    assert.equal(write.attributes['symbol'], 'BTCUSDT');
    assert.equal(gw.resource.attributes['service.name'], 'test');
  });

  it('records a span afterwards with the times it is given, and a failure as an error', async () => {
    exporter.reset();
    const parent = await inSpan('batch', {}, () => sampledContext());
    const t0 = performance.now() - 50;
    endSpan(startSpan('late', { parent, startTime: t0 }), new Error('boom'));
    const late = (await spans()).find((s) => s.name === 'late');
    assert.ok(late);
    const ms = late.duration[0] * 1e3 + late.duration[1] / 1e6;
    assert.ok(ms >= 45, `duration ${ms}`);
    assert.equal(late.status.code, 2); // ERROR
    assert.equal(late.events[0]?.name, 'exception');
  });

  it('does not carry a trace its caller did not sample, nor a malformed traceparent', () => {
    assert.equal(contextFromCarrier({ traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-00` }), undefined);
    assert.equal(contextFromCarrier({ traceparent: 'garbage' }), undefined);
    assert.equal(contextFromCarrier({}), undefined);
    assert.equal(traceCarrier(), undefined); // no active span
  });

  it('switches off on shutdown and can be set up again', async () => {
    await shutdown();
    assert.equal(tracingEnabled(), false);
    const again = await setupTracing({ serviceName: 'again', exporter: new InMemorySpanExporter() });
    assert.equal(tracingEnabled(), true);
    await again.shutdown();
  });
});
