/**
 * Test harness: starts `ballast start` as a real child process on free ports and a fresh data
 * folder, and talks to it over real HTTP and WebSocket.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WebSocket } from 'ws';
import { SERVICES } from '@ballast/testkit';
import { connect } from '@ballast/state-nats';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAIN = join(ROOT, 'services/ballast/src/main.ts');

/** A running ballast process. */
export interface Instance {
  readonly child: ChildProcess;
  readonly httpUrl: string;
  readonly adminUrl: string;
  readonly adminToken: string;
  readonly dataDir: string;
  /** Everything it printed. */
  readonly output: () => string;
  /** Resolves with the exit code once it exits. */
  readonly exited: Promise<number | null>;
}

const made: string[] = [];
// The data folders of a test file that passed are removed when it exits; a failed file keeps
// them (with the processes' logs), named in its failure messages, for reading.
process.on('exit', (code) => {
  if (code !== 0 || process.exitCode) return;
  for (const dir of made) rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
});

/** A fresh data folder, removed when the test file exits after passing. */
export const freshDataDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-test-'));
  made.push(dir);
  return dir;
};

/** Runs `ballast` with `args` and resolves with its exit code and output (for usage errors). */
export function runBallast(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => res({ code, output }));
  });
}

const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** Flags every test process gets: dev mode, loopback, free ports, a known admin token, JSON logs. */
export const LOCAL_FLAGS = [
  '--dev',
  '--http-host',
  '127.0.0.1',
  '--http-port',
  '0',
  '--admin-port',
  '0',
  '--admin-token',
  ADMIN_TOKEN,
  '--log-format',
  'json',
  '--shutdown-grace-ms',
  '5000',
];

/** Starts ballast (dev mode, free ports) on `dataDir`; resolves when it reports ready. */
export async function startInstance(dataDir = freshDataDir(), extra: string[] = []): Promise<Instance> {
  const adminToken = ADMIN_TOKEN;
  const child = spawn(process.execPath, [MAIN, 'start', ...LOCAL_FLAGS, '--data-dir', dataDir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env },
  });
  const { ready, output, exited } = await readyLine<{ httpUrl: string; adminUrl: string }>(
    child,
    '"Ballast is ready"',
    20_000,
  );
  return { child, httpUrl: ready.httpUrl, adminUrl: ready.adminUrl, adminToken, dataDir, output, exited };
}

/** Collects a child's output and resolves with the JSON log line containing `marker`. */
async function readyLine<T>(
  child: ChildProcess,
  marker: string,
  timeoutMs: number,
): Promise<{ ready: T; output: () => string; exited: Promise<number | null> }> {
  let out = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const ready = await new Promise<T>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no ${marker} within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.includes(marker)) continue;
        try {
          const j = JSON.parse(line) as T;
          clearTimeout(timer);
          res(j);
          return;
        } catch {
          /* partial line */
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => rej(new Error(`exited with ${code} before ${marker}:\n${out}`)));
  });
  return { ready, output: () => out, exited };
}

/** Every order of `key` on `symbol`, paging through `GET /api/v3/allOrders` from order id 1. */
export async function allOrders(
  inst: Instance,
  key: string,
  symbol = 'BTCUSDT',
): Promise<{ orderId: number; clientOrderId: string; status: string }[]> {
  const all: { orderId: number; clientOrderId: string; status: string }[] = [];
  for (let from = 1; ;) {
    const page = (
      await call(inst.httpUrl, 'GET', '/api/v3/allOrders', { key, params: { symbol, orderId: from, limit: 1000 } })
    ).body as { orderId: number; clientOrderId: string; status: string }[];
    all.push(...page);
    if (page.length < 1000) return all;
    from = (page.at(-1) as { orderId: number }).orderId + 1;
  }
}

/** Stops an instance: SIGTERM (graceful) by default, or SIGKILL. */
export async function stop(inst: Instance, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (inst.child.exitCode !== null || inst.child.signalCode !== null) return inst.child.exitCode;
  inst.child.kill(signal);
  return inst.exited;
}

