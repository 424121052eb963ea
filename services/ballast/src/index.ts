/**
 * `@ballast/ballast`: the program's wiring, for tests and embedding.
 *
 * @module
 */
export { loadMarkets, openStore, startBallast, type RunningBallast } from './app.ts';
export { START_SETTINGS, type StartSettings } from './settings.ts';
