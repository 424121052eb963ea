/**
 * Engine benchmark: Ballast's order book against nodejs-order-book on the same flow, in one
 * process run.
 *
 *   npm run bench:engine -- [--flow FILE] [--n N] [--seed S] [--reps R] [--save-flow FILE]
 *
 * Reports for both: median ops/s over R repetitions (after a warm-up), per-operation
 * p50/p99/p99.9 latency (ns), heap bytes per resting order, the final state (which must agree),
 * and the cancel cost at 10/100/1,000/10,000 orders on one level. Last line: one JSON object.
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { OrderBook as BallastBook } from '@ballast/engine';
import { OrderBook as PeerBook } from 'nodejs-order-book';
import { intFlag, parseBenchArgs } from '../lib/args.ts';
import { createRandom, median, quantileSorted } from '../lib/stats.ts';
import { generateFlow, readFlow, toBallast, type FlowOp } from './flow.ts';

const args = parseBenchArgs(process.argv.slice(2), {
  flow: { type: 'string' },
  n: { type: 'string' },
  seed: { type: 'string' },
  reps: { type: 'string' },
  'save-flow': { type: 'string' },
});
const n = intFlag('n', args.n, 1_000_000);
const seed = intFlag('seed', args.seed, 42);
const reps = intFlag('reps', args.reps, 5);
const gc = (globalThis as { gc?: () => void }).gc;
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

const peerVersion = (createRequire(import.meta.url)('nodejs-order-book/package.json') as { version: string }).version;

// ------------------------------------------------------------------ flow

const t0 = performance.now();
const flow: FlowOp[] = typeof args.flow === 'string' ? readFlow(args.flow) : generateFlow({ n, seed });
if (typeof args['save-flow'] === 'string') {
  writeFileSync(args['save-flow'], flow.map((o) => JSON.stringify(o)).join('\n') + '\n');
}
const mix = { limit: 0, cancel: 0, market: 0 };
for (const o of flow) mix[o.op]++;
log(
  `flow: ${flow.length} ops (${typeof args.flow === 'string' ? args.flow : `generated, seed ${seed}`}): ` +
    `${mix.limit} limit, ${mix.cancel} cancel, ${mix.market} market — ${(performance.now() - t0).toFixed(0)} ms`,
);

// ------------------------------------------------------------------ engines under test

interface FinalState {
  restingOrders: number;
  bidLevels: number;
  askLevels: number;
  trades: number;
  tradedQty: number;
}

/** One engine: commands prepared up front, a fresh book per run, a tight loop. */
interface Subject<C> {
  readonly name: string;
  prepare(ops: readonly FlowOp[]): C[];
  /** Applies every command to a fresh book; returns a value that depends on the results. */
  run(cmds: readonly C[]): number;
  /** Same, timing each operation into `ns`. */
  runTimed(cmds: readonly C[], ns: Float64Array): void;
  /** Applies every command, counting trades from the results, and reports the final state. */
  final(cmds: readonly C[]): FinalState;
}

type BallastCmd = ReturnType<typeof toBallast>;

const ballast: Subject<BallastCmd> = {
  name: 'ballast',
  prepare: (ops) => ops.map((o, i) => toBallast(o, i)),
  run(cmds) {
    const book = new BallastBook();
    let sink = 0;
    for (let i = 0; i < cmds.length; i++) sink += book.apply(cmds[i] as BallastCmd).length;
    return sink;
  },
  runTimed(cmds, ns) {
    const book = new BallastBook();
    for (let i = 0; i < cmds.length; i++) {
      const t = performance.now();
      book.apply(cmds[i] as BallastCmd);
      ns[i] = (performance.now() - t) * 1e6;
    }
  },
  final(cmds) {
    const book = new BallastBook();
    for (const c of cmds) book.apply(c);
    const s = book.stats();
    return {
      restingOrders: s.restingOrders,
      bidLevels: s.bidLevels,
      askLevels: s.askLevels,
      trades: s.trades,
      tradedQty: s.tradedLots,
    };
  },
};

type PeerCmd =
  | { k: 0; o: { id: number; side: 'buy' | 'sell'; size: number; price: number; timeInForce: 'GTC' | 'IOC' | 'FOK' } }
  | { k: 1; id: number }
  | { k: 2; o: { side: 'buy' | 'sell'; size: number } };

type PeerResult = ReturnType<PeerBook['limit']>;
const PeerSide = { buy: 'buy', sell: 'sell' } as const;

function peerApply(book: PeerBook, c: PeerCmd): PeerResult | undefined {
  if (c.k === 0) return book.limit(c.o as unknown as Parameters<PeerBook['limit']>[0]);
  if (c.k === 2) return book.market(c.o as Parameters<PeerBook['market']>[0]);
  book.cancel(c.id as unknown as string);
  return undefined;
}

