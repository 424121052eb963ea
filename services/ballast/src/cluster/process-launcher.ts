/**
 * Starts replicas as child processes of the supervisor.
 *
 * Gateways are `node:cluster` workers: they all listen on the one front port (and admin port)
 * and the supervisor, as cluster primary, hands each new connection to the next gateway in turn
 * (round-robin; the bytes then flow between client and gateway directly, the supervisor only
 * accepts). A gateway that drains closes its listener and leaves the rotation; its open
 * connections finish. Other roles are plain forked processes on their own ports. Every replica
 * reports ready over the IPC channel (`{ type: 'ballast.ready', httpUrl, opsUrl }`), drains when
 * that channel closes (the supervisor died), and writes its log to `<logDir>/<role>-<n>.log`.
 *
 * @module
 */
import cluster from 'node:cluster';
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from '../settings.ts';
import type { Launcher, ReplicaAddresses, ReplicaExit, ReplicaProcess } from './supervisor.ts';

/** Options of {@link createProcessLauncher}. */
export interface ProcessLauncherOptions {
  /** The `ballast` entry script (main.ts). */
  readonly mainScript: string;
  /** Arguments of `ballast start` for a replica of `role` (without the command). */
  readonly argsFor: (role: Role, slot: number) => readonly string[];
  /** Environment of every replica. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Folder of the replica logs (created). */
  readonly logDir: string;
  /** Told when a replica's log file cannot be written (its output is then dropped). */
  readonly onLogError?: (role: Role, slot: number, err: Error) => void;
}

/** The message a replica sends its supervisor once ready. */
export interface ReadyMessage {
  readonly type: 'ballast.ready';
  readonly httpUrl: string;
  readonly opsUrl: string;
  readonly adminUrl?: string;
}

const isReady = (m: unknown): m is ReadyMessage =>
  typeof m === 'object' &&
  m !== null &&
  (m as { type?: unknown }).type === 'ballast.ready' &&
  typeof (m as { opsUrl?: unknown }).opsUrl === 'string';

/** A launcher that forks real processes (node:cluster workers for gateways). */
export function createProcessLauncher(options: ProcessLauncherOptions): Launcher {
  mkdirSync(options.logDir, { recursive: true });
  return {
    launch(role: Role, slot: number): ReplicaProcess {
      const args = [...options.argsFor(role, slot)];
      const env = { ...options.env, BALLAST_REPLICA: `${role}-${slot}` };
      let child: ChildProcess;
      let onMessage: (listener: (m: unknown) => void) => void;
      if (role === 'gateway') {
        cluster.setupPrimary({ exec: options.mainScript, args, silent: true });
        const worker = cluster.fork(env);
        child = worker.process;
        onMessage = (l) => worker.on('message', l);
      } else {
        child = fork(options.mainScript, args, { env, silent: true });
        onMessage = (l) => child.on('message', l);
      }
      const log = createWriteStream(join(options.logDir, `${role}-${slot}.log`), { flags: 'a' });
      // A log that cannot be written (disk full, folder removed) must not take the supervisor
      // down: its output is dropped from then on, the replica keeps running.
      log.on('error', (err) => {
        child.stdout?.unpipe(log);
        child.stderr?.unpipe(log);
        child.stdout?.resume();
        child.stderr?.resume();
        options.onLogError?.(role, slot, err);
      });
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      const ready = new Promise<ReplicaAddresses>((resolve) => {
        onMessage((m) => {
          if (isReady(m))
            resolve({
              httpUrl: m.httpUrl,
              opsUrl: m.opsUrl,
              ...(typeof m.adminUrl === 'string' && m.adminUrl !== '' ? { adminUrl: m.adminUrl } : {}),
            });
        });
      });
      const exited = new Promise<ReplicaExit>((resolve) => {
        child.once('exit', (code, signal) => {
          // Let the pipes flush what the process wrote last.
          setTimeout(() => log.end(), 50);
          resolve({ code, signal });
        });
      });
      child.on('error', () => {
        // A failed spawn surfaces as 'exit'; nothing more to do here.
      });
      return {
        pid: child.pid ?? -1,
        ready,
        exited,
        kill(signal) {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        },
      };
    },
  };
}
