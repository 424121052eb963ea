/**
 * `@ballast/state-nats`: the distributed-mode EventLog (JetStream) and KeyValue (NATS KV).
 *
 * @module
 */
export {
  classifyNatsError,
  createNatsEventLog,
  streamName,
  subjectName,
  type NatsEventLogOptions,
} from './nats-event-log.ts';
export { createNatsKeyValue } from './nats-key-value.ts';
export { connect, type NatsConnection } from '@nats-io/transport-node';
