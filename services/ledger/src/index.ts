/**
 * `@ballast/ledger`: the ledger role and its invariants.
 *
 * @module
 */
export {
  MAX_BALANCE_MINOR,
  createLedger,
  postJournal,
  type FeeSchedule,
  type Ledger,
  type LedgerConfig,
  type TransferResult,
} from './ledger.ts';
export { verifyLedger } from './verify.ts';
