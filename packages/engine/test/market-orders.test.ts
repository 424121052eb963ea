import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderBook } from '@ballast/engine';
import { doneOf, limit, market, marketQuote, run, trades } from './helpers.ts';

describe('market orders', () => {
  it('sweeps levels by base quantity and is filled', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2), limit(2, 'sell', 101, 2));
    const events = book.apply(market(3, 'buy', 3));
    assert.deepEqual(trades(events), [
      [1, 3, 100, 2],
      [2, 3, 101, 1],
    ]);
    assert.equal(doneOf(events, 3)?.reason, 'filled');
    assert.equal(book.stats().lastTradePriceTicks, 101);
  });

  it('expires what it cannot fill when the book runs out', () => {
    const book = new OrderBook();
    run(book, limit(1, 'buy', 100, 2));
    const events = book.apply(market(2, 'sell', 5));
    assert.deepEqual(trades(events), [[1, 2, 100, 2]]);
    assert.deepEqual(
      [doneOf(events, 2)?.reason, doneOf(events, 2)?.cause, doneOf(events, 2)?.remainingLots],
      ['expired', 'ioc', 3],
    );
  });

  it('expires at once on an empty book', () => {
    const book = new OrderBook();
    const events = book.apply(market(1, 'buy', 5));
    assert.deepEqual(
      events.map((e) => e.type),
      ['accepted', 'done'],
    );
    assert.equal(doneOf(events, 1)?.reason, 'expired');
  });

  it('spends a quote budget on whole lots only, and is filled when the next lot is unaffordable', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2), limit(2, 'sell', 150, 5));
    // 450 tick·lots: 2 lots at 100 (200), then floor(250 / 150) = 1 lot at 150.
    const events = book.apply(marketQuote(3, 'buy', 450));
    assert.deepEqual(trades(events), [
      [1, 3, 100, 2],
      [2, 3, 150, 1],
    ]);
    assert.equal(doneOf(events, 3)?.reason, 'filled');
    assert.equal(doneOf(events, 3)?.filledLots, 3);
  });

  it('expires a quote order that cannot afford a single lot', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2));
    const events = book.apply(marketQuote(2, 'buy', 99));
    assert.deepEqual(trades(events), []);
    assert.equal(doneOf(events, 2)?.cause, 'quoteExhausted');
  });

  it('sells by quote budget against bids', () => {
    const book = new OrderBook();
    run(book, limit(1, 'buy', 100, 10));
    const events = book.apply(marketQuote(2, 'sell', 350));
    assert.deepEqual(trades(events), [[1, 2, 100, 3]]);
  });

  it('buys up to its quantity while spending at most its quote cap', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 2), limit(2, 'sell', 200, 5));
    // qty 5, cap 500: 2 lots at 100 (200), then floor(300 / 200) = 1 lot at 200; 2 lots expire.
    const events = book.apply({
      type: 'place',
      orderId: 3,
      account: 3,
      side: 'buy',
      orderType: 'market',
      qtyLots: 5,
      quoteLots: 500,
      timeMs: 9,
    });
    assert.deepEqual(trades(events), [
      [1, 3, 100, 2],
      [2, 3, 200, 1],
    ]);
    assert.deepEqual(
      [doneOf(events, 3)?.reason, doneOf(events, 3)?.cause, doneOf(events, 3)?.remainingLots],
      ['expired', 'quoteExhausted', 2],
    );
  });

  it('is filled when its quantity is reached before its quote cap', () => {
    const book = new OrderBook();
    run(book, limit(1, 'sell', 100, 5));
    const events = book.apply({
      type: 'place',
      orderId: 2,
      account: 2,
      side: 'buy',
      orderType: 'market',
      qtyLots: 3,
      quoteLots: 10_000,
      timeMs: 9,
    });
    assert.deepEqual(trades(events), [[1, 2, 100, 3]]);
    assert.equal(doneOf(events, 2)?.reason, 'filled');
  });
});
