import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderBook, type PlaceCommand } from '@ballast/engine';
import { cancel, doneOf, limit, market, rejection, run, trades, types } from './helpers.ts';

const stopLimit = (
  orderId: number,
  side: 'buy' | 'sell',
  trigger: number,
  price: number,
  qty: number,
): PlaceCommand => ({
  type: 'place',
  orderId,
  account: orderId,
  side,
  orderType: 'stopLimit',
  triggerPriceTicks: trigger,
  priceTicks: price,
  qtyLots: qty,
  timeMs: 0,
});
const stopMarket = (orderId: number, side: 'buy' | 'sell', trigger: number, qty: number): PlaceCommand => ({
  type: 'place',
  orderId,
  account: orderId,
  side,
  orderType: 'stopMarket',
  triggerPriceTicks: trigger,
  qtyLots: qty,
  timeMs: 0,
});

describe('stop orders', () => {
  it('waits unseen in the book until the last trade price reaches the trigger', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 1), market(2, 'buy', 1)); // last = 100
    const events = book.apply(stopLimit(3, 'buy', 105, 106, 2));
    assert.deepEqual(types(events), ['accepted']);
    assert.equal(book.getOrder(3)?.pending, true);
    assert.equal(book.stats().pendingStops, 1);
    assert.deepEqual(book.depth('buy'), []);
  });

  it('triggers a buy stop-limit when a trade prints at or above its trigger, then trades as a limit', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 1), market(2, 'buy', 1)); // last = 100
    run(book, stopLimit(3, 'buy', 105, 106, 2), limit(4, 'sell', 105, 1), limit(5, 'sell', 106, 5));
    const events = book.apply(market(6, 'buy', 1)); // prints 105 → triggers 3
    assert.deepEqual(trades(events), [
      [4, 6, 105, 1],
      [5, 3, 106, 2],
    ]);
    const trig = events.find((e) => e.type === 'triggered');
    assert.deepEqual(trig && { orderId: trig.orderId, last: trig.lastPriceTicks }, { orderId: 3, last: 105 });
    assert.equal(doneOf(events, 3)?.reason, 'filled');
  });

  it('triggers a sell stop-market when the price falls to its trigger', () => {
    const book = new OrderBook();
    run(book, limit(1, 'buy', 100, 1), market(2, 'sell', 1)); // last = 100
    run(book, stopMarket(3, 'sell', 95, 4), limit(4, 'buy', 95, 1), limit(5, 'buy', 94, 10));
    const events = book.apply(market(6, 'sell', 1)); // prints 95
    assert.deepEqual(trades(events), [
      [4, 6, 95, 1],
      [5, 3, 94, 4],
    ]);
  });

  it('cascades: a triggered stop whose trades reach another trigger sets that one off too', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 1), market(2, 'buy', 1)); // last = 100
    run(book, stopMarket(3, 'buy', 101, 1), stopMarket(4, 'buy', 102, 1));
    run(book, limit(5, 'sell', 101, 1), limit(6, 'sell', 102, 1), limit(7, 'sell', 103, 1));
    const events = book.apply(market(8, 'buy', 1)); // 101 → stop 3 buys 102 → stop 4 buys 103
    assert.deepEqual(trades(events), [
      [5, 8, 101, 1],
      [6, 3, 102, 1],
      [7, 4, 103, 1],
    ]);
    assert.equal(book.stats().pendingStops, 0);
  });

  it('rejects a stop that would trigger immediately', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 1), market(2, 'buy', 1));
    assert.equal(rejection(book.apply(stopMarket(3, 'buy', 100, 1))), 'STOP_WOULD_TRIGGER_IMMEDIATELY');
    assert.equal(rejection(book.apply(stopMarket(4, 'sell', 101, 1))), 'STOP_WOULD_TRIGGER_IMMEDIATELY');
  });

  it('cancels a pending stop so that it never triggers', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 1), market(2, 'buy', 1));
    run(book, stopMarket(3, 'buy', 101, 1));
    const events = book.apply(cancel(3));
    assert.equal(doneOf(events, 3)?.reason, 'canceled');
    run(book, limit(4, 'sell', 101, 1));
    assert.deepEqual(trades(book.apply(market(5, 'buy', 1))), [[4, 5, 101, 1]]);
    assert.equal(book.stats().pendingStops, 0);
  });

  it('rejects an amend of a pending stop', () => {
    const book = new OrderBook();
    run(book, stopMarket(1, 'buy', 101, 1));
    assert.equal(rejection(book.apply({ type: 'amend', orderId: 1, qtyLots: 2, timeMs: 0 })), 'NOT_AMENDABLE');
  });
});