/** One HTTP call; returns status and parsed JSON body. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: {
    key?: string;
    params?: Record<string, string | number>;
    body?: string;
    contentType?: string;
    token?: string;
  } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (opts.key !== undefined) headers['x-mbx-apikey'] = opts.key;
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let url = `${base}${path}`;
  let body: string | undefined = opts.body;
  const qs = new URLSearchParams(
    Object.entries(opts.params ?? {}).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  if (method === 'GET' || method === 'DELETE') {
    if (qs !== '') url += `?${qs}`;
  } else if (body === undefined && qs !== '') {
    body = qs;
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

/** A funded account: creates it through the dev endpoint and deposits through the admin API. */
export async function fundedAccount(
  inst: Instance,
  funds: Record<string, string>,
): Promise<{ key: string; id: number }> {
  const acct = (await call(inst.httpUrl, 'POST', '/dev/accounts')).body as { accountId: number; apiKey: string };
  for (const [asset, amount] of Object.entries(funds)) {
    const r = await call(inst.adminUrl, 'POST', '/admin/deposits', {
      token: inst.adminToken,
      params: { accountId: acct.accountId, asset, amount, transferId: `t-${acct.accountId}-${asset}` },
    });
    if (r.status !== 200) throw new Error(`deposit failed: ${JSON.stringify(r.body)}`);
  }
  return { key: acct.apiKey, id: acct.accountId };
}

/**
 * The same case for every store: deposits 50 billion USDT twice (5·10^18 minor units each). The
 * second would take the venue's USDT beyond a 64-bit balance, so it must be refused with -1130,
 * change no balance, and leave the ledger balanced. Asserts all of that.
 */
export async function checkDepositPastBalanceLimit(inst: Instance): Promise<void> {
  const acct = await fundedAccount(inst, {});
  const deposit = (transferId: string) =>
    call(inst.adminUrl, 'POST', '/admin/deposits', {
      token: inst.adminToken,
      params: { accountId: acct.id, asset: 'USDT', amount: '50000000000', transferId },
    });
  const first = await deposit(`big-1-${acct.id}`);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const second = await deposit(`big-2-${acct.id}`);
  assert.equal(second.status, 400);
  assert.equal(second.body.code, -1130);
  assert.match(second.body.msg, /beyond 92233720368\.54775807/);
  assert.deepEqual((await balances(inst, acct.key))['USDT'], ['50000000000.00000000', '0.00000000']);
  const verify = await call(inst.adminUrl, 'GET', '/admin/ledger/verify', { token: inst.adminToken });
  assert.deepEqual(verify.body, { ok: true, problems: [] });
}

/**
 * The same case for every mode: five asks of different sizes sent at once (so normally one oms
 * batch: one command-log entry of several commands), then five bids at once for the same sizes
 * at the same price, answered FULL. Each bid must come back FILLED for its own quantity with its
 * own fills, which it learns only by its entry and part (`cmdSeq`, `cmdPart`). Uses ETHBTC at
 * 0.04321, a price no other test trades at.
 */
export async function checkOrdersSentTogether(inst: Instance): Promise<void> {
  const seller = await fundedAccount(inst, { ETH: '1' });
  const buyer = await fundedAccount(inst, { BTC: '1' });
  const sizes = ['0.011', '0.022', '0.033', '0.044', '0.055'];
  const send = (key: string, side: string, quantity: string, newOrderRespType: string) =>
    call(inst.httpUrl, 'POST', '/api/v3/order', {
      key,
      params: {
        symbol: 'ETHBTC',
        type: 'LIMIT',
        timeInForce: 'GTC',
        price: '0.04321',
        side,
        quantity,
        newOrderRespType,
      },
    });
  const asks = await Promise.all(sizes.map((q) => send(seller.key, 'SELL', q, 'RESULT')));
  for (const [i, a] of asks.entries()) {
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.body.status, 'NEW', `ask ${i}: matching's result, resting`);
    assert.equal(a.body.origQty, `${sizes[i]}00000`);
  }
  const bids = await Promise.all(sizes.map((q) => send(buyer.key, 'BUY', q, 'FULL')));
  for (const [i, b] of bids.entries()) {
    assert.equal(b.status, 200, JSON.stringify(b.body));
    assert.equal(b.body.status, 'FILLED', `bid ${i}: ${JSON.stringify(b.body)}`);
    assert.equal(b.body.executedQty, `${sizes[i]}00000`);
    const filled = (b.body.fills as { qty: string }[]).reduce((sum, f) => sum + Math.round(Number(f.qty) * 1000), 0);
    assert.equal(filled, Math.round(Number(sizes[i]) * 1000), `bid ${i}: its own fills`);
  }
}

