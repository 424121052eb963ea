import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Database } from '@ballast/db';
import { createOms, type PlaceResult } from '@ballast/oms';
import type { AppendsInTransaction } from '@ballast/state';
import { createSqliteEventLog } from '@ballast/state-sqlite';
import type { Transaction } from 'kysely';
import { ACCOUNT, fundedDb, limitBuy as buy, markets } from './fixtures.ts';

/** An oms whose command log shares its SQLite database; `failAfterWork` makes the next batch fail after its writes. */
const open = async (commandEntries?: 'batch' | 'order') => {
  const db = await fundedDb();
  const log = await createSqliteEventLog(db);
  let failNext = false;
  const logInTransaction: AppendsInTransaction<Transaction<Database>> = {
    appendInTransaction: (logs, work) =>
      log.appendInTransaction(logs, async (trx) => {
        const out = await work(trx);
        if (!failNext) return out;
        failNext = false;
        throw new Error('disk full');
      }),
  };
  const oms = createOms({
    db,
    log,
    markets,
    logInTransaction,
    ...(commandEntries !== undefined ? { commandEntries } : {}),
  });
  const count = async (table: 'orders' | 'outbox' | 'postings') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const available = async () =>
    (await db.selectFrom('balances').select('available').where('account_id', '=', ACCOUNT).executeTakeFirstOrThrow())
      .available;
  return { db, log, oms, count, available, failNextBatch: () => (failNext = true) };
};

describe('oms with the command log in its transaction (embedded)', () => {
  it('commits order, reservation and command together: the command is in the log at acknowledgement, no outbox row', async () => {
    const { db, log, oms, count } = await open();
    const r = await oms.place(buy());
    assert.ok(r.ok && !r.duplicate);
    assert.equal(r.cmdSeq, 1);
    const [entry] = await log.read('cmd.BTCUSDT', 1, 10);
    assert.equal(entry?.key, `o${r.order.id}`);
    assert.equal(JSON.parse(entry!.payload).orderId, Number(r.order.id));
    assert.equal(await count('outbox'), 0);
    assert.equal(await count('postings'), 2);
    await db.destroy();
  });

  it("appends a batch's orders of one symbol as one entry in the batch's own transaction, each answered with its part", async () => {
    const { db, log, oms } = await open();
    const results = await Promise.all(Array.from({ length: 4 }, () => oms.place(buy())));
    assert.deepEqual(
      results.map((r) => (r.ok ? [r.cmdSeq, r.cmdPart] : r.reason)),
      [0, 1, 2, 3].map((part) => [1, part]),
    );
    const [entry] = await log.read('cmd.BTCUSDT', 1, 10);
    const ids = results.map((r) => (r.ok ? Number(r.order.id) : 0));
    assert.equal(entry?.key, `b${ids[0]}-4`);
    assert.deepEqual(
      (JSON.parse(entry!.payload) as { orderId: number }[]).map((c) => c.orderId),
      ids,
    );
    await db.destroy();
  });

  it("with commandEntries 'order' (a rollout beside older readers), appends one entry per order, as before batch entries", async () => {
    const { db, log, oms } = await open('order');
    const results = await Promise.all(Array.from({ length: 3 }, () => oms.place(buy())));
    assert.deepEqual(
      results.map((r) => (r.ok ? [r.cmdSeq, r.cmdPart] : r.reason)),
      [
        [1, undefined],
        [2, undefined],
        [3, undefined],
      ],
    );
    const entries = await log.read('cmd.BTCUSDT', 1, 10);
    assert.deepEqual(
      entries.map((e) => [e.key, (JSON.parse(e.payload) as { orderId: number }).orderId]),
      results.map((r) => (r.ok ? [`o${r.order.id}`, Number(r.order.id)] : [])),
    );
    const cancels = await Promise.all(
      results.map((r) => oms.cancel({ accountId: ACCOUNT, symbol: 'BTCUSDT', orderId: r.ok ? r.order.id : 0n })),
    );
    assert.deepEqual(
      cancels.map((c) => (c.ok ? [c.cmdSeq, c.cmdPart] : c.reason._tag)),
      [
        [4, undefined],
        [5, undefined],
        [6, undefined],
      ],
    );
    await db.destroy();
  });

  it('answers a retry in the same batch with the original order, and appends its command once', async () => {
    const { db, log, oms, count } = await open();
    const [a, b] = await Promise.all([oms.place(buy('same')), oms.place(buy('same'))]);
    assert.ok(a.ok && b.ok);
    assert.equal(a.order.id, b.order.id);
    assert.deepEqual([a.duplicate, b.duplicate], [false, true]);
    assert.equal(await count('orders'), 1);
    assert.equal(await log.lastSeq('cmd.BTCUSDT'), 1);
    await db.destroy();
  });

  it("does not write an order whose caller gave up while it waited for its lane: it is answered with the abort's reason, never dispatched; the others of its batch are dispatched and written", async () => {
    const { db, log, oms, count } = await open();
    const caller = new AbortController();
    const dispatched: string[] = [];
    // Queued in this turn; the lane writes its batch on a later one, after the caller gave up.
    const given = oms.place(buy('gone'), { signal: caller.signal, onDispatched: () => void dispatched.push('gone') });
    const kept = oms.place(buy('kept'), {
      signal: new AbortController().signal,
      onDispatched: () => void dispatched.push('kept'),
    });
    assert.deepEqual(dispatched, [], 'not before its batch starts');
    caller.abort(new Error('the caller left'));
    await assert.rejects(given, /the caller left/);
    const r = await kept;
    assert.ok(r.ok && r.order.clientOrderId === 'kept');
    assert.deepEqual(dispatched, ['kept']);
    assert.equal(await count('orders'), 1);
    assert.equal(await log.lastSeq('cmd.BTCUSDT'), 1);
    await db.destroy();
  });

  it('when the batch fails after its writes, rejects every order in it (retries too) and keeps nothing of it', async () => {
    const { db, log, oms, count, available, failNextBatch } = await open();
    const before = await available();
    failNextBatch();
    const results = await Promise.allSettled([oms.place(buy('x')), oms.place(buy('x')), oms.place(buy())]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected', 'rejected'],
    );
    assert.equal(await count('orders'), 0);
    assert.equal(await count('postings'), 0);
    assert.equal(await available(), before);
    assert.equal(await log.lastSeq('cmd.BTCUSDT'), 0);
    // The next batch works, and its command takes sequence 1 (nothing of the failed one is left).
    const ok: PlaceResult = await oms.place(buy('x'));
    assert.ok(ok.ok && !ok.duplicate);
    assert.equal(ok.cmdSeq, 1);
    await db.destroy();
  });
});
