/**
 * `ballast` — the one program. The only place that reads the environment, argv and signals.
 *
 *   ballast start [--flags]     run (monolithic mode: every role, embedded store)
 *   ballast migrate [--flags]   bring the database schema up to date, then exit
 *   ballast cluster [--flags]   supervise replicas of every role (distributed mode, one machine)
 *   ballast cluster status      show the replicas of a running cluster
 *   ballast cluster scale R N   set the replica count of role R
 *   ballast autoscale simulate  run the autoscaling simulator on a trace (see docs/autoscaling.md)
 *   ballast autoscale live      scale a running `ballast cluster` from its replicas' metrics
 *   ballast help                list every setting
 *
 * Exit codes: 0 after a clean drain, 1 on a failure at run time, 2 on invalid usage or settings.
 *
 * @module
 */
import { runAutoscaleCommand } from '@ballast/autoscaler';
import { isBallastError } from '@ballast/errors';
import {
  createLogger,
  loadSettings,
  settingsHelp,
  type Logger,
  type SettingsOf,
  type SettingsSpec,
} from '@ballast/runtime';
import { fileURLToPath } from 'node:url';
import { startBallast } from './app.ts';
import { CLUSTER_ONLY_SETTINGS, CLUSTER_SETTINGS, type ClusterSettings } from './cluster/cluster-settings.ts';
import { clusterScale, clusterStatus, runCluster } from './cluster/run-cluster.ts';
import { AUTOSCALE_LIVE_SETTINGS } from './autoscale/autoscale-live-settings.ts';
import { runAutoscaleLive } from './autoscale/run-autoscale-live.ts';
import { openDatabase } from './stores.ts';
import { START_SETTINGS, type StartSettings } from './settings.ts';

const USAGE = `Usage: ballast <command> [flags]

Commands:
  start     run Ballast (every role in one process on the embedded SQLite store)
  migrate   bring the database schema up to date and exit
  cluster   supervise replicas of every role on this machine (needs --postgres and --nats);
            \`cluster status\` shows them, \`cluster scale ROLE N\` changes a role's replica count
  autoscale simulate --trace FILE|synthetic --policy hpa|kpa|ballast|all [--seed S] [--sweep] [--out plot.html]
            compare autoscaling policies on a load trace (docs/autoscaling.md)
  autoscale live --state-dir DIR [--interval-ms 5000] [--metrics-port 9464] [--dry-run] ...
            scale a running \`ballast cluster\` from its replicas' metrics; publishes
            ballast_autoscaler_desired_replicas{role} for KEDA/HPA (flags below)
  help      show this help

Flags (each also settable by its environment variable; flags win):
${settingsHelp(START_SETTINGS)}

Flags of \`ballast cluster\` (with the flags above but --role, which it passes to every replica):
${settingsHelp(CLUSTER_ONLY_SETTINGS)}

Flags of \`ballast autoscale live\`:
${settingsHelp(AUTOSCALE_LIVE_SETTINGS)}
`;

const fail = (msg: string): never => {
  process.stderr.write(`ballast: ${msg}\n`);
  process.exit(2);
};

/** Settings from argv and the environment, or exit 2 naming the bad one. */
const settingsOrExit = <S extends SettingsSpec>(spec: S, argv: readonly string[]): SettingsOf<S> => {
  try {
    return loadSettings(spec, argv, process.env);
  } catch (err) {
    return fail(isBallastError(err) ? err.message : String(err));
  }
};

