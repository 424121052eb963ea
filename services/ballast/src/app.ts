/**
 * Monolithic mode: every role in one process on the embedded store. Pure wiring from settings;
 * reads no environment and installs no signal handlers (main.ts does).
 *
 * Start order: store and migrations → roles rebuild their state from the logs (matching
 * books, market data) → the API listens → RUNNING. Drain order: readiness goes 503 and the API
 * stops taking requests (in-flight ones finish, WebSockets get a close frame) → the oms stops
 * sweeping and the consumers stop pulling → the store closes.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MARKETS, compileMarkets, type Markets, type MarketsConfig } from '@ballast/contracts';
import { BallastError, ErrorCode } from '@ballast/errors';
import { buildAdmin, buildGateway, createOrderResults, createRemoteOms, installGracefulClose } from '@ballast/gateway';
import { createLedger } from '@ballast/ledger';
import { createMarketData, createSqlMarketDataSnapshots } from '@ballast/marketdata';
import { createMatching } from '@ballast/matching';
import { createOms, registerOmsRoutes } from '@ballast/oms';
import { listInstances, registerInstance, sleep, within } from '@ballast/state';
import { hostname } from 'node:os';
import {
  bindResilienceMetrics,
  createLifecycle,
  createMetrics,
  registerObservability,
  setupTracing,
  type Lifecycle,
  type Logger,
} from '@ballast/runtime';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { ROLES, type Role, type StartSettings } from './settings.ts';
import { guardOrderEntry } from './order-entry.ts';
import { openStores } from './stores.ts';

/** A running Ballast. */
export interface RunningBallast {
  readonly lifecycle: Lifecycle;
  readonly roles: readonly Role[];
  readonly httpUrl: string;
  /**
   * This process's own health and metrics address: the API address, or the `--ops-port` listener
   * when there is one (replicas sharing the API port under `ballast cluster`).
   */
  readonly opsUrl: string;
  readonly adminUrl: string;
  readonly adminToken: string;
  readonly adminTokenFile: string | undefined;
  readonly dbPath: string;
  readonly startedInMs: number;
}

/** Longest an order entry call (place, cancel) may take before the client is answered. */
const ENTRY_DEADLINE_MS = 2000;
/**
 * How long a draining oms waits after leaving the registry: a gateway looks again 1 s after its
 * last look ended, and a look takes a few ms, up to hundreds under load.
 */
const OMS_LEAVE_WAIT_MS = 2000;

const urlOf = (a: string | AddressInfo | null): string => {
  if (a === null || typeof a === 'string') return String(a);
  const h = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.address;
  return `http://${h.includes(':') ? `[${h}]` : h}:${a.port}`;
};

