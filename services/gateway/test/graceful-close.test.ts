import assert from 'node:assert/strict';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { installGracefulClose } from '../src/graceful-close.ts';

const get = (port: number, path: string, agent: Agent): Promise<{ res: IncomingMessage; body: string }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ res, body }));
    });
    req.on('error', reject);
    req.end();
  });

const refused = (port: number): Promise<string> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve('connected')));
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });

async function serve(graceMs: number, slow?: Promise<void>): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify({ logger: false, return503OnClosing: false });
  installGracefulClose(app, { graceMs });
  app.get('/x', async () => 'ok');
  app.get('/slow', async () => {
    await slow;
    return 'slow ok';
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as AddressInfo).port };
}

describe('graceful close of a shared-port server', () => {
  it('serves requests on open keep-alive connections while closing, each with Connection: close, and accepts no new connection', async () => {
    const { app, port } = await serve(5000);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const sockets = new Set<Socket>();
    agent.on('free', (s: Socket) => sockets.add(s));
    // Four open connections: four requests at once.
    await Promise.all([1, 2, 3, 4].map(() => get(port, '/x', agent)));
    assert.equal(sockets.size, 4);
    const started = performance.now();
    const closing = app.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(await refused(port), 'ECONNREFUSED', 'the listener is closed');
    const during = await Promise.all([1, 2, 3, 4].map(() => get(port, '/x', agent)));
    for (const { res, body } of during) {
      assert.equal(res.statusCode, 200);
      assert.equal(body, 'ok');
      assert.equal(res.headers.connection, 'close');
    }
    await closing;
    assert.ok(performance.now() - started < 2000, 'close ends once every connection is gone, not after the grace');
    agent.destroy();
  });

  it('finishes a request in flight and closes idle connections once the grace is over', async () => {
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const { app, port } = await serve(150, slow);
    const idleAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    let idleSocket: Socket | undefined;
    idleAgent.on('free', (s: Socket) => (idleSocket = s));
    await get(port, '/x', idleAgent);
    const idleClosed = new Promise<void>((r) => idleSocket!.once('close', () => r()));
    const busyAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const inFlight = get(port, '/slow', busyAgent);
    await new Promise((r) => setTimeout(r, 50));
    let closed = false;
    const closing = app.close().then(() => (closed = true));
    await idleClosed;
    assert.equal(closed, false, 'still waiting for the request in flight');
    release();
    const { res, body } = await inFlight;
    assert.equal(res.statusCode, 200);
    assert.equal(body, 'slow ok');
    assert.equal(res.headers.connection, 'close', 'a request that started before the close closes its connection too');
    await closing;
    idleAgent.destroy();
    busyAgent.destroy();
  });
});
