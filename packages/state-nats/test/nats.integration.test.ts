import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tailLog, within } from '@ballast/state';
import { eventLogConformance, keyValueConformance } from '@ballast/state/conformance';
import { connect, createNatsEventLog, createNatsKeyValue, streamName, type NatsConnection } from '@ballast/state-nats';
import { SERVICES, skipUnlessService } from '@ballast/testkit';

const skip = await skipUnlessService('nats');
const connections: NatsConnection[] = [];
const open = async (): Promise<NatsConnection> => {
  const nc = await connect({ servers: SERVICES.nats.url });
  connections.push(nc);
  return nc;
};
after(async () => {
  // Hermetic: remove the streams and the bucket this run created.
  if (connections.length > 0) {
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(connections[0]!);
    for await (const si of jsm.streams.list()) {
      const name = si.config.name;
      if (name.startsWith(`BALLAST_conf_${process.pid}_`) || name === `KV_ballast_test_${process.pid}`)
        await jsm.streams.delete(name);
    }
  }
  for (const nc of connections) await nc.close();
});

eventLogConformance(
  'nats jetstream',
  async () => ({ subject: await createNatsEventLog(await open(), { storage: 'memory' }) }),
  { skip },
);

let now = Date.now();
keyValueConformance(
  'nats kv',
  async () => ({
    subject: await createNatsKeyValue(await open(), `ballast_test_${process.pid}`, { nowMs: () => now }),
  }),
  async (ms) => {
    now += ms;
  },
  { skip },
);

describe('nats jetstream tailing readers', { skip }, () => {
  it('a tail that ends leaves no consumer on the server (closing the iterator alone would leave it there for minutes)', async () => {
    const nc = await open();
    const log = await createNatsEventLog(nc, { storage: 'memory' });
    const name = `conf_${process.pid}_endreader`;
    await log.append(
      name,
      Array.from({ length: 5 }, (_, i) => ({ payload: `e${i}` })),
    );
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(nc);
    const consumers = async (): Promise<number> => (await jsm.consumers.list(streamName(name)).next()).length;
    const ac = new AbortController();
    const seen: string[] = [];
    let duringTail = -1;
    const tail = tailLog(
      log,
      name,
      async (entries) => {
        seen.push(...entries.map((e) => e.payload));
        if (seen.length >= 5) {
          duringTail = await consumers();
          ac.abort();
        }
      },
      { fromSeq: 1, signal: ac.signal },
    );
    await within(tail, 5000, 'the tail');
    assert.deepEqual(seen, ['e0', 'e1', 'e2', 'e3', 'e4']);
    assert.equal(duringTail, 1, 'the tail read through one consumer of its own');
    await within(
      (async () => {
        while ((await consumers()) > 0) await new Promise((r) => setTimeout(r, 20));
      })(),
      5000,
      "the tail's consumer deleted",
    );
    assert.equal(await consumers(), 0);
  });
});

describe('nats jetstream appends', { skip }, () => {
  const code = (err: unknown): { code?: unknown; retryable?: unknown } =>
    err as { code?: unknown; retryable?: unknown };

  it('appends many entries in one call in order, each acknowledged with its own sequence', async () => {
    const log = await createNatsEventLog(await open(), { storage: 'memory' });
    const name = `conf_${process.pid}_many`;
    const out = await log.append(
      name,
      Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, payload: `e${i}` })),
    );
    assert.deepEqual(
      out.map((r) => r.seq),
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    assert.ok(out.every((r) => !r.duplicate));
    const again = await log.append(name, [{ key: 'k7', payload: 'e7' }]);
    assert.deepEqual(again, [{ seq: 8, duplicate: true }]);
    const read = await log.read(name, 1, 500);
    assert.deepEqual(
      read.map((e) => e.payload),
      Array.from({ length: 500 }, (_, i) => `e${i}`),
    );
  });

  it('an append whose stream is gone fails as retryable (no responders), and the next one creates the stream again', async () => {
    const nc = await open();
    const log = await createNatsEventLog(nc, { storage: 'memory' });
    const name = `conf_${process.pid}_gone`;
    await log.append(name, [{ payload: 'first' }]);
    const { jetstreamManager } = await import('@nats-io/jetstream');
    await (await jetstreamManager(nc)).streams.delete(streamName(name));
    const err = await log.append(name, [{ payload: 'second' }]).then(
      () => assert.fail('append to a deleted stream succeeded'),
      (e: unknown) => e,
    );
    assert.equal(code(err).code, 'STATE_CONNECTION');
    assert.equal(code(err).retryable, true);
    assert.deepEqual(await log.append(name, [{ payload: 'third' }]), [{ seq: 1, duplicate: false }]);
  });

  it('an append no one acknowledges fails after publishTimeoutMs as retryable, and the next one is answered', async () => {
    const nc = await open();
    const log = await createNatsEventLog(nc, { storage: 'memory', publishTimeoutMs: 100 });
    const name = `conf_${process.pid}_silent`;
    await log.append(name, [{ payload: 'first' }]);
    const { jetstreamManager } = await import('@nats-io/jetstream');
    await (await jetstreamManager(nc)).streams.delete(streamName(name));
    // A plain subscriber takes the message and never answers it.
    const silent = nc.subscribe(`ballast.${name}`);
    const started = performance.now();
    const err = await log.append(name, [{ payload: 'second' }]).then(
      () => assert.fail('an unacknowledged append succeeded'),
      (e: unknown) => e,
    );
    assert.ok(performance.now() - started >= 90, 'it waited for the timeout');
    assert.equal(code(err).code, 'STATE_CONNECTION');
    assert.equal(code(err).retryable, true);
    silent.unsubscribe();
    const other = `conf_${process.pid}_after`;
    assert.deepEqual(await log.append(other, [{ payload: 'x' }]), [{ seq: 1, duplicate: false }]);
  });
});
