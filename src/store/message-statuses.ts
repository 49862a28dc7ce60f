// The channels a stored inbound message comes by, and its statuses (declared with their moves in
// states.ts): a module of its own, so the store's parts (derive, rederive, reprocess-runs) read
// them without importing store.ts, which imports their types (store.ts exports them as before).
export { MESSAGE_STATUSES, type MessageStatus } from './states.js';
export const CHANNELS = ['hl7v2', 'fhir'] as const;
export type Channel = (typeof CHANNELS)[number];
