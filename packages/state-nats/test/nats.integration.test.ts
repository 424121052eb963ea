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
