/**
 * `ballast` — the one program. The only place that reads the environment, argv and signals.
 *
 *   ballast start [--flags]     run (monolithic mode: every role, embedded store)
 *   ballast migrate [--flags]   bring the database schema up to date, then exit
 *   ballast help                list every setting
 *
 * Exit codes: 0 after a clean drain, 1 on a failure at run time, 2 on invalid usage or settings.
 *
 * @module
 */
import { isBallastError } from '@ballast/errors';
import { createLogger, loadSettings, settingsHelp } from '@ballast/runtime';
import { startBallast } from './app.ts';
import { openDatabase } from './stores.ts';
import { START_SETTINGS, type StartSettings } from './settings.ts';

const USAGE = `Usage: ballast <command> [flags]

Commands:
  start     run Ballast (every role in one process on the embedded SQLite store)
  migrate   bring the database schema up to date and exit
  help      show this help

Flags (each also settable by its environment variable; flags win):
${settingsHelp(START_SETTINGS)}
`;

const fail = (msg: string): never => {
  process.stderr.write(`ballast: ${msg}\n`);
  process.exit(2);
};

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return;
  }
  if (command !== 'start' && command !== 'migrate')
    fail(`unknown command ${JSON.stringify(command)} (try: ballast help)`);
  let settings: StartSettings;
  try {
    settings = loadSettings(START_SETTINGS, rest, process.env) as StartSettings;
  } catch (err) {
    return fail(isBallastError(err) ? err.message : String(err));
  }
  const pretty = settings.logFormat === 'pretty' || (settings.logFormat === 'auto' && process.stdout.isTTY === true);
  const logger = createLogger({ level: settings.logLevel, pretty, base: { service: 'ballast' } });

  if (command === 'migrate') {
    const { db, where } = await openDatabase(settings);
    await db.destroy();
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
  process.on('SIGINT', onSignal);

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
