import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { OrderBook, encodeEvents, type BookEvent, type Command, type PlaceCommand } from '@ballast/engine';
import { ReferenceBook } from './reference-book.ts';
import { trades } from './helpers.ts';

const side = fc.constantFrom('buy' as const, 'sell' as const);
const price = fc.integer({ min: 95, max: 105 });
const qty = fc.integer({ min: 1, max: 6 });
const account = fc.integer({ min: 1, max: 3 });
const stp = fc.constantFrom('none', 'expireTaker', 'expireMaker', 'expireBoth', 'decrementCancel' as const);

/** Raw steps; ids are assigned in order (with an occasional reuse) by `toCommands`. */
const step = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('limit' as const),
      side,
      price,
      qty,
      account,
      stp,
      tif: fc.constantFrom('GTC', 'GTC', 'IOC', 'FOK' as const),
      postOnly: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('market' as const),
      side,
      qty,
      account,
      stp,
      by: fc.constantFrom('qty', 'quote', 'both' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('stop' as const),
      side,
      price,
      trigger: price,
      qty,
      account,
      market: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('cancel' as const), back: fc.nat(12) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('amend' as const),
      back: fc.nat(12),
      price: fc.option(price),
      qty: fc.option(qty),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reuse' as const), back: fc.nat(12), side, price, qty }) },
);

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

function toCommands(steps: readonly Step[]): Command[] {
  let next = 1;
  const target = (back: number) => Math.max(1, next - 1 - back);
  return steps.map((s, timeMs): Command => {
    switch (s.k) {
      case 'limit':
        return {
          type: 'place',
          orderId: next++,
          account: s.account,
          side: s.side,
          orderType: 'limit',
          priceTicks: s.price,
          qtyLots: s.qty,
          tif: s.tif,
          postOnly: s.postOnly && s.tif === 'GTC',
          stp: s.stp,
          timeMs,
        };
      case 'market':
        return {
          type: 'place',
          orderId: next++,
          account: s.account,
          side: s.side,
          orderType: 'market',
          ...(s.by !== 'quote' ? { qtyLots: s.qty } : {}),
          ...(s.by !== 'qty' ? { quoteLots: s.qty * 70 } : {}),
          stp: s.stp,
          timeMs,
        };
      case 'stop':
        return s.market
          ? {
              type: 'place',
              orderId: next++,
              account: s.account,
              side: s.side,
              orderType: 'stopMarket',
              triggerPriceTicks: s.trigger,
              qtyLots: s.qty,
              timeMs,
            }
          : {
              type: 'place',
              orderId: next++,
              account: s.account,
              side: s.side,
              orderType: 'stopLimit',
              triggerPriceTicks: s.trigger,
              priceTicks: s.price,
              qtyLots: s.qty,
              timeMs,
            };
      case 'cancel':
        return { type: 'cancel', orderId: target(s.back), timeMs };
      case 'amend':
        return {
          type: 'amend',
          orderId: target(s.back),
          timeMs,
          ...(s.price !== null ? { priceTicks: s.price } : {}),
          ...(s.qty !== null ? { qtyLots: s.qty } : {}),
        };
      case 'reuse':
        return {
          type: 'place',
          orderId: target(s.back),
          account: 1,
          side: s.side,
          orderType: 'limit',
          priceTicks: s.price,
          qtyLots: s.qty,
          timeMs,
        };
    }
  });
}

const runs = { numRuns: 300 };

