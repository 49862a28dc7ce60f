// The statuses of a stored inbound message and the channels it comes by: a module of its own, so
// the store's parts (derive, rederive, reprocess-runs) read them without importing store.ts, which
// imports their types (store.ts exports them as before).

/** applied: merged; error: kept for replay; ignored: type not handled; rejected: not HL7/FHIR; duplicate: seen and applied before; pending: waiting for a fetch. */
export const MESSAGE_STATUSES = ['applied', 'error', 'ignored', 'rejected', 'duplicate', 'pending'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export const CHANNELS = ['hl7v2', 'fhir'] as const;
export type Channel = (typeof CHANNELS)[number];
