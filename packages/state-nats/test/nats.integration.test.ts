import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** This machine's NATS server binary, to start one with its own configuration. */
const NATS_SERVER = '/usr/sbin/nats-server';

describe(
  'nats jetstream appends refused by the server',
  { skip: skip ?? (existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed`) },
  () => {
    it('an append to a subject the account may not publish fails at once with the permissions violation, not after the timeout', async () => {
      const port = await new Promise<number>((resolve) => {
        const probe = createServer().listen(0, '127.0.0.1', () => {
          const { port: p } = probe.address() as AddressInfo;
          probe.close(() => resolve(p));
        });
      });
      const dir = mkdtempSync(join(tmpdir(), 'ballast-nats-perm-'));
      writeFileSync(
        join(dir, 'nats.conf'),
        `listen: 127.0.0.1:${port}
jetstream { store_dir: "${join(dir, 'js')}" }
accounts {
  A: {
    jetstream: enabled
    users: [ { user: u, password: p, permissions: { publish: { deny: ["ballast.denied"] } } } ]
  }
}
`,
      );
      const server = spawn(NATS_SERVER, ['-c', join(dir, 'nats.conf')], { stdio: 'ignore' });
      let nc: NatsConnection | undefined;
      try {
        for (let i = 0; nc === undefined; i++) {
          try {
            nc = await connect({ servers: `127.0.0.1:${port}`, user: 'u', pass: 'p', noAsyncTraces: true });
          } catch (err) {
            if (i >= 100) throw err;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        const log = await createNatsEventLog(nc, { storage: 'memory', publishTimeoutMs: 10_000 });
        assert.deepEqual(await log.append('allowed', [{ payload: 'x' }]), [{ seq: 1, duplicate: false }]);
        const started = performance.now();
        const err = await log.append('denied', [{ key: 'k1', payload: 'y' }]).then(
          () => assert.fail('a denied publish was acknowledged'),
          (e: unknown) => e as { code?: unknown; retryable?: unknown; message?: string },
        );
        assert.ok(performance.now() - started < 5000, 'refused long before the 10 s timeout');
        assert.match(err.message ?? '', /permissions violation/i);
        assert.equal(err.code, 'STATE_INVALID');
        assert.notEqual(err.retryable, true);
        // The other subject still works on the same connection.
        assert.deepEqual(await log.append('allowed', [{ payload: 'z' }]), [{ seq: 2, duplicate: false }]);
      } finally {
        await nc?.close();
        server.kill('SIGTERM');
        await new Promise((r) => server.once('exit', r));
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
