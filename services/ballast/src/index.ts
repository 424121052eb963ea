/**
 * `@ballast/ballast`: the program's wiring, for tests and embedding.
 *
 * @module
 */
export { loadMarkets, startBallast, type RunningBallast } from './app.ts';
export { openDatabase, openStores, type Stores } from './stores.ts';
export { START_SETTINGS, type StartSettings } from './settings.ts';
