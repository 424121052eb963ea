/**
 * `ballast autoscale live`: runs the live recommender next to a `ballast cluster` on the same
 * machine (its control API), or with `--kubernetes` against Ballast's Deployments (the API
 * server), serves its decision on `/metrics` (and the last decisions as JSON on `/status`), and,
 * unless `--dry-run`, scales. Wiring only; main.ts hands in argv, the environment and the root
 * abort signal.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  BALLAST_TUNED_OPTIONS,
  LiveRecommender,
  type BallastPolicyOptions,
  type LiveCluster,
  type LiveDecision,
} from '@ballast/autoscaler';
import { isBallastError } from '@ballast/errors';
import { systemClock } from '@ballast/resilience';
import { createLogger } from '@ballast/runtime';
import Fastify from 'fastify';
import type { Role } from '../settings.ts';
import { loadAutoscaleLiveSettings, type AutoscaleLiveSettings } from './autoscale-live-settings.ts';
import { controlCluster } from './control-cluster.ts';
import { kubernetesCluster } from './kubernetes-cluster.ts';
import { createRecommenderMetrics } from './recommender-metrics.ts';

/** Options of {@link runAutoscaleLive}. */
export interface AutoscaleLiveOptions {
  /** The command line after `autoscale live`. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborting stops the recommender (scale requests in progress are waited for). */
  readonly signal: AbortSignal;
  readonly stderr: NodeJS.WritableStream;
  /** Whether stdout is a terminal (pretty logs with `--log-format auto`). */
  readonly isTty: boolean;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Where the Kubernetes API is: `--kube-api-url` (with `--kube-api-url`, no token: `kubectl proxy`
 * authenticates), else in-cluster from KUBERNETES_SERVICE_HOST/PORT and the pod's service account.
 * Returns a message when neither is available.
 */
function kubernetesTarget(
  settings: AutoscaleLiveSettings,
  env: Readonly<Record<string, string | undefined>>,
): Parameters<typeof kubernetesCluster>[0] | string {
  const base = { deploymentPrefix: settings.deploymentPrefix };
  if (settings.kubeApiUrl !== '') {
    return {
      ...base,
      apiUrl: settings.kubeApiUrl.replace(/\/$/, ''),
      namespace: settings.namespace || 'default',
      tokenFile: '',
    };
  }
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (host === undefined || host === '' || !existsSync(`${SERVICE_ACCOUNT}/token`))
    return '--kubernetes needs --kube-api-url, or to run in a pod with a service account (KUBERNETES_SERVICE_HOST is unset)';
  const namespace =
    settings.namespace !== '' ? settings.namespace : readFileSync(`${SERVICE_ACCOUNT}/namespace`, 'utf8').trim();
  return {
    ...base,
    apiUrl: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    namespace,
    tokenFile: `${SERVICE_ACCOUNT}/token`,
    caFile: `${SERVICE_ACCOUNT}/ca.crt`,
  };
}

/** The policy options of `role` from the settings. */
export function policyOptions(settings: AutoscaleLiveSettings, role: Role): BallastPolicyOptions {
  return {
    minReplicas: settings.min[role],
    maxReplicas: settings.max[role],
    targetElu: settings.targetElu,
    ...(settings.targetInFlight > 0 ? { targetInFlightPerReplica: settings.targetInFlight } : {}),
    ...(settings.sloP99Ms > 0 ? { sloP99Ms: settings.sloP99Ms } : {}),
    scaleDownStabilizationS: settings.scaleDownWindowS,
    scaleDownHysteresis: settings.scaleDownHysteresis,
    readyDelayS: settings.readyDelayS,
    actuationDelayS: settings.dryRun ? 15 : 0,
    predictive: !settings.reactive,
    // The configuration bench:autoscale measures, with its two knobs from the settings.
    ...BALLAST_TUNED_OPTIONS,
    trendWindowS: settings.trendWindowS,
    forecastHoldS: settings.forecastHoldS,
    requiredSignals: ['elu'],
    degradedAction: settings.degraded,
  };
}

const round = (x: number | undefined, d = 3): number | undefined =>
  x === undefined ? undefined : Math.round(x * 10 ** d) / 10 ** d;

/** Runs until `signal` aborts; resolves with the exit code (2: invalid settings, 1: cannot start). */
export async function runAutoscaleLive(options: AutoscaleLiveOptions): Promise<number> {
  let settings: AutoscaleLiveSettings;
  try {
    settings = loadAutoscaleLiveSettings(options.argv, options.env);
  } catch (err) {
    options.stderr.write(`ballast autoscale live: ${isBallastError(err) ? err.message : String(err)}\n`);
    return 2;
  }
  const pretty = settings.logFormat === 'pretty' || (settings.logFormat === 'auto' && options.isTty);
  const logger = createLogger({ level: settings.logLevel, pretty, base: { service: 'ballast-autoscaler' } });
  const stateDir = resolve(settings.stateDir);
  let cluster: LiveCluster;
  let watching: string;
  if (settings.kubernetes) {
    const k8s = kubernetesTarget(settings, options.env);
    if (typeof k8s === 'string') {
      options.stderr.write(`ballast autoscale live: ${k8s}\n`);
      return 2;
    }
    cluster = kubernetesCluster(k8s);
    watching = `kubernetes ${k8s.apiUrl} namespace ${k8s.namespace}`;
  } else {
    cluster = controlCluster(stateDir);
    watching = `ballast cluster ${stateDir}`;
  }
  const metrics = createRecommenderMetrics({ dryRun: settings.dryRun });
  const latest = new Map<string, LiveDecision>();
  let lastError = '';

  const app = Fastify({ logger: false, bodyLimit: 1024 });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get('/status', async () => ({ watching, dryRun: settings.dryRun, decisions: [...latest.values()] }));
  app.get('/livez', async () => ({ status: 'ok' }));
  try {
    await app.listen({ host: settings.metricsHost, port: settings.metricsPort });
  } catch (err) {
    logger.fatal({ err }, `cannot serve metrics on ${settings.metricsHost}:${settings.metricsPort}`);
    return 1;
  }
  const a = app.server.address() as AddressInfo;
  const metricsUrl = `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;

  const recommender = new LiveRecommender({
    cluster,
    clock: systemClock,
    roles: settings.roles.map((role) => ({ role, policy: policyOptions(settings, role) })),
    intervalMs: settings.intervalMs,
    timeoutMs: settings.scrapeTimeoutMs,
    dryRun: settings.dryRun,
    onDecision: (d) => {
      const before = latest.get(d.role);
      latest.set(d.role, d);
      metrics.decision(d);
      if (d.mode === 'normal') lastError = '';
      const changed =
        before === undefined || before.desired !== d.desired || before.mode !== d.mode || d.action !== 'hold';
      const fields = {
        role: d.role,
        current: d.current,
        ready: d.ready,
        desired: d.desired,
        action: d.action,
        mode: d.mode,
        ...(d.reason !== undefined ? { reason: d.reason } : {}),
        limitedBy: d.status?.limitedBy,
        perSignal: d.status?.perSignal,
        elu: round(d.signals.elu),
        inFlight: d.signals.inFlight,
        p99Ms: round(d.signals.p99Ms, 1),
        reqPerS: round(d.signals.throughputPerS, 1),
        ordersPerS: round(d.signals.activity?.ordersPerS, 1),
        readyDelayS: round(d.status?.readyDelayS, 2),
        ...(d.remove.length > 0 ? { remove: d.remove } : {}),
      };
      if (changed && d.action !== 'pending') logger.info(fields, 'autoscale decision');
      else logger.debug(fields, 'autoscale decision');
    },
    onScale: (e) => {
      metrics.scale(e);
      const fields = { role: e.role, from: e.from, to: e.to, prefer: e.prefer, ms: e.ms, readyDelaysS: e.readyDelaysS };
      if (e.phase === 'failed') logger.warn({ ...fields, err: e.error }, 'scale request failed');
      else if (e.phase === 'superseded') logger.info(fields, 'scale request superseded by a newer decision');
      else logger.info(fields, e.phase === 'requested' ? 'scale requested' : 'scaled');
    },
    onError: (message, err) => {
      // Once per distinct problem at warn (it repeats every interval while it lasts).
      const what = `${message}: ${(err as Error).message}`;
      if (what !== lastError) logger.warn({ err }, message);
      else logger.debug({ err }, message);
      lastError = what;
    },
  });
  logger.info(
    {
      metricsUrl,
      watching,
      roles: settings.roles,
      min: Object.fromEntries(settings.roles.map((r) => [r, settings.min[r]])),
      max: Object.fromEntries(settings.roles.map((r) => [r, settings.max[r]])),
      intervalMs: settings.intervalMs,
      dryRun: settings.dryRun,
    },
    'autoscaler is running',
  );
  await recommender.run(options.signal);
  await app.close();
  logger.info('autoscaler stopped');
  return 0;
}
