/**
 * Process lifecycle: one root `AbortSignal`, a visible state machine
 * (`STARTING` → `RUNNING` → `DRAINING` → `DRAINED`, or `FAILED`), and an ordered drain.
 *
 * Drain runs the registered steps in order (e.g. stop accepting → finish in-flight → stop
 * consumers → close stores), each bounded by what is left of the grace period, then aborts the
 * root signal so every loop that still waits stops.
 *
 * @module
 */

/** Lifecycle states. */
export const LifecycleState = {
  Starting: 'STARTING',
  Running: 'RUNNING',
  Draining: 'DRAINING',
  Drained: 'DRAINED',
  Failed: 'FAILED',
} as const;
/** One of {@link LifecycleState}. */
export type LifecycleState = (typeof LifecycleState)[keyof typeof LifecycleState];

/** A step of the drain. It should finish before `signal` aborts (the grace period ran out). */
export type DrainStep = (signal: AbortSignal) => Promise<void> | void;

/** The process lifecycle. */
export interface Lifecycle {
  /** Aborted when the drain finishes (or the grace period runs out). Pass it to every loop. */
  readonly signal: AbortSignal;
  readonly state: LifecycleState;
  /** Marks the process ready to serve. */
  running(): void;
  /** Adds a drain step; steps run in the order added. */
  onDrain(name: string, step: DrainStep): void;
  /**
   * Starts draining (idempotent) and resolves when done. Steps that overrun the grace period
   * are abandoned; the result says which.
   */
  drain(reason: string): Promise<{ readonly timedOut: readonly string[] }>;
  /** Resolves once drained. */
  closed(): Promise<void>;
  /** Every state from now on, as it changes. */
  status(): AsyncIterable<LifecycleState>;
}

/** Options of {@link createLifecycle}. */
export interface LifecycleOptions {
  /** Longest a drain may take. @default 10000 */
  readonly shutdownGraceMs?: number;
  readonly onStep?: (name: string, ms: number, timedOut: boolean) => void;
  /** Timer for the grace period (tests pass a fake one). @default global setTimeout */
  readonly setTimeout?: (fn: () => void, ms: number) => unknown;
}

/** Creates a lifecycle in state `STARTING`. */
export function createLifecycle(options: LifecycleOptions = {}): Lifecycle {
  const root = new AbortController();
  const grace = options.shutdownGraceMs ?? 10_000;
  const steps: [string, DrainStep][] = [];
  const listeners = new Set<(s: LifecycleState) => void>();
  let state: LifecycleState = LifecycleState.Starting;
  let draining: Promise<{ timedOut: string[] }> | undefined;
  let resolveClosed!: () => void;
  const closedP = new Promise<void>((r) => (resolveClosed = r));
  const set = (s: LifecycleState): void => {
    state = s;
    for (const l of listeners) l(s);
  };
  return {
    signal: root.signal,
    get state() {
      return state;
    },
    running() {
      if (state === LifecycleState.Starting) set(LifecycleState.Running);
    },
    onDrain(name, step) {
      steps.push([name, step]);
    },
    drain(reason) {
      draining ??= (async () => {
        set(LifecycleState.Draining);
        const graceController = new AbortController();
        const timer = (options.setTimeout ?? setTimeout)(
          () => graceController.abort(new Error('grace period over')),
          grace,
        );
        const deadline = graceController.signal;
        const timedOut: string[] = [];
        for (const [name, step] of steps) {
          const started = performance.now();
          let over = false;
          if (!deadline.aborted) {
            await Promise.race([
              Promise.resolve()
                .then(() => step(deadline))
                .catch(() => undefined),
              new Promise<void>((r) => deadline.addEventListener('abort', () => ((over = true), r()), { once: true })),
            ]);
          } else over = true;
          if (over) timedOut.push(name);
          options.onStep?.(name, performance.now() - started, over);
        }
        if (typeof timer === 'object' && timer !== null && 'unref' in timer) clearTimeout(timer as NodeJS.Timeout);
        root.abort(new Error(`drained: ${reason}`));
        set(LifecycleState.Drained);
        resolveClosed();
        return { timedOut };
      })();
      return draining;
    },
    closed: () => closedP,
    status() {
      const queue: LifecycleState[] = [];
      let wake: (() => void) | undefined;
      return {
        [Symbol.asyncIterator]: async function* () {
          const l = (s: LifecycleState): void => {
            queue.push(s);
            wake?.();
          };
          listeners.add(l);
          try {
            for (;;) {
              while (queue.length > 0) {
                const s = queue.shift() as LifecycleState;
                yield s;
                if (s === LifecycleState.Drained || s === LifecycleState.Failed) return;
              }
              await new Promise<void>((r) => (wake = r));
            }
          } finally {
            listeners.delete(l);
          }
        },
      };
    },
  };
}
