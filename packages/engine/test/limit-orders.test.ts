import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderBook } from '@ballast/engine';
import { doneOf, limit, rejection, run, trades, types } from './helpers.ts';

describe('limit orders', () => {
  it('rests a GTC order that does not cross and reports its level', () => {
    const book = new OrderBook();
    const events = book.apply(limit(1, 'buy', 100, 5));
    assert.deepEqual(types(events), ['accepted', 'level']);
    assert.deepEqual(events[1], { seq: 2, type: 'level', side: 'buy', priceTicks: 100, qtyLots: 5 });
    assert.equal(book.bestBid(), 100);
    assert.equal(book.stats().restingOrders, 1);
  });

  it('trades at the maker price when it crosses, and rests what is left', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 3));
    const events = book.apply(limit(2, 'buy', 105, 5));
    assert.deepEqual(trades(events), [[1, 2, 100, 3]]);
    assert.equal(doneOf(events, 1)?.reason, 'filled');
    assert.equal(doneOf(events, 2), undefined);
    assert.deepEqual(book.depth('buy'), [{ priceTicks: 105, qtyLots: 2, orders: 1 }]);
    assert.deepEqual(book.depth('sell'), []);
    assert.equal(book.getOrder(2)?.filledLots, 3);
  });

  it('fills better prices first, then earlier orders at the same price', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 101, 2), limit(2, 'sell', 100, 2), limit(3, 'sell', 100, 2), limit(4, 'sell', 102, 2));
    const events = book.apply(limit(5, 'buy', 101, 5));
    assert.deepEqual(trades(events), [
      [2, 5, 100, 2],
      [3, 5, 100, 2],
      [1, 5, 101, 1],
    ]);
    assert.deepEqual(book.depth('sell'), [
      { priceTicks: 101, qtyLots: 1, orders: 1 },
      { priceTicks: 102, qtyLots: 2, orders: 1 },
    ]);
  });

  it('expires the unfilled rest of an IOC order instead of resting it', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2));
    const events = book.apply(limit(2, 'buy', 100, 5, { tif: 'IOC' }));
    assert.deepEqual(trades(events), [[1, 2, 100, 2]]);
    assert.deepEqual(doneOf(events, 2), {
      seq: doneOf(events, 2)?.seq,
      type: 'done',
      orderId: 2,
      account: 2,
      reason: 'expired',
      cause: 'ioc',
      filledLots: 2,
      remainingLots: 3,
    });
    assert.equal(book.bestBid(), undefined);
  });

  it('fills a FOK order completely when enough crosses', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2), limit(2, 'sell', 101, 3));
    const events = book.apply(limit(3, 'buy', 101, 5, { tif: 'FOK' }));
    assert.deepEqual(trades(events), [
      [1, 3, 100, 2],
      [2, 3, 101, 3],
    ]);
    assert.equal(doneOf(events, 3)?.reason, 'filled');
  });

  it('expires a FOK order without any trade when it cannot fill completely', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2), limit(2, 'sell', 102, 3));
    const events = book.apply(limit(3, 'buy', 101, 5, { tif: 'FOK' }));
    assert.deepEqual(trades(events), []);
    assert.equal(doneOf(events, 3)?.cause, 'fok');
    assert.equal(doneOf(events, 3)?.remainingLots, 5);
    assert.deepEqual(
      book.depth('sell').map((l) => l.qtyLots),
      [2, 3],
    );
  });

  it('rejects a post-only order that would take, and rests one that would not', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2));
    assert.equal(rejection(book.apply(limit(2, 'buy', 100, 1, { postOnly: true }))), 'POST_ONLY_WOULD_TAKE');
    assert.deepEqual(types(book.apply(limit(3, 'buy', 99, 1, { postOnly: true }))), ['accepted', 'level']);
    assert.equal(book.getOrder(2), undefined);
  });

  it('rejects a reused order id, even after its order has ended', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2), limit(2, 'buy', 100, 2));
    assert.equal(book.getOrder(1), undefined);
    assert.equal(rejection(book.apply(limit(1, 'sell', 100, 2))), 'DUPLICATE_ORDER_ID');
    assert.equal(rejection(book.apply(limit(2, 'sell', 100, 2))), 'DUPLICATE_ORDER_ID');
  });

  it('accepts ids out of order within the window and rejects ids older than it', () => {
    const book = new OrderBook({ dedupWindow: 64 });
    run(book, limit(100, 'buy', 10, 1));
    assert.deepEqual(types(book.apply(limit(60, 'buy', 10, 1))), ['accepted', 'level']);
    assert.equal(rejection(book.apply(limit(60, 'buy', 10, 1))), 'DUPLICATE_ORDER_ID');
    assert.equal(rejection(book.apply(limit(20, 'buy', 10, 1))), 'ORDER_ID_TOO_OLD');
    // A jump far ahead forgets everything behind the window.
    run(book, limit(10_000, 'buy', 10, 1));
    assert.equal(rejection(book.apply(limit(9_999, 'buy', 10, 1))), undefined);
  });

  it('numbers events with a gap-free sequence across commands', () => {
    const book = new OrderBook();
    const events = run(book, limit(1, 'sell', 100, 2), limit(2, 'buy', 100, 1), limit(3, 'buy', 0, 1));
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    assert.equal(book.seq, events.length);
  });
});
