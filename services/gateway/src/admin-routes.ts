/**
 * The admin API: accounts, API keys, deposits and withdrawals, ledger verification. Served on
 * its own listener (127.0.0.1 by default) and protected by a bearer token.
 *
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Database } from '@ballast/db';
import { formatMinor, parseMinor, type Markets } from '@ballast/contracts';
import { MAX_BALANCE_MINOR, verifyLedger, type Ledger } from '@ballast/ledger';
import type { EventLog } from '@ballast/state';
import type { Kysely } from 'kysely';
import { ApiCode, ApiError, badRequest, mandatory } from './api-error.ts';
import { Params } from './params.ts';
import { createAccount } from './rest-routes.ts';

/** What the admin routes need. */
export interface AdminDeps {
  readonly db: Kysely<Database>;
  readonly ledger: Ledger;
  readonly markets: Markets;
  readonly log: EventLog;
  readonly token: string;
  readonly nowMs: () => number;
}

/** Registers the admin API on `app`. */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const expected = Buffer.from(`Bearer ${deps.token}`);
  app.addHook('onRequest', async (req) => {
    if (req.url === '/livez' || req.url === '/readyz' || req.url === '/metrics') return;
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new ApiError(401, ApiCode.RejectedApiKey, 'Missing or wrong admin token (Authorization: Bearer <token>).');
    }
  });

  const accountParam = (p: Params): bigint => {
    const id = p.int('accountId', undefined, 1, Number.MAX_SAFE_INTEGER);
    if (id === undefined) throw mandatory('accountId');
    return BigInt(id);
  };

  app.post('/admin/accounts', async (req) => {
    Params.from(req.query, req.body, []);
    return createAccount(deps.db, deps.nowMs());
  });

  app.post('/admin/api-keys', async (req) => {
    const p = Params.from(req.query, req.body, ['accountId']);
    const accountId = accountParam(p);
    const acct = await deps.db.selectFrom('accounts').select('kind').where('id', '=', accountId).executeTakeFirst();
    if (acct?.kind !== 'user') throw badRequest(ApiCode.InvalidParameter, 'Unknown account.');
    const apiKey = randomBytes(32).toString('hex');
    await deps.db
      .insertInto('api_keys')
      .values({ api_key: apiKey, account_id: accountId, created_ms: deps.nowMs() })
      .execute();
    return { accountId: Number(accountId), apiKey };
  });

  const transfer = (kind: 'deposit' | 'withdraw') => async (req: { query: unknown; body: unknown }) => {
    const p = Params.from(req.query, req.body, ['accountId', 'asset', 'amount', 'transferId']);
    const accountId = accountParam(p);
    const asset = p.req('asset');
    const a = deps.markets.assets.get(asset);
    if (a === undefined) throw badRequest(ApiCode.InvalidParameter, `Unknown asset '${asset}'.`);
    const amount = parseMinor(p.req('amount'), a.decimals);
    if (amount === null)
      throw badRequest(ApiCode.BadPrecision, `Parameter 'amount' is not a decimal with at most ${a.decimals} places.`);
    if (amount <= 0n) throw badRequest(ApiCode.InvalidParameter, "Parameter 'amount' must be greater than zero.");
    const transferId = p.req('transferId');
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(transferId))
      throw badRequest(ApiCode.IllegalChars, "Illegal characters in 'transferId'.");
    const r =
      kind === 'deposit'
        ? await deps.ledger.deposit(accountId, asset, amount, transferId)
        : await deps.ledger.withdraw(accountId, asset, amount, transferId);
    if (!r.ok && r.reason === 'AmountOutOfRange')
      throw badRequest(
        ApiCode.InvalidParameter,
        `Parameter 'amount' would take the total of ${asset} held on the venue beyond ${formatMinor(MAX_BALANCE_MINOR, a.decimals)}, the most a balance can hold.`,
      );
    if (!r.ok && r.reason === 'InsufficientFunds')
      throw badRequest(ApiCode.NewOrderRejected, 'Account has insufficient balance for requested action.');
    if (!r.ok) throw badRequest(ApiCode.InvalidParameter, `Unknown account or asset (${r.reason}).`);
    return { accountId: Number(accountId), asset, amount: p.req('amount'), transferId, duplicate: r.duplicate };
  };
  app.post('/admin/deposits', transfer('deposit'));
  app.post('/admin/withdrawals', transfer('withdraw'));

  app.get('/admin/balances', async (req) => {
    const p = Params.from(req.query, undefined, ['accountId']);
    const accountId = accountParam(p);
    const rows = await deps.db.selectFrom('balances').selectAll().where('account_id', '=', accountId).execute();
    const byAsset = new Map(rows.map((r) => [r.asset, r]));
    return {
      accountId: Number(accountId),
      balances: [...deps.markets.assets.values()].map((a) => ({
        asset: a.asset,
        available: formatMinor(byAsset.get(a.asset)?.available ?? 0n, a.decimals),
        reserved: formatMinor(byAsset.get(a.asset)?.reserved ?? 0n, a.decimals),
      })),
    };
  });

  // How far each stage is behind, per symbol: commands not yet matched, events not yet in the ledger.
  app.get('/admin/lag', async () => {
    const out = [];
    for (const m of deps.markets.list) {
      const cmdSeq = await deps.log.lastSeq(`cmd.${m.symbol}`);
      const evtSeq = await deps.log.lastSeq(`evt.${m.symbol}`);
      const lastEvt = evtSeq === 0 ? undefined : (await deps.log.read(`evt.${m.symbol}`, evtSeq, 1))[0];
      const matchedCmd = lastEvt === undefined ? 0 : (JSON.parse(lastEvt.payload) as { cmdSeq: number }).cmdSeq;
      const ledger = await deps.db
        .selectFrom('consumer_offsets')
        .select('seq')
        .where('consumer', '=', 'ledger')
        .where('log', '=', `evt.${m.symbol}`)
        .executeTakeFirst();
      const ledgerSeq = Number(ledger?.seq ?? 0n);
      const outbox = await deps.db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('log', '=', `cmd.${m.symbol}`)
        .executeTakeFirstOrThrow();
      out.push({
        symbol: m.symbol,
        commands: cmdSeq,
        matchingLag: cmdSeq - matchedCmd,
        events: evtSeq,
        ledgerLag: evtSeq - ledgerSeq,
        outbox: Number(outbox.n),
      });
    }
    return out;
  });

  app.get('/admin/ledger/verify', async () => {
    const problems = await verifyLedger(deps.db);
    return { ok: problems.length === 0, problems };
  });
}