/** Balances of an account as `{ asset: [free, locked] }`. */
export async function balances(inst: Instance, key: string): Promise<Record<string, [string, string]>> {
  const r = await call(inst.httpUrl, 'GET', '/api/v3/account', { key });
  return Object.fromEntries(
    (r.body.balances as { asset: string; free: string; locked: string }[]).map((b) => [b.asset, [b.free, b.locked]]),
  );
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (deadline polling, no fixed sleeps). */
export async function waitUntil<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Opens a WebSocket and collects its messages. */
export async function openWs(
  url: string,
): Promise<{ ws: WebSocket; messages: any[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url);
  const messages: any[] = [];
  ws.on('message', (d) => {
    try {
      messages.push(JSON.parse(d.toString()));
    } catch {
      messages.push(d.toString());
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
  );
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  return { ws, messages, closed };
}

/**
 * A private PostgreSQL database and NATS namespace for one test suite on the shared services:
 * `create()` makes the database, `drop()` removes it and every stream (and registry bucket) of the
 * namespace. `url(port?)` points at the database, optionally through a proxy port.
 */
export function privateStores(name: string) {
  const database = `ballast_${name}_${process.pid}`;
  const prefix = `${name.slice(0, 8)}${process.pid}`;
  const pgAdmin = async <T>(f: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: SERVICES.postgres.url });
    await c.connect();
    try {
      return await f(c);
    } finally {
      await c.end();
    }
  };
  const postgresUrl = (port: number = SERVICES.postgres.port): string =>
    `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    database,
    prefix,
    postgresUrl,
    /** `--postgres … --nats … --nats-prefix …` for `startInstance`. */
    args: (pgPort?: number): string[] => [
      '--postgres',
      postgresUrl(pgPort),
      '--nats',
      SERVICES.nats.url,
      '--nats-prefix',
      prefix,
    ],
    create: () => pgAdmin((c) => c.query(`CREATE DATABASE ${database}`)),
    async drop(): Promise<void> {
      await pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
      const nc = await connect({ servers: SERVICES.nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        for await (const si of jsm.streams.list()) {
          const n = si.config.name;
          if (n.startsWith(`${prefix.toUpperCase()}_`) || n === `KV_${prefix}_registry`) await jsm.streams.delete(n);
        }
      } finally {
        await nc.close();
      }
    },
  };
}

/** Waits until matching has applied every command, the ledger every event and the outbox is empty. */
export function waitForCatchUp(
  inst: Instance,
  timeoutMs = 10_000,
  what = 'matching and the ledger to catch up',
): Promise<true> {
  let last: unknown;
  return waitUntil(
    async () => {
      const lag = (await call(inst.adminUrl, 'GET', '/admin/lag', { token: inst.adminToken })).body as {
        matchingLag: number;
        ledgerLag: number;
        outbox: number;
      }[];
      last = lag;
      return lag.every((l) => l.matchingLag === 0 && l.ledgerLag === 0 && l.outbox === 0) || undefined;
    },
    timeoutMs,
    what,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last /admin/lag: ${JSON.stringify(last)}`);
  });
}

/** Places a 0.01 BTC limit buy at 10000 + `i` (ACK response). */
export const placeSmallBuy = (inst: Instance, key: string, i: number) =>
  call(inst.httpUrl, 'POST', '/api/v3/order', {
    key,
    params: {
      symbol: 'BTCUSDT',
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.01',
      price: String(10000 + i),
      newOrderRespType: 'ACK',
    },
  });

/** A running `ballast cluster` (the supervisor process); `httpUrl` is the gateways' front address. */
export interface ClusterInstance extends Instance {
  readonly stateDir: string;
  /** The replicas' warnings and errors (JSON log lines at level >= 40), the last `max`, for failure messages. */
  warnings(max?: number): string;
  /** `ballast cluster status --json` of this cluster. */
  status(): Promise<{
    replicas: { role: string; replica: number; pid: number | null; state: string; restarts: number; ready: boolean }[];
  }>;
}

