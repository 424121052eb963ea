/**
 * Which shard each symbol belongs to. A shard is the unit of leadership: one lease, one leader
 * matching all its symbols (each symbol keeps its own command and event logs).
 *
 * - An explicit map (`BTCUSDT=s0,ETHUSDT=s0`) wins for the symbols it names.
 * - Otherwise, with `shards` = N > 0, symbols are placed on a consistent-hash ring of shards
 *   `s0` … `s<N-1>` (64 virtual points per shard, FNV-1a): adding a shard moves only the symbols
 *   that land on it.
 * - With `shards` = 0 (the default) every symbol is its own shard, named after the symbol.
 *
 * Every replica must use the same map; two maps disagreeing can only cost availability (two
 * leaders of one symbol fence each other), never correctness.
 *
 * @module
 */

/** Options of {@link createShardMap}. */
export interface ShardMapOptions {
  readonly symbols: readonly string[];
  /** Shard count for consistent hashing; 0 = one shard per symbol. @default 0 */
  readonly shards?: number;
  /** Symbol → shard name, for the symbols it names. */
  readonly explicit?: Readonly<Record<string, string>>;
}

/** The symbols → shards assignment. */
export interface ShardMap {
  /** Shards that own at least one symbol, sorted. */
  readonly shards: readonly string[];
  shardOf(symbol: string): string;
  /** Symbols of `shard`, in the order given. */
  symbolsOf(shard: string): readonly string[];
}

const VIRTUAL_POINTS = 64;

/** FNV-1a, 32 bits. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Final avalanche (murmur3 fmix32) so close keys spread over the ring.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard of `key` on a consistent-hash ring of `count` shards (`s0` …). */
export function ringShard(key: string, count: number): string {
  let best: { point: number; shard: number } | undefined;
  let lowest: { point: number; shard: number } | undefined;
  const h = fnv1a(key);
  for (let s = 0; s < count; s++) {
    for (let v = 0; v < VIRTUAL_POINTS; v++) {
      const point = fnv1a(`s${s}#${v}`);
      if (lowest === undefined || point < lowest.point) lowest = { point, shard: s };
      if (point >= h && (best === undefined || point < best.point)) best = { point, shard: s };
    }
  }
  return `s${(best ?? lowest)?.shard ?? 0}`;
}

/**
 * Parses `SYMBOL=shard,SYMBOL=shard` (shard names: letters, digits, `_`, `-`).
 *
 * @throws Error naming the bad item.
 */
export function parseShardMap(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw.trim() === '') return out;
  for (const item of raw.split(',')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*([A-Za-z0-9_-]{1,64})\s*$/.exec(item);
    if (m === null) throw new Error(`expected SYMBOL=shard, got ${JSON.stringify(item)}`);
    out[m[1] as string] = m[2] as string;
  }
  return out;
}

/** Builds the map. @throws RangeError on a negative shard count. */
export function createShardMap(options: ShardMapOptions): ShardMap {
  const count = options.shards ?? 0;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`shards must be a whole number >= 0, got ${count}`);
  const of = new Map<string, string>();
  for (const symbol of options.symbols) {
    const explicit = options.explicit?.[symbol];
    of.set(symbol, explicit ?? (count === 0 ? symbol : ringShard(symbol, count)));
  }
  const members = new Map<string, string[]>();
  for (const [symbol, shard] of of) {
    const list = members.get(shard) ?? [];
    list.push(symbol);
    members.set(shard, list);
  }
  return {
    shards: [...members.keys()].sort(),
    shardOf(symbol) {
      const s = of.get(symbol);
      if (s === undefined) throw new RangeError(`unknown symbol ${symbol}`);
      return s;
    },
    symbolsOf: (shard) => members.get(shard) ?? [],
  };
}