/** Loads the markets file, or the defaults. @throws BallastError CONFIG_INVALID naming the problem. */
export function loadMarkets(file: string): Markets {
  let config: MarketsConfig = DEFAULT_MARKETS;
  if (file !== '') {
    try {
      config = JSON.parse(readFileSync(file, 'utf8')) as MarketsConfig;
    } catch (err) {
      throw new BallastError(ErrorCode.ConfigInvalid, `--markets-file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  try {
    return compileMarkets(config);
  } catch (err) {
    throw new BallastError(ErrorCode.ConfigInvalid, `markets: ${(err as Error).message}`, { cause: err });
  }
}

const adminTokenOf = (settings: StartSettings): { token: string; file: string | undefined } => {
  if (settings.adminToken !== '') return { token: settings.adminToken, file: undefined };
  const file = join(settings.dataDir, 'admin-token');
  mkdirSync(settings.dataDir, { recursive: true });
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) return { token, file };
  }
  const token = randomBytes(24).toString('hex');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, file };
};

/** Starts every role in this process; resolves once the API is listening and ready. */
export async function startBallast(settings: StartSettings, logger: Logger): Promise<RunningBallast> {
  const started = performance.now();
  const markets = loadMarkets(settings.marketsFile);
  const lifecycle = createLifecycle({
    shutdownGraceMs: settings.shutdownGraceMs,
    onStep: (name, ms, timedOut) => logger.info({ step: name, ms: Math.round(ms), timedOut }, 'drain step'),
  });
  const metrics = createMetrics();
  const unbindResilience = bindResilienceMetrics(metrics.registry);
  const has = (r: Role): boolean => settings.roles.includes(r);
  const everything = settings.roles.length === ROLES.length;
  if (!everything && (settings.postgresUrl === '' || settings.natsUrl === '')) {
    throw new BallastError(
      ErrorCode.ConfigInvalid,
      `--role ${settings.roles.join(',')} needs --postgres and --nats: roles in separate processes share external stores`,
    );
  }
  const remoteOms = has('gateway') && !has('oms');
  const omsServesNetwork = has('oms') && !has('gateway');
  if ((remoteOms || omsServesNetwork) && settings.internalToken === '') {
    throw new BallastError(
      ErrorCode.ConfigInvalid,
      '--internal-token is needed when the gateway and the oms run in separate processes',
    );
  }
  const tracing = await setupTracing({
    serviceName: everything ? 'ballast' : `ballast-${settings.roles.join('+')}`,
    otlpEndpoint: settings.otlpEndpoint,
    sampleRatio: settings.traceSampleRatio,
    attributes: { 'service.instance.id': `${hostname()}-${process.pid}` },
  });
  const stores = await openStores(settings, (message) => logger.warn(message));
  const { db, log } = stores;
  const nowMs = Date.now;
  const onError = (message: string, err: unknown): void => logger.error({ err }, message);
  const fees = { makerBps: settings.makerFeeBps, takerBps: settings.takerFeeBps };

  const oms = createOms({
    db,
    log,
    markets,
    rowLocks: settings.postgresUrl !== '',
    isLogAvailable: stores.logAvailable,
    ...(stores.logInTransaction !== undefined ? { logInTransaction: stores.logInTransaction } : {}),
    // SQLite has one writer. On PostgreSQL more lanes mean more, smaller transactions, worth it
    // only where the database has cores to spare: on the 2-core bench machine one lane used about
    // a quarter less of PostgreSQL's CPU than four, and sustained more (docs/operations.md).
    lanes: settings.postgresUrl !== '' ? settings.omsLanes : 1,
    commandEntries: settings.omsCommandEntries,
    onWarning: (m, err) => logger.warn({ err }, m),
    onAccepted: (symbol) => metrics.ordersAccepted.inc({ symbol }),
    onBalanceConflict: () => metrics.omsBalanceConflicts.inc(),
    onBatchWritten: (path) => metrics.omsBatches.inc({ path }),
    onOutboxVacuum: (ms) => metrics.omsOutboxVacuum.observe(ms / 1000),
  });
  const matching = createMatching({
    db,
    log,
    markets,
    snapshotEveryCommands: settings.snapshotEvery,
    snapshotEveryMs: settings.snapshotEveryMs,
    shards: settings.shards,
    shardMap: settings.shardMap,
    leaseTtlMs: settings.leaseTtlMs,
    ...(stores.registry !== undefined ? { kv: stores.registry } : {}),
    onLeadership: (shard, leading, reason) => {
      logger.info({ shard, leading, reason }, 'matching leadership');
      metrics.matchingLeader.set({ shard }, leading ? 1 : 0);
      metrics.matchingLeadershipChanges.inc({ shard, leading: String(leading) });
    },
    onError,
    onApplied: (symbol, commands, trades) => {
      metrics.commandsApplied.inc({ symbol }, commands);
      if (trades > 0) metrics.trades.inc({ symbol }, trades);
    },
  });
  const ledger = createLedger({
    db,
    log,
    markets,
    fees,
    onError,
    lockOffsets: settings.postgresUrl !== '',
    asyncBatchCommit: settings.postgresUrl !== '',
    batchIntervalMs: settings.ledgerBatchIntervalMs,
    // Distributed: ledger replicas share the symbols through leases (a consumer group).
    ...(stores.registry !== undefined && settings.roles.includes('ledger')
      ? { partition: { kv: stores.registry, holder: `${hostname()}-${process.pid}`, ttlMs: settings.leaseTtlMs } }
      : {}),
  });
  const results = createOrderResults({ onError });
  const marketData = createMarketData({
    log,
    markets,
    onError,
    snapshots: createSqlMarketDataSnapshots(db),
    // Gateway-only replicas start from the snapshots the marketdata role saves.
    saveSnapshots: has('marketdata'),
    // A gateway's order results follow the event logs through the market-data view's consumer
    // (one delivery of each entry to this process, not two); it is live before the API serves.
    ...(has('gateway') ? { onLiveEntries: results.apply } : {}),
  });

  const roles = new AbortController();
  const serveApi = has('gateway');
  const loops: Promise<void>[] = [];
  if (has('matching')) loops.push(matching.run(roles.signal));
  if (has('ledger')) loops.push(ledger.run(roles.signal));
  if (serveApi || has('marketdata')) loops.push(marketData.run(roles.signal));
  if (has('oms')) loops.push(oms.runSweeper(roles.signal));
  const registry = stores.registry;
  const remote =
    remoteOms && registry !== undefined
      ? createRemoteOms({
          instances: () => listInstances(registry, 'oms'),
          token: settings.internalToken,
          batchesInFlightPerReplica: settings.omsBatchesInFlight,
          onError,
        })
      : undefined;
  if (remote !== undefined) {
    loops.push(remote.run(roles.signal));
    metrics.omsClientWaiting = () => remote.waiting();
  }
  await Promise.all([
    has('matching') ? matching.ready() : undefined,
    serveApi || has('marketdata') ? marketData.ready() : undefined,
  ]);

  if (!serveApi) {
    // A process without the gateway serves health and metrics only.
    // An oms's server closes as the gateway's does: requests on open connections are served
    // for a moment, with `Connection: close`, rather than answered 503 or reset (a gateway could
    // not tell that from an order lost mid-way, and would answer its client -1007); new
    // connections are refused, which gateways retry on another replica.
    const health = Fastify({ logger: false, bodyLimit: 64 * 1024, return503OnClosing: !omsServesNetwork });
    if (omsServesNetwork) installGracefulClose(health, { graceMs: 1500 });
    registerObservability(health, { lifecycle, metrics, checks: stores.checks });
    if (omsServesNetwork) registerOmsRoutes(health, oms, settings.internalToken, stores.classify);
    // An oms leaves the registry first and waits for the gateways' next look (every second), so
    // they stop sending to it before its server closes: no request of theirs meets a connection
    // being closed (a cancel cut off that way is answered -1007).
    const registration = new AbortController();
    let registered: Promise<void> | undefined;
    if (omsServesNetwork && registry !== undefined)
      lifecycle.onDrain('leave the oms registry', async (signal) => {
        registration.abort(new Error('draining'));
        // A registry that hangs holds this step 2 s at most: the entry then expires by its TTL.
        await within(registered ?? Promise.resolve(), 2000, 'leaving the oms registry').catch((err: unknown) =>
          onError('oms registry: could not remove this replica; its entry expires by itself', err),
        );
        await sleep(OMS_LEAVE_WAIT_MS, signal);
      });
    lifecycle.onDrain('stop serving health', () => health.close());
    lifecycle.onDrain('stop consumers', async () => {
      roles.abort(new Error('draining'));
      await Promise.all(loops);
    });
    lifecycle.onDrain('close stores', () => stores.close());
    lifecycle.onDrain('flush traces', () => tracing.shutdown());
    // exclusive: under `ballast cluster` (node:cluster workers) each replica keeps its own port.
    await health.listen({ host: settings.httpHost, port: settings.httpPort, exclusive: true });
    if (omsServesNetwork && registry !== undefined) {
      const advertise = settings.advertiseUrl !== '' ? settings.advertiseUrl : urlOf(health.server.address());
      const id = `${hostname()}-${process.pid}`;
      registered = registerInstance(
        registry,
        { service: 'oms', id, url: advertise, onError: (err) => onError('oms registration failed', err) },
        AbortSignal.any([roles.signal, registration.signal]),
      );
      loops.push(registered);
    }
    lifecycle.running();
    return {
      lifecycle,
      roles: settings.roles,
      httpUrl: urlOf(health.server.address()),
      opsUrl: urlOf(health.server.address()),
      adminUrl: '',
      adminToken: '',
      adminTokenFile: undefined,
      dbPath: stores.describe,
      startedInMs: Math.round(performance.now() - started),
    };
  }

  // Order entry behind a breaker and the deadline (see order-entry.ts).
  const guardedOms = guardOrderEntry(remote ?? oms, {
    deadlineMs: ENTRY_DEADLINE_MS,
    classify: stores.classify,
    inProcess: remote === undefined,
  });
  const { app, hub } = buildGateway({
    db,
    oms: guardedOms,
    ledger,
    marketData,
    markets,
    results,
    fees,
    nowMs,
    dev: settings.dev,
    lifecycle,
    metrics,
    bodyLimitBytes: settings.bodyLimitBytes,
    ordersPer10s: settings.ordersPer10s,
    rateLimitOnStoreFailure: settings.rateLimitOnFailure,
    onRateLimitStoreError: (() => {
      let lastLog = 0;
      return (err: unknown) => {
        metrics.rateLimitStoreErrors.inc();
        if (Date.now() - lastLog > 5000) {
          lastLog = Date.now();
          logger.warn({ err, failOpen: settings.rateLimitOnFailure === 'open' }, 'rate-limit store unavailable');
        }
      };
    })(),
    requestsPerMinute: settings.requestsPerMinute,
    wsMaxBufferedBytes: settings.wsMaxBufferBytes,
    logger,
    classifyError: (err) => stores.classify(err, 'request'),
    checks: stores.checks,
    ...(stores.rateLimitStore !== undefined ? { rateLimitStore: stores.rateLimitStore } : {}),
  });
  const { token, file } = adminTokenOf(settings);
  const admin = buildAdmin({
    db,
    ledger,
    markets,
    log,
    token,
    nowMs,
    lifecycle,
    metrics,
    logger,
    classifyError: (err) => stores.classify(err, 'admin request'),
  });

  lifecycle.onDrain('stop accepting requests', async () => {
    await hub.close();
    await Promise.all([app.close(), admin.close()]);
  });
  lifecycle.onDrain('stop consumers', async () => {
    roles.abort(new Error('draining'));
    await Promise.all(loops);
  });
  lifecycle.onDrain('close stores', async () => {
    await stores.close();
    unbindResilience();
  });
  lifecycle.onDrain('flush traces', () => tracing.shutdown());

  let opsUrl = '';
  if (settings.opsPort >= 0) {
    // Health and metrics of this replica alone (the API port may be shared by a node:cluster).
    const ops = Fastify({ logger: false, bodyLimit: 64 * 1024 });
    registerObservability(ops, { lifecycle, metrics, checks: stores.checks });
    lifecycle.onDrain('stop serving ops', () => ops.close());
    await ops.listen({ host: '127.0.0.1', port: settings.opsPort, exclusive: true });
    opsUrl = urlOf(ops.server.address());
  }
  await app.listen({ host: settings.httpHost, port: settings.httpPort });
  await admin.listen({ host: settings.adminHost, port: settings.adminPort });
  lifecycle.running();
  return {
    lifecycle,
    roles: settings.roles,
    httpUrl: urlOf(app.server.address()),
    opsUrl: opsUrl !== '' ? opsUrl : urlOf(app.server.address()),
    adminUrl: urlOf(admin.server.address()),
    adminToken: token,
    adminTokenFile: file,
    dbPath: stores.describe,
    startedInMs: Math.round(performance.now() - started),
  };
}
