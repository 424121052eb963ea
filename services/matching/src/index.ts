/**
 * `@ballast/matching`: the matching role (shards, leases, hot standbys).
 *
 * @module
 */
export {
  commandLog,
  createMatching,
  eventLog,
  leaseKey,
  replicaKey,
  type Matching,
  type MatchingConfig,
} from './matching.ts';
export { createShardMap, parseShardMap, ringShard, type ShardMap, type ShardMapOptions } from './shard-map.ts';
export {
  createSymbolReplica,
  type LeadOutcome,
  type SymbolReplica,
  type SymbolReplicaConfig,
} from './symbol-replica.ts';
export { verifySymbolLog, type SymbolLogReport } from './verify-log.ts';
