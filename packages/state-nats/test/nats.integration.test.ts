import { after } from 'node:test';
import { eventLogConformance, keyValueConformance } from '@ballast/state/conformance';
import { connect, createNatsEventLog, createNatsKeyValue, type NatsConnection } from '@ballast/state-nats';
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
