/**
 * The supervisor of `ballast cluster`: keeps N replicas of each role running, the single-machine
 * stand-in for a Kubernetes Deployment controller.
 *
 * - Start order: the back roles (matching, ledger, marketdata, oms) first, the gateways once those
 *   are ready; drain order the reverse (gateways stop taking requests first).
 * - Self-healing: a replica that exits without being asked is started again after a backoff that
 *   doubles with each quick failure (`restartMinMs` … `restartMaxMs`, half jittered) and resets
 *   once a replica stayed up `stableMs`. One that does not report ready within `readyTimeoutMs`,
 *   or stops answering its health probe `livenessFailures` times in a row, is killed (SIGKILL) and
 *   restarted like a crash. A replica answering 503 (a dependency is down) is alive: it is shown
 *   as not ready and left alone — degrade, don't die.
 * - Scaling: {@link Supervisor.scale} adds replicas (resolves when they are ready) or drains the
 *   ones to remove (SIGTERM, then SIGKILL after the grace period): replicas not ready go first, then
 *   the ones the caller names (work-aware removal), then the newest.
 *
 * Processes are made by a {@link Launcher}; the clock and randomness are injected so the policy is
 * tested without real processes or sleeps.
 *
 * @module
 */
import type { Clock } from '@ballast/resilience';
import { ROLES, type Role } from '../settings.ts';

/** Addresses a replica reports once ready. */
export interface ReplicaAddresses {
  /** Its API (gateways: the shared front address) or health address. */
  readonly httpUrl: string;
  /** Its own health and metrics address. */
  readonly opsUrl: string;
  /** Gateways: the admin API address. */
  readonly adminUrl?: string;
}

/** How a process ended. */
export interface ReplicaExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** One started process, as the supervisor sees it. */
export interface ReplicaProcess {
  readonly pid: number;
  /** Resolves once the process reports ready; never resolves if it exits first. */
  readonly ready: Promise<ReplicaAddresses>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ReplicaExit>;
  /** Sends a signal (ignored once exited). */
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
}

/** Starts processes. */
export interface Launcher {
  launch(role: Role, slot: number): ReplicaProcess;
}

/** Probes a replica's health: `ready` (200), `unready` (answered, not 200), `silent` (no answer). */
export type Probe = (opsUrl: string, signal: AbortSignal) => Promise<'ready' | 'unready' | 'silent'>;

/** Lifecycle of a replica slot. */
export const ReplicaState = {
  Starting: 'starting',
  Ready: 'ready',
  Unready: 'unready',
  Draining: 'draining',
  Backoff: 'backoff',
  Stopped: 'stopped',
} as const;
/** @see ReplicaState */
export type ReplicaState = (typeof ReplicaState)[keyof typeof ReplicaState];

/** A replica as `ballast cluster status` shows it. */
export interface ReplicaStatus {
  readonly role: Role;
  /** Stable slot number within its role, from 0. */
  readonly replica: number;
  readonly pid: number | null;
  readonly state: ReplicaState;
  readonly ready: boolean;
  readonly opsUrl: string | null;
  /** Restarts after unrequested exits, kills by the liveness probe included. */
  readonly restarts: number;
  /** Time since the current process started, in ms (0 when none runs). */
  readonly uptimeMs: number;
  readonly lastExit: ReplicaExit | null;
}

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  readonly launcher: Launcher;
  readonly clock: Clock;
  /** Health probe; none disables probing (the state then follows the ready report only). */
  readonly probe?: Probe;
  /** [0, 1). @default Math.random */
  readonly random?: () => number;
  /** @default 250 */
  readonly restartMinMs?: number;
  /** @default 10000 */
  readonly restartMaxMs?: number;
  /** Uptime after which the backoff starts again from `restartMinMs`. @default 30000 */
  readonly stableMs?: number;
  /** @default 30000 */
  readonly readyTimeoutMs?: number;
  /** Time a draining replica gets before SIGKILL. @default 15000 */
  readonly drainGraceMs?: number;
  /** @default 1000 */
  readonly probeIntervalMs?: number;
  /** @default 10 */
  readonly livenessFailures?: number;
  /** Told about restarts, kills and scaling, for the log. */
  readonly onEvent?: (event: SupervisorEvent) => void;
}

