/**
 * End-to-end order entry benchmark. It starts what it measures and stops it at the end:
 *
 *   npm run bench:e2e -- [--mode embedded|cluster] [--step-seconds S] [--rates 1000,2000,...]
 *                        [--half-seconds S] [--cancel-ratio R] [--connections N] [--ceiling on|off]
 *                        [--floor on|off] [--pipeline batch|order|off] [--replica-counts 1,2,3]
 *                        [--scaled-roles gateway,oms,ledger]
 *
 * - `embedded` (default): `ballast start` on a fresh SQLite data folder.
 * - `cluster`: `ballast cluster` on this machine's PostgreSQL, NATS and Redis (a private database
 *   and stream prefix, dropped at the end), measured with 1, 2 and 3 replicas of each stateless
 *   role (gateway, oms, ledger; matching is one shard leader, marketdata one consumer), or the
 *   counts `--replica-counts` gives (distinct, 1 to 4, 1 among them); `--scaled-roles` names the
 *   roles that take those counts (any of gateway, oms, ledger, marketdata; the others keep one
 *   replica), e.g. `gateway` alone to scale only the busiest one. `scaling` is the ratio of
 *   the two- to the one-replica highest sustained rate; `usl` the Universal Scalability Law fitted
 *   to every count's (`fitUsl` of `@ballast/autoscaler`: α contention, β coherency, λ the
 *   one-replica rate, `peakReplicas` where throughput stops growing; with only two counts β is
 *   fixed at 0 and α alone explains the ratio; `null` when one replica, or every other count,
 *   sustained none of the rates).
 *
 * Open model: requests are sent at a constant arrival rate whatever the responses do, latency is
 * measured from each request's *intended* send time (no coordinated omission) into an HDR
 * histogram; keep-alive HTTP (undici Pool, through its low-level `dispatch`: the generator shares
 * the machine's two cores with what it measures, so its own cost per request is kept small). The
 * workload places LIMIT orders (ACK responses, acknowledged = durably committed) around a mid
 * price, about a quarter crossing, and cancels earlier orders (`--cancel-ratio`), over
 * `--connections` keep-alive connections (default 256).
 *
 * Each measured run starts once `/admin/lag` shows no backlog (matching, ledger, outbox), so a
 * step never inherits the previous one's. A rate is "sustained" when fewer than 1% of its
 * requests fail (HTTP error, or still outstanding past 2 s), completions keep up with arrivals
 * (≥ 95%), p99 stays under 1 s, and the target does not fall behind during the step: the median
 * latency of its last fifth of requests is at most 1.5 times that of its first fifth, plus 20 ms
 * (a backlog growing by 40 ms a second stays under a 1 s p99 through a 4 s step, but not this;
 * such a rate, kept up for 20 s, reached 4.6 s). Steps last `--step-seconds` (default 8).
 * The bench steps up
 * through `--rates`, reports the highest sustained one, then runs at half of it and reports
 * p50/p99/p99.9 (when none was sustained, at half of the lowest: `atHalf.rate` says which). CPU
 * per process (each replica, the supervisor, PostgreSQL, NATS, Redis and the load generator
 * itself) is read from /proc over the highest sustained step, so the bottleneck
 * is visible; so is each process's time runnable but waiting for a core (`waitPct`, from
 * schedstat), its write system calls per second (`writesPerSec`, from /proc/<pid>/io: each one
 * on a socket may wake another process, what a hop costs on a small virtual machine), and the
 * machine's busy and hypervisor-stolen time (`machinePct`, from /proc/stat): where every process
 * waits longer for a core than it runs, the cores are the limit. Last line: one JSON object.
 *
 * The peer (`--ceiling on`, the default in embedded mode): the same load against a Fastify server
 * that answers every request with a fixed body and does nothing else (http-ceiling-server.ts),
 * in the same run. Its highest sustained rate is this machine's ceiling for one HTTP request per
 * order served by one Node process next to this load generator; `ratioToCeiling` is Ballast's
 * share of it.
 *
 * The peer in cluster mode (`--floor on`, the default there): the same load against one Fastify
 * server that stores each order as one row in PostgreSQL before answering, batched per event-loop
 * turn (durable-floor-server.ts), on a private database dropped at the end. Its highest sustained
 * rate, and its p99 at half of it, are this machine's floor for acknowledging an order durably in
 * PostgreSQL behind one HTTP hop; `ratioToFloor` is the cluster's share of it.
 *
 * The second peer in cluster mode (`--pipeline batch`, the default there): the hops of the
 * distributed design with nothing else, one process per role (pipeline-floor.ts): a front
 * forwarding each turn's orders over HTTP to a store that commits them with an outbox row in
 * PostgreSQL and appends them to a JetStream command stream, a matcher appending one event entry
 * per command entry, a settler writing each event entry to PostgreSQL and a market-data reader.
 * `batch` appends one entry per batch, `order` one per order (as Ballast does today). Its highest
 * sustained rate and its p99 at half of it bound what any implementation of the design reaches
 * on this machine; `ratioToPipeline` is the cluster's share of it.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import hdr from 'hdr-histogram-js';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Pool } from 'undici';
import { parseBenchArgs } from '../lib/args.ts';
import { createRandom, median } from '../lib/stats.ts';
import { fitUsl } from '@ballast/autoscaler';

const args = parseBenchArgs(process.argv.slice(2), {
  mode: { type: 'string' },
  'step-seconds': { type: 'string' },
  'half-seconds': { type: 'string' },
  rates: { type: 'string' },
  'cancel-ratio': { type: 'string' },
  connections: { type: 'string' },
  'profile-dir': { type: 'string' },
  ceiling: { type: 'string' },
  floor: { type: 'string' },
  pipeline: { type: 'string' },
  postgres: { type: 'string' },
  nats: { type: 'string' },
  redis: { type: 'string' },
  'replica-counts': { type: 'string' },
  'scaled-roles': { type: 'string' },
});
const mode = String(args.mode ?? 'embedded');
// 8 s: a target falling behind slowly passed a 4 s step (5,000/s did, then fell behind in 12 s).
const stepSeconds = Number(args['step-seconds'] ?? 8);
const halfSeconds = Number(args['half-seconds'] ?? 8);
const rates = String(
  args.rates ?? '500,1000,1500,2000,2500,3000,4000,5000,6000,8000,10000,12000,15000,20000,25000,30000,35000,40000',
)
  .split(',')
  .map(Number);
const cancelRatio = Number(args['cancel-ratio'] ?? 0.3);
const connections = Number(args.connections ?? 256);
const ceiling = String(args.ceiling ?? (mode === 'embedded' ? 'on' : 'off'));
const floor = String(args.floor ?? (mode === 'cluster' ? 'on' : 'off'));
const pipeline = String(args.pipeline ?? (mode === 'cluster' ? 'batch' : 'off'));
const replicaCounts = String(args['replica-counts'] ?? '1,2,3')
  .split(',')
  .map(Number);
const SCALABLE = ['gateway', 'oms', 'ledger', 'marketdata'];
const scaledRoles = String(args['scaled-roles'] ?? 'gateway,oms,ledger').split(',');
if (
  (mode !== 'embedded' && mode !== 'cluster') ||
  (ceiling !== 'on' && ceiling !== 'off') ||
  (floor !== 'on' && floor !== 'off') ||
  !['batch', 'order', 'off'].includes(pipeline) ||
  ![stepSeconds, halfSeconds, cancelRatio, connections].every(Number.isFinite) ||
  rates.some((r) => !(r > 0)) ||
  !replicaCounts.includes(1) ||
  new Set(replicaCounts).size !== replicaCounts.length ||
  replicaCounts.some((n) => !(Number.isInteger(n) && n >= 1 && n <= 4)) ||
  new Set(scaledRoles).size !== scaledRoles.length ||
  scaledRoles.some((r) => !SCALABLE.includes(r))
) {
  console.error(
    'bench:e2e: invalid flags (--mode embedded|cluster, --ceiling on|off, --floor on|off, --pipeline batch|order|off, --replica-counts distinct integers 1..4 including 1, --scaled-roles some of gateway,oms,ledger,marketdata, numbers for the others)',
  );
  process.exit(2);
}
const pgUrl = String(args.postgres ?? 'postgres://postgres@127.0.0.1:5432/test');
const natsUrl = String(args.nats ?? 'nats://127.0.0.1:4222');
const redisUrl = String(args.redis ?? 'redis://127.0.0.1:6379');
const log = (m: string): void => void process.stderr.write(`${m}\n`);

const root = resolve(import.meta.dirname, '../..');
const MAIN = join(root, 'services/ballast/src/main.ts');
const token = 'bench-admin-token-0123456789';
// The load generator is one client with twenty accounts: lift the per-client limits.
const UNLIMITED = ['--orders-per-10s', '0', '--requests-per-minute', '0'];

// ------------------------------------------------------------------ targets

interface Target {
  readonly httpUrl: string;
  readonly adminUrl: string;
  /** Processes whose CPU is reported, by name. */
  pids(): Promise<Map<string, number[]>>;
  stop(): Promise<void>;
}