/** Starts `ballast cluster` (dev mode, free ports) with `extra` flags; resolves when it reports ready. */
export async function startCluster(extra: string[]): Promise<ClusterInstance> {
  const adminToken = ADMIN_TOKEN;
  const stateDir = freshDataDir();
  const child = spawn(
    process.execPath,
    [MAIN, 'cluster', ...LOCAL_FLAGS, '--control-port', '0', '--state-dir', stateDir, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
  );
  const { ready, output, exited } = await readyLine<{ frontUrl: string; adminUrl: string }>(
    child,
    '"Ballast cluster is ready"',
    60_000,
  );
  return {
    child,
    httpUrl: ready.frontUrl,
    adminUrl: ready.adminUrl,
    adminToken,
    dataDir: stateDir,
    stateDir,
    output,
    exited,
    warnings(max = 20) {
      const dir = join(stateDir, 'logs');
      const lines = readdirSync(dir).flatMap((f) =>
        readFileSync(join(dir, f), 'utf8')
          .split('\n')
          .filter((l) => /"level":(4|5|6)0/.test(l))
          .map((l) => `${f}: ${l}`),
      );
      return `${lines.slice(-max).join('\n')}\n(logs in ${dir})`;
    },
    async status() {
      const r = await runBallast(['cluster', 'status', '--json', '--state-dir', stateDir]);
      if (r.code !== 0) throw new Error(`cluster status failed: ${r.output}`);
      return JSON.parse(r.output);
    },
  };
}

/** One answer the retrying client got (status 0: no answer). */
export interface LoadAnswer {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly ms: number;
  /** The error body's `code` (or the network error), for diagnosis. */
  readonly code?: number | string;
}

/**
 * A well-behaved client under load: `workers` loops each placing small BTCUSDT limit orders
 * (buys at 10000 + i % 7, sells at 10003 + i % 5 — about half cross), retrying a failed request
 * (no answer, 5xx, 429) with the same `newClientOrderId` every `pauseMs` until it is acknowledged
 * (at most `maxAttempts`), and throwing on any other refusal. `stop()` lets each worker finish
 * the order it is on.
 */
export function startRetryingLoad(
  inst: Instance,
  key: string,
  options: {
    workers: number;
    prefix: string;
    pauseMs?: number;
    maxAttempts?: number;
    onAnswer?: (a: LoadAnswer) => void;
  },
): { acked: Map<string, number>; started(): number; attempts(): number; stop(): Promise<void> } {
  const acked = new Map<string, number>();
  let stopped = false;
  let n = 0;
  let attempts = 0;
  let failure = '';
  const placeUntilAcked = async (clientId: string, i: number): Promise<void> => {
    for (let attempt = 0; attempt < (options.maxAttempts ?? Infinity); attempt++) {
      if (stopped) return; // stop() never waits on an order that cannot be placed
      attempts++;
      const t = performance.now();
      const res = await fetch(`${inst.httpUrl}/api/v3/order`, {
        method: 'POST',
        headers: { 'x-mbx-apikey': key, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          symbol: 'BTCUSDT',
          side: i % 2 === 0 ? 'BUY' : 'SELL',
          type: 'LIMIT',
          timeInForce: 'GTC',
          quantity: '0.01',
          price: String(i % 2 === 0 ? 10000 + (i % 7) : 10003 + (i % 5)),
          newClientOrderId: clientId,
          newOrderRespType: 'ACK',
        }).toString(),
        signal: AbortSignal.timeout(10_000),
      }).catch((err: unknown) => {
        failure = String((err as Error).cause ?? (err as Error).message ?? err);
        return undefined;
      });
      const body = res === undefined ? undefined : ((await res.json().catch(() => undefined)) as any);
      options.onAnswer?.({
        status: res?.status ?? 0,
        retryAfter: res?.headers.get('retry-after') ?? null,
        ms: performance.now() - t,
        ...(res === undefined ? { code: failure } : body?.code !== undefined ? { code: body.code as number } : {}),
      });
      if (res?.status === 200) {
        acked.set(clientId, body.orderId as number);
        return;
      }
      if (res !== undefined && res.status < 500 && res.status !== 429)
        throw new Error(`rejected: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, options.pauseMs ?? 100));
    }
    throw new Error(`order ${clientId} never acknowledged`);
  };
  const worker = async (): Promise<void> => {
    while (!stopped) {
      const i = n++;
      await placeUntilAcked(`${options.prefix}-${i}`, i);
    }
  };
  const load = Promise.all(Array.from({ length: options.workers }, worker));
  return {
    acked,
    started: () => n,
    attempts: () => attempts,
    async stop() {
      stopped = true;
      await load;
    },
  };
}
