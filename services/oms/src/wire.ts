/**
 * The oms's wire format for calls across processes (gateway → oms): JSON with every integer
 * amount as a decimal string (bigint-safe), checked on the way in.
 *
 * @module
 */
import type { CancelRequest } from './oms.ts';
import type { CancelResult, OrderRecord, PlaceOrderInput, PlaceResult } from './order-request.ts';

const big = (v: unknown, name: string): bigint => {
  if (typeof v !== 'string' || !/^-?\d{1,40}$/.test(v)) throw new TypeError(`${name}: expected an integer string`);
  return BigInt(v);
};
const optBig = (v: unknown, name: string): bigint | undefined => (v === undefined ? undefined : big(v, name));
const str = (v: unknown, name: string): string => {
  if (typeof v !== 'string') throw new TypeError(`${name}: expected a string`);
  return v;
};
const oneOf = <T extends string>(v: unknown, values: readonly T[], name: string): T => {
  if (!(values as readonly unknown[]).includes(v)) throw new TypeError(`${name}: expected one of ${values.join(', ')}`);
  return v as T;
};

/** JSON form of a {@link PlaceOrderInput}. */
export function encodePlaceInput(i: PlaceOrderInput): Record<string, unknown> {
  return {
    ...i,
    accountId: String(i.accountId),
    ...(i.priceTicks !== undefined ? { priceTicks: String(i.priceTicks) } : {}),
    ...(i.qtyLots !== undefined ? { qtyLots: String(i.qtyLots) } : {}),
    ...(i.quoteQtyMinor !== undefined ? { quoteQtyMinor: String(i.quoteQtyMinor) } : {}),
    ...(i.stopPriceTicks !== undefined ? { stopPriceTicks: String(i.stopPriceTicks) } : {}),
  };
}

/** Parses {@link encodePlaceInput}'s output. @throws TypeError naming the bad field. */
export function decodePlaceInput(j: unknown): PlaceOrderInput {
  if (typeof j !== 'object' || j === null) throw new TypeError('expected an object');
  const o = j as Record<string, unknown>;
  const priceTicks = optBig(o['priceTicks'], 'priceTicks');
  const qtyLots = optBig(o['qtyLots'], 'qtyLots');
  const quoteQtyMinor = optBig(o['quoteQtyMinor'], 'quoteQtyMinor');
  const stopPriceTicks = optBig(o['stopPriceTicks'], 'stopPriceTicks');
  if (typeof o['postOnly'] !== 'boolean') throw new TypeError('postOnly: expected a boolean');
  return {
    accountId: big(o['accountId'], 'accountId'),
    symbol: str(o['symbol'], 'symbol'),
    clientOrderId: str(o['clientOrderId'], 'clientOrderId'),
    side: oneOf(o['side'], ['buy', 'sell'] as const, 'side'),
    type: oneOf(o['type'], ['limit', 'market', 'stopLimit', 'stopMarket'] as const, 'type'),
    apiType: str(o['apiType'], 'apiType'),
    tif: oneOf(o['tif'], ['GTC', 'IOC', 'FOK'] as const, 'tif'),
    postOnly: o['postOnly'],
    stp: oneOf(o['stp'], ['none', 'expireTaker', 'expireMaker', 'expireBoth', 'decrementCancel'] as const, 'stp'),
    ...(priceTicks !== undefined ? { priceTicks } : {}),
    ...(qtyLots !== undefined ? { qtyLots } : {}),
    ...(quoteQtyMinor !== undefined ? { quoteQtyMinor } : {}),
    ...(stopPriceTicks !== undefined ? { stopPriceTicks } : {}),
  };
}

const BIG_FIELDS = [
  'id',
  'accountId',
  'priceTicks',
  'qtyLots',
  'quoteQtyMinor',
  'stopPriceTicks',
  'executedLots',
  'cumQuoteMinor',
] as const;

/** JSON form of an {@link OrderRecord}. */
export function encodeOrder(o: OrderRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { ...o };
  for (const f of BIG_FIELDS) out[f] = String(o[f]);
  return out;
}

/** Parses {@link encodeOrder}'s output. */
export function decodeOrder(j: unknown): OrderRecord {
  if (typeof j !== 'object' || j === null) throw new TypeError('order: expected an object');
  const o = { ...(j as Record<string, unknown>) };
  for (const f of BIG_FIELDS) o[f] = big(o[f], f);
  return o as unknown as OrderRecord;
}

/** JSON form of a {@link PlaceResult}. */
export const encodePlaceResult = (r: PlaceResult): unknown => (r.ok ? { ...r, order: encodeOrder(r.order) } : r);
/** Parses {@link encodePlaceResult}'s output. */
export function decodePlaceResult(j: unknown): PlaceResult {
  const r = j as { ok?: unknown; order?: unknown };
  if (r?.ok === true) return { ...(j as PlaceResult & object), order: decodeOrder(r.order) } as PlaceResult;
  if (r?.ok === false) return j as PlaceResult;
  throw new TypeError('place result: expected { ok }');
}

/** JSON form of a {@link CancelResult}. */
export const encodeCancelResult = (r: CancelResult): unknown => (r.ok ? { ...r, order: encodeOrder(r.order) } : r);
/** Parses {@link encodeCancelResult}'s output. */
export function decodeCancelResult(j: unknown): CancelResult {
  const r = j as { ok?: unknown; order?: unknown };
  if (r?.ok === true) return { ...(j as CancelResult & object), order: decodeOrder(r.order) } as CancelResult;
  if (r?.ok === false) return j as CancelResult;
  throw new TypeError('cancel result: expected { ok }');
}

/** JSON form of a {@link CancelRequest}. */
export const encodeCancelRequest = (c: CancelRequest): unknown => ({
  ...c,
  accountId: String(c.accountId),
  ...(c.orderId !== undefined ? { orderId: String(c.orderId) } : {}),
});
/** Parses {@link encodeCancelRequest}'s output. */
export function decodeCancelRequest(j: unknown): CancelRequest {
  if (typeof j !== 'object' || j === null) throw new TypeError('expected an object');
  const o = j as Record<string, unknown>;
  const orderId = optBig(o['orderId'], 'orderId');
  const clientOrderId = o['clientOrderId'] === undefined ? undefined : str(o['clientOrderId'], 'clientOrderId');
  return {
    accountId: big(o['accountId'], 'accountId'),
    symbol: str(o['symbol'], 'symbol'),
    ...(orderId !== undefined ? { orderId } : {}),
    ...(clientOrderId !== undefined ? { clientOrderId } : {}),
  };
}
