/**
 * Snapshot bytes: UTF-8 JSON with a fixed layout, so equal states give equal bytes.
 *
 * Layout: `{"v":1,"defaultStp","dedupWindow","seq","tradeSeq","tradedLots","lastTradePriceTicks",
 * "ids":[high,base64 bitmap],"sides":[bids,asks,buyStops,sellStops]}` where each side is a list of levels
 * `[priceTicks,[order,...]]` from worst to best and each order the tuple written by `orderTuple`.
 *
 * @module
 */
import { OrderType, Side, StpMode, TimeInForce } from '../types.ts';
import type { Level } from './level.ts';
import { Order } from './order.ts';

const VERSION = 1;

/** What the book hands to {@link encodeSnapshot}. */
export interface SnapshotState {
  readonly defaultStp: StpMode;
  readonly dedupWindow: number;
  readonly seq: number;
  readonly tradeSeq: number;
  readonly tradedLots: number;
  readonly lastTradePriceTicks: number;
  /** The used-id window, as `IdWindow.toJSON()` gives it. */
  readonly ids: unknown;
  /** Bids, asks, buy stops, sell stops: levels worst to best. */
  readonly sides: readonly (readonly Level[])[];
}

/** What {@link decodeSnapshot} gives back: fresh, unlinked orders per level. */
export interface DecodedSnapshot extends Omit<SnapshotState, 'sides'> {
  readonly sides: readonly { readonly priceTicks: number; readonly orders: readonly Order[] }[][];
}

type OrderTuple = [
  orderId: number,
  account: number,
  side: 0 | 1,
  orderType: OrderType,
  tif: TimeInForce,
  postOnly: 0 | 1,
  stp: StpMode,
  priceTicks: number,
  triggerPriceTicks: number,
  openLots: number,
  filledLots: number,
  quoteLots: number,
  byQuote: 0 | 1,
  qtyLimited: 0 | 1,
  timeMs: number,
];

const orderTuple = (o: Order): OrderTuple => [
  o.orderId,
  o.account,
  o.side === Side.Buy ? 0 : 1,
  o.orderType,
  o.tif,
  o.postOnly ? 1 : 0,
  o.stp,
  o.priceTicks,
  o.triggerPriceTicks,
  o.openLots,
  o.filledLots,
  o.quoteLots,
  o.byQuote ? 1 : 0,
  o.qtyLimited ? 1 : 0,
  o.timeMs,
];

/** Encodes a book's state. */
export function encodeSnapshot(s: SnapshotState): Uint8Array {
  const sides = s.sides.map((levels) =>
    levels.map((level) => {
      const orders: OrderTuple[] = [];
      for (let o = level.head; o !== null; o = o.next) orders.push(orderTuple(o));
      return [level.priceTicks, orders];
    }),
  );
  const json = JSON.stringify({
    v: VERSION,
    defaultStp: s.defaultStp,
    dedupWindow: s.dedupWindow,
    seq: s.seq,
    tradeSeq: s.tradeSeq,
    tradedLots: s.tradedLots,
    lastTradePriceTicks: s.lastTradePriceTicks,
    ids: s.ids,
    sides,
  });
  return new TextEncoder().encode(json);
}

const fail = (what: string): never => {
  throw new RangeError(`invalid order book snapshot: ${what}`);
};
const int = (v: unknown, what: string): number =>
  Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : fail(what);
const oneOf = <T>(v: unknown, values: readonly T[], what: string): T =>
  values.includes(v as T) ? (v as T) : fail(what);

/**
 * Decodes bytes from {@link encodeSnapshot}.
 *
 * @throws {RangeError} naming the first field that is missing or malformed.
 */
export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new RangeError('invalid order book snapshot: not UTF-8 JSON', { cause });
  }
  if (typeof raw !== 'object' || raw === null) return fail('not an object');
  const r = raw as Record<string, unknown>;
  if (r['v'] !== VERSION) fail(`version ${String(r['v'])}`);
  const rawSides = Array.isArray(r['sides']) && r['sides'].length === 4 ? (r['sides'] as unknown[]) : fail('sides');
  const types = Object.values(OrderType);
  const tifs = Object.values(TimeInForce);
  const stps = Object.values(StpMode);
  const sides = rawSides.map((levels, sideIndex) => {
    const pending = sideIndex >= 2;
    if (!Array.isArray(levels)) return fail('side');
    return levels.map((lvl: unknown) => {
      if (!Array.isArray(lvl) || lvl.length !== 2 || !Array.isArray(lvl[1])) return fail('level');
      const priceTicks = int(lvl[0], 'level price');
      const orders = (lvl[1] as unknown[]).map((t) => {
        if (!Array.isArray(t) || t.length !== 15) return fail('order');
        const o = new Order(
          int(t[0], 'orderId'),
          int(t[1], 'account'),
          oneOf(t[2], [0, 1], 'side') === 0 ? Side.Buy : Side.Sell,
          oneOf(t[3], types, 'orderType'),
          oneOf(t[4], tifs, 'tif'),
          oneOf(t[5], [0, 1], 'postOnly') === 1,
          oneOf(t[6], stps, 'stp'),
          int(t[7], 'priceTicks'),
          int(t[8], 'triggerPriceTicks'),
          int(t[9], 'openLots'),
          int(t[10], 'filledLots'),
          int(t[11], 'quoteLots'),
          oneOf(t[12], [0, 1], 'byQuote') === 1,
          oneOf(t[13], [0, 1], 'qtyLimited') === 1,
          int(t[14], 'timeMs'),
          pending,
        );
        return o;
      });
      return { priceTicks, orders };
    });
  });
  return {
    defaultStp: oneOf(r['defaultStp'], stps, 'defaultStp'),
    dedupWindow: int(r['dedupWindow'], 'dedupWindow'),
    seq: int(r['seq'], 'seq'),
    tradeSeq: int(r['tradeSeq'], 'tradeSeq'),
    tradedLots: int(r['tradedLots'], 'tradedLots'),
    lastTradePriceTicks: int(r['lastTradePriceTicks'], 'lastTradePriceTicks'),
    ids: r['ids'],
    sides,
  };
}