/** Something the supervisor did or saw. */
export type SupervisorEvent =
  | { type: 'started'; role: Role; replica: number; pid: number }
  | { type: 'ready'; role: Role; replica: number; pid: number; opsUrl: string }
  | { type: 'exited'; role: Role; replica: number; pid: number; exit: ReplicaExit; expected: boolean }
  | { type: 'restarting'; role: Role; replica: number; inMs: number; restarts: number }
  | { type: 'killed'; role: Role; replica: number; pid: number; reason: string }
  | { type: 'scaled'; role: Role; from: number; to: number };

interface Slot {
  readonly role: Role;
  readonly index: number;
  proc: ReplicaProcess | undefined;
  state: ReplicaState;
  addresses: ReplicaAddresses | undefined;
  restarts: number;
  quickFailures: number;
  startedAtMs: number;
  lastExit: ReplicaExit | null;
  /** Set when the supervisor wants this process gone (drain or scale-down). */
  retiring: boolean;
  silentProbes: number;
  timer: unknown;
  /** Resolves when the slot's current process is ready (for scale-up waits). */
  readyWaiters: (() => void)[];
}

const BACK_ROLES: readonly Role[] = ['matching', 'ledger', 'marketdata', 'oms'];

/** Keeps replicas of each role running; see the module comment. */
export class Supervisor {
  readonly #o: Required<Omit<SupervisorOptions, 'probe' | 'onEvent'>> & Pick<SupervisorOptions, 'probe' | 'onEvent'>;
  readonly #slots = new Map<Role, Slot[]>();
  #draining = false;
  #probeTimer: unknown;
  #probing = false;
  readonly #probeAbort = new AbortController();

