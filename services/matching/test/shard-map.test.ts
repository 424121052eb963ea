import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createShardMap, parseShardMap, ringShard } from '@ballast/matching';

const symbols = Array.from({ length: 200 }, (_, i) => `SYM${i}USDT`);

describe('shard map', () => {
  it('by default makes every symbol its own shard, named after it', () => {
    const map = createShardMap({ symbols: ['BTCUSDT', 'ETHUSDT'] });
    assert.deepEqual(map.shards, ['BTCUSDT', 'ETHUSDT']);
    assert.equal(map.shardOf('ETHUSDT'), 'ETHUSDT');
    assert.deepEqual(map.symbolsOf('BTCUSDT'), ['BTCUSDT']);
  });

  it('with N shards places symbols by consistent hashing, the same way on every replica', () => {
    const a = createShardMap({ symbols, shards: 8 });
    const b = createShardMap({ symbols: [...symbols].reverse(), shards: 8 });
    for (const s of symbols) assert.equal(a.shardOf(s), b.shardOf(s));
    assert.equal(a.shards.length, 8);
    for (const shard of a.shards) assert.ok(a.symbolsOf(shard).length >= 8, `${shard} is nearly empty`);
  });

  it('adding a shard moves only the symbols that land on the new one', () => {
    const before = createShardMap({ symbols, shards: 8 });
    const after = createShardMap({ symbols, shards: 9 });
    let moved = 0;
    for (const s of symbols) {
      if (before.shardOf(s) !== after.shardOf(s)) {
        moved++;
        assert.equal(after.shardOf(s), 's8');
      }
    }
    assert.ok(moved > 0 && moved < symbols.length / 4, `${moved} of ${symbols.length} moved`);
  });

  it('an explicit map wins for the symbols it names; shards without symbols are not listed', () => {
    const map = createShardMap({
      symbols: ['BTCUSDT', 'ETHUSDT', 'ETHBTC'],
      shards: 2,
      explicit: parseShardMap('BTCUSDT=hot, ETHUSDT=hot'),
    });
    assert.equal(map.shardOf('BTCUSDT'), 'hot');
    assert.deepEqual(map.symbolsOf('hot'), ['BTCUSDT', 'ETHUSDT']);
    assert.equal(map.shardOf('ETHBTC'), ringShard('ETHBTC', 2));
    assert.deepEqual(map.shards, ['hot', ringShard('ETHBTC', 2)].sort());
  });

  it('rejects malformed maps and counts, and unknown symbols', () => {
    assert.throws(() => parseShardMap('BTCUSDT'), /expected SYMBOL=shard/);
    assert.throws(() => parseShardMap('BTCUSDT=a b'), /expected SYMBOL=shard/);
    assert.deepEqual(parseShardMap(''), {});
    assert.throws(() => createShardMap({ symbols, shards: -1 }), RangeError);
    assert.throws(() => createShardMap({ symbols: ['A'] }).shardOf('B'), /unknown symbol/);
  });
});
