import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, flushMicrotasks } from '@ballast/testkit';
import type { Role } from '../src/settings.ts';
import {
  Supervisor,
  type Launcher,
  type ReplicaExit,
  type ReplicaProcess,
  type SupervisorEvent,
} from '../src/cluster/supervisor.ts';
import { parseReplicas, DEFAULT_REPLICAS } from '../src/cluster/cluster-settings.ts';
import { replicaArgs } from '../src/cluster/run-cluster.ts';

/** A process the test controls: it reports ready, exits, and records the signals it got. */
class FakeProcess implements ReplicaProcess {
  readonly signals: string[] = [];
  readonly ready: Promise<{ httpUrl: string; opsUrl: string }>;
  readonly exited: Promise<ReplicaExit>;
  #ready!: (a: { httpUrl: string; opsUrl: string }) => void;
  #exit!: (e: ReplicaExit) => void;
  alive = true;
  readonly role: Role;
  readonly slot: number;
  readonly pid: number;
  readonly onTerm: 'exit' | 'hang';
  constructor(role: Role, slot: number, pid: number, onTerm: 'exit' | 'hang') {
    this.role = role;
    this.slot = slot;
    this.pid = pid;
    this.onTerm = onTerm;
    this.ready = new Promise((r) => (this.#ready = r));
    this.exited = new Promise((r) => (this.#exit = r));
  }
  becomeReady(): void {
    this.#ready({ httpUrl: `http://h/${this.role}`, opsUrl: `http://ops/${this.pid}` });
  }
  crash(code = 1): void {
    if (!this.alive) return;
    this.alive = false;
    this.#exit({ code, signal: null });
  }
  kill(signal: 'SIGTERM' | 'SIGKILL'): void {
    this.signals.push(signal);
    if (!this.alive) return;
    if (signal === 'SIGKILL' || this.onTerm === 'exit') {
      this.alive = false;
      this.#exit({ code: signal === 'SIGKILL' ? null : 0, signal: signal === 'SIGKILL' ? 'SIGKILL' : null });
    }
  }
}

function setup(opts: { autoReady?: boolean; onTerm?: 'exit' | 'hang' } = {}) {
  const clock = new FakeClock(0);
  const launched: FakeProcess[] = [];
  const events: SupervisorEvent[] = [];
  let pid = 100;
  const launcher: Launcher = {
    launch(role, slot) {
      const p = new FakeProcess(role, slot, pid++, opts.onTerm ?? 'exit');
      launched.push(p);
      if (opts.autoReady !== false) queueMicrotask(() => p.becomeReady());
      return p;
    },
  };
  const probes = new Map<string, 'ready' | 'unready' | 'silent'>();
  const sup = new Supervisor({
    launcher,
    clock,
    random: () => 0.5,
    probe: async (url) => probes.get(url) ?? 'ready',
    onEvent: (e) => events.push(e),
    restartMinMs: 200,
    restartMaxMs: 3200,
    stableMs: 30_000,
    readyTimeoutMs: 5000,
    drainGraceMs: 2000,
  });
  const live = (role: Role) => launched.filter((p) => p.role === role && p.alive);
  return { clock, sup, launched, events, probes, live };
}

const ONE_EACH = { gateway: 1, oms: 1, matching: 1, ledger: 1, marketdata: 1 };

describe('cluster supervisor', () => {
  it('starts the back roles first and the gateways once those are ready', async () => {
    const { sup, launched } = setup({ autoReady: false });
    const started = sup.start({ ...ONE_EACH, gateway: 2 });
    await flushMicrotasks();
    assert.deepEqual(launched.map((p) => p.role).sort(), ['ledger', 'marketdata', 'matching', 'oms']);
    for (const p of launched) p.becomeReady();
    await flushMicrotasks();
    assert.deepEqual(
      launched.filter((p) => p.role === 'gateway').map((p) => p.slot),
      [0, 1],
    );
    for (const p of launched) p.becomeReady();
    await started;
    assert.ok(sup.status().every((r) => r.ready));
  });

  it('restarts a crashed replica after a backoff that doubles on quick failures and resets once stable', async () => {
    const { sup, clock, live, events } = setup();
    await sup.start(ONE_EACH);
    const delays = (): number[] => events.flatMap((e) => (e.type === 'restarting' && e.role === 'oms' ? [e.inMs] : []));
    for (let i = 0; i < 4; i++) {
      live('oms')[0]!.crash();
      await flushMicrotasks();
      assert.equal(live('oms').length, 0, 'nothing runs during the backoff');
      await clock.advance(delays().at(-1)!);
      assert.equal(live('oms').length, 1, 'restarted after the backoff');
    }
    // half-jittered with random() = 0.5: 0.75 × (200, 400, 800, 1600)
    assert.deepEqual(delays(), [150, 300, 600, 1200]);
    await clock.advance(30_000); // stable
    live('oms')[0]!.crash();
    await flushMicrotasks();
    assert.equal(delays().at(-1), 150);
    const oms = sup.status().find((r) => r.role === 'oms')!;
    assert.equal(oms.restarts, 5);
    assert.equal(oms.replica, 0, 'the slot keeps its number across restarts');
  });

  it('caps the backoff at restartMaxMs', async () => {
    const { sup, clock, live, events } = setup();
    await sup.start(ONE_EACH);
    for (let i = 0; i < 8; i++) {
      live('ledger')[0]!.crash();
      await flushMicrotasks();
      await clock.advance(3200);
    }
    const last = events.filter((e) => e.type === 'restarting').at(-1);
    assert.equal(last?.type === 'restarting' ? last.inMs : -1, 2400); // 0.75 × 3200
  });

  it('kills a replica that does not report ready in time, and restarts it', async () => {
    const { sup, clock, launched, events } = setup({ autoReady: false });
    void sup.scale('ledger', 1);
    await flushMicrotasks();
    const first = launched[0]!;
    await clock.advance(5000);
    assert.deepEqual(first.signals, ['SIGKILL']);
    assert.ok(events.some((e) => e.type === 'killed' && /not ready/.test(e.reason)));
    await clock.advance(200);
    assert.equal(launched.length, 2);
  });

  it('kills a replica that stops answering health probes, but leaves one that answers 503 alone', async () => {
    const { sup, probes, live } = setup();
    await sup.start(ONE_EACH);
    const gw = live('gateway')[0]!;
    const oms = live('oms')[0]!;
    probes.set(`http://ops/${gw.pid}`, 'unready');
    probes.set(`http://ops/${oms.pid}`, 'silent');
    for (let i = 0; i < 9; i++) await sup.probeOnce();
    assert.equal(sup.status().find((r) => r.role === 'gateway')!.state, 'unready');
    assert.deepEqual(oms.signals, []);
    await sup.probeOnce();
    assert.deepEqual(oms.signals, ['SIGKILL'], 'ten silent probes in a row');
    assert.deepEqual(gw.signals, [], 'answering 503 is alive: a dependency is down, restarting would not help');
  });

  it('scales up (resolving when the new replicas are ready) and down (draining with SIGTERM)', async () => {
    const { sup, live } = setup();
    await sup.start(ONE_EACH);
    await sup.scale('oms', 3);
    assert.equal(live('oms').length, 3);
    assert.deepEqual(
      sup
        .status()
        .filter((r) => r.role === 'oms')
        .map((r) => r.replica),
      [0, 1, 2],
    );
    const [a, b, c] = live('oms');
    await sup.scale('oms', 1, [1]);
    assert.deepEqual(b!.signals, ['SIGTERM'], 'the replica named first (least work) goes');
    assert.deepEqual(c!.signals, ['SIGTERM'], 'then the newest');
    assert.deepEqual(a!.signals, []);
    assert.deepEqual(sup.desired().oms, 1);
    assert.equal(sup.status().filter((r) => r.role === 'oms').length, 1);
  });

  it('a scale-down while a scale-up waits withdraws the replicas still starting, and the scale-up resolves', async () => {
    const { sup, launched } = setup({ autoReady: false });
    const started = sup.start(ONE_EACH);
    await flushMicrotasks();
    for (const p of launched) p.becomeReady();
    await flushMicrotasks();
    for (const p of launched) p.becomeReady();
    await started;
    const up = sup.scale('gateway', 3);
    await flushMicrotasks();
    const booting = launched.filter((p) => p.role === 'gateway').slice(1);
    assert.equal(booting.length, 2);
    // a newer decision: only 2 gateways after all; the ready one stays, a booting one goes
    await sup.scale('gateway', 2);
    assert.deepEqual(launched.find((p) => p.role === 'gateway')!.signals, [], 'the ready gateway is kept');
    assert.deepEqual(
      booting.map((p) => p.signals.length),
      [0, 1],
      'the newest booting replica is withdrawn',
    );
    booting[0]!.becomeReady();
    await up;
    assert.equal(sup.status().filter((r) => r.role === 'gateway').length, 2);
  });

  it('removes a replica in backoff before a working one, without starting it', async () => {
    const { sup, clock, live, launched } = setup();
    await sup.start({ ...ONE_EACH, gateway: 2 });
    const [g0, g1] = live('gateway');
    g1!.crash();
    await flushMicrotasks();
    await sup.scale('gateway', 1);
    assert.deepEqual(g0!.signals, []);
    const count = launched.length;
    await clock.advance(10_000);
    assert.equal(launched.length, count, 'the cancelled restart never happens');
  });

  it('SIGKILLs a replica still draining after the grace period', async () => {
    const { sup, clock, live } = setup({ onTerm: 'hang' });
    await sup.start(ONE_EACH);
    const oms = live('oms')[0]!;
    const drained = sup.drain();
    await flushMicrotasks();
    await clock.advance(2000);
    await clock.advance(2000);
    await clock.advance(2000);
    await drained;
    assert.deepEqual(oms.signals, ['SIGTERM', 'SIGKILL']);
  });

  it('drains gateways first, then the oms, then the rest, and restarts nothing meanwhile', async () => {
    const { sup, clock, launched } = setup();
    await sup.start(ONE_EACH);
    const order: Role[] = [];
    for (const p of launched) void p.exited.then(() => order.push(p.role));
    await sup.drain();
    assert.deepEqual(order.slice(0, 2), ['gateway', 'oms']);
    assert.equal(order.length, 5);
    const count = launched.length;
    await clock.advance(60_000);
    assert.equal(launched.length, count);
    await assert.rejects(sup.scale('oms', 2), /draining/);
  });
});

describe('cluster settings', () => {
  it('parses replica counts and refuses bad ones, naming the problem', () => {
    assert.deepEqual(parseReplicas('gateway=3, ledger=2', DEFAULT_REPLICAS), {
      ...DEFAULT_REPLICAS,
      gateway: 3,
      ledger: 2,
    });
    assert.throws(() => parseReplicas('gateway=x', DEFAULT_REPLICAS), /role=count/);
    assert.throws(() => parseReplicas('router=1', DEFAULT_REPLICAS), /unknown role "router"/);
    assert.throws(() => parseReplicas('oms=0', DEFAULT_REPLICAS), /at least one/);
    assert.equal(parseReplicas('matching=3', DEFAULT_REPLICAS).matching, 3); // leader + hot standbys
  });

  it('passes the ballast start flags to replicas, not the supervisor flags', () => {
    assert.deepEqual(
      replicaArgs([
        '--replicas',
        'oms=3',
        '--postgres',
        'postgres://x',
        '--state-dir=/tmp/s',
        '--dev',
        '--control-port',
        '0',
      ]),
      ['--postgres', 'postgres://x', '--dev'],
    );
  });
});
