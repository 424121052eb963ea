/**
 * `@ballast/testkit`: helpers for tests.
 *
 * @module
 */
export { FakeClock, flushMicrotasks } from './fake-clock.ts';
export { pollUntil, withApplicationName } from './poll.ts';
export { SERVICES, skipUnlessService } from './services.ts';
export { createTcpProxy, type TcpProxy } from './tcp-proxy.ts';
