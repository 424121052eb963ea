/**
 * Health and metrics endpoints and per-route HTTP metrics for a fastify app.
 *
 * - `GET /livez`: 200 while the process runs (cheap, no dependency checks).
 * - `GET /readyz`: 200 when running and every check passes; 503 while starting, draining, or
 *   when a check fails (the body says which).
 * - `GET /metrics`: Prometheus text format.
 *
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Lifecycle } from './lifecycle.ts';
import type { BallastMetrics } from './metrics.ts';

/** A readiness check: resolves when the dependency is usable, rejects (with a reason) when not. */
export type ReadinessCheck = () => Promise<void>;

/** Registers /livez, /readyz, /metrics and request metrics on `app`. */
export function registerObservability(
  app: FastifyInstance,
  deps: { lifecycle: Lifecycle; metrics: BallastMetrics; checks?: Record<string, ReadinessCheck> },
): void {
  const { lifecycle, metrics } = deps;
  const starts = new WeakMap<object, bigint>();
  /** Counts a request once, when it is answered or its client hangs up first (never both). */
  const done = (req: FastifyRequest, status: number): void => {
    const started = starts.get(req);
    if (started === undefined) return;
    starts.delete(req);
    metrics.httpInFlight.dec();
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: req.method, route, status: String(status) });
    metrics.httpDuration.observe({ method: req.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
  };
  app.addHook('onRequest', async (req, reply) => {
    starts.set(req, process.hrtime.bigint());
    metrics.httpInFlight.inc();
    // A client that closes its connection before the answer gets no onResponse (and fastify's
    // onRequestAbort covers only a body still arriving): counted as 499, as proxies record it,
    // and no longer in flight (the gauge the autoscaler reads).
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) done(req, 499);
    });
  });
  app.addHook('onResponse', async (req, reply) => done(req, reply.statusCode));
  app.get('/livez', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (lifecycle.state !== 'RUNNING') {
      return reply.code(503).send({ status: lifecycle.state.toLowerCase() });
    }
    const failed: Record<string, string> = {};
    for (const [name, check] of Object.entries(deps.checks ?? {})) {
      try {
        await check();
      } catch (err) {
        failed[name] = err instanceof Error ? err.message : String(err);
      }
    }
    if (Object.keys(failed).length > 0) return reply.code(503).send({ status: 'unready', failed });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
