import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createOms } from '@ballast/oms';
import { SpanKind, inSpan, setupTracing, traceCarrier, type Tracing } from '@ballast/runtime';
import type { EventLog } from '@ballast/state';
import { createSqliteEventLog } from '@ballast/state-sqlite';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { fundedDb, limitBuy as buy, markets } from './fixtures.ts';

let tracing: Tracing | undefined;
after(() => tracing?.shutdown());

const open = async () => {
  const db = await fundedDb();
  const inner = await createSqliteEventLog(db);
  let failAppends = false;
  const log: EventLog = {
    ...inner,
    append: (name, entries, opts) =>
      failAppends ? Promise.reject(new Error('log down')) : inner.append(name, entries, opts),
  };
  return { db, inner, oms: createOms({ db, log, markets }), failing: (on: boolean) => (failAppends = on) };
};

const traceIdOf = (traceparent: string | undefined): string | undefined => traceparent?.split('-')[1];
const spanIdOf = (traceparent: string | undefined): string | undefined => traceparent?.split('-')[2];

describe('oms trace context', () => {
  it('carries nothing with tracing off: no headers on the command entry, no trace field', async () => {
    const { oms, inner, db } = await open();
    const r = await oms.place(buy());
    assert.ok(r.ok);
    const [entry] = await inner.read('cmd.BTCUSDT', 1, 1);
    assert.equal(entry?.headers, undefined);
    assert.equal('trace' in JSON.parse(entry!.payload), false);
    await db.destroy();
  });

  const exporter = new InMemorySpanExporter();
  const finished = async () => {
    await tracing?.flush();
    return exporter.getFinishedSpans();
  };

  it('publishes a command in the request trace: producer span under the request, its context in the entry headers', async () => {
    tracing = await setupTracing({ serviceName: 'oms-test', exporter, exportDelayMs: 5 });
    const { oms, inner, db } = await open();
    let request: string | undefined;
    const r = await inSpan('POST /internal/v1/orders', { kind: SpanKind.SERVER }, async () => {
      request = traceCarrier()?.['traceparent'];
      return oms.place(buy());
    });
    assert.ok(r.ok);
    const [entry] = await inner.read('cmd.BTCUSDT', 1, 1);
    const carried = entry?.headers?.['traceparent'];
    assert.equal(traceIdOf(carried), traceIdOf(request));
    const spans = await finished();
    const publish = spans.find((s) => s.name === 'publish cmd.BTCUSDT');
    const write = spans.find((s) => s.name === 'oms write order');
    assert.ok(publish && write);
    assert.equal(publish.kind, SpanKind.PRODUCER);
    assert.equal(publish.spanContext().spanId, spanIdOf(carried)); // matching continues from the producer span
    assert.equal(publish.parentSpanContext?.spanId, spanIdOf(request));
    assert.equal(write.parentSpanContext?.spanId, spanIdOf(request));
    assert.equal(write.attributes['ballast.order_id'], Number(r.order.id));
    await db.destroy();
  });

  it('a command the sweeper publishes after a failed append still continues the order trace', async () => {
    exporter.reset();
    const { oms, inner, db, failing } = await open();
    failing(true);
    let request: string | undefined;
    const r = await inSpan('POST /internal/v1/orders', { kind: SpanKind.SERVER }, async () => {
      request = traceCarrier()?.['traceparent'];
      return oms.place(buy());
    });
    assert.ok(r.ok); // acknowledged: committed with its outbox row
    assert.equal(await inner.lastSeq('cmd.BTCUSDT'), 0);
    failing(false);
    assert.equal(await oms.sweepOutbox(0), 1); // outside any span, like the sweeper loop
    const [entry] = await inner.read('cmd.BTCUSDT', 1, 1);
    assert.equal(JSON.parse(entry!.payload).trace, request);
    const carried = entry?.headers?.['traceparent'];
    assert.equal(traceIdOf(carried), traceIdOf(request));
    const publishes = (await finished()).filter((s) => s.name === 'publish cmd.BTCUSDT');
    assert.equal(publishes.length, 2); // the failed inline one, and the sweeper's
    assert.equal(publishes[0]?.status.code, 2);
    const swept = publishes[1]!;
    assert.equal(swept.spanContext().spanId, spanIdOf(carried));
    assert.equal(swept.parentSpanContext?.spanId, spanIdOf(request));
    await db.destroy();
  });
});
