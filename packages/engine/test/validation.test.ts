import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderBook, type Command } from '@ballast/engine';
import { limit, run } from './helpers.ts';

const base = {
  type: 'place',
  orderId: 9,
  account: 1,
  side: 'buy',
  orderType: 'limit',
  priceTicks: 100,
  qtyLots: 1,
  timeMs: 0,
};

const cases: [string, unknown, string][] = [
  ['a fractional price', { ...base, priceTicks: 100.5 }, 'INVALID_PRICE'],
  ['a zero price', { ...base, priceTicks: 0 }, 'INVALID_PRICE'],
  ['a price as a string', { ...base, priceTicks: '100' }, 'INVALID_PRICE'],
  ['a price beyond 2^53', { ...base, priceTicks: 2 ** 53 }, 'INVALID_PRICE'],
  ['a negative quantity', { ...base, qtyLots: -1 }, 'INVALID_QUANTITY'],
  ['a NaN quantity', { ...base, qtyLots: Number.NaN }, 'INVALID_QUANTITY'],
  ['a fractional quantity', { ...base, qtyLots: 0.1 }, 'INVALID_QUANTITY'],
  ['an infinite quantity', { ...base, qtyLots: Number.POSITIVE_INFINITY }, 'INVALID_QUANTITY'],
  ['no order id', { ...base, orderId: undefined }, 'INVALID_ORDER_ID'],
  ['a negative account', { ...base, account: -3 }, 'INVALID_ACCOUNT'],
  ['an unknown side', { ...base, side: 'long' }, 'INVALID_SIDE'],
  ['an unknown order type', { ...base, orderType: 'iceberg' }, 'INVALID_ORDER_TYPE'],
  ['an unknown time in force', { ...base, tif: 'GTD' }, 'INVALID_TIME_IN_FORCE'],
  ['an unknown STP mode', { ...base, stp: 'sometimes' }, 'INVALID_STP_MODE'],
  ['a post-only IOC', { ...base, postOnly: true, tif: 'IOC' }, 'INVALID_POST_ONLY'],
  ['a non-boolean post-only', { ...base, postOnly: 'yes' }, 'INVALID_POST_ONLY'],
  ['a market with a price', { ...base, orderType: 'market' }, 'INVALID_PRICE'],
  [
    'a market with neither quantity nor quote',
    { ...base, orderType: 'market', priceTicks: undefined, qtyLots: undefined },
    'INVALID_QUANTITY',
  ],
  ['a stop without trigger', { ...base, orderType: 'stopLimit' }, 'INVALID_TRIGGER_PRICE'],
  ['a limit with a trigger', { ...base, triggerPriceTicks: 5 }, 'INVALID_TRIGGER_PRICE'],
  ['a negative time', { ...base, timeMs: -1 }, 'INVALID_TIME'],
  ['a cancel with a fractional id', { type: 'cancel', orderId: 1.5, timeMs: 0 }, 'INVALID_ORDER_ID'],
  ['an amend with a zero quantity', { type: 'amend', orderId: 1, qtyLots: 0, timeMs: 0 }, 'INVALID_QUANTITY'],
  ['an unknown command type', { type: 'replace', orderId: 1 }, 'INVALID_COMMAND'],
  ['null', null, 'INVALID_COMMAND'],
  ['a string', 'place', 'INVALID_COMMAND'],
];

describe('validation', () => {
  for (const [what, cmd, reason] of cases) {
    it(`rejects ${what} with ${reason} and changes nothing but the sequence`, () => {
      const book = new OrderBook();
      run(book, limit(1, 'sell', 101, 2), limit(2, 'buy', 99, 2));
      const before = new TextDecoder().decode(book.snapshot());
      const events = book.apply(cmd as Command);
      assert.equal(events.length, 1);
      assert.equal(events[0]?.type, 'rejected');
      assert.equal(events[0]?.type === 'rejected' && events[0].reason, reason);
      const after = JSON.parse(new TextDecoder().decode(book.snapshot())) as { seq: number };
      const expected = JSON.parse(before) as { seq: number };
      expected.seq += 1;
      assert.deepEqual(after, expected);
    });
  }

  it('refuses an invalid book configuration', () => {
    assert.throws(() => new OrderBook({ dedupWindow: 0 }), RangeError);
    assert.throws(() => new OrderBook({ defaultStp: 'maybe' as never }), RangeError);
  });
});
