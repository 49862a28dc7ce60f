// The Store interface: durable inbound messages, merged records and (for the outbound stage)
// transactions. SQLite (sqlite.ts) implements it; a PostgreSQL implementation follows the same
// contract and the same shared test suite (store.suite.ts).
import type { Problem } from '../cdsr/problem.js';
import type { Encounter, Transaction, TransactionStatus } from '../cdsr/schema.js';
import type { FieldMap } from '../mapping/merge.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { RecordState } from './evaluate.js';

export type Channel = 'hl7v2' | 'fhir';
/** applied: merged; error: kept for replay; ignored: type not handled; rejected: not HL7/FHIR; duplicate: seen and applied before; pending: waiting for a fetch. */
export type MessageStatus = 'applied' | 'error' | 'ignored' | 'rejected' | 'duplicate' | 'pending';

export interface InboundMeta {
  readonly channel: Channel;
  /** MSH-3 / the API key's name / the notification's subscription. */
  readonly sender: string;
  /** MSH-10, resource type/id/version, or subscription#event. */
  readonly controlId: string;
  readonly contentType: string;
  readonly raw: string;
  readonly receivedAt: Date;
  /** Audit: the credential (key#N, never the key) or listener (mllp, open) it came through. */
  readonly auth?: string;
}

export interface IngestResult {
  readonly messageId: number;
  readonly status: MessageStatus;
  /** The message this one duplicates, for status duplicate. */
  readonly duplicateOf?: number;
}

export interface MessageRow {
  readonly id: number;
  readonly receivedAt: string;
  readonly channel: Channel;
  readonly sender: string;
  readonly controlId: string;
  readonly contentType: string;
  readonly auth: string;
  readonly hash: string;
  readonly status: MessageStatus;
  readonly problems: Problem[];
}

export interface ConsultationRow {
  readonly consultationKey: string;
  readonly state: RecordState;
  readonly missing: string[];
  readonly problems: Problem[];
  /** What NRDR said when it rejected the record. */
  readonly nrdrProblems: Problem[];
  readonly fields: FieldMap;
  readonly cancelled: boolean;
  readonly transactionId?: string;
}

export interface RecordView {
  readonly encounterKey: string;
  readonly facilityId: string;
  readonly encounterId: string;
  readonly partnerId?: string;
  readonly fields: FieldMap;
  readonly consultationDefaults: FieldMap;
  readonly consultations: ConsultationRow[];
}

export interface RecordSummary {
  readonly encounterKey: string;
  readonly facilityId: string;
  readonly encounterId: string;
  readonly consultationKey: string;
  readonly state: RecordState;
  readonly missing: string[];
}

export interface SubscriptionView {
  readonly subscription: string;
  readonly received: number;
  /** The latest event number the server said it has sent (events-since-subscription-start). */
  readonly reportedSince: number;
  /** Event numbers up to reportedSince that never arrived (at most 1,000 listed): re-query them. */
  readonly missing: number[];
  readonly lastSeenAt: string;
}

/** created: stored, not yet accepted by NRDR (re-POSTed after a crash); posted: NRDR took it,
 * polling; done: a final NRDR status; failed: NRDR refused the POST (400/403). */
export type OutboundStatus = 'created' | 'posted' | 'done' | 'failed';

export interface OutboundRecord {
  readonly encounterKey: string;
  readonly consultationKey: string;
  readonly contentHash: string;
}

export interface TransactionRow {
  readonly transactionId: string;
  readonly facilityId: string;
  readonly partnerId: string;
  readonly appId: string;
  readonly status: OutboundStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly attempts: number;
  readonly lastError?: string;
  /** NRDR's last status answer. */
  readonly nrdr?: TransactionStatus;
  readonly body: Transaction;
  readonly records: (OutboundRecord & { readonly result?: 'accepted' | 'rejected'; readonly problems: Problem[] })[];
}

export interface RecordResult extends OutboundRecord {
  readonly result: 'accepted' | 'rejected';
  readonly problems: Problem[];
}

export interface Store {
  /** Stores a message and its mapping outcome, merging a mapped record, in one transaction. */
  ingest(meta: InboundMeta, outcome: MapOutcome): Promise<IngestResult>;
  /** Re-runs a stored message (error/pending) through `remap`; returns the new status. */
  replay(id: number, remap: (m: MessageRow & { raw: string }) => MapOutcome): Promise<MessageStatus>;
  messages(filter: { status?: MessageStatus; limit?: number; afterId?: number }): Promise<MessageRow[]>;
  message(id: number): Promise<(MessageRow & { raw: string }) | undefined>;
  records(filter: { state?: RecordState; limit?: number }): Promise<RecordSummary[]>;
  record(encounterKey: string): Promise<RecordView | undefined>;
  /** The wire encounter of each consultation in a state (for batching), in key order, a page at a time. */
  wireEncounters(state: RecordState, limit: number, after?: { encounterKey: string; consultationKey: string }): Promise<{ encounterKey: string; consultationKey: string; facilityId: string; partnerId?: string; wire: Encounter; contentHash: string }[]>;
  /** Keeps FHIR resources (latest version per Type/id) for reference resolution. */
  saveResources(resources: readonly { readonly key: string; readonly version: string; readonly body: string }[], messageId: number): Promise<void>;
  resource(key: string): Promise<string | undefined>;
  /** Records the event numbers a subscription notification carried. */
  recordEvents(subscription: string, eventNumbers: readonly number[], reportedSince: number | undefined, at: Date): Promise<void>;
  subscriptions(): Promise<SubscriptionView[]>;
  /** Stores a transaction about to be POSTed and marks its records submitted, in one transaction. */
  createTransaction(body: Transaction, records: readonly OutboundRecord[], at: Date): Promise<void>;
  updateTransaction(id: string, patch: { status: OutboundStatus; nrdr?: TransactionStatus; error?: string; attempted?: boolean }, at: Date): Promise<void>;
  /** NRDR's verdict per record; a record changed since it was sent keeps its new state. */
  recordResults(id: string, results: readonly RecordResult[], at: Date): Promise<void>;
  /** In creation order; `after` (a Transaction_ID) pages through them. */
  transactions(filter: { status?: OutboundStatus; limit?: number; after?: string }): Promise<TransactionRow[]>;
  transaction(id: string): Promise<TransactionRow | undefined>;
  /** How many messages per status, records per state, transactions per status (for /metrics). */
  counts(): Promise<{ messages: Record<string, number>; records: Record<string, number>; transactions: Record<string, number> }>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class StoreUnavailableError extends Error {}