  constructor(options: SupervisorOptions) {
    this.#o = {
      random: Math.random,
      restartMinMs: 250,
      restartMaxMs: 10_000,
      stableMs: 30_000,
      readyTimeoutMs: 30_000,
      drainGraceMs: 15_000,
      probeIntervalMs: 1000,
      livenessFailures: 10,
      ...options,
    };
    for (const r of ROLES) this.#slots.set(r, []);
  }

  /** Starts `replicas` per role (back roles first); resolves when every one is ready. */
  async start(replicas: Readonly<Partial<Record<Role, number>>>): Promise<void> {
    const back = BACK_ROLES.map((r) => this.scale(r, replicas[r] ?? 0));
    await Promise.all(back);
    await this.scale('gateway', replicas.gateway ?? 0);
    this.#scheduleProbe();
  }

  /** Replica counts wanted now, per role. */
  desired(): Record<Role, number> {
    const out = {} as Record<Role, number>;
    for (const r of ROLES) out[r] = this.#live(r).length;
    return out;
  }

  /**
   * Sets the replica count of `role`: resolves when added replicas are ready, or removed ones
   * have exited. `prefer` names replica numbers to remove first (work-aware removal).
   */
  async scale(role: Role, replicas: number, prefer: readonly number[] = []): Promise<void> {
    if (!Number.isSafeInteger(replicas) || replicas < 0) throw new RangeError(`invalid replica count ${replicas}`);
    if (this.#draining) throw new Error('the cluster is draining');
    const live = this.#live(role);
    const from = live.length;
    if (replicas === from) return;
    this.#o.onEvent?.({ type: 'scaled', role, from, to: replicas });
    if (replicas > from) {
      const slots = this.#slots.get(role) as Slot[];
      const waits: Promise<void>[] = [];
      for (let n = from; n < replicas; n++) {
        const index = this.#freeIndex(role);
        const slot: Slot = {
          role,
          index,
          proc: undefined,
          state: ReplicaState.Starting,
          addresses: undefined,
          restarts: 0,
          quickFailures: 0,
          startedAtMs: 0,
          lastExit: null,
          retiring: false,
          silentProbes: 0,
          timer: undefined,
          readyWaiters: [],
        };
        slots.push(slot);
        waits.push(new Promise<void>((resolve) => slot.readyWaiters.push(resolve)));
        this.#launch(slot);
      }
      slots.sort((a, b) => a.index - b.index);
      await Promise.all(waits);
      return;
    }
    const rank = (s: Slot): number => {
      if (s.state !== ReplicaState.Ready) return 0;
      const p = prefer.indexOf(s.index);
      return p === -1 ? 1_000_000 - s.index : 1 + p;
    };
    // Not ready first, the newest of them first (an older one is closer to ready), as a ReplicaSet does.
    const victims = [...live].sort((a, b) => rank(a) - rank(b) || b.index - a.index).slice(0, from - replicas);
    await Promise.all(victims.map((s) => this.#retire(s)));
  }

  /** Addresses of the replicas of `role` that reported ready. */
  addresses(role: Role): ReplicaAddresses[] {
    return (this.#slots.get(role) as Slot[]).flatMap((s) => (s.addresses !== undefined ? [s.addresses] : []));
  }

  /** Every replica, by role then replica number. */
  status(): ReplicaStatus[] {
    const now = this.#o.clock.now();
    const out: ReplicaStatus[] = [];
    for (const r of ROLES) {
      for (const s of this.#slots.get(r) as Slot[]) {
        out.push({
          role: r,
          replica: s.index,
          pid: s.proc?.pid ?? null,
          state: s.state,
          ready: s.state === ReplicaState.Ready,
          opsUrl: s.addresses?.opsUrl ?? null,
          restarts: s.restarts,
          uptimeMs: s.proc !== undefined ? now - s.startedAtMs : 0,
          lastExit: s.lastExit,
        });
      }
    }
    return out;
  }

  /** Drains everything: gateways first, then the oms, then the rest; resolves when all exited. */
  async drain(): Promise<void> {
    this.#draining = true;
    this.#probeAbort.abort(new Error('draining'));
    if (this.#probeTimer !== undefined) this.#o.clock.clearTimeout(this.#probeTimer);
    const stage = (roles: readonly Role[]) =>
      Promise.all(roles.flatMap((r) => (this.#slots.get(r) as Slot[]).map((s) => this.#retire(s))));
    await stage(['gateway']);
    await stage(['oms']);
    await stage(['matching', 'ledger', 'marketdata']);
  }

  #live(role: Role): Slot[] {
    return (this.#slots.get(role) as Slot[]).filter((s) => !s.retiring);
  }

  #freeIndex(role: Role): number {
    const used = new Set((this.#slots.get(role) as Slot[]).map((s) => s.index));
    let i = 0;
    while (used.has(i)) i++;
    return i;
  }

  #launch(slot: Slot): void {
    const { clock } = this.#o;
    const proc = this.#o.launcher.launch(slot.role, slot.index);
    slot.proc = proc;
    slot.state = ReplicaState.Starting;
    slot.addresses = undefined;
    slot.silentProbes = 0;
    slot.startedAtMs = clock.now();
    this.#o.onEvent?.({ type: 'started', role: slot.role, replica: slot.index, pid: proc.pid });
    slot.timer = clock.setTimeout(() => {
      if (slot.proc === proc && slot.state === ReplicaState.Starting) {
        this.#o.onEvent?.({
          type: 'killed',
          role: slot.role,
          replica: slot.index,
          pid: proc.pid,
          reason: `not ready within ${this.#o.readyTimeoutMs} ms`,
        });
        proc.kill('SIGKILL');
      }
    }, this.#o.readyTimeoutMs);
    void proc.ready.then((addresses) => {
      if (slot.proc !== proc || slot.retiring) return;
      clock.clearTimeout(slot.timer);
      slot.addresses = addresses;
      slot.state = ReplicaState.Ready;
      this.#o.onEvent?.({
        type: 'ready',
        role: slot.role,
        replica: slot.index,
        pid: proc.pid,
        opsUrl: addresses.opsUrl,
      });
      for (const w of slot.readyWaiters.splice(0)) w();
    });
    void proc.exited.then((exit) => this.#onExit(slot, proc, exit));
  }

  #onExit(slot: Slot, proc: ReplicaProcess, exit: ReplicaExit): void {
    if (slot.proc !== proc) return;
    const { clock } = this.#o;
    clock.clearTimeout(slot.timer);
    slot.proc = undefined;
    slot.lastExit = exit;
    const expected = slot.retiring || this.#draining;
    this.#o.onEvent?.({ type: 'exited', role: slot.role, replica: slot.index, pid: proc.pid, exit, expected });
    if (expected) {
      slot.state = ReplicaState.Stopped;
      this.#remove(slot);
      return;
    }
    const uptimeMs = clock.now() - slot.startedAtMs;
    slot.quickFailures = uptimeMs >= this.#o.stableMs ? 1 : slot.quickFailures + 1;
    const base = Math.min(this.#o.restartMaxMs, this.#o.restartMinMs * 2 ** (slot.quickFailures - 1));
    const inMs = Math.round(base / 2 + (base / 2) * this.#o.random());
    slot.restarts++;
    slot.state = ReplicaState.Backoff;
    this.#o.onEvent?.({ type: 'restarting', role: slot.role, replica: slot.index, inMs, restarts: slot.restarts });
    slot.timer = clock.setTimeout(() => {
      if (!slot.retiring && !this.#draining) this.#launch(slot);
    }, inMs);
  }

  #remove(slot: Slot): void {
    const slots = this.#slots.get(slot.role) as Slot[];
    const i = slots.indexOf(slot);
    if (i !== -1) slots.splice(i, 1);
    for (const w of slot.readyWaiters.splice(0)) w();
  }

  async #retire(slot: Slot): Promise<void> {
    slot.retiring = true;
    const { clock } = this.#o;
    const proc = slot.proc;
    if (proc === undefined) {
      // In backoff: nothing runs; cancel the restart.
      clock.clearTimeout(slot.timer);
      slot.state = ReplicaState.Stopped;
      this.#remove(slot);
      return;
    }
    slot.state = ReplicaState.Draining;
    proc.kill('SIGTERM');
    const killer = clock.setTimeout(() => {
      this.#o.onEvent?.({
        type: 'killed',
        role: slot.role,
        replica: slot.index,
        pid: proc.pid,
        reason: `still draining after ${this.#o.drainGraceMs} ms`,
      });
      proc.kill('SIGKILL');
    }, this.#o.drainGraceMs);
    await proc.exited;
    clock.clearTimeout(killer);
  }

  #scheduleProbe(): void {
    const probe = this.#o.probe;
    if (probe === undefined || this.#draining) return;
    this.#probeTimer = this.#o.clock.setTimeout(() => {
      void this.probeOnce().finally(() => this.#scheduleProbe());
    }, this.#o.probeIntervalMs);
  }

  /** Probes every started replica once (the periodic loop calls this; tests may too). */
  async probeOnce(): Promise<void> {
    const probe = this.#o.probe;
    if (probe === undefined || this.#probing) return;
    this.#probing = true;
    try {
      const checks: Promise<void>[] = [];
      for (const r of ROLES) {
        for (const slot of this.#slots.get(r) as Slot[]) {
          const proc = slot.proc;
          const url = slot.addresses?.opsUrl;
          if (proc === undefined || url === undefined || slot.retiring) continue;
          checks.push(
            probe(url, this.#probeAbort.signal).then((result) => {
              if (slot.proc !== proc || slot.retiring) return;
              if (result === 'silent') {
                if (++slot.silentProbes >= this.#o.livenessFailures) {
                  this.#o.onEvent?.({
                    type: 'killed',
                    role: slot.role,
                    replica: slot.index,
                    pid: proc.pid,
                    reason: `no answer to ${slot.silentProbes} health probes`,
                  });
                  slot.silentProbes = 0;
                  proc.kill('SIGKILL');
                }
                return;
              }
              slot.silentProbes = 0;
              slot.state = result === 'ready' ? ReplicaState.Ready : ReplicaState.Unready;
            }),
          );
        }
      }
      await Promise.all(checks);
    } finally {
      this.#probing = false;
    }
  }
}
