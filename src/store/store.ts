// The Store contract: durable inbound messages, merged records, cached FHIR resources and the
// outbound ledger. One implementation (sql-store.ts) over two dialects (SQLite, PostgreSQL), one
// shared test suite (store.suite.ts).
import type { Problem } from '../cdsr/problem.js';
import type { Encounter, Transaction, TransactionStatus } from '../cdsr/schema.js';
import type { FieldMap } from '../mapping/merge.js';
import type { Exclusion } from '../mapping/record.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { MessageStatus, OutboundStatus, RecordState } from './states.js';
import type { LedgerGauges, OrderFilter, OrderRow, ReconciliationFilter, ReconciliationRow } from './ledger.js';
import type { AcknowledgeResult, Retraction } from './retraction.js';
import type { ConsultationChange, RederiveOptions, UnitResult } from './rederive.js';
import type { ReprocessRun, ReprocessSelection, ReprocessStatus } from './reprocess-runs.js';
export type { ReprocessRun, ReprocessSelection, ReprocessStatus, ReprocessSummary } from './reprocess-runs.js';
export type { ConsultationChange, FieldChange, MessageChange, RederiveOptions, UnitResult } from './rederive.js';
export type { LedgerGauges, OrderFilter, OrderRow, OrderState, ReconcileBy, ReconciliationFilter, ReconciliationRow } from './ledger.js';
import type { HistoryEntry, ResubmitFilter, ResubmittedRecord } from './resubmit.js';
import type { NrdrStatusEntry } from './nrdr-history.js';
export type { NrdrStatusEntry } from './nrdr-history.js';
export type { HistoryEntry, ResubmitFilter, ResubmittedRecord } from './resubmit.js';
export { ORDER_STATES, ORDER_REASONS, RECONCILE_BY } from './ledger.js';
export type { AcknowledgeResult, Retraction } from './retraction.js';

import type { Channel } from './message-statuses.js';
import type { KeptGuesses } from './guesses.js';
import type { ErrorGroup } from './error-groups.js';
import type { Reclaim } from './sql.js';
export { CHANNELS, MESSAGE_STATUSES, type Channel, type MessageStatus } from './message-statuses.js';
export { OUTBOUND_STATUSES, IN_FLIGHT_STATUSES, type OutboundStatus } from './states.js';

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
  /** A copy an operator edited from a stored message (the console's "edit and reprocess"): which one, and who. */
  readonly editedFrom?: { readonly messageId: number; readonly by: string };
  /** FHIR: the Patient its resource names (`Patient/{id}`, as resolved on arrival: a Bundle's urn:uuid reference too), for the search by MRN. */
  readonly patient?: string;
}

/** The edits of a message: the one it was edited from (by whom, when it was processed), the copies edited from it. */
export interface MessageEdits {
  readonly editedFrom?: { readonly messageId: number; readonly by: string; readonly at: string };
  readonly editedAs: readonly { readonly messageId: number; readonly by: string; readonly at: string }[];
}

export interface IngestResult {
  readonly messageId: number;
  readonly status: MessageStatus;
  /** The message this one duplicates, for status duplicate. */
  readonly duplicateOf?: number;
  /** The problems stored with it: the mapping's, and the merge's when it refused an order. */
  readonly problems: readonly Problem[];
}

