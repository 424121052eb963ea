/**
 * A binary min-heap keyed by time with insertion order as the tie-breaker, so events at the same
 * instant run in the order they were scheduled (determinism).
 *
 * @module
 */

/** Min-heap of items ordered by `atS`, then by insertion. */
export class EventHeap<T> {
  readonly #items: { atS: number; seq: number; value: T }[] = [];
  #seq = 0;

  get size(): number {
    return this.#items.length;
  }

  /** Time of the earliest item, or `Infinity`. */
  peekTime(): number {
    return this.#items[0]?.atS ?? Infinity;
  }

  push(atS: number, value: T): void {
    const a = this.#items;
    a.push({ atS, seq: this.#seq++, value });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    if (top === undefined) return undefined;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.#less(l, m)) m = l;
        if (r < a.length && this.#less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top.value;
  }

  #less(i: number, j: number): boolean {
    const x = this.#items[i]!;
    const y = this.#items[j]!;
    return x.atS < y.atS || (x.atS === y.atS && x.seq < y.seq);
  }
}
