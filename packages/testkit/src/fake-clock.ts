/**
 * A fake clock: time moves only when a test says so, and timers fire in due order as it moves.
 * Implements the `Clock` shape the resilience package takes.
 *
 * @module
 */

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/** A controllable clock. */
export class FakeClock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];

  /** @param startMs - Initial time. @default 0 */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  /** Current time in ms. */
  now = (): number => this.#now;

  /** Schedules `fn` after `ms`; returns a handle for {@link clearTimeout}. */
  setTimeout = (fn: () => void, ms: number): number => {
    const t = { id: ++this.#seq, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(t);
    return t.id;
  };

  /** Cancels a timer (unknown handles are ignored). */
  clearTimeout = (handle: unknown): void => {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  };

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order (each at its own time), and lets
   * promise callbacks run between them.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await flushMicrotasks();
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#timers[0];
      if (next === undefined || next.at > end) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
    await flushMicrotasks();
  }
}

/** Lets pending promise callbacks run (several rounds, for chains). */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
