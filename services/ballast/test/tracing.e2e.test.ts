import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { skipUnlessService } from '@ballast/testkit';
import {
  call,
  freshDataDir,
  fundedAccount,
  privateStores,
  startInstance,
  stop,
  waitUntil,
  type Instance,
} from './harness.ts';

const skip = (await skipUnlessService('postgres')) ?? (await skipUnlessService('nats'));
const stores = privateStores('tracing');

/** A span as the in-test OTLP/HTTP receiver keeps it. */
interface Received {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
}

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
const valueOf = (v: AnyValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue;

/** The collector stand-in: accepts OTLP/HTTP JSON exports from every process on POST /v1/traces. */
function startReceiver(): Promise<{ server: Server; url: string; spans: Received[] }> {
  const spans: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const msg = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: AnyValue }[] };
          scopeSpans: {
            spans: {
              traceId: string;
              spanId: string;
              parentSpanId?: string;
              name: string;
              kind: number;
              attributes?: { key: string; value: AnyValue }[];
            }[];
          }[];
        }[];
      };
      for (const rs of msg.resourceSpans) {
        const service = String(valueOf(rs.resource.attributes.find((a) => a.key === 'service.name')!.value));
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              service,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind,
              attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, valueOf(a.value)])),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((res) =>
    server.listen(0, '127.0.0.1', () =>
      res({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans }),
    ),
  );
}

describe(
  'one order is one trace across gateway, oms, matching, ledger and market data processes',
  { skip: skip ?? false },
  () => {
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    const procs: Record<string, Instance> = {};
    before(async () => {
      receiver = await startReceiver();
      await stores.create();
      const common = [
        ...stores.args(),
        '--internal-token',
        'internal-secret-0123456789',
        '--otlp-endpoint',
        receiver.url,
      ];
      for (const role of ['matching', 'ledger', 'marketdata', 'oms', 'gateway']) {
        procs[role] = await startInstance(freshDataDir(), [...common, '--role', role]);
      }
    });
    after(async () => {
      for (const p of Object.values(procs)) await stop(p);
      await stores.drop();
      receiver?.server.close();
    });

    it('exports spans of every process under one trace id, each linked to its parent', async () => {
      const gw = procs['gateway']!;
      const seller = await fundedAccount(gw, { BTC: '1' });
      const buyer = await fundedAccount(gw, { USDT: '100000' });
      const order = (key: string, params: Record<string, string>) =>
        call(gw.httpUrl, 'POST', '/api/v3/order', {
          key,
          params: { symbol: 'BTCUSDT', selfTradePreventionMode: 'NONE', timeInForce: 'GTC', type: 'LIMIT', ...params },
        });
      const ask = await order(seller.key, { side: 'SELL', quantity: '0.5', price: '20000' });
      assert.equal(ask.status, 200, JSON.stringify(ask.body));
      const bid = await order(buyer.key, { side: 'BUY', quantity: '0.1', price: '20000', newOrderRespType: 'FULL' });
      assert.equal(bid.body.status, 'FILLED', JSON.stringify(bid.body));

      const root = await waitUntil(
        async () =>
          receiver.spans.find(
            (s) => s.name === 'POST /api/v3/order' && s.attributes['ballast.order_id'] === bid.body.orderId,
          ),
        15_000,
        'the gateway span of the order',
      );
      const services = ['ballast-gateway', 'ballast-oms', 'ballast-matching', 'ballast-ledger', 'ballast-marketdata'];
      const inTrace = () => receiver.spans.filter((s) => s.traceId === root.traceId);
      const find = (service: string, name: string): Received => {
        const found = inTrace().filter((s) => s.service === service && s.name === name);
        assert.equal(
          found.length,
          1,
          `${service} ${name}: ${JSON.stringify(inTrace().map((s) => [s.service, s.name]))}`,
        );
        return found[0]!;
      };
      await waitUntil(
        async () => {
          const present = new Set(inTrace().map((s) => s.service));
          return services.every((s) => present.has(s)) && inTrace().some((s) => s.name === 'settle evt.BTCUSDT')
            ? true
            : undefined;
        },
        15_000,
        'spans from every process in the trace',
      );

      // The chain, process by process, with the exact parent of each span.
      assert.equal(root.parentSpanId, '');
      const client = find('ballast-gateway', 'POST /internal/v1/orders');
      assert.equal(client.parentSpanId, root.spanId);
      const server = find('ballast-oms', 'POST /internal/v1/orders');
      assert.equal(server.parentSpanId, client.spanId);
      const write = find('ballast-oms', 'oms write order');
      assert.equal(write.parentSpanId, server.spanId);
      assert.equal(write.attributes['ballast.order_id'], bid.body.orderId);
      const publish = find('ballast-oms', 'publish cmd.BTCUSDT');
      assert.equal(publish.parentSpanId, server.spanId);
      const apply = find('ballast-matching', 'apply cmd.BTCUSDT');
      assert.equal(apply.parentSpanId, publish.spanId);
      assert.equal(apply.attributes['ballast.order_id'], bid.body.orderId);
      assert.equal(find('ballast-matching', 'read cmd.BTCUSDT').parentSpanId, publish.spanId);
      assert.equal(find('ballast-matching', 'append evt.BTCUSDT').parentSpanId, apply.spanId);
      assert.equal(find('ballast-ledger', 'settle evt.BTCUSDT').parentSpanId, apply.spanId);
      assert.equal(find('ballast-marketdata', 'apply evt.BTCUSDT').parentSpanId, apply.spanId);
      // No span of the trace points at a parent the trace does not hold.
      const ids = new Set(inTrace().map((s) => s.spanId));
      for (const s of inTrace()) assert.ok(s.parentSpanId === '' || ids.has(s.parentSpanId), `${s.service} ${s.name}`);
      // The resting sell is its own trace.
      assert.ok(receiver.spans.some((s) => s.name === 'POST /api/v3/order' && s.traceId !== root.traceId));
    });
  },
);

