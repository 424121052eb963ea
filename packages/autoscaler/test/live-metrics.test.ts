import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PromParseError,
  histogramQuantile,
  marketActivity,
  parsePrometheusText,
  readReplica,
  roleSignals,
} from '@ballast/autoscaler';

const exposition = (o: {
  elu: number;
  inFlight: number;
  requests: number;
  buckets: [string, number][];
  orders?: number;
  lag?: number;
}): string =>
  [
    '# HELP ballast_event_loop_utilization Event-loop utilization.',
    '# TYPE ballast_event_loop_utilization gauge',
    `ballast_event_loop_utilization ${o.elu}`,
    `ballast_http_in_flight ${o.inFlight}`,
    `ballast_http_requests_total{method="GET",route="/api/v3/account",status="200"} ${o.requests}`,
    `ballast_http_requests_total{method="GET",route="/metrics",status="200"} 999`,
    ...o.buckets.map(
      ([le, n]) => `ballast_http_request_duration_seconds_bucket{le="${le}",method="GET",route="/api/v3/account"} ${n}`,
    ),
    `ballast_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/readyz"} 5000`,
    `ballast_orders_accepted_total{symbol="BTCUSDT"} ${o.orders ?? 0}`,
    ...(o.lag !== undefined ? [`ballast_consumer_lag_entries{consumer="ledger",log="fills"} ${o.lag}`] : []),
    '',
  ].join('\n');

describe('Prometheus text parsing', () => {
  it('reads names, labels (with escapes) and special values, and skips comments', () => {
    const s = parsePrometheusText(
      '# HELP x y\nx 1\ny{a="b",c="q\\"uote"} +Inf\nz{le="0.5"} NaN 1700000000000\n\nw{} -2.5e-3\nv Nan\n',
    );
    assert.deepEqual(
      s.map((x) => [x.name, x.labels, x.value]),
      [
        ['x', {}, 1],
        ['y', { a: 'b', c: 'q"uote' }, Infinity],
        ['z', { le: '0.5' }, NaN],
        ['w', {}, -0.0025],
        ['v', {}, NaN], // as prom-client writes it
      ],
    );
  });

  it('names the line it cannot read', () => {
    assert.throws(() => parsePrometheusText('ok 1\nbad{a=b} 1\n'), PromParseError);
    assert.throws(() => parsePrometheusText('ok 1\nbad{a=b} 1\n'), /line 2/);
    assert.throws(() => parsePrometheusText('x notanumber'), /not a number/);
  });
});

describe('Replica readings and role signals', () => {
  it('leaves the health and metrics routes out, and does not count the scrape as in flight', () => {
    const r = readReplica(
      parsePrometheusText(exposition({ elu: 0.4, inFlight: 3, requests: 100, buckets: [['+Inf', 100]] })),
      0,
    );
    assert.equal(r.requests, 100);
    assert.equal(r.inFlight, 2);
    assert.equal(r.buckets.get(Infinity), 100);
    assert.equal(r.elu, 0.4);
  });

  it('computes p99 from histogram deltas like PromQL histogram_quantile (linear within the bucket)', () => {
    const buckets = new Map([
      [0.01, 50],
      [0.1, 90],
      [1, 100],
      [Infinity, 100],
    ]);
    // rank 99 of 100 falls in (0.1, 1]: 0.1 + 0.9 × (99 − 90) / (100 − 90)
    assert.ok(Math.abs((histogramQuantile(0.99, buckets) as number) - 0.91) < 1e-9);
    assert.equal(histogramQuantile(0.5, buckets), 0.01);
    assert.equal(histogramQuantile(0.99, new Map([[Infinity, 0]])), undefined);
    assert.equal(
      histogramQuantile(
        0.99,
        new Map([
          [0.5, 1],
          [Infinity, 100],
        ]),
      ),
      0.5,
      'the +Inf bucket gives the highest bound',
    );
  });

  it('turns two scrapes of each ready replica into mean ELU, total in-flight, requests/s and p99 of the window', () => {
    const prev = (requests: number, fast: number) =>
      readReplica(
        parsePrometheusText(
          exposition({
            elu: 0.1,
            inFlight: 1,
            requests,
            buckets: [
              ['0.01', fast],
              ['0.1', requests],
              ['+Inf', requests],
            ],
          }),
        ),
        0,
      );
    const a0 = prev(1000, 1000);
    const b0 = prev(500, 500);
    // 5 s later: a served 500 more (all fast), b 500 more of which 100 slow (0.01..0.1 s).
    const a1 = readReplica(
      parsePrometheusText(
        exposition({
          elu: 0.5,
          inFlight: 5,
          requests: 1500,
          buckets: [
            ['0.01', 1500],
            ['0.1', 1500],
            ['+Inf', 1500],
          ],
        }),
      ),
      5000,
    );
    const b1 = readReplica(
      parsePrometheusText(
        exposition({
          elu: 0.7,
          inFlight: 9,
          requests: 1000,
          buckets: [
            ['0.01', 900],
            ['0.1', 1000],
            ['+Inf', 1000],
          ],
        }),
      ),
      5000,
    );
    const s = roleSignals([
      { prev: a0, cur: a1 },
      { prev: b0, cur: b1 },
    ]);
    assert.ok(Math.abs((s.elu as number) - 0.6) < 1e-9);
    assert.equal(s.inFlight, 4 + 8);
    assert.equal(s.throughputPerS, 200);
    // 1000 requests: 900 ≤ 10 ms, 100 in (10, 100] ms → p99 = 10 + 90 × (990 − 900) / 100 = 91 ms
    assert.ok(Math.abs((s.p99Ms as number) - 91) < 1e-6);
  });

  it('has no rates on a first scrape, and treats a counter that went down as restarted', () => {
    const cur = readReplica(
      parsePrometheusText(exposition({ elu: 0.2, inFlight: 1, requests: 10, buckets: [['+Inf', 10]] })),
      1000,
    );
    assert.equal(roleSignals([{ cur }]).throughputPerS, undefined);
    const before = readReplica(
      parsePrometheusText(exposition({ elu: 0.2, inFlight: 1, requests: 5000, buckets: [['+Inf', 5000]] })),
      0,
    );
    assert.equal(roleSignals([{ prev: before, cur }]).throughputPerS, 10);
  });

  it('reports consumer lag with its growth as arrivals, and market activity across every replica', () => {
    const r = (atMs: number, orders: number, lag: number) =>
      readReplica(
        parsePrometheusText(exposition({ elu: 0.3, inFlight: 1, requests: 0, buckets: [], orders, lag })),
        atMs,
      );
    const w = { prev: r(0, 100, 50), cur: r(2000, 300, 250) };
    assert.deepEqual(roleSignals([w]).lag, { messages: 250, arrivalPerS: 100 });
    assert.deepEqual(marketActivity([w, { prev: r(0, 0, 0), cur: r(4000, 40, 0) }]), {
      ordersPerS: 110,
      tradesPerS: 0,
    });
    assert.equal(marketActivity([{ cur: r(0, 1, 1) }]), undefined);
  });
});
