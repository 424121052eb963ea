/**
 * Order flows for the engine benchmark: the NDJSON format, a reader, and a seeded generator.
 *
 * Format, one operation a line (prices in ticks, sizes in lots):
 * `{"op":"limit","id":1,"side":"sell","price":3000020,"size":6,"tif":"GTC","postOnly":false,"account":474}`
 * `{"op":"cancel","id":1,"side":"sell","account":766}`
 * `{"op":"market","id":10,"side":"buy","size":4,"account":633}`
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { OrderBook } from '@ballast/engine';
import { createRandom } from '../lib/stats.ts';

/** One operation of a flow. */
export type FlowOp =
  | {
      op: 'limit';
      id: number;
      side: 'buy' | 'sell';
      price: number;
      size: number;
      tif: 'GTC' | 'IOC' | 'FOK';
      postOnly: boolean;
      account: number;
    }
  | { op: 'cancel'; id: number; side: 'buy' | 'sell'; account: number }
  | { op: 'market'; id: number; side: 'buy' | 'sell'; size: number; account: number };

const posInt = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;

/** Reads an NDJSON flow file; throws naming the first bad line. */
export function readFlow(path: string): FlowOp[] {
  const ops: FlowOp[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${path}:${i + 1}: not JSON`);
    }
    const side = o['side'];
    const ok =
      (side === 'buy' || side === 'sell') &&
      posInt(o['id']) &&
      (o['op'] === 'cancel' ||
        (o['op'] === 'market' && posInt(o['size'])) ||
        (o['op'] === 'limit' &&
          posInt(o['size']) &&
          posInt(o['price']) &&
          (o['tif'] === undefined || o['tif'] === 'GTC' || o['tif'] === 'IOC' || o['tif'] === 'FOK')));
    if (!ok) throw new Error(`${path}:${i + 1}: not a valid operation: ${line}`);
    const account = Number.isSafeInteger(o['account']) ? (o['account'] as number) : 0;
    if (o['op'] === 'limit') {
      ops.push({
        op: 'limit',
        id: o['id'] as number,
        side,
        price: o['price'] as number,
        size: o['size'] as number,
        tif: (o['tif'] as 'GTC' | 'IOC' | 'FOK' | undefined) ?? 'GTC',
        postOnly: o['postOnly'] === true,
        account,
      });
    } else if (o['op'] === 'market') {
      ops.push({ op: 'market', id: o['id'] as number, side, size: o['size'] as number, account });
    } else {
      ops.push({ op: 'cancel', id: o['id'] as number, side, account });
    }
  }
  return ops;
}

/** Options of {@link generateFlow}. */
export interface GenerateOptions {
  /** Number of operations. */
  readonly n: number;
  readonly seed: number;
  /** Resting orders the flow hovers around. @default 3000 */
  readonly targetResting?: number;
  /** Mid price in ticks. @default 3000000 */
  readonly midTicks?: number;
}

/**
 * A mixed flow: 60% GTC limits, 30% cancels, 10% markets, sizes 1–10 lots, prices within a few
 * hundred ticks of a slowly wandering mid. A scratch book tracks which orders still rest, so
 * cancels target live orders and the resting count hovers near `targetResting` (limits cross
 * more often when the book is fuller). Deterministic for a seed.
 */
export function generateFlow(opts: GenerateOptions): FlowOp[] {
  const rnd = createRandom(opts.seed);
  const target = opts.targetResting ?? 3000;
  let mid = opts.midTicks ?? 3_000_000;
  const scratch = new OrderBook();
  const live: number[] = [];
  const liveIndex = new Map<number, number>();
  const sideOf = new Map<number, 'buy' | 'sell'>();
  const drop = (id: number): void => {
    const i = liveIndex.get(id);
    if (i === undefined) return;
    const last = live.pop() as number;
    if (last !== id) {
      live[i] = last;
      liveIndex.set(last, i);
    }
    liveIndex.delete(id);
    sideOf.delete(id);
  };
  const ops: FlowOp[] = [];
  let nextId = 1;
  for (let k = 0; k < opts.n; k++) {
    const r = rnd();
    const account = 1 + Math.floor(rnd() * 1000);
    let op: FlowOp;
    if (r < 0.6 || (r < 0.9 && live.length === 0)) {
      const side = rnd() < 0.5 ? 'buy' : 'sell';
      const fullness = live.length / target;
      const crossP = Math.min(0.5, 0.05 * fullness * fullness);
      const aggressive = rnd() < crossP;
      const offset = aggressive ? -Math.floor(rnd() * 5) : 1 + Math.floor(Math.abs(rnd() + rnd() + rnd() - 1.5) * 200);
      const price = side === 'buy' ? mid - offset : mid + offset;
      op = {
        op: 'limit',
        id: nextId++,
        side,
        price,
        size: 1 + Math.floor(rnd() * 10),
        tif: 'GTC',
        postOnly: false,
        account,
      };
    } else if (r < 0.9) {
      const id = live[Math.floor(rnd() * live.length)] as number;
      op = { op: 'cancel', id, side: sideOf.get(id) as 'buy' | 'sell', account };
    } else {
      op = {
        op: 'market',
        id: nextId++,
        side: rnd() < 0.5 ? 'buy' : 'sell',
        size: 1 + Math.floor(rnd() * 20),
        account,
      };
    }
    ops.push(op);
    for (const e of scratch.apply(toBallast(op, k))) {
      if (e.type === 'done') drop(e.orderId);
    }
    if (op.op === 'limit' && scratch.getOrder(op.id) !== undefined) {
      liveIndex.set(op.id, live.length);
      live.push(op.id);
      sideOf.set(op.id, op.side);
    }
    if (k % 64 === 0) mid += rnd() < 0.5 ? -1 : 1;
  }
  return ops;
}

/** The Ballast engine command for a flow operation (`timeMs` = the operation's index). */
export function toBallast(op: FlowOp, timeMs: number) {
  switch (op.op) {
    case 'limit':
      return {
        type: 'place',
        orderId: op.id,
        account: op.account,
        side: op.side,
        orderType: 'limit',
        priceTicks: op.price,
        qtyLots: op.size,
        tif: op.tif,
        postOnly: op.postOnly,
        timeMs,
      } as const;
    case 'market':
      return {
        type: 'place',
        orderId: op.id,
        account: op.account,
        side: op.side,
        orderType: 'market',
        qtyLots: op.size,
        timeMs,
      } as const;
    case 'cancel':
      return { type: 'cancel', orderId: op.id, timeMs } as const;
  }
}
