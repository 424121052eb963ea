/**
 * The supervisor's control API, on 127.0.0.1 only, behind a bearer token kept (mode 0600) in
 * `<state-dir>/control.json` with the address, so `ballast cluster status|scale` run on the same
 * machine find it.
 *
 *   GET  /status                     every replica (role, replica, pid, state, restarts, uptime)
 *   POST /scale {role, replicas, prefer?}   set a role's replica count; answers when done
 *   GET  /metrics                    Prometheus: replicas per role and state, restarts (no token)
 *
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { ROLES, type Role } from '../settings.ts';
import type { ReplicaStatus, Supervisor } from './supervisor.ts';

/** What `control.json` holds. */
export interface ControlFile {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  readonly frontUrl: string;
  readonly adminUrl: string;
}

/** The answer of `GET /status`. */
export interface ClusterStatus {
  readonly frontUrl: string;
  readonly adminUrl: string;
  readonly draining: boolean;
  readonly desired: Record<Role, number>;
  readonly replicas: readonly ReplicaStatus[];
}

/** Options of {@link startControlApi}. */
export interface ControlApiOptions {
  readonly supervisor: Supervisor;
  readonly port: number;
  readonly stateDir: string;
  readonly frontUrl: string;
  readonly adminUrl: string;
  readonly isDraining: () => boolean;
  /** Longest a `POST /scale` waits for new replicas to be ready. @default 120000 */
  readonly scaleTimeoutMs?: number;
}

/** Starts the control API and writes `control.json`; close the returned server to stop it. */
export async function startControlApi(options: ControlApiOptions): Promise<FastifyInstance> {
  const { supervisor } = options;
  const token = randomBytes(24).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  const app = Fastify({ logger: false, bodyLimit: 4096 });
  const status = (): ClusterStatus => ({
    frontUrl: options.frontUrl,
    adminUrl: options.adminUrl,
    draining: options.isDraining(),
    desired: supervisor.desired(),
    replicas: supervisor.status(),
  });
  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/metrics') return;
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      return reply.code(401).send({ code: 'UNAUTHORIZED', msg: 'missing or wrong control token' });
    }
  });
  app.get('/status', async () => status());
  app.post('/scale', async (req, reply) => {
    const body = req.body as { role?: unknown; replicas?: unknown; prefer?: unknown } | null;
    const role = body?.role;
    const replicas = body?.replicas;
    const prefer = Array.isArray(body?.prefer) ? (body.prefer as unknown[]) : [];
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role))
      return reply.code(400).send({ code: 'INVALID_ROLE', msg: `role must be one of ${ROLES.join(', ')}` });
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 64)
      return reply.code(400).send({ code: 'INVALID_REPLICAS', msg: 'replicas must be an integer from 0 to 64' });
    if (!prefer.every((p) => Number.isInteger(p)))
      return reply.code(400).send({ code: 'INVALID_PREFER', msg: 'prefer must list replica numbers' });
    if (replicas === 0 && role !== 'marketdata')
      return reply.code(400).send({ code: 'INVALID_REPLICAS', msg: `${role} needs at least one replica` });
    if (options.isDraining()) return reply.code(503).send({ code: 'DRAINING', msg: 'the cluster is draining' });
    const timeoutMs = options.scaleTimeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      supervisor.scale(role as Role, replicas, prefer as number[]).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
    return reply.code(done ? 200 : 202).send(status());
  });
  app.get('/metrics', async (_req, reply) => {
    const lines = [
      '# HELP ballast_cluster_replicas Replicas per role and state.',
      '# TYPE ballast_cluster_replicas gauge',
    ];
    const restarts = new Map<Role, number>();
    const counts = new Map<string, number>();
    for (const r of supervisor.status()) {
      counts.set(`${r.role}\u0000${r.state}`, (counts.get(`${r.role}\u0000${r.state}`) ?? 0) + 1);
      restarts.set(r.role, (restarts.get(r.role) ?? 0) + r.restarts);
    }
    for (const [k, n] of counts) {
      const [role, state] = k.split('\u0000');
      lines.push(`ballast_cluster_replicas{role="${role}",state="${state}"} ${n}`);
    }
    lines.push('# HELP ballast_cluster_desired_replicas Replicas wanted per role.');
    lines.push('# TYPE ballast_cluster_desired_replicas gauge');
    for (const [role, n] of Object.entries(supervisor.desired()))
      lines.push(`ballast_cluster_desired_replicas{role="${role}"} ${n}`);
    lines.push('# HELP ballast_cluster_restarts Restarts of current replicas after unrequested exits.');
    lines.push('# TYPE ballast_cluster_restarts gauge');
    for (const [role, n] of restarts) lines.push(`ballast_cluster_restarts{role="${role}"} ${n}`);
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });
  await app.listen({ host: '127.0.0.1', port: options.port });
  const a = app.server.address() as AddressInfo;
  const file: ControlFile = {
    url: `http://127.0.0.1:${a.port}`,
    token,
    pid: process.pid,
    frontUrl: options.frontUrl,
    adminUrl: options.adminUrl,
  };
  const path = join(options.stateDir, 'control.json');
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return app;
}

/** Reads `<stateDir>/control.json`. @throws Error naming the file when no supervisor wrote one. */
export function readControlFile(stateDir: string): ControlFile {
  const path = join(stateDir, 'control.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new Error(`no cluster found: ${path} does not exist (is \`ballast cluster\` running with this --state-dir?)`);
  }
  return JSON.parse(text) as ControlFile;
}

/** Calls the control API of the supervisor described by `file`. */
export async function callControl<T>(
  file: ControlFile,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; body: T }> {
  let res: Response;
  try {
    res = await fetch(`${file.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${file.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: signal ?? AbortSignal.timeout(150_000),
    });
  } catch (err) {
    throw new Error(`the supervisor at ${file.url} (pid ${file.pid}) does not answer: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { status: res.status, body: (await res.json()) as T };
}

/** Formats `GET /status` as the table `ballast cluster status` prints. */
export function formatStatus(s: ClusterStatus, nowLabel = ''): string {
  const rows = [['ROLE', 'REPLICA', 'PID', 'PORT', 'READY', 'STATE', 'RESTARTS', 'UPTIME']];
  for (const r of s.replicas) {
    const port = r.opsUrl !== null ? new URL(r.opsUrl).port : '-';
    rows.push([
      r.role,
      String(r.replica),
      r.pid === null ? '-' : String(r.pid),
      port,
      r.ready ? 'yes' : 'no',
      r.state,
      String(r.restarts),
      formatUptime(r.uptimeMs),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
  const head = `front ${s.frontUrl}   admin ${s.adminUrl}${s.draining ? '   DRAINING' : ''}${nowLabel}`;
  return `${head}\n${table}\n(PORT: each replica's own health and metrics port on 127.0.0.1; gateways share the front port)\n`;
}

const formatUptime = (ms: number): string => {
  if (ms <= 0) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};
