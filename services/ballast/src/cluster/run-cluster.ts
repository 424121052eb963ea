/**
 * The `ballast cluster` commands: run a supervised local cluster, show its status, scale a role.
 * Wiring only; main.ts hands in argv, the environment and the root abort signal.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { takePidFile, type Logger } from '@ballast/runtime';
import { systemClock } from '@ballast/resilience';
import { ROLES, type Role } from '../settings.ts';
import { CLUSTER_ONLY_ENV, CLUSTER_ONLY_FLAGS, type ClusterSettings } from './cluster-settings.ts';
import { callControl, formatStatus, readControlFile, startControlApi, type ClusterStatus } from './control-api.ts';
import { createProcessLauncher } from './process-launcher.ts';
import { Supervisor, type Probe } from './supervisor.ts';

/** Removes the supervisor's own flags (and their values) from `argv`, keeping the rest for the replicas. */
export function replicaArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq === -1 ? undefined : eq) : '';
    if (CLUSTER_ONLY_FLAGS.has(name)) {
      if (eq === -1) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

const probeReadyz: Probe = async (opsUrl, signal) => {
  try {
    const res = await fetch(`${opsUrl}/readyz`, { signal: AbortSignal.any([signal, AbortSignal.timeout(1000)]) });
    await res.arrayBuffer();
    return res.status === 200 ? 'ready' : 'unready';
  } catch {
    return 'silent';
  }
};

const tokenIn = (file: string): string => {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
};

/** Options of {@link runCluster}. */
export interface RunClusterOptions {
  readonly settings: ClusterSettings;
  /** The command line after `cluster` (the replicas get the `ballast start` flags of it). */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly mainScript: string;
  readonly logger: Logger;
  /** Aborting drains the cluster (gateways first) and resolves the returned promise. */
  readonly signal: AbortSignal;
}

/**
 * Runs the supervisor until `signal` aborts. Resolves with the exit code (0 after a clean drain).
 *
 * @throws Error with a message for the user when the settings cannot make a cluster.
 */
export async function runCluster(options: RunClusterOptions): Promise<number> {
  const { settings, logger, signal } = options;
  if (settings.postgresUrl === '' || settings.natsUrl === '')
    throw new Error(
      'ballast cluster needs --postgres and --nats (replicas share external stores); see README "Distributed mode"',
    );
  const stateDir = resolve(settings.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const other = takePidFile(join(stateDir, 'supervisor.pid'));
  if (other !== undefined)
    throw new Error(`another ballast cluster (pid ${other}) runs with --state-dir ${settings.stateDir}; stop it first`);
  const adminTokenFile = join(stateDir, 'admin-token');
  const adminToken = settings.adminToken !== '' ? settings.adminToken : tokenIn(adminTokenFile);
  const internalToken = settings.internalToken !== '' ? settings.internalToken : randomBytes(24).toString('base64url');

  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(options.env)) if (!CLUSTER_ONLY_ENV.has(k)) env[k] = v;
  env.BALLAST_ADMIN_TOKEN = adminToken;
  env.BALLAST_INTERNAL_TOKEN = internalToken;
  env.BALLAST_LOG_FORMAT = 'json';
  // node:cluster workers get the supervisor's own environment plus `env`: drop what replicas
  // must not see (unknown BALLAST_* variables make `ballast start` exit 2).
  for (const k of CLUSTER_ONLY_ENV) delete process.env[k];

  const passThrough = replicaArgs(options.argv);
  const argsFor = (role: Role): string[] => [
    'start',
    ...passThrough,
    '--role',
    role,
    ...(role === 'gateway'
      ? ['--http-port', String(settings.httpPort), '--admin-port', String(settings.adminPort), '--ops-port', '0']
      : ['--http-host', '127.0.0.1', '--http-port', '0']),
  ];
  const supervisor = new Supervisor({
    launcher: createProcessLauncher({
      mainScript: options.mainScript,
      argsFor,
      env,
      logDir: join(stateDir, 'logs'),
      onLogError: (role, replica, err) => logger.warn({ role, replica, err }, 'replica log not writable; dropping it'),
    }),
    clock: systemClock,
    probe: probeReadyz,
    restartMaxMs: settings.restartMaxMs,
    readyTimeoutMs: settings.readyTimeoutMs,
    drainGraceMs: settings.shutdownGraceMs + 5000,
    onEvent: (e) => {
      const routine = e.type === 'ready' || e.type === 'started' || e.type === 'scaled';
      if (routine || (e.type === 'exited' && e.expected)) logger.info(e, `replica ${e.type}`);
      else logger.warn(e, `replica ${e.type}`);
    },
  });

  let draining = false;
  const drained = new Promise<void>((resolveDrain) => {
    const onAbort = (): void => {
      draining = true;
      logger.info('draining the cluster: gateways first');
      void supervisor.drain().then(resolveDrain);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });

  const started = performance.now();
  await Promise.race([supervisor.start(settings.replicas), drained]);
  if (draining) {
    await drained;
    return 0;
  }
  const gateway = supervisor.addresses('gateway')[0];
  if (gateway === undefined) throw new Error('no gateway reported ready');
  const first = { frontUrl: gateway.httpUrl, adminUrl: gateway.adminUrl ?? '' };
  const control = await startControlApi({
    supervisor,
    port: settings.controlPort,
    stateDir,
    frontUrl: first.frontUrl,
    adminUrl: first.adminUrl,
    isDraining: () => draining,
  });
  const controlFile = readControlFile(stateDir);
  logger.info(
    {
      frontUrl: first.frontUrl,
      adminUrl: first.adminUrl,
      controlUrl: controlFile.url,
      replicas: supervisor.desired(),
      startedInMs: Math.round(performance.now() - started),
    },
    'Ballast cluster is ready',
  );
  process.stderr.write(
    [
      '',
      `Ballast cluster is ready (${Math.round(performance.now() - started)} ms): ${ROLES.map((r) => `${r}=${supervisor.desired()[r]}`).join(' ')}`,
      `  REST API    ${first.frontUrl}/api/v3/...   (gateways share this address, round-robin)`,
      `  Admin API   ${first.adminUrl}   token: ${settings.adminToken !== '' ? 'from --admin-token' : adminTokenFile}`,
      `  Status      ballast cluster status --state-dir ${settings.stateDir}`,
      `  Scale       ballast cluster scale oms 3 --state-dir ${settings.stateDir}`,
      `  Logs        ${join(stateDir, 'logs')}/<role>-<n>.log`,
      '',
    ].join('\n') + '\n',
  );
  await drained;
  await control.close();
  rmSync(join(stateDir, 'control.json'), { force: true }); // the folder is ours (supervisor.pid)
  logger.info('cluster drained; exiting');
  return 0;
}

/** `ballast cluster status`: prints the table (or JSON) of the supervisor under `stateDir`. */
export async function clusterStatus(stateDir: string, json: boolean, out: NodeJS.WritableStream): Promise<number> {
  const file = readControlFile(stateDir);
  const { status, body } = await callControl<ClusterStatus>(file, 'GET', '/status');
  if (status !== 200) throw new Error(`the supervisor answered ${status}: ${JSON.stringify(body)}`);
  out.write(json ? JSON.stringify(body) + '\n' : formatStatus(body));
  return 0;
}

/** `ballast cluster scale ROLE N`: sets a role's replica count; prints the new status. */
export async function clusterScale(
  stateDir: string,
  role: string,
  replicas: string,
  out: NodeJS.WritableStream,
): Promise<number> {
  if (!/^\d{1,2}$/.test(replicas)) throw new Error(`replica count must be a number, got ${JSON.stringify(replicas)}`);
  const file = readControlFile(stateDir);
  const { status, body } = await callControl<ClusterStatus & { msg?: string }>(file, 'POST', '/scale', {
    role,
    replicas: Number(replicas),
  });
  if (status >= 400) throw new Error(body.msg ?? `the supervisor answered ${status}`);
  out.write(formatStatus(body));
  if (status === 202) out.write('(some new replicas are not ready yet)\n');
  return 0;
}