const waitForLine = (child: ChildProcess, marker: string) =>
  new Promise<Record<string, any>>((res, rej) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.includes(marker));
      if (line !== undefined) res(JSON.parse(line) as Record<string, any>);
    });
    child.on('exit', (code) => rej(new Error(`exited early (${code})`)));
  });

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
};

/**
 * Waits for `child`'s ready line. From the moment it is spawned, Ctrl-C or SIGTERM runs `stop`
 * (so an interrupted start-up leaves nothing behind), and so does a failed start. Returns the ready
 * line and `stop`, which runs once however often it is called.
 */
const untilReady = async (
  child: ChildProcess,
  marker: string,
  stopTarget: () => Promise<void>,
): Promise<{ ready: Record<string, any>; stop: () => Promise<void> }> => {
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= stopTarget());
  stopRunning = stop;
  try {
    return { ready: await waitForLine(child, marker), stop };
  } catch (err) {
    await stop().catch(() => undefined); // the start-up error is the one to report
    throw err;
  }
};

async function startEmbedded(): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ballast-bench-'));
  const profile =
    typeof args['profile-dir'] === 'string' ? ['--cpu-prof', `--cpu-prof-dir=${args['profile-dir']}`] : [];
  const child = spawn(
    process.execPath,
    [
      ...profile,
      MAIN,
      'start',
      '--dev',
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--admin-port',
      '0',
      '--data-dir',
      dataDir,
      '--admin-token',
      token,
      '--log-format',
      'json',
      ...UNLIMITED,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { ready, stop } = await untilReady(child, '"Ballast is ready"', async () => {
    await stopChild(child);
    rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    httpUrl: ready.httpUrl,
    adminUrl: ready.adminUrl,
    pids: async () => new Map([['ballast', [child.pid!]]]),
    stop,
  };
}

/** The peer: a server doing nothing but HTTP (see http-ceiling-server.ts). */
async function startCeiling(): Promise<Target> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'http-ceiling-server.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { ready, stop } = await untilReady(child, '"ceilingReady"', () => stopChild(child));
  return {
    httpUrl: ready.httpUrl,
    adminUrl: ready.httpUrl,
    pids: async () => new Map([['ceiling-server', [child.pid!]]]),
    stop,
  };
}

/** Runs `statement` on the PostgreSQL server's maintenance database (`--postgres`). */
const onServer = async (statement: string): Promise<void> => {
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
};
/** Creates database `name`; returns its URL. */
const createDatabase = async (name: string): Promise<string> => {
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  return url.toString();
};
const dropDatabase = (name: string): Promise<void> => onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);

