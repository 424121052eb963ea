/**
 * `@ballast/matching`: the matching role.
 *
 * @module
 */
export { createMatching, eventLog, type EventEntry, type Matching, type MatchingConfig } from './matching.ts';
