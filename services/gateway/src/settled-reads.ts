/**
 * Read your writes: an account's reads (balances, trades, orders) come from what the ledger has
 * settled, a batch after matching. Before such a read, wait until the ledger has settled every
 * entry this process has seen that fills, ends or rejects an order of the account — so a client
 * just answered FILLED sees the trade, its balances and the order status in its next read.
 *
 * @module
 */
import type { Ledger } from '@ballast/ledger';
import type { OrderResults } from './order-results.ts';

/** The wait before an account's reads. */
export interface SettledReads {
  /**
   * Resolves once the ledger has settled, for each of `symbols`, what this process has seen of
   * `accountId`'s orders, or once `waitMs` has passed in all (the ledger lagging, or down: the
   * read then answers what is settled). While the ledger has not moved since a wait gave up,
   * reads on that symbol do not wait again. Never rejects for a timeout.
   */
  settled(accountId: bigint, symbols: readonly string[]): Promise<void>;
}

/** Creates the wait. `waitMs` bounds one read's wait over all its symbols. @default 500 */
export function createSettledReads(deps: {
  readonly results: Pick<OrderResults, 'settleTarget'>;
  readonly ledger: Pick<Ledger, 'appliedSeq'>;
  readonly waitMs?: number;
}): SettledReads {
  const waitMs = deps.waitMs ?? 500;
  /** The highest ledger offset seen per symbol, so reads already covered skip the query. */
  const settledSeen = new Map<string, number>();
  /** Per symbol, the offset at which a wait last gave up: no new wait until the ledger moves past it. */
  const gaveUpAt = new Map<string, number>();
  /** One offset query per symbol at a time, shared by every read waiting on that symbol. */
  const inFlight = new Map<string, Promise<number>>();
  const appliedNow = (symbol: string): Promise<number> => {
    let q = inFlight.get(symbol);
    if (q === undefined) {
      q = deps.ledger.appliedSeq(symbol).finally(() => inFlight.delete(symbol));
      inFlight.set(symbol, q);
    }
    return q;
  };
  return {
    async settled(accountId, symbols) {
      const deadline = performance.now() + waitMs;
      for (const symbol of symbols) {
        const target = deps.results.settleTarget(accountId, symbol);
        if (target === 0 || (settledSeen.get(symbol) ?? 0) >= target) continue;
        for (;;) {
          const applied = await appliedNow(symbol);
          if (applied > (settledSeen.get(symbol) ?? 0)) settledSeen.set(symbol, applied);
          if (applied >= target) break;
          const stuck = gaveUpAt.get(symbol);
          if (stuck !== undefined && applied <= stuck) break;
          if (performance.now() >= deadline) {
            gaveUpAt.set(symbol, applied);
            break;
          }
          gaveUpAt.delete(symbol);
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    },
  };
}
