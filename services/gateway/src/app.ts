/**
 * Gateway wiring: the public HTTP + WebSocket server (REST API, streams, health, metrics) and the
 * admin server. Pure wiring from its dependencies, so tests can build it without a process.
 *
 * @module
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { registerObservability, type BallastMetrics, type Lifecycle, type ReadinessCheck } from '@ballast/runtime';
import type { BallastError } from '@ballast/errors';
import { registerAdminRoutes, type AdminDeps } from './admin-routes.ts';
import { installErrorHandling, type ErrorLogger } from './error-handling.ts';
import { installGracefulClose } from './graceful-close.ts';
import { registerRestRoutes, type RestDeps } from './rest-routes.ts';
import { createWsHub, type WsHub } from './ws-hub.ts';

/** Everything the gateway needs. */
export interface GatewayDeps extends RestDeps {
  readonly lifecycle: Lifecycle;
  readonly metrics: BallastMetrics;
  readonly checks?: Record<string, ReadinessCheck>;
  /** Largest request body. @default 16384 */
  readonly bodyLimitBytes?: number;
  readonly wsMaxBufferedBytes?: number;
  /** Where failures are logged (503s at most once a second). */
  readonly logger?: ErrorLogger;
  /** Turns a store driver error into a Ballast reason, so a down database answers 503, not 500. */
  readonly classifyError?: (err: unknown) => BallastError;
  /**
   * On close, how long requests on open keep-alive connections are still served (with
   * `Connection: close`) after the listener stops, before idle connections are closed. @default 1500
   */
  readonly drainGraceMs?: number;
}

/** The built servers (not listening yet). */
export interface Gateway {
  readonly app: FastifyInstance;
  readonly hub: WsHub;
}

const parseForm = (_req: unknown, body: string, done: (err: Error | null, value?: unknown) => void): void => {
  done(null, Object.fromEntries(new URLSearchParams(body)));
};

/** Builds the public gateway server. */
export function buildGateway(deps: GatewayDeps): Gateway {
  // Closing is graceful (see graceful-close.ts): requests on open connections are served, not 503.
  const app = Fastify({ bodyLimit: deps.bodyLimitBytes ?? 16 * 1024, return503OnClosing: false, logger: false });
  installGracefulClose(app, { graceMs: deps.drainGraceMs ?? 1500 });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, parseForm);
  installErrorHandling(app, deps.logger, deps.classifyError);
  registerObservability(app, {
    lifecycle: deps.lifecycle,
    metrics: deps.metrics,
    ...(deps.checks ? { checks: deps.checks } : {}),
  });
  registerRestRoutes(app, deps);
  const hub = createWsHub({
    markets: deps.markets,
    marketData: deps.marketData,
    nowMs: deps.nowMs,
    ...(deps.wsMaxBufferedBytes !== undefined ? { maxBufferedBytes: deps.wsMaxBufferedBytes } : {}),
    onConnections: (n) => deps.metrics.wsConnections.set(n),
    onSlowConsumer: () => deps.metrics.wsDisconnectsSlow.inc(),
  });
  app.server.on('upgrade', (req, socket, head) => {
    if (deps.lifecycle.state !== 'RUNNING' || !hub.handleUpgrade(req, socket, head)) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
    }
  });
  return { app, hub };
}

/** Builds the admin server. Its errors are answered and logged as the public server's are (a store outage answers 503). */
export function buildAdmin(
  deps: AdminDeps &
    Pick<GatewayDeps, 'logger' | 'classifyError'> & {
      lifecycle: Lifecycle;
      metrics: BallastMetrics;
      drainGraceMs?: number;
    },
): FastifyInstance {
  const app = Fastify({ bodyLimit: 16 * 1024, return503OnClosing: false, logger: false });
  installGracefulClose(app, { graceMs: deps.drainGraceMs ?? 1500 });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, parseForm);
  installErrorHandling(app, deps.logger, deps.classifyError);
  registerAdminRoutes(app, deps);
  app.get('/livez', async () => ({ status: 'ok' }));
  return app;
}
