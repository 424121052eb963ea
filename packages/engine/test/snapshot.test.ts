import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderBook, encodeEvents, type Command } from '@ballast/engine';
import { amend, cancel, limit, market } from './helpers.ts';

const script: Command[] = [
  limit(1, 'sell', 101, 5),
  limit(2, 'sell', 101, 3),
  limit(3, 'buy', 99, 4, { account: 9 }),
  {
    type: 'place',
    orderId: 4,
    account: 4,
    side: 'buy',
    orderType: 'stopMarket',
    triggerPriceTicks: 102,
    qtyLots: 2,
    timeMs: 1,
  },
  market(5, 'buy', 2),
  amend(2, { qtyLots: 1 }),
  limit(6, 'sell', 102, 4),
  limit(7, 'buy', 102, 5, { account: 9, stp: 'expireMaker' }),
  cancel(3),
  limit(8, 'sell', 98, 1),
];

describe('snapshot and restore', () => {
  it('restoring at any point and replaying the rest gives byte-identical events', () => {
    const full = new OrderBook();
    const reference = encodeEvents(script.flatMap((c) => full.apply(c)));
    for (let cut = 0; cut <= script.length; cut++) {
      const first = new OrderBook();
      const head = script.slice(0, cut).flatMap((c) => first.apply(c));
      const restored = OrderBook.restore(first.snapshot());
      const tail = script.slice(cut).flatMap((c) => restored.apply(c));
      assert.deepEqual(encodeEvents([...head, ...tail]), reference, `cut at ${cut}`);
      assert.deepEqual(restored.snapshot(), full.snapshot(), `final state after cut at ${cut}`);
    }
  });

  it('keeps pending stops, the last trade price and the used ids', () => {
    const book = new OrderBook();
    for (const c of script.slice(0, 5)) book.apply(c);
    const restored = OrderBook.restore(book.snapshot());
    assert.deepEqual(restored.stats(), book.stats());
    assert.equal(restored.getOrder(4)?.pending, true);
    const dup = restored.apply(limit(1, 'sell', 101, 1));
    assert.equal(dup[0]?.type === 'rejected' && dup[0].reason, 'DUPLICATE_ORDER_ID');
  });

  it('refuses bytes that are not a snapshot, naming the problem', () => {
    const enc = new TextEncoder();
    assert.throws(() => OrderBook.restore(enc.encode('not json')), /not UTF-8 JSON/);
    assert.throws(() => OrderBook.restore(enc.encode('{"v":2}')), /version 2/);
    const good = JSON.parse(new TextDecoder().decode(new OrderBook().snapshot())) as Record<string, unknown>;
    assert.throws(() => OrderBook.restore(enc.encode(JSON.stringify({ ...good, seq: -1 }))), /seq/);
    assert.throws(() => OrderBook.restore(enc.encode(JSON.stringify({ ...good, ids: [0, 'AA=='] }))), /ids/);
  });
});
