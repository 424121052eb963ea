/**
 * What a wake-up costs on this machine, and how a server's CPU per request falls as requests
 * share wake-ups: why every process of distributed mode spends more CPU per order at a low rate
 * than at a high one.
 *
 *   npm run bench:wakeup -- [--seconds S]
 *
 * - `timer`: a fresh Node process that does nothing but wake on a timer, 100 to 1,000 times a
 *   second, for `--seconds` (default 4): its CPU (user + system, from `process.cpuUsage`) per
 *   wake-up (`usPerWake`).
 * - `http`: the Fastify server that answers every request with a fixed body
 *   (`bench/e2e/http-ceiling-server.ts`), sent requests at 100 to 8,000 a second over 64
 *   keep-alive connections from this process for `--seconds` each: the server's CPU (from
 *   /proc, in clock ticks of 10 ms: read the lowest rate's figure to ±5%) per request
 *   (`serverUsPerRequest`). At a low rate each request wakes the server on its own; at a high one
 *   a wake-up takes several (the generator, pacing on a 1 ms timer, also sends what fell due
 *   together: about 8 at once at 8,000/s).
 *
 * `httpLowToHighRatio`: CPU per request at the lowest rate over that at the highest. Last line:
 * one JSON object.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'undici';
import { intFlag, parseBenchArgs } from '../lib/args.ts';
import { cpuSeconds } from '../lib/proc.ts';

const args = parseBenchArgs(process.argv.slice(2), {
  seconds: { type: 'string' },
  // internal: this script as the timer child, waking this many times a second
  'timer-hz': { type: 'string' },
});
const seconds = intFlag('seconds', args.seconds, 4);

if (args['timer-hz'] !== undefined) {
  const hz = intFlag('timer-hz', args['timer-hz'], 100);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  let wakes = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      wakes++;
      if (performance.now() - started >= seconds * 1000) return resolve();
      setTimeout(tick, 1000 / hz);
    };
    setTimeout(tick, 1000 / hz);
  });
  const c = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ wakes, cpuUs: c.user + c.system }));
} else {
  const node = [process.execPath, ...process.execArgv];

  const timer: Record<string, { usPerWake: number }> = {};
  for (const hz of [100, 300, 1000]) {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        node[0]!,
        [...node.slice(1), import.meta.filename, '--timer-hz', String(hz), '--seconds', String(seconds)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`timer child exited ${code}`))));
    });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { wakes: number; cpuUs: number };
    timer[hz] = { usPerWake: Math.round((r.cpuUs / r.wakes) * 10) / 10 };
    process.stderr.write(`timer ${hz}/s: ${timer[hz].usPerWake} us per wake-up\n`);
  }

  const server = spawn(node[0]!, [...node.slice(1), join(import.meta.dirname, '..', 'e2e', 'http-ceiling-server.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    server.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /"httpUrl":"([^"]+)"/.exec(text);
      if (m !== null) resolve(m[1]!);
    });
    server.on('exit', (code) => reject(new Error(`the server exited ${code}`)));
  });
  const pool = new Pool(url, { connections: 64, keepAliveTimeout: 60_000 });
  const body = 'symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=30000.00';
  const post = (): Promise<void> =>
    pool
      .request({
        method: 'POST',
        path: '/api/v3/order',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      })
      .then(async (r) => {
        await r.body.dump();
        if (r.statusCode !== 200) throw new Error(`the server answered HTTP ${r.statusCode}`);
      });
  const http: Record<string, { serverUsPerRequest: number }> = {};
  try {
    await Promise.all(Array.from({ length: 64 }, post)); // connections open, code warm
    for (const rate of [100, 500, 2000, 8000]) {
      const total = rate * seconds;
      const cpu0 = cpuSeconds(server.pid!);
      const started = performance.now();
      const sent: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const waitMs = started + (i * 1000) / rate - performance.now();
        if (waitMs >= 1) await new Promise((r) => setTimeout(r, waitMs));
        sent.push(post());
      }
      await Promise.all(sent);
      const us = (cpuSeconds(server.pid!) - cpu0) * 1e6;
      http[rate] = { serverUsPerRequest: Math.round((us / total) * 10) / 10 };
      process.stderr.write(`http ${rate}/s: server ${http[rate].serverUsPerRequest} us per request\n`);
    }
  } finally {
    await pool.close();
    server.kill('SIGKILL');
  }
  const lowest = http[100]!.serverUsPerRequest;
  const highest = http[8000]!.serverUsPerRequest;
  console.log(
    JSON.stringify({
      bench: 'wakeup',
      node: process.version,
      seconds,
      timer,
      http,
      httpLowToHighRatio: highest > 0 ? Math.round((lowest / highest) * 100) / 100 : null,
    }),
  );
}
