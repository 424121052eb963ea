/**
 * Graceful close of an HTTP server that shares its port with other replicas (node:cluster
 * workers behind the supervisor's round-robin, or pods behind a Service).
 *
 * Fastify's own close stops the listener and at once closes every idle keep-alive connection;
 * a client that sends a request on one of them at that moment gets `ECONNRESET` (a POST cannot
 * be retried blindly), and with `return503OnClosing` the requests still arriving on busy
 * connections are answered 503. Instead, once `app.close()` starts:
 *
 * 1. the listener closes without touching open connections, so no new connection arrives (a
 *    node:cluster worker leaves the round-robin; readiness already answers 503);
 * 2. for up to `graceMs`, requests on the open connections are served normally, with
 *    `Connection: close` (fastify adds it while closing), so each client closes its connection
 *    after its next response and reconnects — to another replica;
 * 3. then fastify closes what is still idle and waits for the requests in flight; those that
 *    started before the close also answer `Connection: close`, and connections that still go
 *    idle are closed as they do (fastify's keep-alive timeout is 72 s).
 *
 * The app must be built with `return503OnClosing: false`.
 *
 * @module
 */
import { Server as NetServer } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** Options of {@link installGracefulClose}. */
export interface GracefulCloseOptions {
  /** Longest time connections get to finish by themselves before idle ones are closed. */
  readonly graceMs: number;
  /** How often to check whether every connection has closed. @default 25 */
  readonly pollMs?: number;
}

const openConnections = (server: NetServer): Promise<number> =>
  new Promise((resolve) => server.getConnections((err, n) => resolve(err !== null ? 0 : n)));

/** Makes `app.close()` graceful (see the module comment). */
export function installGracefulClose(app: FastifyInstance, options: GracefulCloseOptions): void {
  const pollMs = options.pollMs ?? 25;
  let closing = false;
  app.addHook('onSend', async (_req, reply) => {
    if (closing && !reply.raw.headersSent) reply.header('connection', 'close');
  });
  app.addHook('preClose', async () => {
    const server = app.server;
    closing = true;
    if (!server.listening) return;
    // net.Server#close: stop accepting, leave open connections alone (http.Server#close would
    // also close the idle ones now).
    NetServer.prototype.close.call(server);
    const deadline = performance.now() + options.graceMs;
    while (performance.now() < deadline && (await openConnections(server)) > 0) {
      await new Promise<void>((resolve) => setTimeout(resolve, Math.min(pollMs, deadline - performance.now())));
    }
    // Fastify closes the idle connections once, now; close those that go idle later too.
    const reaper = setInterval(() => server.closeIdleConnections(), pollMs).unref();
    server.once('close', () => clearInterval(reaper));
  });
}
