/**
 * `@ballast/state`: the ports roles use for state (EventLog, KeyValue), log tailing, and the
 * in-process adapters. Backend adapters live in `@ballast/state-*` packages and all pass
 * `@ballast/state/conformance`.
 *
 * @module
 */
export type {
  AppendInput,
  AppendOptions,
  AppendResult,
  AppendsInTransaction,
  EntryHeaders,
  EventLog,
  LogAppend,
  LogEntry,
  WaitOptions,
} from './event-log.ts';
export type { KeyValue, KvEntry, PutOptions } from './key-value.ts';
export { createMemoryKeyValue } from './memory-key-value.ts';
export { tailLog, type TailOptions } from './tail.ts';
export { listInstances, registerInstance, type Instance, type RegisterOptions } from './registry.ts';
export { createLease, parseLeaseValue, type Lease, type LeaseHolder, type LeaseOptions } from './lease.ts';
export { sleep, within } from './waits.ts';