/** A message of a queue as the worklist and its dry run read it (queuePage). */
export interface QueuedMessage {
  readonly id: number;
  readonly receivedAt: string;
  readonly channel: Channel;
  /** Messages of a page whose problems are the same text share this array: read only. */
  readonly problems: readonly Problem[];
  /** The text, when asked for. */
  readonly raw?: string;
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

/**
 * Where a consultation's key (its date and time) came from: `cds` = the first source of the key
 * rules (the CDS data itself), `fallback` = a later one (the order's start, its transaction
 * time…), `unknown` = stored before this was kept. A fallback key moves when a message of the
 * order brings a better one.
 */
export type KeySource = 'cds' | 'fallback' | 'unknown';

/** The key source of a rank (ConsultationState.keyRank), both as the record view shows them. */
export function keySourceOf(rank: number | undefined): { keySource: KeySource; keyRank: number | null } {
  return { keySource: rank === undefined ? 'unknown' : rank === 0 ? 'cds' : 'fallback', keyRank: rank ?? null };
}

export interface ConsultationRow {
  readonly consultationKey: string;
  readonly keySource: KeySource;
  /** Its place among the sources of the key rules (0 = first; the rule is the key fields' `rule`); null = unknown. */
  readonly keyRank: number | null;
  readonly state: RecordState;
  readonly missing: string[];
  readonly problems: Problem[];
  /** What NRDR said about the record: its codes when rejected or needs-review, warnings (of a Posted answer) when accepted. */
  readonly nrdrProblems: Problem[];
  readonly fields: FieldMap;
  /** Withheld: cancelled at its source, or excluded by a crosswalk row (then `exclusion` names it). */
  readonly cancelled: boolean;
  /** Excluded, not cancelled: the rule and crosswalk row that say it is not advanced imaging, and the value they read. */
  readonly exclusion?: Exclusion;
  readonly transactionId?: string;
  /** In state cancelled-after-submission: what the site does at NRDR, and its acknowledgement. */
  readonly retraction?: Retraction;
  /** State changes made by hand (resubmit), oldest first. */
  readonly history: HistoryEntry[];
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

/** NRDR's verdict on one record, as far as its answer says. */
export const RECORD_VERDICTS = ['accepted', 'rejected', 'needs-review'] as const satisfies readonly RecordState[];
export type RecordVerdict = (typeof RECORD_VERDICTS)[number];

export interface OutboundRecord {
  readonly encounterKey: string;
  readonly consultationKey: string;
  readonly contentHash: string;
}

export interface TransactionRow {
  readonly transactionId: string;
  /** The connection profile it was sent under (src/profile.ts); null: written before profiles and not yet named. */
  readonly profile: string | null;
  /** The seal of the de-identification step (the test profile's bodies). */
  readonly deidSeal?: string;
  readonly facilityId: string;
  readonly partnerId: string;
  readonly appId: string;
  readonly status: OutboundStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** POSTs claimed (each one a POST that went out, answered or not). */
  readonly attempts: number;
  readonly lastError?: string;
  /** When the last POST was claimed, and under which epoch of the submitter lease. */
  readonly sentAt?: string;
  readonly sentEpoch?: number;
  /** When it is next asked about (sent / posted); absent: at once. */
  readonly nextPollAt?: string;
  /** Status requests made since the last POST (the backoff grows with them). */
  readonly polls: number;
  /** NRDR's last status answer. */
  readonly nrdr?: TransactionStatus;
  /** Every status answer that said something new, oldest first. */
  readonly nrdrHistory: readonly NrdrStatusEntry[];
  readonly body: Transaction;
  readonly records: (OutboundRecord & { readonly result?: RecordVerdict; readonly problems: Problem[] })[];
}

export interface RecordResult extends OutboundRecord {
  readonly result: RecordVerdict;
  readonly problems: Problem[];
}

/** A consultation as the submitter batches it: its wire encounter (with just this consultation) and content hash. */
export interface WireConsultation extends OutboundRecord {
  readonly facilityId: string;
  readonly partnerId?: string;
  readonly wire: Encounter;
}

/** A search of the inbound log: exact control id and sender, a received-at range (ISO 8601, `from` inclusive, `to` exclusive). */
export interface MessageFilter {
  readonly status?: MessageStatus;
  readonly channel?: Channel;
  readonly controlId?: string;
  readonly sender?: string;
  readonly from?: string;
  readonly to?: string;
  readonly limit?: number;
  /** Ascending: ids above this one. */
  readonly afterId?: number;
  /** Newest first: ids below `beforeId` (when given). */
  readonly newestFirst?: boolean;
  /** Only messages whose text is still kept (retention has not purged it). */
  readonly notPurged?: boolean;
  readonly beforeId?: number;
  /** Only messages whose kept text contains this, exactly (case-sensitive; a purged text contains nothing). */
  readonly contains?: string;
}

/** What the Messages list shows beside a row: the text (to read its type), its order numbers, and the status its answer was decided by. */
export interface MessageDetail {
  readonly id: number;
  /** '' when purged by retention or a resend (which keeps no copy). */
  readonly raw: string;
  /** Placer/filler numbers of the orders the ledger links to it, sorted. */
  readonly orderNumbers: readonly string[];
  /** A resend is answered as its first delivery was: that one's status; otherwise its own. */
  readonly answeredAs: MessageStatus;
  /** FHIR: the HTTP status the request that carried it was answered with (kept since migration 23; absent before). */
  readonly answerStatus?: number;
}

/** A stored message as a re-derivation reads it. */
export interface UnitMessage extends MessageRow {
  readonly raw: string;
  /** Its text was purged (retention): only its stored outcome can stand for it. */
  readonly rawPurged: boolean;
  /** The outcome kept when its text was purged (retention): what stands for it from then on. */
  readonly outcome?: MapOutcome;
  /** The encounters it touches. */
  readonly encounters: readonly string[];
}

/** One unit of `rederiveBatch`: what `rederive` takes. */
export interface RederiveItem {
  readonly unit: { readonly encounterKeys: readonly string[]; readonly messageIds: readonly number[] };
  readonly remapped: ReadonlyMap<number, MapOutcome>;
  readonly opts: RederiveOptions;
}

/** The inbound log: every message stored raw with its outcome, its replay, subscription event numbers. */
export interface InboundLog {
  /** Stores a message and its mapping outcome, merging a mapped record, in one transaction. */
  ingest(meta: InboundMeta, outcome: MapOutcome): Promise<IngestResult>;
  /** The messages of a unit (every message of these encounters, and these messages), with their text and stored outcome, for re-mapping. */
  unitMessages(encounterKeys: readonly string[], messageIds: readonly number[]): Promise<UnitMessage[]>;
  /**
   * Re-derives a unit from its messages in one database transaction: each through its outcome in
   * `remapped` (one whose text was purged through the outcome kept for it); returns what changes,
   * and writes it when `apply` is set. A message of the unit not in `remapped` (it arrived meanwhile)
   * asks for another round (`grow`).
   */
  rederive(
    unit: { encounterKeys: readonly string[]; messageIds: readonly number[] },
    remapped: ReadonlyMap<number, MapOutcome>,
    opts: RederiveOptions,
  ): Promise<UnitResult>;
  /**
   * Several units re-derived one after the other in one database transaction (one commit for
   * all: what a run of many small units pays most for), each exactly as `rederive` would. Stops
   * after a unit that asks to `grow` (nothing of it is written; the caller takes it again on its
   * own) or once `budgetMs` of work is done (so that the messages waiting to be stored are not held
   * long); returns the results of the units it took, in order, and the rest are the caller's again.
   */
  rederiveBatch(items: readonly RederiveItem[], budgetMs: number): Promise<UnitResult[]>;
  /** Keeps the outcome of messages about to be purged (retention): after the purge it stands for their text in a re-derivation. */
  keepOutcomes(outcomes: readonly { id: number; outcome: MapOutcome }[]): Promise<void>;
  /** In id (arrival) order, or newest first; every filter given must match. */
  messages(filter: MessageFilter): Promise<MessageRow[]>;
  message(id: number): Promise<(MessageRow & { raw: string }) | undefined>;
  /**
   * A page of the messages of one status after `afterId`, in id order, with only what the worklist
   * and its dry run read (and the text when `withRaw`): an error queue of 100,000 is read in seconds.
   */
  queuePage(status: MessageStatus, afterId: number, limit: number, withRaw?: boolean): Promise<QueuedMessage[]>;
  /**
   * The error queue grouped by problems text (a GROUP BY over an index of the queue alone: one row
   * per distinct text, not per message), each group with its `examples` smallest ids; the group
   * of the smallest id first.
   */
  errorGroups(examples: number): Promise<ErrorGroup[]>;
  /** Which message this one was edited from, and the copies edited from it (oldest first). */
  messageEdits(id: number): Promise<MessageEdits>;
  /** The text, order numbers and answer status of these messages (in id order; unknown ids left out). */
  messageDetails(ids: readonly number[]): Promise<MessageDetail[]>;
  /** Keeps, on each message a FHIR request stored, the HTTP status the request was answered with. */
  recordAnswerStatus(ids: readonly number[], status: number): Promise<void>;
  /** Records the event numbers a subscription notification carried. */
  recordEvents(subscription: string, eventNumbers: readonly number[], reportedSince: number | undefined, at: Date): Promise<void>;
  subscriptions(): Promise<SubscriptionView[]>;
}

/** Reprocessing runs: a selection of messages re-derived through the tables in force, previewed or applied, resumable. */
export interface ReprocessLog {
  /** The units (`e:<encounter key>`, `m:<message id>`) a selection takes, in key order. */
  reprocessUnits(selection: ReprocessSelection): Promise<string[]>;
  createReprocessRun(r: { who: string; apply: boolean; selection: ReprocessSelection; total: number; tables: string }, at: Date): Promise<number>;
  reprocessRun(id: number): Promise<ReprocessRun | undefined>;
  /** Newest first. */
  reprocessRuns(filter: { status?: ReprocessStatus; limit?: number }): Promise<ReprocessRun[]>;
  finishReprocessRun(id: number, status: ReprocessStatus, at: Date, error?: string): Promise<void>;
  /** The consultations a run changed (or, for a dry run, would change), in the order found. */
  reprocessChanges(id: number, filter: { after?: number; limit?: number }): Promise<{ id: number; change: ConsultationChange }[]>;
}

/** The merged records: one encounter per encounter key with its consultations and their states. */
export interface RecordStore {
  /** In key order; `after` (the keys of the last record of the previous page) pages through them. */
  records(filter: { state?: RecordState; limit?: number; after?: { encounterKey: string; consultationKey: string } }): Promise<RecordSummary[]>;
  record(encounterKey: string): Promise<RecordView | undefined>;
  /**
   * The values the tables guessed that the records hold now (encounter fields, encounter-wide and
   * consultation fields; cancelled consultations left out), by field, rule (as `ruleName` names
   * it) and reason: how many, and the sources of the first `examples` (kept rows: no record is read).
   */
  guessTally(ruleName: (rule: string) => string, examples: number): Promise<KeptGuesses[]>;
  /** The wire encounter of each consultation in a state (for batching), in key order, a page at a time. */
  wireEncounters(state: RecordState, limit: number, after?: { encounterKey: string; consultationKey: string }): Promise<WireConsultation[]>;
}

/** FHIR resources kept (latest version per Type/id) for reference resolution. */
export interface ResourceCache {
  /** Keeps resources for references (`at`: when received, for retention). */
  saveResources(resources: readonly { readonly key: string; readonly version: string; readonly body: string }[], messageId: number, at: Date): Promise<void>;
  resource(key: string): Promise<string | undefined>;
}

/** Who asks for a lease: an instance's stable identity, and this process of it. */
export interface LeaseClaim {
  readonly holder: string;
  readonly token: string;
}

/** A lease as it stands after a request for it. */
export interface LeaseState {
  /** true: the claimant holds it now. */
  readonly held: boolean;
  readonly holder: string;
  /** Moves on at every change of holder or process: the fencing token. */
  readonly epoch: number;
  readonly expiresAt: string;
}

/**
 * What a step that can reach NRDR proves: the lease it holds (name, claimant, epoch), checked in
 * the database transaction that claims the work, unexpired at `at`.
 */
export interface Fence extends LeaseClaim {
  readonly name: string;
  readonly epoch: number;
  readonly at: Date;
}

/**
 * A claim of a POST: claimed (go); fenced (the lease moved on: send nothing); moved (the
 * transaction is no longer in the state the claim expected); superseded (a record of it went
 * out since in a later transaction: sending it now would put an older revision after a newer one).
 */
export type PostClaim = 'claimed' | 'fenced' | 'moved' | 'superseded';

export interface TransactionPatch {
  readonly status: OutboundStatus;
  readonly nrdr?: TransactionStatus;
  readonly error?: string;
  readonly attempted?: boolean;
  /** Only when the transaction is in one of these (an answer never moves it back). */
  readonly from?: readonly OutboundStatus[];
  /** The next status request (null: none). */
  readonly nextPollAt?: Date | null;
  /** One more status request made. */
  readonly polled?: boolean;
}

/** The outbound ledger: transactions sent to NRDR, their status and NRDR's verdict per record. */
export interface OutboundLedger {
  /**
   * Stores a transaction about to be POSTed and marks its records submitted, in one transaction,
   * only if every record is still `ready` with the content that was batched (compare-and-set);
   * otherwise nothing is stored and the records that changed are returned (they stay for the
   * next round).
   */
  createTransaction(
    body: Transaction,
    records: readonly OutboundRecord[],
    at: Date,
    /** With a fence: nothing is stored unless the lease is still this one (then `fenced`). */
    fence?: Fence,
    /** The connection profile it is sent under, and the de-identification seal of its body. */
    under?: { readonly profile: string; readonly deidSeal?: string },
  ): Promise<{ readonly created: boolean; readonly stale: readonly OutboundRecord[]; readonly fenced?: boolean }>;
  /** Takes or renews a lease (one submitter across instances); false while another holder's lease runs. */
  lease(name: string, holder: string, at: Date, ttlMs: number): Promise<boolean>;
  /** The leases whose name starts with `prefix` still running at `at`: who holds each. */
  liveLeases(prefix: string, at: Date): Promise<{ readonly name: string; readonly holder: string }[]>;
  /**
   * Takes or renews a lease with its epoch: renewed by the same claimant (holder and process);
   * taken when free, run out, or (`reclaimOwn`) held by an earlier process of the same holder — a
   * restarted instance does not wait for its own dead lease. Each takeover moves the epoch on.
   */
  takeLease(name: string, claim: LeaseClaim, at: Date, ttlMs: number, opts?: { readonly reclaimOwn?: boolean }): Promise<LeaseState>;
  /** The lease as it stands (undefined: nobody holds it). */
  leaseState(name: string): Promise<LeaseState | undefined>;
  /** Hands a lease back; with `token`, only when this process of the holder has it. */
  releaseLease(name: string, holder: string, token?: string): Promise<void>;
  /**
   * Claims the POST of a transaction in one database transaction: only under the fence, only from
   * the state (and POST count) it was read in, only when none of its records went out in a later transaction (sent or further);
   * claimed, it is `sent` (with when and the epoch) before the POST leaves.
   */
  claimPost(
    id: string,
    from: {
      readonly status: 'created' | 'sent';
      readonly attempts: number;
      /** only a transaction of this profile ('moved' otherwise) */ readonly profile?: string;
    },
    fence: Fence,
  ): Promise<PostClaim>;
  /**
   * A transaction that will not be sent (superseded, or NRDR does not know it and its records
   * went out since): `failed` with why; its records still waiting on it go back to `ready`.
   */
  abandonTransaction(id: string, why: string, at: Date): Promise<void>;
  updateTransaction(id: string, patch: TransactionPatch, at: Date): Promise<void>;
  /**
   * The ids of the sent and posted transactions whose next status request is due at `at`, the most
   * overdue first (`profile`: only those sent under it). Ids, not rows: each is read whole
   * (`transaction`) when its turn comes, so a pass never holds many bodies at once.
   */
  duePolls(at: Date, limit: number, profile?: string): Promise<string[]>;
  /** Transactions without NRDR's final word (created, sent, posted): how many, the oldest's creation, the next poll due; `profile`: of it only. */
  inFlight(profile?: string): Promise<{ readonly count: number; readonly oldestCreatedAt: string | null; readonly nextPollAt: string | null }>;
  /** Transactions without NRDR's final word, per profile (null: written before profiles). */
  inFlightByProfile(): Promise<{ readonly profile: string | null; readonly count: number }[]>;
  /**
   * Names the profile of the transactions written before profiles (profile NULL): those sent as
   * `byFacility`'s facility become its profile's (the test facility: they went to the test
   * environment), the rest `profile`'s; how many.
   */
  adoptUnprofiled(profile: string, byFacility?: { readonly facilityId: string; readonly profile: string }): Promise<number>;
  /**
   * A poll's answer: kept as the last status and in the history when it differs from the one
   * before; the transaction's state and updated_at (the polling deadline runs from it) stay.
   */
  nrdrStatusSeen(id: string, status: TransactionStatus, at: Date): Promise<void>;
  /** NRDR's verdict per record; a record changed since it was sent keeps its new state. */
  recordResults(id: string, results: readonly RecordResult[], at: Date): Promise<void>;
  /** In creation order; `after` (a Transaction_ID) pages through them. */
  /** `newestFirst`: the latest first, `after` then pages towards older ones. */
  transactions(filter: { status?: OutboundStatus; profile?: string; limit?: number; after?: string; newestFirst?: boolean }): Promise<TransactionRow[]>;
  transaction(id: string): Promise<TransactionRow | undefined>;
  /**
   * Records NRDR rejected (of one facility, or one encounter) go back to `ready` for the next
   * round, each change kept in the record's history with who, when and why.
   */
  resubmit(filter: ResubmitFilter, by: { who: string; at: Date; why: string }): Promise<ResubmittedRecord[]>;
  /**
   * NRDR answered Failed for this transaction: its records still needs-review and unchanged go
   * back to `ready` (a new Transaction_ID next round), at most `limit` times for the same content,
   * each in the record's history; `kept` are those past the limit.
   */
  resendFailed(
    transactionId: string,
    limit: number,
    at: Date,
  ): Promise<{ readonly resent: readonly ResubmittedRecord[]; readonly kept: readonly ResubmittedRecord[] }>;
}

/** The order ledger: every order seen, its one state, and the daily reconciliation. */
export interface OrderLedger {
  orders(filter: OrderFilter): Promise<{ orders: OrderRow[]; next: number | null }>;
  /** Per facility and day in its time zone, by arrival or by ordered day. */
  reconciliation(filter: ReconciliationFilter): Promise<ReconciliationRow[]>;
  ledgerGauges(): Promise<LedgerGauges>;
  /** Per facility with a held order: the first_seen (ISO) of the oldest one. */
  oldestHeld(): Promise<Record<string, string>>;
  /**
   * An operator says the site has retracted, at NRDR, the consultation of an order cancelled after
   * submission; written to the access audit with who and when. It stays listed, as acknowledged.
   */
  acknowledgeRetraction(orderId: number, who: string, at: Date): Promise<AcknowledgeResult>;
  /** The same for a consultation no order points at any more (its key moved after NRDR had it). */
  acknowledgeConsultationRetraction(encounterKey: string, consultationKey: string, who: string, at: Date): Promise<AcknowledgeResult>;
}

export interface AccessEntry {
  readonly id: number;
  readonly at: string;
  /** The key by role and position (`operate#1`), or the listener. */
  readonly who: string;
  /** What was read: `record 100000|V0001`, `transaction T-1`. */
  readonly what: string;
}

/** Every read of patient data, for operators to review. */
export interface AccessAudit {
  audit(entry: { at: Date; who: string; what: string }): Promise<void>;
  accessLog(filter: { after?: number; limit?: number }): Promise<AccessEntry[]>;
}

/** A stored secret: `sealed` is encrypted by the caller (the store never sees it in clear); `meta` is what may be shown. */
export interface CredentialRow {
  readonly name: string;
  readonly sealed: string;
  readonly meta: Readonly<Record<string, unknown>>;
  /** 1 when first written, +1 at each write: the compare-and-set of `putCredential`. */
  readonly version: number;
  readonly expiresAt?: string;
  readonly updatedAt: string;
}

/** Secrets the adapter keeps (the ACR Connect sign-in, sign-ins under way), written with compare-and-set. */
export interface CredentialStore {
  credential(name: string): Promise<CredentialRow | undefined>;
  /**
   * Writes a credential if its stored version is still `ifVersion` (0: only if there is none);
   * false when another writer came first (read it again). Returns the new version on success.
   */
  putCredential(
    name: string,
    value: { sealed: string; meta: Readonly<Record<string, unknown>>; expiresAt?: Date },
    ifVersion: number,
    at: Date,
  ): Promise<number | false>;
  /** Reads and deletes in one step: only one caller gets it (a single-use value). */
  takeCredential(name: string): Promise<CredentialRow | undefined>;
  deleteCredential(name: string): Promise<void>;
  /** Deletes credentials whose name starts with `prefix` and whose expiry is before `before`; returns how many. */
  purgeCredentials(prefix: string, before: Date): Promise<number>;
}

export interface StoreCounts {
  readonly messages: Record<string, number>;
  readonly records: Record<string, number>;
  readonly transactions: Record<string, number>;
}

/** The whole store; callers take the parts they use. */
export interface Store extends InboundLog, ReprocessLog, RecordStore, ResourceCache, OutboundLedger, OrderLedger, AccessAudit, CredentialStore {
  /** How many messages per status, records per state, transactions per status (for /metrics). */
  counts(): Promise<StoreCounts>;
  /** The schema migrations its opening ran, oldest first (none: it was up to date). */
  readonly migrated: readonly { readonly version: number; readonly name: string }[];
  /** Reads and writes (a store that cannot write is not ready). */
  ping(): Promise<void>;
  /** The store's size on disk, in bytes. */
  sizeBytes(): Promise<number>;
  /**
   * Retention: forgets the raw text of messages received before `before` that will not be
   * replayed (applied, ignored, rejected, duplicate); their outcome, records, ledger and audit
   * stay; the FHIR resources kept for references last received before `before` go too.
   * Returns how many of each were purged.
   */
  purgeRaw(before: Date, at: Date): Promise<{ readonly messages: number; readonly resources: number }>;
  /**
   * Gives back the space freed by a purge, and says how: SQLite a step at a time (freed pages
   * zeroed); PostgreSQL a rewrite of the tables that held the purged text (VACUUM FULL, its lock
   * holds ingest meanwhile) or, CDSR_RETENTION_REWRITE=off, a plain VACUUM.
   */
  reclaimSpace(): Promise<Reclaim>;
  close(): Promise<void>;
}

export { StoreUnavailableError, StoreCorruptError, StoreNotFoundError, StoreSchemaNewerError } from './sql.js';
