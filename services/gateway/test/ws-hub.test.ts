import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_MARKETS, compileMarkets } from '@ballast/contracts';
import { parseStream, sendBounded } from '@ballast/gateway';

const fakeSocket = (bufferedAmount: number, readyState = 1) => {
  const sent: string[] = [];
  let terminated = false;
  return {
    socket: {
      readyState,
      bufferedAmount,
      send: (t: string) => void sent.push(t),
      terminate: () => void (terminated = true),
    },
    sent,
    terminated: () => terminated,
  };
};

describe('slow WebSocket consumers', () => {
  it('sends while the unsent buffer is within the bound', () => {
    const f = fakeSocket(1024);
    assert.equal(sendBounded(f.socket, 'x', 1024), true);
    assert.deepEqual(f.sent, ['x']);
  });
  it('terminates a consumer whose unsent buffer exceeds the bound, sending nothing more', () => {
    const f = fakeSocket(1025);
    assert.equal(sendBounded(f.socket, 'x', 1024), false);
    assert.deepEqual(f.sent, []);
    assert.equal(f.terminated(), true);
  });
  it('skips a socket that is no longer open', () => {
    const f = fakeSocket(0, 3);
    assert.equal(sendBounded(f.socket, 'x', 1024), true);
    assert.deepEqual(f.sent, []);
  });
});

describe('stream names', () => {
  const markets = compileMarkets(DEFAULT_MARKETS);
  it('accepts every Binance stream kind Ballast serves', () => {
    for (const n of [
      'btcusdt@trade',
      'btcusdt@aggTrade',
      'ethusdt@depth',
      'ethusdt@depth@100ms',
      'ethbtc@depth5',
      'ethbtc@depth20@100ms',
      'btcusdt@kline_1m',
      'btcusdt@kline_1M',
      'btcusdt@ticker',
      'btcusdt@bookTicker',
    ]) {
      assert.ok(parseStream(n, markets), n);
    }
  });
  it('refuses unknown symbols, kinds and intervals', () => {
    for (const n of ['dogeusdt@trade', 'btcusdt@trades', 'btcusdt@kline_7m', 'btcusdt@depth7', 'BTCUSDT@trade', '']) {
      assert.equal(parseStream(n, markets), undefined, n);
    }
  });
});