/** The process logger: pretty on a terminal unless `--log-format` says otherwise. */
const loggerFor = (settings: { logLevel: string; logFormat: string }, base: Record<string, string>): Logger =>
  createLogger({
    level: settings.logLevel,
    pretty: settings.logFormat === 'pretty' || (settings.logFormat === 'auto' && process.stdout.isTTY === true),
    base,
  });

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === 'cluster') return cluster(rest);
  if (command === 'autoscale') return autoscale(rest);
  if (command !== 'start' && command !== 'migrate')
    fail(`unknown command ${JSON.stringify(command)} (try: ballast help)`);
  const settings = settingsOrExit(START_SETTINGS, rest) as StartSettings;
  const replica = process.env.BALLAST_REPLICA;
  const logger = loggerFor(settings, { service: 'ballast', ...(replica !== undefined ? { replica } : {}) });

  if (command === 'migrate') {
    const { where, close } = await openDatabase(settings);
    await close();
    logger.info({ db: where }, 'database schema is up to date');
    return;
  }

  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception: exiting so the supervisor restarts a clean process');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection: exiting so the supervisor restarts a clean process');
    process.exit(1);
  });

  let running;
  try {
    running = await startBallast(settings, logger);
  } catch (err) {
    if (isBallastError(err) && err.code === 'CONFIG_INVALID') return fail(err.message);
    logger.fatal({ err }, 'start failed');
    process.exit(1);
  }
  const r = running;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal: sig, graceMs: settings.shutdownGraceMs }, 'draining');
    void r.lifecycle.drain(sig).then(({ timedOut }) => {
      logger.info({ timedOut }, 'drained; exiting');
      process.exitCode = timedOut.length > 0 ? 1 : 0;
      setTimeout(() => process.exit(), 50).unref();
    });
  };
  process.on('SIGTERM', onSignal);
  if (replica === undefined) process.on('SIGINT', onSignal);
  // Under `ballast cluster`, Ctrl-C reaches the whole process group: the supervisor alone acts on
  // it, draining the replicas in order (gateways first) with SIGTERM.
  else process.on('SIGINT', () => logger.info('SIGINT ignored: the supervisor drains this replica'));
  if (process.send !== undefined) {
    // A replica of `ballast cluster`: report ready to the supervisor, and drain if it goes away.
    process.send({ type: 'ballast.ready', httpUrl: r.httpUrl, opsUrl: r.opsUrl, adminUrl: r.adminUrl });
    process.once('disconnect', () => {
      if (signals === 0) onSignal('SIGTERM');
    });
  }

  const keyCmd = settings.dev
    ? `curl -s -X POST ${r.httpUrl}/dev/accounts`
    : `curl -s -X POST -H "Authorization: Bearer $(cat ${r.adminTokenFile ?? '<your admin token>'})" ${r.adminUrl}/admin/accounts`;
  logger.info(
    {
      roles: r.roles,
      httpUrl: r.httpUrl,
      adminUrl: r.adminUrl,
      db: r.dbPath,
      startedInMs: r.startedInMs,
      dev: settings.dev,
    },
    'Ballast is ready',
  );
  if (r.adminUrl === '') {
    process.stderr.write(
      `\nBallast (${r.roles.join(', ')}) is ready (${r.startedInMs} ms). Health and metrics: ${r.httpUrl}/readyz, ${r.httpUrl}/metrics\n`,
    );
    return;
  }
  process.stderr.write(
    [
      '',
      `Ballast is ready (${r.startedInMs} ms).`,
      `  REST API    ${r.httpUrl}/api/v3/...   WebSocket ${r.httpUrl.replace('http', 'ws')}/ws`,
      `  Admin API   ${r.adminUrl}   token: ${r.adminTokenFile ?? 'from --admin-token'}`,
      `  Database    ${r.dbPath}`,
      `  Health      ${r.httpUrl}/readyz   Metrics ${r.httpUrl}/metrics`,
      `  Get an API key (new account):`,
      `    ${keyCmd}`,
      '',
    ].join('\n') + '\n',
  );
}

await main();

async function cluster(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const isSub = sub === 'status' || sub === 'scale';
  const flags = isSub ? rest.filter((a, i) => !(sub === 'scale' && i < 2)) : argv;
  const settings = settingsOrExit(
    CLUSTER_SETTINGS,
    flags.filter((a) => a !== '--json'),
  ) as ClusterSettings;
  try {
    if (sub === 'status') {
      process.exitCode = await clusterStatus(settings.stateDir, flags.includes('--json'), process.stdout);
      return;
    }
    if (sub === 'scale') {
      const [role, n] = rest;
      if (role === undefined || n === undefined) return fail('usage: ballast cluster scale ROLE REPLICAS');
      process.exitCode = await clusterScale(settings.stateDir, role, n, process.stdout);
      return;
    }
  } catch (err) {
    process.stderr.write(`ballast cluster ${sub}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const logger = loggerFor(settings, { service: 'ballast-supervisor' });
  const root = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal: sig }, 'second signal: exiting now (replicas drain by themselves)');
      process.exit(1);
    }
    root.abort(new Error(sig));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    process.exitCode = await runCluster({
      settings,
      argv: flags,
      env: process.env,
      mainScript: fileURLToPath(import.meta.url),
      logger,
      signal: root.signal,
    });
  } catch (err) {
    if (err instanceof Error && /needs --postgres|another ballast cluster/.test(err.message)) return fail(err.message);
    logger.fatal({ err }, 'cluster failed');
    process.exit(1);
  }
}

async function autoscale(argv: readonly string[]): Promise<void> {
  const root = new AbortController();
  process.once('SIGINT', () => root.abort(new Error('SIGINT')));
  process.once('SIGTERM', () => root.abort(new Error('SIGTERM')));
  if (argv[0] === 'live') {
    process.exitCode = await runAutoscaleLive({
      argv: argv.slice(1),
      env: process.env,
      signal: root.signal,
      stderr: process.stderr,
      isTty: process.stdout.isTTY === true,
    });
    return;
  }
  process.exitCode = await runAutoscaleCommand([...argv], {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: root.signal,
  });
}