describe('tracing in embedded mode (every role in one process on SQLite)', () => {
  it('records the whole order path as one trace of one process', async () => {
    const receiver = await startReceiver();
    const inst = await startInstance(freshDataDir(), ['--otlp-endpoint', `${receiver.url}/v1/traces`]);
    try {
      const seller = await fundedAccount(inst, { BTC: '1' });
      const buyer = await fundedAccount(inst, { USDT: '100000' });
      const params = { symbol: 'BTCUSDT', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '20000' };
      await call(inst.httpUrl, 'POST', '/api/v3/order', { key: seller.key, params: { ...params, side: 'SELL' } });
      const bid = await call(inst.httpUrl, 'POST', '/api/v3/order', {
        key: buyer.key,
        params: { ...params, side: 'BUY', newOrderRespType: 'FULL' },
      });
      assert.equal(bid.body.status, 'FILLED', JSON.stringify(bid.body));
      const root = await waitUntil(
        async () =>
          receiver.spans.find(
            (s) => s.name === 'POST /api/v3/order' && s.attributes['ballast.order_id'] === bid.body.orderId,
          ),
        15_000,
        'the order span',
      );
      const names = await waitUntil(
        async () => {
          const n = new Set(receiver.spans.filter((s) => s.traceId === root.traceId).map((s) => s.name));
          return n.has('settle evt.BTCUSDT') && n.has('apply evt.BTCUSDT') ? n : undefined;
        },
        15_000,
        'the settlement span',
      );
      for (const name of ['oms write order', 'publish cmd.BTCUSDT', 'apply cmd.BTCUSDT', 'append evt.BTCUSDT'])
        assert.ok(names.has(name), name);
      assert.ok(receiver.spans.every((s) => s.service === 'ballast'));
    } finally {
      await stop(inst);
      receiver.server.close();
    }
  });
});