/** The cluster's peer: one server storing each order in PostgreSQL (see durable-floor-server.ts). */
async function startFloor(): Promise<Target> {
  const database = `ballast_bench_floor_${process.pid}`;
  stopRunning = () => dropDatabase(database);
  const dbUrl = await createDatabase(database);
  const child = spawn(process.execPath, [join(import.meta.dirname, 'durable-floor-server.ts'), dbUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { ready, stop } = await untilReady(child, '"floorReady"', async () => {
    await stopChild(child);
    await dropDatabase(database);
  });
  return {
    httpUrl: ready.httpUrl,
    adminUrl: ready.httpUrl,
    pids: async () => new Map([['floor-server', [child.pid!]]]),
    stop,
  };
}

/** The second peer: the design's hops and nothing else, one process per role (see pipeline-floor.ts). */
async function startPipeline(perOrder: boolean): Promise<Target> {
  const database = `ballast_bench_pipe_${process.pid}`;
  const prefix = `pipe${process.pid}`;
  const children: ChildProcess[] = [];
  const dropState = async (): Promise<void> => {
    await dropDatabase(database);
    const nc = await connect({ servers: natsUrl });
    const jsm = await jetstreamManager(nc);
    for (const n of ['CMD', 'EVT']) await jsm.streams.delete(`${prefix.toUpperCase()}_${n}`).catch(() => false);
    await nc.close();
  };
  const stopAll = async (): Promise<void> => {
    // The front first (no new batches), then the store, then the readers.
    for (const c of children) await stopChild(c);
    await dropState();
  };
  stopRunning = stopAll;
  const dbUrl = await createDatabase(database);
  const start = async (stage: string, ...extra: string[]): Promise<Record<string, any>> => {
    const child = spawn(
      process.execPath,
      [
        join(import.meta.dirname, 'pipeline-floor.ts'),
        stage,
        dbUrl,
        natsUrl,
        prefix,
        ...extra,
        ...(perOrder ? ['--entry-per-order'] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    if (stage !== 'setup') children.unshift(child);
    return (await untilReady(child, '"pipelineReady"', stopAll)).ready;
  };
  await start('setup');
  const store = await start('store');
  for (const stage of ['match', 'settle', 'view']) await start(stage);
  const front = await start('front', store.httpUrl as string);
  const names = ['front', 'view', 'settle', 'match', 'store'];
  let stopped: Promise<void> | undefined;
  return {
    httpUrl: front.httpUrl,
    adminUrl: front.httpUrl,
    pids: async () => new Map(children.map((c, i) => [`pipeline-${names[i]}`, [c.pid!]])),
    stop: () => (stopped ??= stopAll()),
  };
}

async function startCluster(replicas: string, name: string): Promise<Target> {
  const stateDir = mkdtempSync(join(tmpdir(), 'ballast-bench-cluster-'));
  const database = `ballast_bench_${name}_${process.pid}`;
  const prefix = `bench${name}${process.pid}`.slice(0, 30);
  /** Drops what this cluster run creates: its state folder, database and streams. */
  const dropClusterState = async (): Promise<void> => {
    rmSync(stateDir, { recursive: true, force: true });
    await dropDatabase(database);
    const nc = await connect({ servers: natsUrl });
    const jsm = await jetstreamManager(nc);
    for await (const si of jsm.streams.list()) {
      const n = si.config.name;
      if (n.startsWith(`${prefix.toUpperCase()}_`) || n === `KV_${prefix}_registry`) await jsm.streams.delete(n);
    }
    await nc.close();
  };
  // Until the cluster runs, an interrupted start drops what was created so far.
  stopRunning = dropClusterState;
  const dbUrl = await createDatabase(database);
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'cluster',
      '--replicas',
      replicas,
      '--dev',
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--admin-port',
      '0',
      '--control-port',
      '0',
      '--state-dir',
      stateDir,
      '--admin-token',
      token,
      '--log-format',
      'json',
      '--postgres',
      dbUrl,
      '--nats',
      natsUrl,
      '--nats-prefix',
      prefix,
      '--redis',
      redisUrl,
      ...UNLIMITED,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { ready, stop } = await untilReady(child, '"Ballast cluster is ready"', async () => {
    await stopChild(child);
    await dropClusterState();
  });
  return {
    httpUrl: ready.frontUrl,
    adminUrl: ready.adminUrl,
    async pids() {
      const out = new Map<string, number[]>([['supervisor', [child.pid!]]]);
      const status = await new Promise<string>((res) => {
        const c = spawn(process.execPath, [MAIN, 'cluster', 'status', '--json', '--state-dir', stateDir], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let text = '';
        c.stdout.on('data', (d) => (text += d));
        c.on('exit', () => res(text));
      });
      for (const r of (JSON.parse(status) as { replicas: { role: string; replica: number; pid: number }[] }).replicas)
        out.set(`${r.role}-${r.replica}`, [r.pid]);
      return out;
    },
    stop,
  };
}

// ------------------------------------------------------------------ CPU per process

const CLK_TCK = 100;
/** CPU seconds (user + system) of a process, from /proc; 0 once it is gone. */
const cpuSeconds = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
};
/** Pids of the local stores, by name (PostgreSQL has one process per connection). */
const storePids = (): Map<string, number[]> => {
  const out = new Map<string, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let comm: string;
    try {
      comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    const name =
      comm === 'postgres' ? 'postgres' : comm === 'nats-server' ? 'nats' : comm === 'redis-server' ? 'redis' : '';
    if (name !== '') out.set(name, [...(out.get(name) ?? []), Number(d)]);
  }
  return out;
};
/**
 * Seconds the threads of a process spent runnable but waiting for a core (the run queue), from
 * /proc/<pid>/task/<tid>/schedstat; 0 once it is gone. Threads that ended meanwhile are not
 * counted, so this is a lower bound.
 */
const runQueueSeconds = (pid: number): number => {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
      } catch {
        /* the thread ended */
      }
    }
  } catch {
    return 0;
  }
  return ns / 1e9;
};
/**
 * Write system calls a process made (write, writev, …: `syscw` of /proc/<pid>/io), 0 once it is
 * gone. On a socket each one may wake the reader on the other side, which is what a hop costs on
 * a small virtual machine, so their rate shows how chatty each process is.
 */
const writeCalls = (pid: number): number => {
  try {
    return Number(/syscw:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
/** The machine's CPU counters from /proc/stat, in seconds summed over every core. */
const machineSeconds = (): { busy: number; steal: number } => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f as [number, ...number[]];
  return { busy: (user + nice! + system! + irq! + softirq!) / CLK_TCK, steal: steal! / CLK_TCK };
};

/** What {@link cpuMeter} reports, each figure in % of one core (200 = both cores of this machine). */
interface CpuReading {
  /** CPU used, per process name. */
  cpuPct: Record<string, number>;
  /**
   * Time runnable but waiting for a core, per process name. Above the process's own CPU, its
   * work waits longer for a core than it takes: the cores, not the process, are the limit.
   */
  waitPct: Record<string, number>;
  /** Write system calls per second, per process name (see `writeCalls`). */
  writesPerSec: Record<string, number>;
  /** The whole machine: busy (user, system, interrupts) and stolen by the hypervisor. */
  machinePct: { busy: number; steal: number };
}

/** Starts a CPU measurement of `pids` (plus the local stores and this process). */
function cpuMeter(pids: Map<string, number[]>): () => CpuReading {
  const all = new Map([...pids, ...storePids(), ['bench-client', [process.pid]]]);
  const t0 = performance.now();
  const c0 = new Map(
    [...all].map(([k, ps]) => [k, ps.map((p) => [cpuSeconds(p), runQueueSeconds(p), writeCalls(p)] as const)]),
  );
  const m0 = machineSeconds();
  return () => {
    const s = (performance.now() - t0) / 1000;
    const pct = (x: number): number => Math.round((x / s) * 100);
    const cpuPct: Record<string, number> = {};
    const waitPct: Record<string, number> = {};
    const writesPerSec: Record<string, number> = {};
    for (const [k, ps] of all) {
      const before = c0.get(k) ?? [];
      let used = 0;
      let waited = 0;
      let writes = 0;
      ps.forEach((p, i) => {
        used += Math.max(0, cpuSeconds(p) - (before[i]?.[0] ?? 0));
        waited += Math.max(0, runQueueSeconds(p) - (before[i]?.[1] ?? 0));
        writes += Math.max(0, writeCalls(p) - (before[i]?.[2] ?? 0));
      });
      cpuPct[k] = pct(used);
      waitPct[k] = pct(waited);
      writesPerSec[k] = Math.round(writes / s);
    }
    const m1 = machineSeconds();
    return {
      cpuPct,
      waitPct,
      writesPerSec,
      machinePct: { busy: pct(m1.busy - m0.busy), steal: pct(m1.steal - m0.steal) },
    };
  };
}

// ------------------------------------------------------------------ load

interface StepResult {
  rate: number;
  sent: number;
  ok: number;
  errors: number;
  completedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Median latency of the step's first fifth of requests (by send time). */
  firstFifthP50Ms: number;
  /** Median latency of its last fifth: far above the first fifth, the target fell behind. */
  lastFifthP50Ms: number;
  cpuPct?: Record<string, number>;
  waitPct?: Record<string, number>;
  writesPerSec?: Record<string, number>;
  machinePct?: { busy: number; steal: number };
  /** Failed answers by `<HTTP status>:<code>` (0 = no answer), to tell overload from a fault. */
  errorKinds?: Record<string, number>;
}

interface Measured {
  maxOrdersPerSec: number;
  atHalf: { rate: number; p50Ms: number; p99Ms: number; p999Ms: number; errors: number };
  cpuPctAtMax: Record<string, number>;
  waitPctAtMax: Record<string, number>;
  writesPerSecAtMax: Record<string, number>;
  machinePctAtMax: { busy: number; steal: number };
  /**
   * True when even the last of `--rates` was sustained: `maxOrdersPerSec` is then only a lower
   * bound (add higher rates), and so is any ratio to it.
   */
  topRateSustained: boolean;
  ledgerVerified: boolean;
  steps: StepResult[];
}

/**
 * One request through undici's low-level `dispatch` (no body stream, no promise per chunk): the
 * load generator's own cost per request stays small, so it takes less of the CPU it shares with
 * what it measures.
 */
const send = (
  pool: Pool,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  headers: Record<string, string>,
  body?: string,
  signal?: AbortSignal,
): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    pool.dispatch(
      { method, path, headers, ...(body !== undefined ? { body } : {}), ...(signal !== undefined ? { signal } : {}) },
      {
        onRequestStart: () => {},
        onResponseStart: (_c, statusCode) => void (status = statusCode),
        onResponseData: (_c, chunk) => void chunks.push(chunk),
        onResponseEnd: () =>
          resolve({ status, text: chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString() }),
        onResponseError: (_c, err) => reject(err),
      },
    );
  });

const idle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(target: Target, warmupRate: number): Promise<Measured> {
  const pool = new Pool(target.httpUrl, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const admin = new Pool(target.adminUrl, { connections: 2 });
  const post = async (p: Pool, path: string, body: string, headers: Record<string, string>) => {
    const r = await send(p, 'POST', path, { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body);
    return { status: r.status, body: JSON.parse(r.text) as any };
  };

  const ACCOUNTS = 20;
  const keys: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const acct = await post(pool, '/dev/accounts', '', {});
    keys.push(acct.body.apiKey);
    for (const [asset, amount] of [
      ['BTC', '100000'],
      ['USDT', '900000000'],
    ]) {
      await post(
        admin,
        '/admin/deposits',
        `accountId=${acct.body.accountId}&asset=${asset}&amount=${amount}&transferId=b${i}${asset}`,
        { authorization: `Bearer ${token}` },
      );
    }
  }

  const rnd = createRandom(7);
  const recent: { key: string; id: number }[] = [];

  async function runAt(rate: number, seconds: number): Promise<StepResult> {
    const hist = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    });
    const total = Math.round(rate * seconds);
    const intervalMs = 1000 / rate;
    let ok = 0;
    let errors = 0;
    let outstanding = 0;
    const errorKinds: Record<string, number> = {};
    const kind = (k: string): void => void (errorKinds[k] = (errorKinds[k] ?? 0) + 1);
    const start = performance.now();
    const inflight: Promise<void>[] = [];
    // Latencies of the step's first and last fifth: a backlog that grows through the step (the
    // target falling behind) shows as the last fifth waiting longer than the first.
    const firstFifth: number[] = [];
    const lastFifth: number[] = [];
    const fire = (intended: number, index: number): Promise<void> => {
      // From the intended send time (no coordinated omission), or from the actual one when the
      // loop sent early (it does not sleep for less than 1 ms).
      const from = Math.min(intended, performance.now());
      outstanding++;
      const cancel = recent.length > 100 && rnd() < cancelRatio;
      let req: Promise<{ status: number; body: any }>;
      if (cancel) {
        // Swap-remove: a splice in the middle of tens of thousands of open orders copies half of
        // them on every cancel.
        const at = Math.floor(rnd() * recent.length);
        const victim = recent[at]!;
        recent[at] = recent.at(-1)!;
        recent.pop();
        req = send(pool, 'DELETE', `/api/v3/order?symbol=BTCUSDT&orderId=${victim.id}`, {
          'x-mbx-apikey': victim.key,
        }).then((r) => ({ status: r.status, body: JSON.parse(r.text) }));
      } else {
        const key = keys[Math.floor(rnd() * keys.length)]!;
        const buy = rnd() < 0.5;
        const crossing = rnd() < 0.25;
        const offset = crossing ? -Math.floor(rnd() * 3) : 1 + Math.floor(rnd() * 200);
        const price = (buy ? 30000 - offset * 0.01 : 30000 + offset * 0.01).toFixed(2);
        const body = `symbol=BTCUSDT&side=${buy ? 'BUY' : 'SELL'}&type=LIMIT&timeInForce=GTC&quantity=0.001&price=${price}&newOrderRespType=ACK&selfTradePreventionMode=NONE`;
        req = post(pool, '/api/v3/order', body, { 'x-mbx-apikey': key }).then((r) => {
          if (r.status === 200 && !crossing) recent.push({ key, id: r.body.orderId });
          return r;
        });
      }
      return req
        .then((r) => {
          const latencyUs = Math.max(1, Math.round((performance.now() - from) * 1000));
          hist.recordValue(latencyUs);
          if (index < total / 5) firstFifth.push(latencyUs);
          else if (index >= (total * 4) / 5) lastFifth.push(latencyUs);
          // A cancel of an order that already filled is a correct answer (-2011), not an error.
          if (r.status === 200 || (cancel && r.body?.code === -2011)) ok++;
          else {
            errors++;
            kind(`${r.status}:${r.body?.code ?? ''}`);
          }
        })
        .catch(() => {
          errors++;
          kind('0:');
        })
        .finally(() => void outstanding--);
    };
    for (let i = 0; i < total; i++) {
      const intended = start + i * intervalMs;
      const wait = intended - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      if (outstanding > 4 * connections + rate * 2) {
        errors++; // the client would time out: count it, do not pile up
        continue;
      }
      inflight.push(fire(intended, i));
    }
    const sentAt = performance.now();
    await Promise.race([Promise.all(inflight), new Promise((r) => setTimeout(r, 2000))]);
    const elapsedS = (performance.now() - start) / 1000;
    const completed = ok + errors;
    const late = total - completed;
    const res: StepResult = {
      rate,
      sent: total,
      ok,
      errors: errors + late,
      completedPerSec: Math.round(ok / Math.max((sentAt - start) / 1000, elapsedS - 2)),
      p50Ms: hist.getValueAtPercentile(50) / 1000,
      p99Ms: hist.getValueAtPercentile(99) / 1000,
      p999Ms: hist.getValueAtPercentile(99.9) / 1000,
      firstFifthP50Ms: (firstFifth.length > 0 ? median(firstFifth) : Number.NaN) / 1000,
      lastFifthP50Ms: (lastFifth.length > 0 ? median(lastFifth) : Number.NaN) / 1000,
      errorKinds,
    };
    await Promise.all(inflight);
    hist.destroy();
    return res;
  }

  /**
   * Waits until matching, the ledger and the outbox have caught up (`/admin/lag` all 0; at most
   * 60 s), then 1 s for breakers: each measured run starts without the previous one's backlog.
   */
  const drained = async (): Promise<void> => {
    const until = performance.now() + 60_000;
    let clear = false;
    while (!clear && performance.now() < until) {
      try {
        const r = await send(
          admin,
          'GET',
          '/admin/lag',
          { authorization: `Bearer ${token}` },
          undefined,
          AbortSignal.timeout(2000),
        );
        if (r.status === 200) {
          const lag = JSON.parse(r.text) as { matchingLag: number; ledgerLag: number; outbox: number }[];
          clear = lag.every((l) => l.matchingLag === 0 && l.ledgerLag === 0 && l.outbox === 0);
        }
      } catch {
        // overloaded or between replicas: ask again
      }
      if (!clear) await idle(250);
    }
    if (!clear) log('bench: the backlog did not drain within 60 s; the next run starts with it');
    await idle(1000);
  };

  // Warm-up: the first seconds after start pay for JIT compilation of the whole path (a 1–3 s
  // latency bump at 2,000/s when measured cold); measure the steady state. Below what the target
  // sustains, or the first step would start with its backlog (and open breakers).
  await runAt(warmupRate / 3, 2);
  await runAt(warmupRate, 8);
  // Every connection of the pool open before the first step, as a client that has been running a
  // while holds them: a higher step would otherwise open its extra ones in its first moments (at
  // the front, each new connection is accepted by the supervisor and handed to a gateway), and
  // its first fifth would measure that.
  await Promise.allSettled(
    Array.from({ length: connections }, () =>
      send(pool, 'GET', '/api/v3/ping', {}, undefined, AbortSignal.timeout(5000)),
    ),
  );
  await drained();
  const pids = await target.pids();
  const steps: StepResult[] = [];
  let best = 0;
  let atMax: CpuReading = { cpuPct: {}, waitPct: {}, writesPerSec: {}, machinePct: { busy: 0, steal: 0 } };
  const top = (pct: Record<string, number>, unit = '%'): string =>
    Object.entries(pct)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, v]) => `${k} ${v}${unit}`)
      .join(', ');
  for (const rate of rates) {
    if (steps.length > 0) await drained();
    const meter = cpuMeter(pids);
    const r = await runAt(rate, stepSeconds);
    const reading = meter();
    Object.assign(r, reading);
    steps.push(r);
    const sustained =
      r.errors / r.sent < 0.01 &&
      r.ok >= 0.95 * r.sent &&
      r.p99Ms < 1000 &&
      r.lastFifthP50Ms <= 1.5 * r.firstFifthP50Ms + 20;
    const { busy, steal } = reading.machinePct;
    log(
      `rate ${rate}/s: ok ${r.ok}/${r.sent}, errors ${r.errors} ${JSON.stringify(r.errorKinds)}, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, p99.9 ${r.p999Ms} ms, ` +
        `p50 of the first/last fifth ${r.firstFifthP50Ms}/${r.lastFifthP50Ms} ms; ` +
        `CPU ${top(reading.cpuPct)}; waiting for a core ${top(reading.waitPct)}; ` +
        `write calls/s ${top(reading.writesPerSec, '')}; machine busy ${busy}%, stolen ${steal}%` +
        (sustained ? '' : ' (not sustained)'),
    );
    if (!sustained) break;
    best = rate;
    atMax = reading;
  }
  const topRateSustained = best === rates.at(-1);
  if (topRateSustained)
    log(`every rate up to ${best}/s was sustained: the highest is a lower bound; add higher --rates`);
  // No rate sustained: half of the lowest tried, so the latency figure still means something.
  if (best === 0) log(`no rate was sustained, not even ${rates[0]}/s: the half run is at half of it`);
  const half = Math.max(1, Math.round((best > 0 ? best : (rates[0] as number)) / 2));
  await drained(); // the failed step's backlog, and breakers it opened
  const atHalf = await runAt(half, halfSeconds);
  log(
    `at half (${half}/s): p50 ${atHalf.p50Ms} ms, p99 ${atHalf.p99Ms} ms, p99.9 ${atHalf.p999Ms} ms, errors ${atHalf.errors}`,
  );
  const verify = await send(admin, 'GET', '/admin/ledger/verify', { authorization: `Bearer ${token}` });
  const ledgerVerified = (JSON.parse(verify.text) as { ok: boolean }).ok;
  await pool.close();
  await admin.close();
  return {
    maxOrdersPerSec: best,
    atHalf: { rate: half, p50Ms: atHalf.p50Ms, p99Ms: atHalf.p99Ms, p999Ms: atHalf.p999Ms, errors: atHalf.errors },
    cpuPctAtMax: atMax.cpuPct,
    waitPctAtMax: atMax.waitPct,
    writesPerSecAtMax: atMax.writesPerSec,
    machinePctAtMax: atMax.machinePct,
    topRateSustained,
    ledgerVerified,
    steps,
  };
}

