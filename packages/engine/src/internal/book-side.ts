/**
 * One side of a book: its levels in a sorted array with the best level last (so the common
 * operations — read, add near or remove the best level — touch the end of the array), and a
 * map from price to level for O(1) lookup.
 *
 * @module
 */
import { Level } from './level.ts';

/** Levels of one side, best last. */
export class BookSide {
  /**
   * `true`: the highest price is best (bids, sell stops);
   * `false`: the lowest price is best (asks, buy stops).
   */
  readonly highestBest: boolean;
  /** Sorted from worst to best. */
  readonly levels: Level[] = [];
  readonly byPrice = new Map<number, Level>();

  constructor(highestBest: boolean) {
    this.highestBest = highestBest;
  }

  /** The best level, or `undefined` when the side is empty. */
  best(): Level | undefined {
    return this.levels[this.levels.length - 1];
  }

  /** The level at `priceTicks`, created (and placed in order) when missing. */
  getOrCreate(priceTicks: number): Level {
    const found = this.byPrice.get(priceTicks);
    if (found !== undefined) return found;
    const level = new Level(priceTicks);
    const levels = this.levels;
    const n = levels.length;
    const top = levels[n - 1];
    if (top === undefined || this.#better(priceTicks, top.priceTicks)) {
      levels.push(level);
    } else {
      levels.splice(this.#insertionIndex(priceTicks), 0, level);
    }
    this.byPrice.set(priceTicks, level);
    return level;
  }

  /** Removes an (empty) level. */
  remove(level: Level): void {
    const levels = this.levels;
    const n = levels.length;
    if (levels[n - 1] === level) {
      levels.pop();
    } else {
      const i = this.#insertionIndex(level.priceTicks);
      if (levels[i] === level) levels.splice(i, 1);
    }
    this.byPrice.delete(level.priceTicks);
  }

  /** True when price `a` is better than price `b` on this side. */
  #better(a: number, b: number): boolean {
    return this.highestBest ? a > b : a < b;
  }

  /** Index of the first level not worse than `priceTicks` (binary search). */
  #insertionIndex(priceTicks: number): number {
    const levels = this.levels;
    let lo = 0;
    let hi = levels.length;
    const highestBest = this.highestBest;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = (levels[mid] as Level).priceTicks;
      const worse = highestBest ? p < priceTicks : p > priceTicks;
      if (worse) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
