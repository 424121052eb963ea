/**
 * A deliberately naive order book used as a test oracle: arrays, linear scans, sorting on every
 * match. Supports limit GTC/IOC/FOK, market by quantity and cancel, with no self-trade
 * prevention. Obviously correct rather than fast.
 */
export interface RefOrder {
  id: number;
  side: 'buy' | 'sell';
  price: number;
  qty: number;
  /** Arrival order: lower = earlier. */
  time: number;
}

export class ReferenceBook {
  orders: RefOrder[] = [];
  #time = 0;

  /** Returns trades as [makerId, takerId, price, qty]. */
  limit(id: number, side: 'buy' | 'sell', price: number, qty: number, tif: 'GTC' | 'IOC' | 'FOK'): number[][] {
    if (tif === 'FOK') {
      const avail = this.#crossing(side, price).reduce((s, o) => s + o.qty, 0);
      if (avail < qty) return [];
    }
    const [trades, left] = this.#take(id, side, price, qty);
    if (left > 0 && tif === 'GTC') this.orders.push({ id, side, price, qty: left, time: this.#time++ });
    return trades;
  }

  market(id: number, side: 'buy' | 'sell', qty: number): number[][] {
    return this.#take(id, side, undefined, qty)[0];
  }

  cancel(id: number): void {
    this.orders = this.orders.filter((o) => o.id !== id);
  }

  /** Levels of a side, best first: [price, qty]. */
  depth(side: 'buy' | 'sell'): [number, number][] {
    const m = new Map<number, number>();
    for (const o of this.orders) if (o.side === side) m.set(o.price, (m.get(o.price) ?? 0) + o.qty);
    return [...m].sort((a, b) => (side === 'buy' ? b[0] - a[0] : a[0] - b[0]));
  }

  #crossing(side: 'buy' | 'sell', price: number | undefined): RefOrder[] {
    return this.orders
      .filter((o) => o.side !== side && (price === undefined || (side === 'buy' ? o.price <= price : o.price >= price)))
      .sort((a, b) => (side === 'buy' ? a.price - b.price : b.price - a.price) || a.time - b.time);
  }

  #take(id: number, side: 'buy' | 'sell', price: number | undefined, qty: number): [number[][], number] {
    const trades: number[][] = [];
    let left = qty;
    for (const m of this.#crossing(side, price)) {
      if (left === 0) break;
      const q = Math.min(left, m.qty);
      trades.push([m.id, id, m.price, q]);
      m.qty -= q;
      left -= q;
    }
    this.orders = this.orders.filter((o) => o.qty > 0);
    return [trades, left];
  }
}
