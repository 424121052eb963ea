import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderBook } from '@ballast/engine';
import { doneOf, limit, market, run, trades } from './helpers.ts';

/** Book: account 7 sells 2 @100 (order 1), account 8 sells 2 @100 (order 2), in that order. */
function bookWithOwnOrderFirst(defaultStp?: 'expireTaker'): OrderBook {
  const book = new OrderBook(defaultStp ? { defaultStp } : {});
  run(book, limit(1, 'sell', 100, 2, { account: 7 }), limit(2, 'sell', 100, 2, { account: 8 }));
  return book;
}

describe('self-trade prevention', () => {
  it('none: trades with its own resting order', () => {
    const book = bookWithOwnOrderFirst();
    const events = book.apply(limit(3, 'buy', 100, 3, { account: 7, stp: 'none' }));
    assert.deepEqual(trades(events), [
      [1, 3, 100, 2],
      [2, 3, 100, 1],
    ]);
  });

  it('expireTaker: expires the incoming order and leaves its own maker resting', () => {
    const book = bookWithOwnOrderFirst();
    const events = book.apply(limit(3, 'buy', 100, 3, { account: 7, stp: 'expireTaker' }));
    assert.deepEqual(trades(events), []);
    assert.deepEqual([doneOf(events, 3)?.reason, doneOf(events, 3)?.cause], ['expired', 'stp']);
    assert.deepEqual(book.levelOrders('sell', 100), [1, 2]);
  });

  it('expireMaker: expires its own maker and keeps matching the others', () => {
    const book = bookWithOwnOrderFirst();
    const events = book.apply(limit(3, 'buy', 100, 3, { account: 7, stp: 'expireMaker' }));
    assert.deepEqual(trades(events), [[2, 3, 100, 2]]);
    assert.deepEqual(
      [doneOf(events, 1)?.reason, doneOf(events, 1)?.cause, doneOf(events, 1)?.remainingLots],
      ['expired', 'stp', 2],
    );
    assert.deepEqual(book.depth('buy'), [{ priceTicks: 100, qtyLots: 1, orders: 1 }]);
  });

  it('expireBoth: expires both the maker and the taker', () => {
    const book = bookWithOwnOrderFirst();
    const events = book.apply(market(3, 'buy', 3, 7, 'expireBoth'));
    assert.deepEqual(trades(events), []);
    assert.equal(doneOf(events, 1)?.cause, 'stp');
    assert.equal(doneOf(events, 3)?.cause, 'stp');
    assert.deepEqual(book.levelOrders('sell', 100), [2]);
  });

  it('decrementCancel: reduces both by the smaller quantity; the smaller one ends, the larger goes on', () => {
    const book = bookWithOwnOrderFirst();
    const events = book.apply(limit(3, 'buy', 100, 3, { account: 7, stp: 'decrementCancel' }));
    // Maker 1 (2 lots) and taker 3 both lose 2 lots; maker 1 is gone; taker's last lot trades with 2.
    assert.deepEqual(
      events.filter((e) => e.type === 'reduced').map((e) => e.type === 'reduced' && [e.orderId, e.byLots, e.openLots]),
      [
        [1, 2, 0],
        [3, 2, 1],
      ],
    );
    assert.equal(doneOf(events, 1)?.cause, 'stp');
    assert.deepEqual(trades(events), [[2, 3, 100, 1]]);
    assert.equal(doneOf(events, 3)?.reason, 'filled');
    assert.deepEqual(book.depth('sell'), [{ priceTicks: 100, qtyLots: 1, orders: 1 }]);
  });

  it('decrementCancel: the taker ends when it is the smaller one, and the maker keeps its place', () => {
    const book = bookWithOwnOrderFirst();
    const events = book.apply(limit(3, 'buy', 100, 1, { account: 7, stp: 'decrementCancel' }));
    assert.deepEqual(trades(events), []);
    assert.deepEqual([doneOf(events, 3)?.reason, doneOf(events, 3)?.cause], ['expired', 'stp']);
    assert.deepEqual(book.levelOrders('sell', 100), [1, 2]);
    assert.equal(book.getOrder(1)?.openLots, 1);
  });

  it("applies the book's default mode to orders that name none", () => {
    const book = bookWithOwnOrderFirst('expireTaker');
    const events = book.apply(limit(3, 'buy', 100, 3, { account: 7 }));
    assert.equal(doneOf(events, 3)?.cause, 'stp');
  });

  it('FOK counts only what it could really fill under STP', () => {
    const book = bookWithOwnOrderFirst();
    // expireMaker skips its own 2 lots: 2 fillable < 3 → expires with nothing changed.
    const events = book.apply(limit(3, 'buy', 100, 3, { account: 7, stp: 'expireMaker', tif: 'FOK' }));
    assert.deepEqual(trades(events), []);
    assert.equal(doneOf(events, 3)?.cause, 'fok');
    assert.deepEqual(book.levelOrders('sell', 100), [1, 2]);
  });
});
