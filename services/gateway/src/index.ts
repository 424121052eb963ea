/**
 * `@ballast/gateway`: the REST + WebSocket API in Binance's shapes, and the admin API.
 *
 * @module
 */
export { buildAdmin, buildGateway, type Gateway, type GatewayDeps } from './app.ts';
export { createOrderResults, type OrderResults } from './order-results.ts';
export { ApiCode } from './api-error.ts';
export { installGracefulClose, type GracefulCloseOptions } from './graceful-close.ts';
export { parseStream, sendBounded, type BoundedSocket } from './ws-hub.ts';
export { createRemoteOms, type OrderEntry, type RemoteOms, type RemoteOmsOptions } from './remote-oms.ts';
