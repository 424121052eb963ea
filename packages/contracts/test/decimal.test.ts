import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_MARKETS, compileMarkets, formatMinor, parseDecimal, parseMinor, toSteps } from '@ballast/contracts';

describe('decimals', () => {
  it('parses plain decimal strings exactly and refuses anything else', () => {
    assert.deepEqual(parseDecimal('0.00100000'), { mantissa: 100000n, scale: 8 });
    for (const bad of ['', '-1', '1e5', '0x10', ' 1', '1.', '.5', 'NaN', '1,5', 12 as unknown]) {
      assert.equal(parseDecimal(bad), null, String(bad));
    }
  });

  it('counts whole steps and refuses a value finer than the step', () => {
    const tick = parseDecimal('0.01')!;
    assert.equal(toSteps(parseDecimal('30000.01')!, tick), 3000001n);
    assert.equal(toSteps(parseDecimal('30000.010000')!, tick), 3000001n);
    assert.equal(toSteps(parseDecimal('30000.015')!, tick), null);
  });

  it('formats minor units with fixed places, and parse(format(x)) = x', () => {
    assert.equal(formatMinor(123n, 8), '0.00000123');
    assert.equal(formatMinor(-5000000000n, 8), '-50.00000000');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.integer({ min: 0, max: 12 }), (x, d) => {
        assert.equal(parseMinor(formatMinor(x, d), d), x);
      }),
    );
  });
});

describe('markets', () => {
  it('compiles the defaults to integer units', () => {
    const m = compileMarkets(DEFAULT_MARKETS).bySymbol.get('BTCUSDT')!;
    assert.equal(m.baseMinorPerLot, 1000n); // 0.00001 BTC = 1000 satoshi
    assert.equal(m.quoteMinorPerTickLot, 10n); // 0.01 × 0.00001 USDT = 1e-7 = 10 × 1e-8
    assert.equal(m.minNotionalTickLots, 50000000n); // 5 USDT / 1e-7
  });

  it('refuses a step finer than the asset decimals, naming the market', () => {
    const bad = { ...DEFAULT_MARKETS, markets: [{ ...DEFAULT_MARKETS.markets[0]!, stepSize: '0.000000001' }] };
    assert.throws(() => compileMarkets(bad), /BTCUSDT.*stepSize|minQty/);
  });
});