describe('order book properties', () => {
  it('is never crossed after a command', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 150, size: 'max' }), (steps) => {
        const book = new OrderBook();
        for (const c of toCommands(steps)) {
          book.apply(c);
          const bid = book.bestBid();
          const ask = book.bestAsk();
          if (bid !== undefined && ask !== undefined) assert.ok(bid < ask, `crossed: bid ${bid} >= ask ${ask}`);
        }
      }),
      runs,
    );
  });

  it('accounts for every lot: placed = filled + canceled/expired/reduced + resting, and levels sum their orders', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 150, size: 'max' }), (steps) => {
        const book = new OrderBook();
        const live = new Map<number, { placed: number; open: number; filled: number; gone: number }>();
        const ended = new Map<number, { placed: number; filled: number; gone: number }>();
        for (const c of toCommands(steps)) {
          const events = book.apply(c);
          for (const e of events) {
            if (e.type === 'accepted') {
              const q = (c as PlaceCommand).qtyLots ?? 0;
              live.set(e.orderId, { placed: q, open: q, filled: 0, gone: 0 });
            }
            const acct = (id: number) => live.get(id) as { placed: number; open: number; filled: number; gone: number };
            if (e.type === 'trade') {
              for (const id of [e.makerOrderId, e.takerOrderId]) {
                const a = acct(id);
                if (a.placed > 0) a.open -= e.qtyLots;
                a.filled += e.qtyLots;
              }
            } else if (e.type === 'reduced') {
              const a = acct(e.orderId);
              if (a.placed > 0) {
                a.open -= e.byLots;
                a.gone += e.byLots;
              }
            } else if (e.type === 'amended') {
              const a = acct(e.orderId);
              a.placed += e.qtyLots - a.open;
              a.open = e.qtyLots;
            } else if (e.type === 'done') {
              const a = acct(e.orderId);
              assert.equal(e.filledLots, a.filled, `filled of ${e.orderId}`);
              if (a.placed > 0) assert.equal(e.remainingLots, a.open, `remaining of ${e.orderId}`);
              a.gone += e.remainingLots;
              live.delete(e.orderId);
              ended.set(e.orderId, { placed: a.placed, filled: a.filled, gone: a.gone });
            }
          }
        }
        for (const [id, a] of ended) if (a.placed > 0) assert.equal(a.placed, a.filled + a.gone, `ended order ${id}`);
        const levelSums = new Map<string, number>();
        for (const [id, a] of live) {
          const o = book.getOrder(id);
          assert.ok(o, `order ${id} has no done event but is not in the book`);
          assert.equal(o.openLots, a.open, `open of ${id}`);
          assert.equal(o.filledLots, a.filled, `filled of ${id}`);
          assert.equal(a.placed, a.filled + a.gone + a.open, `live order ${id}`);
          if (!o.pending)
            levelSums.set(`${o.side}:${o.priceTicks}`, (levelSums.get(`${o.side}:${o.priceTicks}`) ?? 0) + o.openLots);
        }
        const depth = new Map<string, number>();
        for (const s of ['buy', 'sell'] as const)
          for (const l of book.depth(s)) depth.set(`${s}:${l.priceTicks}`, l.qtyLots);
        assert.deepEqual(depth, levelSums);
        assert.equal(book.stats().restingOrders + book.stats().pendingStops, live.size);
      }),
      runs,
    );
  });

  it('matches in price-time priority: the same trades and depth as a naive reference book', () => {
    const noStp = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          k: fc.constant('limit' as const),
          side,
          price,
          qty,
          tif: fc.constantFrom('GTC', 'GTC', 'IOC', 'FOK' as const),
        }),
      },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('market' as const), side, qty }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant('cancel' as const), back: fc.nat(12) }) },
    );
    fc.assert(
      fc.property(fc.array(noStp, { minLength: 10, maxLength: 150, size: 'max' }), (steps) => {
        const book = new OrderBook();
        const ref = new ReferenceBook();
        let next = 1;
        steps.forEach((s, timeMs) => {
          let got: BookEvent[];
          let want: number[][] = [];
          if (s.k === 'limit') {
            const id = next++;
            got = book.apply({
              type: 'place',
              orderId: id,
              account: 1,
              side: s.side,
              orderType: 'limit',
              priceTicks: s.price,
              qtyLots: s.qty,
              tif: s.tif,
              timeMs,
            });
            want = ref.limit(id, s.side, s.price, s.qty, s.tif);
          } else if (s.k === 'market') {
            const id = next++;
            got = book.apply({
              type: 'place',
              orderId: id,
              account: 1,
              side: s.side,
              orderType: 'market',
              qtyLots: s.qty,
              timeMs,
            });
            want = ref.market(id, s.side, s.qty);
          } else {
            const id = Math.max(1, next - 1 - s.back);
            got = book.apply({ type: 'cancel', orderId: id, timeMs });
            ref.cancel(id);
          }
          assert.deepEqual(trades(got), want);
          for (const sd of ['buy', 'sell'] as const) {
            assert.deepEqual(
              book.depth(sd).map((l) => [l.priceTicks, l.qtyLots]),
              ref.depth(sd),
            );
          }
        });
      }),
      runs,
    );
  });

  it('level events alone rebuild the visible book', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 150, size: 'max' }), (steps) => {
        const book = new OrderBook();
        const levels = new Map<string, number>();
        for (const c of toCommands(steps)) {
          for (const e of book.apply(c)) {
            if (e.type !== 'level') continue;
            if (e.qtyLots === 0) levels.delete(`${e.side}:${e.priceTicks}`);
            else levels.set(`${e.side}:${e.priceTicks}`, e.qtyLots);
          }
        }
        const depth = new Map<string, number>();
        for (const s of ['buy', 'sell'] as const)
          for (const l of book.depth(s)) depth.set(`${s}:${l.priceTicks}`, l.qtyLots);
        assert.deepEqual(levels, depth);
      }),
      runs,
    );
  });

  it('snapshot at any point + replay of the rest = the uninterrupted run, byte for byte', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 120, size: 'max' }), fc.nat(), (steps, cutSeed) => {
        const cmds = toCommands(steps);
        const cut = cmds.length === 0 ? 0 : cutSeed % (cmds.length + 1);
        const whole = new OrderBook({ dedupWindow: 64 });
        const reference = encodeEvents(cmds.flatMap((c) => whole.apply(c)));
        const first = new OrderBook({ dedupWindow: 64 });
        const head = cmds.slice(0, cut).flatMap((c) => first.apply(c));
        const second = OrderBook.restore(first.snapshot());
        const tail = cmds.slice(cut).flatMap((c) => second.apply(c));
        assert.deepEqual(encodeEvents([...head, ...tail]), reference);
        assert.deepEqual(second.snapshot(), whole.snapshot());
      }),
      runs,
    );
  });
});