const peer: Subject<PeerCmd> = {
  name: 'nodejs-order-book',
  prepare: (ops) =>
    ops.map((o): PeerCmd => {
      if (o.op === 'limit') {
        return { k: 0, o: { id: o.id, side: PeerSide[o.side], size: o.size, price: o.price, timeInForce: o.tif } };
      }
      if (o.op === 'market') return { k: 2, o: { side: PeerSide[o.side], size: o.size } };
      return { k: 1, id: o.id };
    }),
  run(cmds) {
    const book = new PeerBook();
    let sink = 0;
    for (let i = 0; i < cmds.length; i++) {
      const r = peerApply(book, cmds[i] as PeerCmd);
      if (r !== undefined) sink += r.done.length;
    }
    return sink;
  },
  runTimed(cmds, ns) {
    const book = new PeerBook();
    for (let i = 0; i < cmds.length; i++) {
      const t = performance.now();
      peerApply(book, cmds[i] as PeerCmd);
      ns[i] = (performance.now() - t) * 1e6;
    }
  },
  final(cmds) {
    const book = new PeerBook();
    let trades = 0;
    let tradedQty = 0;
    for (const c of cmds) {
      const r = peerApply(book, c);
      if (r === undefined || r.err !== null) continue;
      const takerId = c.k === 0 ? c.o.id : undefined;
      // Makers filled completely are in `done`; at most one maker is filled partly (`partial`).
      for (const d of r.done) {
        if ((d.id as unknown) === takerId) continue;
        trades++;
        tradedQty += d.size;
      }
      if (r.partial !== null && (r.partial.id as unknown) !== takerId && r.partialQuantityProcessed > 0) {
        trades++;
        tradedQty += r.partialQuantityProcessed;
      }
    }
    const snap = book.snapshot();
    let resting = 0;
    for (const l of snap.bids) resting += l.orders.length;
    for (const l of snap.asks) resting += l.orders.length;
    return { restingOrders: resting, bidLevels: snap.bids.length, askLevels: snap.asks.length, trades, tradedQty };
  },
};

// ------------------------------------------------------------------ measurements

interface Throughput {
  opsPerSec: number;
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  repsOpsPerSec: number[];
}

function measure<C>(s: Subject<C>): Throughput {
  const cmds = s.prepare(flow);
  s.run(cmds.slice(0, Math.min(cmds.length, 200_000))); // warm-up
  s.run(cmds);
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    gc?.();
    const start = performance.now();
    s.run(cmds);
    const ms = performance.now() - start;
    rates.push(Math.round(cmds.length / (ms / 1000)));
  }
  const ns = new Float64Array(cmds.length);
  gc?.();
  s.runTimed(cmds, ns);
  ns.sort();
  return {
    opsPerSec: median(rates),
    p50Ns: Math.round(quantileSorted(ns, 0.5)),
    p99Ns: Math.round(quantileSorted(ns, 0.99)),
    p999Ns: Math.round(quantileSorted(ns, 0.999)),
    repsOpsPerSec: rates,
  };
}

/** Heap bytes per resting order: a fresh book with `count` passive orders over 500 levels. */
function bytesPerOrder(kind: 'ballast' | 'peer', count: number): number | null {
  if (gc === undefined) return null;
  const ops: FlowOp[] = [];
  for (let i = 1; i <= count; i++) {
    const sell = i % 2 === 0;
    const offset = 1 + (i % 250);
    ops.push({
      op: 'limit',
      id: i,
      side: sell ? 'sell' : 'buy',
      price: sell ? 1_000_000 + offset : 1_000_000 - offset,
      size: 1 + (i % 10),
      tif: 'GTC',
      postOnly: false,
      account: i % 1000,
    });
  }
  const ballastCmds = kind === 'ballast' ? ballast.prepare(ops) : [];
  const peerCmds = kind === 'peer' ? peer.prepare(ops) : [];
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  let keep: unknown;
  if (kind === 'ballast') {
    const book = new BallastBook();
    for (const c of ballastCmds) book.apply(c);
    keep = book;
  } else {
    const book = new PeerBook();
    for (const c of peerCmds) peerApply(book, c);
    keep = book;
  }
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  // Keep the inputs alive until after the second reading, so only the book is counted.
  if (keep === null || ops.length + ballastCmds.length + peerCmds.length === 0) log('unreachable');
  return Math.round((after - before) / count);
}

/**
 * Mean ns per cancel of a random order on a level of `depth` orders. The book holds
 * max(1, 10,000 / depth) such levels; 1,000 cancels spread over them in random order, so each
 * level loses at most a tenth of its orders. Median of 5 repetitions.
 */
