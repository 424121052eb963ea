import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderBook } from '@ballast/engine';
import { amend, cancel, doneOf, limit, market, rejection, run, trades } from './helpers.ts';

describe('cancel', () => {
  it('removes an order from the middle of a deep level and keeps the rest in time order', () => {
    const book = new OrderBook();
    for (let i = 1; i <= 1000; i++) book.apply(limit(i, 'sell', 100, 1));
    const events = book.apply(cancel(500));
    assert.deepEqual(
      events.map((e) => e.type),
      ['done', 'level'],
    );
    assert.equal(doneOf(events, 500)?.remainingLots, 1);
    const ids = book.levelOrders('sell', 100);
    assert.equal(ids.length, 999);
    assert.equal(ids.includes(500), false);
    assert.deepEqual(ids.slice(498, 501), [499, 501, 502]);
    assert.deepEqual(book.depth('sell'), [{ priceTicks: 100, qtyLots: 999, orders: 999 }]);
  });

  it('removes the level when its last order is canceled', () => {
    const book = new OrderBook();
    run(book, limit(1, 'buy', 100, 3));
    const events = book.apply(cancel(1));
    assert.deepEqual(events.at(-1), { seq: 4, type: 'level', side: 'buy', priceTicks: 100, qtyLots: 0 });
    assert.equal(book.bestBid(), undefined);
  });

  it('rejects a cancel of an unknown or finished order', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 1), market(2, 'buy', 1));
    assert.equal(rejection(book.apply(cancel(1))), 'UNKNOWN_ORDER');
    assert.equal(rejection(book.apply(cancel(42))), 'UNKNOWN_ORDER');
  });

  it('rejects a cancel naming another account, and leaves the order', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 1, { account: 7 }));
    assert.equal(rejection(book.apply(cancel(1, 8))), 'ACCOUNT_MISMATCH');
    assert.equal(book.getOrder(1)?.openLots, 1);
    assert.equal(doneOf(book.apply(cancel(1, 7)), 1)?.reason, 'canceled');
  });
});

describe('amend', () => {
  it('keeps time priority when the size goes down at the same price', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 5), limit(2, 'sell', 100, 5));
    const events = book.apply(amend(1, { qtyLots: 2 }));
    assert.deepEqual(
      events.map((e) => e.type),
      ['amended', 'level'],
    );
    assert.equal(events[0]?.type === 'amended' && events[0].keptPriority, true);
    assert.deepEqual(book.levelOrders('sell', 100), [1, 2]);
    assert.deepEqual(trades(book.apply(market(3, 'buy', 3))), [
      [1, 3, 100, 2],
      [2, 3, 100, 1],
    ]);
  });

  it('loses time priority when the size goes up', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 5), limit(2, 'sell', 100, 5));
    const events = book.apply(amend(1, { qtyLots: 6 }));
    assert.equal(events[0]?.type === 'amended' && events[0].keptPriority, false);
    assert.deepEqual(book.levelOrders('sell', 100), [2, 1]);
    assert.deepEqual(book.depth('sell'), [{ priceTicks: 100, qtyLots: 11, orders: 2 }]);
  });

  it('moves to the back of the new level on a price change, and trades if it now crosses', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 105, 2), limit(2, 'buy', 100, 3), limit(3, 'buy', 101, 1));
    const events = book.apply(amend(2, { priceTicks: 105 }));
    assert.deepEqual(trades(events), [[1, 2, 105, 2]]);
    assert.deepEqual(book.depth('buy'), [
      { priceTicks: 105, qtyLots: 1, orders: 1 },
      { priceTicks: 101, qtyLots: 1, orders: 1 },
    ]);
    assert.equal(book.getOrder(2)?.filledLots, 2);
  });

  it('rejects an amend of a post-only order to a price that would take', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 105, 2), limit(2, 'buy', 100, 3, { postOnly: true }));
    assert.equal(rejection(book.apply(amend(2, { priceTicks: 105 }))), 'POST_ONLY_WOULD_TAKE');
    assert.deepEqual(book.levelOrders('buy', 100), [2]);
  });

  it('rejects an amend that changes nothing', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 105, 2));
    assert.equal(rejection(book.apply(amend(1, { priceTicks: 105, qtyLots: 2 }))), 'NO_CHANGE');
    assert.equal(rejection(book.apply({ type: 'amend', orderId: 1, timeMs: 0 })), 'NO_CHANGE');
  });
});
