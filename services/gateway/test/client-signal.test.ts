import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { CLIENT_CLOSED, clientSignal } from '../src/client-signal.ts';

describe("a client's connection as a signal", () => {
  it('aborts with CLIENT_CLOSED when the client hangs up before the answer, also if it left before the signal was made', async () => {
    const app = Fastify({ logger: false });
    const signals: AbortSignal[] = [];
    let arrived!: () => void;
    let made!: () => void;
    let release!: () => void;
    const arrivedP = new Promise<void>((r) => (arrived = r));
    const madeP = new Promise<void>((r) => (made = r));
    const held = new Promise<void>((r) => (release = r));
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    app.get('/late', async (_req, reply) => {
      reply.raw.once('close', () => closed());
      arrived();
      await held; // the client leaves meanwhile (as during authentication and parsing)
      signals.push(clientSignal(reply));
      made();
      return 'late';
    });
    let okClosed!: () => void;
    const okClosedP = new Promise<void>((r) => (okClosed = r));
    app.get('/ok', async (_req, reply) => {
      signals.push(clientSignal(reply));
      reply.raw.once('close', () => okClosed());
      return 'ok';
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    try {
      const req = request({ host: '127.0.0.1', port, path: '/late' });
      req.on('error', () => undefined);
      req.end();
      await arrivedP;
      req.destroy();
      await closedP; // the server has seen the connection close
      release();
      await madeP;
      assert.equal(signals[0]?.aborted, true);
      assert.equal(signals[0]?.reason, CLIENT_CLOSED);
      // An answered request's signal never aborts.
      const ok = await fetch(`http://127.0.0.1:${port}/ok`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'ok');
      await okClosedP; // its response has closed too, after it was answered
      assert.equal(signals[1]?.aborted, false);
    } finally {
      release();
      await app.close();
    }
  });
});