function cancelCost(kind: 'ballast' | 'peer', depth: number): number {
  const rnd = createRandom(depth);
  const levels = Math.max(1, Math.floor(10_000 / depth));
  const perLevel = Math.ceil(1000 / levels);
  const samples: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const victims: number[] = [];
    for (let l = 0; l < levels; l++) {
      const chosen = new Set<number>();
      while (chosen.size < perLevel) chosen.add(l * depth + 1 + Math.floor(rnd() * depth));
      victims.push(...chosen);
    }
    for (let i = victims.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [victims[i], victims[j]] = [victims[j] as number, victims[i] as number];
    }
    let elapsed: number;
    if (kind === 'ballast') {
      const book = new BallastBook();
      for (let l = 0; l < levels; l++) {
        for (let i = 1; i <= depth; i++) {
          const orderId = l * depth + i;
          book.apply({
            type: 'place',
            orderId,
            account: 1,
            side: 'sell',
            orderType: 'limit',
            priceTicks: 100 + l,
            qtyLots: 1,
            timeMs: 0,
          });
        }
      }
      const cmds = victims.map((id) => ({ type: 'cancel', orderId: id, timeMs: 1 }) as const);
      const start = performance.now();
      for (const c of cmds) book.apply(c);
      elapsed = performance.now() - start;
    } else {
      const book = new PeerBook();
      for (let l = 0; l < levels; l++) {
        for (let i = 1; i <= depth; i++) {
          book.limit({ id: (l * depth + i) as unknown as string, side: 'sell' as never, size: 1, price: 100 + l });
        }
      }
      const start = performance.now();
      for (const id of victims) book.cancel(id as unknown as string);
      elapsed = performance.now() - start;
    }
    samples.push((elapsed * 1e6) / victims.length);
  }
  return Math.round(median(samples));
}

// ------------------------------------------------------------------ run

log(`running ${reps} repetitions per engine (Node ${process.version}${gc ? ', --expose-gc' : ''})`);
const ballastFinal = ballast.final(ballast.prepare(flow));
const peerFinal = peer.final(peer.prepare(flow));
const keys = ['restingOrders', 'bidLevels', 'askLevels', 'trades', 'tradedQty'] as const;
const mismatches = keys.filter((k) => ballastFinal[k] !== peerFinal[k]);
if (mismatches.length > 0) {
  log(
    `MISMATCH in final state: ${mismatches.map((k) => `${k} ballast=${ballastFinal[k]} peer=${peerFinal[k]}`).join(', ')}`,
  );
} else {
  log(`final state agrees: ${JSON.stringify(ballastFinal)}`);
}

const ballastT = measure(ballast);
log(
  `ballast: ${ballastT.opsPerSec} ops/s (reps ${ballastT.repsOpsPerSec.join(', ')}), p50 ${ballastT.p50Ns} ns, p99 ${ballastT.p99Ns} ns, p99.9 ${ballastT.p999Ns} ns`,
);
const peerT = measure(peer);
log(
  `peer:    ${peerT.opsPerSec} ops/s (reps ${peerT.repsOpsPerSec.join(', ')}), p50 ${peerT.p50Ns} ns, p99 ${peerT.p99Ns} ns, p99.9 ${peerT.p999Ns} ns`,
);

const ballastBytes = bytesPerOrder('ballast', 200_000);
const peerBytes = bytesPerOrder('peer', 200_000);
log(`heap bytes per resting order: ballast ${ballastBytes}, peer ${peerBytes}`);

const depths = [10, 100, 1000, 10000] as const;
const cancelNs = { ballast: {} as Record<string, number>, peer: {} as Record<string, number> };
for (const d of depths) {
  cancelNs.ballast[d] = cancelCost('ballast', d);
  cancelNs.peer[d] = cancelCost('peer', d);
  log(`cancel at depth ${d}: ballast ${cancelNs.ballast[d]} ns, peer ${cancelNs.peer[d]} ns`);
}

const ratio = Math.round((ballastT.opsPerSec / peerT.opsPerSec) * 100) / 100;
log(`ratio (ballast/peer ops/s): ${ratio}`);
const result = {
  bench: 'engine',
  ops: flow.length,
  node: process.version,
  reps,
  mix,
  agree: mismatches.length === 0,
  ballast: {
    opsPerSec: ballastT.opsPerSec,
    p50Ns: ballastT.p50Ns,
    p99Ns: ballastT.p99Ns,
    p999Ns: ballastT.p999Ns,
    bytesPerOrder: ballastBytes,
    final: ballastFinal,
  },
  peer: {
    name: 'nodejs-order-book',
    version: peerVersion,
    opsPerSec: peerT.opsPerSec,
    p50Ns: peerT.p50Ns,
    p99Ns: peerT.p99Ns,
    p999Ns: peerT.p999Ns,
    bytesPerOrder: peerBytes,
    final: peerFinal,
  },
  ratio,
  cancelNs,
};
console.log(JSON.stringify(result));
if (mismatches.length > 0) process.exitCode = 1;
