/**
 * Remembers which order ids were used, for ids within `size` of the highest id seen: a ring
 * bitmap indexed by id. O(1) per check and per insert (amortised: the bits an advancing high
 * mark passes over are cleared once), 1 bit per id of the window, no hashing.
 *
 * Ids more than `size` below the highest id seen cannot be told apart from duplicates and are
 * reported as too old.
 *
 * @module
 */

/** Result of {@link IdWindow.check}. */
export const IdStatus = { Fresh: 0, Seen: 1, TooOld: 2 } as const;
/** One of {@link IdStatus}. */
export type IdStatus = (typeof IdStatus)[keyof typeof IdStatus];

/** A sliding window of used ids. */
export class IdWindow {
  readonly size: number;
  readonly #bits: Uint32Array;
  readonly #mask: number;
  /** Highest id remembered (0 = none). */
  #high = 0;

  /** @param size - Window length in ids; rounded up to a power of two (at least 32). */
  constructor(size: number) {
    let s = 32;
    while (s < size) s *= 2;
    this.size = s;
    this.#mask = s - 1;
    this.#bits = new Uint32Array(s >>> 5);
  }

  /** Highest id remembered (0 when none). */
  get high(): number {
    return this.#high;
  }

  /** Whether `id` (a positive safe integer) is fresh, already used, or too old to tell. */
  check(id: number): IdStatus {
    if (id > this.#high) return IdStatus.Fresh;
    if (id <= this.#high - this.size) return IdStatus.TooOld;
    const slot = id & this.#mask;
    return (this.#bits[slot >>> 5] as number) & (1 << (slot & 31)) ? IdStatus.Seen : IdStatus.Fresh;
  }

  /** Remembers `id`, which {@link check} reported fresh. */
  add(id: number): void {
    const high = this.#high;
    if (id > high) {
      // Clear the slots of the ids the window now moves past: (high, id).
      const gap = id - high - 1;
      if (gap >= this.size) this.#bits.fill(0);
      else for (let x = high + 1; x < id; x++) this.#clear(x);
      this.#clear(id);
      this.#high = id;
    }
    const slot = id & this.#mask;
    (this.#bits as Uint32Array)[slot >>> 5] = (this.#bits[slot >>> 5] as number) | (1 << (slot & 31));
  }

  /** The window as a JSON-friendly value: `[high, base64 bitmap]`. */
  toJSON(): [number, string] {
    return [
      this.#high,
      Buffer.from(this.#bits.buffer, this.#bits.byteOffset, this.#bits.byteLength).toString('base64'),
    ];
  }

  /** Loads a value from {@link toJSON}; returns false when it does not fit this window. */
  load(value: unknown): boolean {
    if (!Array.isArray(value) || value.length !== 2) return false;
    const [high, b64] = value as [unknown, unknown];
    if (!Number.isSafeInteger(high) || (high as number) < 0 || typeof b64 !== 'string') return false;
    const bytes = Buffer.from(b64, 'base64');
    if (bytes.byteLength !== this.#bits.byteLength) return false;
    new Uint8Array(this.#bits.buffer, this.#bits.byteOffset, this.#bits.byteLength).set(bytes);
    this.#high = high as number;
    return true;
  }

  #clear(id: number): void {
    const slot = id & this.#mask;
    (this.#bits as Uint32Array)[slot >>> 5] = (this.#bits[slot >>> 5] as number) & ~(1 << (slot & 31));
  }
}