// ------------------------------------------------------------------ run

/** The target being measured: Ctrl-C or SIGTERM stops it (and drops what it created) first. */
let stopRunning: (() => Promise<void>) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    log(`bench: ${signal}; stopping what it started`);
    void (stopRunning?.() ?? Promise.resolve()).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });

/** Measures `target`, then stops it — once, also when the run is interrupted meanwhile. */
const measureAndStop = async (target: Target, warmupRate: number): Promise<Measured> => {
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= target.stop());
  stopRunning = stop;
  try {
    return await measure(target, warmupRate);
  } finally {
    await stop();
    stopRunning = undefined;
  }
};

if (mode === 'embedded') {
  const target = await startEmbedded();
  log(`ballast at ${target.httpUrl}`);
  const m = await measureAndStop(target, 1500);
  let peer: { ceiling: Measured; ratioToCeiling: number | null } | undefined;
  if (ceiling === 'on') {
    const server = await startCeiling();
    log(`\n--- peer: the HTTP ceiling (a server that only answers) at ${server.httpUrl}`);
    const c = await measureAndStop(server, 1500);
    peer = {
      ceiling: c,
      ratioToCeiling: c.maxOrdersPerSec > 0 ? Math.round((m.maxOrdersPerSec / c.maxOrdersPerSec) * 100) / 100 : null,
    };
  }
  console.log(JSON.stringify({ bench: 'e2e', mode: 'embedded', node: process.version, ...m, ...peer }));
} else {
  // Named as the JSON always named them: runs.one, runs.two (and runs.three, runs.four).
  const NAMES = ['one', 'two', 'three', 'four'] as const;
  const sets = Object.fromEntries(
    [...replicaCounts]
      .sort((a, b) => a - b)
      .map((n) => [
        NAMES[n - 1]!,
        ['gateway', 'oms', 'matching', 'ledger', 'marketdata']
          .map((role) => `${role}=${scaledRoles.includes(role) ? n : 1}`)
          .join(','),
      ]),
  );
  const results: Record<string, Measured> = {};
  for (const [name, replicas] of Object.entries(sets)) {
    log(`\n--- cluster ${replicas}`);
    const target = await startCluster(replicas, name);
    log(`front at ${target.httpUrl}`);
    results[name] = await measureAndStop(target, 400);
  }
  const best = Object.values(results).reduce((a, b) => (b.maxOrdersPerSec > a.maxOrdersPerSec ? b : a));
  const maxOrdersPerSec = best.maxOrdersPerSec;
  const one = results.one!;
  const two = results.two;
  let peer: { floor: Measured; ratioToFloor: number | null } | undefined;
  if (floor === 'on') {
    const server = await startFloor();
    log(`\n--- peer: the durable floor (one server storing each order in PostgreSQL) at ${server.httpUrl}`);
    const f = await measureAndStop(server, 400);
    peer = {
      floor: f,
      ratioToFloor: f.maxOrdersPerSec > 0 ? Math.round((maxOrdersPerSec / f.maxOrdersPerSec) * 100) / 100 : null,
    };
  }
  let pipe: { pipelineFloor: Measured & { entries: string }; ratioToPipeline: number | null } | undefined;
  if (pipeline !== 'off') {
    const server = await startPipeline(pipeline === 'order');
    log(
      `\n--- peer: the pipeline floor (the design's hops alone, one process each; one command entry per ${pipeline}) at ${server.httpUrl}`,
    );
    const f = await measureAndStop(server, 400);
    pipe = {
      pipelineFloor: { ...f, entries: pipeline },
      ratioToPipeline: f.maxOrdersPerSec > 0 ? Math.round((maxOrdersPerSec / f.maxOrdersPerSec) * 100) / 100 : null,
    };
  }
  console.log(
    JSON.stringify({
      bench: 'e2e',
      mode: 'cluster',
      node: process.version,
      replicas: sets,
      maxOrdersPerSec,
      atHalf: best.atHalf,
      scaling:
        two !== undefined && one.maxOrdersPerSec > 0
          ? Math.round((two.maxOrdersPerSec / one.maxOrdersPerSec) * 100) / 100
          : null,
      usl: fitUsl(replicaCounts.map((n) => ({ replicas: n, throughput: results[NAMES[n - 1]!]!.maxOrdersPerSec }))),
      runs: results,
      ...peer,
      ...pipe,
    }),
  );
}
