// The store, once, over any dialect (sql.ts): every query written one time with `?` placeholders,
// one merge path (read what the merge needs, run the pure merge, write back what it changed), and
// rows parsed on the way out (rows.ts). On PostgreSQL each inbound message is one database
// transaction: the raw message, its outcome and the merged record changes are committed together,
// before the sender gets an answer. On SQLite (derive 'later', the default) the message's row and
// its queued outcome are committed before the answer, decided over the rows and the merge of the
// messages not yet written, and the derived rows follow in batches; every other read and write
// waits for them at the executor's gate (see "derived rows written after the answer" below).
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { errorMessage } from '../cdsr/errors.js';
import type { Problem } from '../cdsr/problem.js';
import type { Transaction, TransactionStatus } from '../cdsr/schema.js';
import type { CdsrValidator } from '../cdsr/validate.js';
import { encounterKey, orderKey, orderKeysOf, type EncounterState } from '../mapping/merge.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { Exclusion, PartialRecord } from '../mapping/record.js';
import { applyMessage, orderIdentitiesOf, statusForOutcome, type MessageApplication } from './derive.js';
import { loadEncounter, planEncounter, readPrevious, writeEncounter, type StoredConsultation } from './encounter-rows.js';
import { errorGroups, type ErrorGroup } from './error-groups.js';
import { keptGuesses, type KeptGuesses } from './guesses.js';
import { evaluateConsultation, RECORD_STATES, type RecordState } from './evaluate.js';
import { checkMessageTransition, checkOutboundTransition, fromStates, fromStatesSql, moveRecord, OUTBOUND_TRANSITIONS } from './states.js';
import { keptCounts } from './counters.js';
import { forDialect, MIGRATIONS } from './migrations.js';
import { patientMessageIds } from './patient-search.js';
import { retractionOf, type AcknowledgeResult } from './retraction.js';
import {
  ledgerGauges,
  LedgerLookup,
  listOrders,
  oldestHeld,
  reconcile,
  recordOrder,
  type LedgerGauges,
  type OrderFilter,
  type OrderRow,
  type ReconciliationFilter,
  type ReconciliationRow,
} from './ledger.js';
import { Preload, writeMerge } from './merge-rows.js';
import { PendingMerge } from './pending-merge.js';
import { appendNrdrStatus, nrdrStatusHistory, type NrdrStatusEntry } from './nrdr-history.js';
import { recordHistory, resendFailed, resubmitRejected, type ResubmitFilter, type ResubmittedRecord } from './resubmit.js';
import { indexMessages, rederiveUnit, storedOutcome, unitMessageIds, type ConsultationChange, type RederiveOptions, type UnitResult } from './rederive.js';
import {
  createRun,
  finishRun,
  listRuns,
  readRun,
  recordUnit,
  runChanges,
  selectUnits,
  type ReprocessRun,
  type ReprocessSelection,
  type ReprocessStatus,
} from './reprocess-runs.js';
import {
  CredentialMetaSchema,
  encounterFromRows,
  ExclusionSchema,
  FieldMapSchema,
  FieldValueSchema,
  MapOutcomeSchema,
  NrdrStatusSchema,
  ProblemsSchema,
  row,
  StringListSchema,
  TransactionBodySchema,
} from './rows.js';
import {
  chunks,
  either,
  later,
  marks,
  nextIdRead,
  readAll,
  split,
  storedForm,
  StoreCorruptError,
  StoreUnavailableError,
  StoreSchemaNewerError,
  type Executor,
  type Reclaim,
  type Queryable,
  type Read,
  type Row,
  type SqlValue,
  type TxQueryable,
} from './sql.js';
import {
  CHANNELS,
  MESSAGE_STATUSES,
  OUTBOUND_STATUSES,
  RECORD_VERDICTS,
  type AccessEntry,
  type ConsultationRow,
  type CredentialRow,
  type IngestResult,
  type InboundMeta,
  type Fence,
  type LeaseClaim,
  type LeaseState,
  type PostClaim,
  type TransactionPatch,
  IN_FLIGHT_STATUSES,
  type MessageEdits,
  type MessageRow,
  type QueuedMessage,
  type MessageDetail,
  type MessageFilter,
  type MessageStatus,
  type OutboundRecord,
  type OutboundStatus,
  type RecordResult,
  type RecordSummary,
  type RecordView,
  type RederiveItem,
  type Store,
  type StoreCounts,
  type SubscriptionView,
  type TransactionRow,
  type UnitMessage,
  type WireConsultation,
  keySourceOf,
} from './store.js';

export { statusForOutcome };

const MESSAGE_COLUMNS = 'id, received_at, channel, sender, control_id, content_type, auth, hash, status, problems';

function messageFromRow(r: Row): MessageRow {
  const m = row('inbound_messages', r);
  return {
    id: m.int('id'),
    receivedAt: m.text('received_at'),
    channel: m.oneOf('channel', CHANNELS),
    sender: m.text('sender'),
    controlId: m.text('control_id'),
    contentType: m.text('content_type'),
    auth: m.text('auth'),
    hash: m.text('hash'),
    status: m.oneOf('status', MESSAGE_STATUSES),
    problems: m.json('problems', ProblemsSchema, []),
  };
}

function transactionFromRows(r: Row, recordRows: readonly Row[], nrdrHistory: readonly NrdrStatusEntry[]): TransactionRow {
  const t = row('transactions', r);
  const nrdr = t.json<TransactionStatus | null>('nrdr_status', NrdrStatusSchema, null);
  const lastError = t.optText('last_error');
  const sentAt = t.optText('sent_at');
  const sentEpoch = t.optInt('sent_epoch');
  const nextPollAt = t.optText('next_poll_at');
  const body = t.json<Transaction | null>('body', TransactionBodySchema, null);
  if (!body) throw new StoreCorruptError(`transactions.body of ${t.text('transaction_id')} is empty`);
  const deidSeal = t.optText('deid_seal');
  return {
    transactionId: t.text('transaction_id'),
    profile: t.optText('profile') ?? null,
    ...(deidSeal !== undefined ? { deidSeal } : {}),
    facilityId: t.text('facility_id'),
    partnerId: t.optText('partner_id') ?? '',
    appId: t.optText('app_id') ?? '',
    status: t.oneOf('status', OUTBOUND_STATUSES),
    createdAt: t.text('created_at'),
    updatedAt: t.text('updated_at'),
    attempts: t.int('attempts'),
    ...(lastError !== undefined ? { lastError } : {}),
    ...(sentAt !== undefined ? { sentAt } : {}),
    ...(sentEpoch !== undefined ? { sentEpoch } : {}),
    ...(nextPollAt !== undefined ? { nextPollAt } : {}),
    polls: t.int('polls'),
    ...(nrdr ? { nrdr } : {}),
    nrdrHistory,
    body,
    records: recordRows.map((x) => {
      const rec = row('transaction_records', x);
      const result = rec.optText('result') !== undefined ? rec.oneOf('result', RECORD_VERDICTS) : undefined;
      return {
        encounterKey: rec.text('encounter_key'),
        consultationKey: rec.text('consultation_key'),
        contentHash: rec.text('content_hash'),
        ...(result ? { result } : {}),
        problems: rec.json('nrdr_problems', ProblemsSchema, []),
      };
    }),
  };
}

function summaryFromRow(r: Row): RecordSummary {
  const c = row('consultations', r);
  return {
    encounterKey: c.text('encounter_key'),
    facilityId: c.text('facility_id'),
    encounterId: c.text('encounter_id'),
    consultationKey: c.text('consultation_key'),
    state: c.oneOf('state', RECORD_STATES),
    missing: c.json('missing', StringListSchema, []),
  };
}

/** Marks a consultation's retraction done at NRDR (under the lock of its encounter's merge: never across a new cancel). */
async function acknowledgeIn(q: TxQueryable, ekey: string, ckey: string, who: string, at: Date, what: string): Promise<AcknowledgeResult> {
  await q.lock([ekey]);
  const c = await q.get('SELECT state, retraction_ack_by, retraction_ack_at FROM consultations WHERE encounter_key = ? AND consultation_key = ?', [ekey, ckey]);
  if (!c) return { result: 'not-found' };
  const r = row('consultations', c);
  const state = r.oneOf('state', RECORD_STATES);
  if (state !== 'cancelled-after-submission') return { result: 'not-retraction', state };
  const by = r.optText('retraction_ack_by');
  const when = r.optText('retraction_ack_at');
  if (by !== undefined && when !== undefined) return { result: 'already', by, at: when };
  await q.run('UPDATE consultations SET retraction_ack_by = ?, retraction_ack_at = ? WHERE encounter_key = ? AND consultation_key = ?', [
    who,
    at.toISOString(),
    ekey,
    ckey,
  ]);
  await q.run('INSERT INTO access_audit (at, who, what) VALUES (?, ?, ?)', [at.toISOString(), who, `acknowledged retraction of ${what}`]);
  return { result: 'acknowledged', by: who, at: at.toISOString() };
}

/**
 * The earlier copy of a message sent again, to look up (a message without a control id is never
 * taken for a resend: nothing to look up).
 */
function twinReadOf(meta: InboundMeta, hash: string): Read[] {
  if (meta.controlId === '') return [];
  return [
    {
      sql: `SELECT id FROM inbound_messages WHERE channel = ? AND sender = ? AND control_id = ? AND hash = ?
               AND status IN ('applied', 'error', 'ignored') ORDER BY id DESC LIMIT 1`,
      params: [meta.channel, meta.sender, meta.controlId, hash],
    },
  ];
}

export interface SqlStoreOptions {
  readonly validator: CdsrValidator;
  /**
   * When a message's derived rows (records, order index, ledger, message index) are written:
   * 'later' (SQLite's default) commits the message's row alone before the answer and writes them
   * right after, a batch of messages at a time; 'with-message' (PostgreSQL, always) writes them in
   * the message's own transaction.
   */
  readonly derive?: 'later' | 'with-message';
  /** With 'later': how long the first message answered waits for others to have its rows written with (tests: longer, so that only a read or a write does it). */
  readonly deriveDelayMs?: number;
  /** With 'later': how many pending messages start a write at once, and how long one background write runs (tests: 1 and 0, one message a write). */
  readonly deriveBatch?: number;
  readonly deriveBudgetMs?: number;
}

/** A message stored and answered whose derived rows are not written yet. */
interface PendingMessage {
  readonly id: number;
  readonly at: Date;
  readonly outcome: MapOutcome;
  /** What the answer said (the row holds it): the writing of the derived rows decides the same. */
  readonly status: MessageStatus;
  readonly problems: Problem[];
  /**
   * The merge its answer was decided with, when it read nothing a message before it left pending
   * (none of its keys in the overlay): the rows it read are still the rows when it is written
   * (only the messages before it write in between, and none of them wrote these), so it is
   * written from that merge without reading or merging again.
   */
  readonly decided?: { readonly merge: Preload; readonly done: MessageApplication };
}

/** Pending messages that start a write of their derived rows at once, without waiting for the timer. */
const DERIVE_BATCH = 64;
/** How long the first pending message waits for others to be written with (a batch shares its pages). */
const DERIVE_DELAY_MS = 20;
/** How long one background write of derived rows runs (then the messages arrived meanwhile go first). */
const DERIVE_BUDGET_MS = 5;
/** Past this many pending messages, the next message writes them before its own (memory stays bounded). */
const DERIVE_MAX_PENDING = 2048;

export class SqlStore implements Store {
  private readonly later: boolean;
  /** Messages stored, derived rows not written yet, in id order; and their merge, for the next decisions. */
  private pending: PendingMessage[] = [];
  private readonly overlay = new PendingMerge();
  /**
   * What memory holds of the pending messages may not be what the tables hold (a transaction that
   * wrote or took some failed): the next write of derived rows reads the queue from the table.
   */
  private stale: boolean;
  /** A write of the derived rows waiting in the lane, not started yet: a new reader waits for that one. */
  private queuedRun: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Messages whose derived writing decided otherwise than their answer (never expected; for tests). */
  derivedOtherwise = 0;

  private constructor(
    private readonly db: Executor,
    private readonly validator: CdsrValidator,
    derive: 'later' | 'with-message',
    private readonly deriveDelayMs: number,
    private readonly deriveBatch: number,
    private readonly deriveBudgetMs: number,
  ) {
    this.later = derive === 'later' && db.dialect === 'sqlite';
    // a queue left by a stop between an answer and its derived rows is written at opening
    this.stale = db.dialect === 'sqlite';
    if (db.dialect === 'sqlite')
      db.gate = {
        owed: () => this.stale || this.pending.length > 0,
        caughtUp: () => this.caughtUp(),
        transaction: (fn, enqueue) => this.afterDerived(fn, enqueue),
      };
  }

  /** A store over an open executor, migrated to the latest schema. */
  static async open(db: Executor, options: SqlStoreOptions): Promise<SqlStore> {
    const store = new SqlStore(
      db,
      options.validator,
      options.derive ?? 'later',
      options.deriveDelayMs ?? DERIVE_DELAY_MS,
      options.deriveBatch ?? DERIVE_BATCH,
      options.deriveBudgetMs ?? DERIVE_BUDGET_MS,
    );
    try {
      await store.migrate();
      // what a stop left between a message's answer and its derived rows is written before anything is read
      await store.caughtUp();
    } catch (e) {
      await db.close();
      throw e;
    }
    return store;
  }

  // ---- derived rows written after the answer (SQLite) ----

  /**
   * A write transaction of anything but ingest: the pending messages' derived rows are written
   * first, in the same lane job, so it runs over the tables every earlier message made.
   */
  private afterDerived<T>(fn: (q: TxQueryable) => Promise<T>, enqueue: <U>(f: (q: TxQueryable) => Promise<U>) => Promise<U>): Promise<T> {
    let derived = false;
    return enqueue(async (q) => {
      if (this.pending.length > 0 || this.stale) {
        derived = true;
        await this.deriveIn(q);
      }
      try {
        return await fn(q);
      } catch (e) {
        // its rollback takes the derived rows written above with it
        if (derived) this.stale = true;
        throw e;
      }
    }).catch((e: unknown) => {
      if (derived) this.stale = true;
      throw e;
    });
  }

  /** Resolves once every message stored before the call has its derived rows written. */
  private async caughtUp(): Promise<void> {
    const last = this.pending[this.pending.length - 1]?.id;
    while (this.stale || (last !== undefined && this.pending.length > 0 && this.pending[0]!.id <= last)) await this.deriveRun();
  }

  /** A lane job writing every pending message's derived rows (one already waiting in the lane is shared). */
  private deriveRun(): Promise<void> {
    return (this.queuedRun ??= this.db
      .transaction(
        async (q) => {
          this.queuedRun = undefined;
          await this.deriveIn(q, this.deriveBudgetMs);
        },
        // rows derivable again from the messages: the next message's commit syncs them
        { ahead: true, durable: false },
      )
      .then(
        // what the budget left is written next (at once when the batch is full again)
        () => this.scheduleDerive(),
        (e: unknown) => {
          this.stale = true;
          throw e;
        },
      ));
  }

  /** After a message is answered: its derived rows are written with the next batch. */
  private scheduleDerive(): void {
    if (this.pending.length >= this.deriveBatch) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      void this.deriveRun().catch(() => undefined);
      return;
    }
    if (this.timer || this.pending.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.deriveRun().catch(() => undefined);
    }, this.deriveDelayMs);
    this.timer.unref();
  }

  /**
   * Writes the derived rows of the pending messages, in id order, inside the lane's transaction
   * `q` (the first ones that `budgetMs` allows; all by default), and takes them off the queue in
   * the same transaction. When memory may be stale, the pending messages are read from the queue
   * first (what is committed is what counts) and all are written.
   */
  private async deriveIn(q: TxQueryable, budgetMs = Infinity): Promise<void> {
    try {
      const began = performance.now();
      if (this.stale) {
        // what memory held is dropped: the queue is written whole (nothing of it is in the overlay)
        this.pending = await this.queued(q);
        this.overlay.clear();
        this.stale = false;
        budgetMs = Infinity;
      } else if (this.pending.length > 0) {
        // only what is still queued: another process opening the store (a command run beside
        // `serve`) writes the queue it finds, and a message is never applied twice
        const queued = new Set<number>();
        for (const part of chunks(this.pending.map((m) => m.id)))
          for (const r of await q.all(`SELECT message_id FROM derive_queue WHERE message_id IN (${marks(part.length)})`, part))
            queued.add(row('derive_queue', r).int('message_id'));
        this.pending = this.pending.filter((m) => queued.has(m.id));
      }
      // the first messages, as many as the budget allows (one at least): the lane takes the
      // messages that arrived meanwhile before the next batch
      const todo: PendingMessage[] = [];
      for (const m of this.pending) {
        if (todo.length > 0 && performance.now() - began >= budgetMs) break;
        todo.push(m);
        await this.deriveWritten(q, m);
      }
      this.pending = this.pending.slice(todo.length);
      if (this.pending.length === 0) this.overlay.clear();
      else if (todo.length > 0) this.overlay.written(todo[todo.length - 1]!.id);
      for (const part of chunks(todo.map((m) => m.id))) await later(q, `DELETE FROM derive_queue WHERE message_id IN (${marks(part.length)})`, part);
    } catch (e) {
      this.stale = true;
      throw e;
    }
  }

  /** One pending message's derived rows, in a savepoint of its own. */
  private async deriveWritten(q: TxQueryable, m: PendingMessage): Promise<void> {
    // each message on its own: one whose rows cannot be written is kept out, named, and the rest go on
    await q.run('SAVEPOINT derive_one');
    try {
      await this.deriveOne(q, m);
    } catch (e) {
      await q.run('ROLLBACK TO derive_one');
      if (e instanceof StoreUnavailableError) throw e;
      const refused: Problem = {
        code: 'DERIVE_REFUSED',
        message: `the message was stored and answered, but its records could not be written: ${errorMessage(e)}`,
        severity: 'error',
        scope: 'transaction',
        path: '',
      };
      await this.storeStatus(q, m.id, m.status, 'error', [...m.problems, refused]);
    } finally {
      await q.run('RELEASE derive_one');
    }
  }

  /** The pending messages as the queue holds them. */
  private async queued(q: Queryable): Promise<PendingMessage[]> {
    const rows = await q.all(
      `SELECT d.message_id, d.outcome, m.received_at, m.status, m.problems FROM derive_queue d JOIN inbound_messages m ON m.id = d.message_id
       ORDER BY d.message_id`,
    );
    return rows.map((r) => {
      const x = row('derive_queue', r);
      const outcome = x.json<MapOutcome | null>('outcome', MapOutcomeSchema, null);
      if (!outcome) throw new StoreCorruptError(`derive_queue.outcome of message ${x.int('message_id')} is empty`);
      return {
        id: x.int('message_id'),
        at: new Date(x.text('received_at')),
        outcome,
        status: x.oneOf('status', MESSAGE_STATUSES),
        problems: x.json('problems', ProblemsSchema, []),
      };
    });
  }

  /** One pending message's derived rows: the merge over the rows as the messages before it left them, as ingest writes them. */
  private async deriveOne(q: TxQueryable, m: PendingMessage): Promise<void> {
    if (m.decided) {
      const ledger = new LedgerLookup(orderIdentitiesOf(m.outcome), false);
      ledger.take(await readAll(q, ledger.reads), m.id);
      await this.apply(q, m.outcome, m.id, m.at, m.decided.merge, ledger, m.decided.done);
      return;
    }
    const merge = new Preload(m.outcome.disposition === 'mapped' ? m.outcome.records : []);
    const ledger = new LedgerLookup(orderIdentitiesOf(m.outcome), false);
    const mergeReads = merge.next();
    const [mergeRows = [], ledgerRows = []] = split(await readAll(q, [...mergeReads, ...ledger.reads]), [mergeReads.length, ledger.reads.length]);
    if (mergeReads.length > 0) merge.take(mergeRows);
    await merge.readRest(q);
    ledger.take(ledgerRows, m.id);
    const done = await this.apply(q, m.outcome, m.id, m.at, merge, ledger);
    if (done.status !== m.status || JSON.stringify(done.problems) !== JSON.stringify(m.problems)) {
      // not expected (the answer was decided over the same merge state): the rows follow the merge
      this.derivedOtherwise++;
      await this.storeStatus(q, m.id, m.status, done.status, done.problems);
    }
  }

  /**
   * What its merge did to a message stored with its outcome's status: a refusal, or a warning of
   * the merge (MERGE_KEY_HELD), is kept with the message.
   */
  private async keepApplication(
    q: Queryable,
    id: number,
    outcome: MapOutcome,
    done: { readonly status: MessageStatus; readonly problems: readonly Problem[] },
  ): Promise<void> {
    if (done.status !== statusForOutcome(outcome) || done.problems.length !== outcome.problems.length)
      await this.storeStatus(q, id, statusForOutcome(outcome), done.status, done.problems);
  }

  /** A message's status and problems after its merge (checked against the state table). */
  private async storeStatus(q: Queryable, id: number, from: MessageStatus, to: MessageStatus, problems: readonly Problem[]): Promise<void> {
    await later(q, 'UPDATE inbound_messages SET status = ?, problems = ? WHERE id = ?', [checkMessageTransition(id, from, to), JSON.stringify(problems), id]);
  }

  get dialect(): Executor['dialect'] {
    return this.db.dialect;
  }

  /** The migrations this opening ran (none when the store was up to date), for the start-up log. */
  migrated: readonly { readonly version: number; readonly name: string }[] = [];

  private async migrate(): Promise<void> {
    this.migrated = await this.db.transaction(
      async (q) => {
        const ran: { version: number; name: string }[] = [];
        // a migration may rewrite a large table, and waits for another instance's: the statement
        // timeout that bounds a message's wait (CDSR_PG_STATEMENT_TIMEOUT_S) is not for it
        if (this.db.dialect === 'postgres') await later(q, 'SET LOCAL statement_timeout = 0');
        // one instance migrates at a time
        await q.lock(['cdsr-adapter migrations']);
        await q.run('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
        const done = new Set((await q.all('SELECT version FROM schema_migrations')).map((r) => row('schema_migrations', r).int('version')));
        // migrations are forward-only: a store a newer build migrated is not this build's to write
        const known = Math.max(...MIGRATIONS.map((m) => m.version));
        const newest = Math.max(0, ...done);
        if (newest > known) throw new StoreSchemaNewerError(newest, known);
        for (const m of MIGRATIONS) {
          if (done.has(m.version)) continue;
          for (const s of m.statements) {
            const sql = forDialect(s, this.db.dialect);
            if (sql !== null) await q.run(sql);
          }
          await q.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, new Date().toISOString()]);
          ran.push({ version: m.version, name: m.name });
        }
        return ran;
      },
      // before the gate: the queue it would read may not exist yet
      { ahead: true },
    );
  }

  // ---- inbound log ----

  /** The keys a record's merge touches (locked for the transaction on PostgreSQL). */
  private static mergeKeys(record: PartialRecord): string[] {
    return [encounterKey(record.facilityId, record.encounterId), ...orderKeysOf(record)];
  }

  ingest(meta: InboundMeta, mapped: MapOutcome): Promise<IngestResult> {
    const hash = createHash('sha256').update(meta.raw).digest('hex');
    // merged on its values as stored: a NUL or a lone surrogate reads back as U+FFFD
    const outcome = storedForm(mapped);
    if (this.later) {
      const done = this.db.transaction((q) => this.ingestRow(q, meta, hash, outcome), { ahead: true });
      done.then(
        () => this.scheduleDerive(),
        // its transaction failed after its decision went into memory (a failed COMMIT)
        () => void (this.stale = true),
      );
      return done;
    }
    const records = outcome.disposition === 'mapped' ? outcome.records : [];
    const identities = orderIdentitiesOf(outcome);
    return this.db.transaction(async (q) => {
      // the orders' numbers too, the ledger's (a mapped message's are among its merge keys; an
      // error's are not): another instance recording the same order meanwhile waits, and finds it
      await q.lock([
        `msg|${meta.channel}|${meta.sender}|${meta.controlId}`,
        ...records.flatMap((r) => SqlStore.mergeKeys(r)),
        ...identities.flatMap((i) => (i ? i.numbers.map((n) => orderKey(i.facilityId, n)) : [])),
      ]);
      // everything the message may need read, read at once: its twin (a message without a control
      // id is never taken for a resend: nothing to look up), its id (PostgreSQL), what the merge
      // reads first and what the ledger holds of its orders. On PostgreSQL that is one round trip
      // with BEGIN and the locks, and every write goes with the COMMIT: two in all (a merge that
      // adopts a waiting result under a number or an encounter the message lacks reads their rows
      // in one more)
      const twinRead = twinReadOf(meta, hash);
      const idRead = nextIdRead(this.db.dialect, 'inbound_messages');
      const merge = new Preload(records);
      const ledger = new LedgerLookup(identities, idRead !== undefined);
      const mergeReads = merge.next();
      const rows = await readAll(q, [...twinRead, ...(idRead ? [idRead] : []), ...mergeReads, ...ledger.reads]);
      const [twinRows = [], idRows = [], mergeRows = [], ledgerRows = []] = split(rows, [
        twinRead.length,
        idRead ? 1 : 0,
        mergeReads.length,
        ledger.reads.length,
      ]);
      const given = idRows[0]?.[0] ? row('inbound_messages', idRows[0][0]).int('id') : undefined;
      const stored = await this.storeMessage(q, meta, hash, outcome, twinRows[0]?.[0], given);
      if ('duplicate' in stored) return stored.duplicate;
      const id = stored.id;
      if (mergeReads.length > 0) merge.take(mergeRows);
      await merge.readRest(q);
      ledger.take(ledgerRows, id);
      const done = await this.apply(q, outcome, id, meta.receivedAt, merge, ledger);
      // a refusal, or a warning of the merge (MERGE_KEY_HELD), is kept with the message
      await this.keepApplication(q, id, outcome, done);
      return { messageId: id, ...done };
    });
  }

  /**
   * The message's row alone, with what its answer says (SQLite, derive 'later'): the merge is run
   * over the rows read and the pending messages' merge state, and kept in memory with them; its
   * derived rows are written later (`deriveIn`), and its outcome is queued with the row until then.
   */
  private async ingestRow(q: TxQueryable, meta: InboundMeta, hash: string, outcome: MapOutcome): Promise<IngestResult> {
    try {
      // memory not what the tables hold, or too much of it: the pending messages are written first
      if (this.stale || this.pending.length >= DERIVE_MAX_PENDING) await this.deriveIn(q);
      const records = outcome.disposition === 'mapped' ? outcome.records : [];
      const twinRead = twinReadOf(meta, hash);
      const twin = twinRead.length > 0 ? await q.get(twinRead[0]!.sql, twinRead[0]!.params) : undefined;
      const stored = await this.storeMessage(q, meta, hash, outcome, twin);
      if ('duplicate' in stored) return stored.duplicate;
      const id = stored.id;
      const merge = new Preload(records, this.overlay);
      await merge.readRest(q);
      const done = applyMessage(merge.repo, outcome, id, meta.receivedAt);
      await this.keepApplication(q, id, outcome, done);
      // an unsupported or rejected message derives nothing (no record, no order, no encounter)
      if (outcome.disposition === 'mapped' || outcome.disposition === 'error') {
        await q.run('INSERT INTO derive_queue (message_id, outcome) VALUES (?, ?)', [id, JSON.stringify(outcome)]);
        this.pending.push({
          id,
          at: meta.receivedAt,
          outcome,
          status: done.status,
          problems: done.problems,
          ...(merge.overlaid ? {} : { decided: { merge, done } }),
        });
        // a merge memory cannot hold whole: written now, with the messages before it
        if (done.merged && !this.overlay.add(merge, id)) await this.deriveIn(q);
      }
      return { messageId: id, status: done.status, problems: done.problems };
    } catch (e) {
      // its savepoint is rolled back: memory may hold its decision
      this.stale = true;
      throw e;
    }
  }

  /**
   * Merges a message's records and accounts for its orders in the ledger (derive.ts decides;
   * this writes back what it changed, over the rows read beforehand: `merge`, `ledger`).
   */
  private async apply(
    q: TxQueryable,
    outcome: MapOutcome,
    id: number,
    at: Date,
    merge: Preload,
    ledger: LedgerLookup,
    decided?: MessageApplication,
  ): Promise<{ status: MessageStatus; problems: Problem[] }> {
    const repo = merge.repo;
    // `decided`: the merge was run already, over these rows (derive 'later', its answer's)
    const done = decided ?? applyMessage(repo, outcome, id, at);
    if (done.merged) await writeMerge(q, repo, (key, enc) => this.saveEncounter(q, key, enc, id, merge.stored.get(key)?.previous));
    for (const e of done.events) await recordOrder(q, e.identity, e.outcome, e.messageId, e.index, e.at, undefined, ledger);
    await indexMessages(q, [{ id, outcome }], true);
    return { status: done.status, problems: done.problems };
  }

  /**
   * A message's row: a resend of a message stored before (`twin`, the row of `twinReadOf`) is
   * recorded as a duplicate of it, else the message with the status its outcome gives.
   */
  private async storeMessage(
    q: Queryable,
    meta: InboundMeta,
    hash: string,
    outcome: MapOutcome,
    twin: Row | undefined,
    given?: number,
  ): Promise<{ readonly duplicate: IngestResult } | { readonly id: number }> {
    if (twin) {
      const first = row('inbound_messages', twin).int('id');
      // a resend is recorded (when, through which credential) without another copy of its text
      const id = await this.insertMessage(q, { ...meta, raw: '' }, hash, 'duplicate', [], first, given);
      return { duplicate: { messageId: id, status: 'duplicate', duplicateOf: first, problems: [] } };
    }
    return { id: await this.insertMessage(q, meta, hash, statusForOutcome(outcome), [...outcome.problems], undefined, given) };
  }

  /** Stores a message; `id`: the id taken for it beforehand (PostgreSQL), else the INSERT's. */
  private async insertMessage(
    q: Queryable,
    meta: InboundMeta,
    hash: string,
    status: MessageStatus,
    problems: Problem[],
    duplicateOf?: number,
    id?: number,
  ): Promise<number> {
    const sql = `INSERT INTO inbound_messages (${id !== undefined ? 'id, ' : ''}received_at, channel, sender, control_id, content_type, auth, hash, status, problems, duplicate_of, raw, edited_from, edited_by, patient_key)
       VALUES (${id !== undefined ? '?, ' : ''}?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
    const values = [
      meta.receivedAt.toISOString(),
      meta.channel,
      meta.sender,
      meta.controlId,
      meta.contentType,
      meta.auth ?? '',
      hash,
      status,
      JSON.stringify(problems),
      duplicateOf ?? null,
      meta.raw,
      meta.editedFrom?.messageId ?? null,
      meta.editedFrom?.by ?? null,
      meta.patient ?? null,
    ];
    if (id !== undefined) {
      await later(q, sql, [id, ...values]);
      return id;
    }
    return row('inbound_messages', (await q.get(`${sql} RETURNING id`, values)) ?? {}).int('id');
  }

  async unitMessages(encounterKeys: readonly string[], messageIds: readonly number[]): Promise<UnitMessage[]> {
    const ids = await unitMessageIds(this.db, encounterKeys, messageIds);
    const out: UnitMessage[] = [];
    for (const part of chunks(ids)) {
      const rows = await this.db.all(
        `SELECT ${MESSAGE_COLUMNS}, raw, raw_purged_at, outcome FROM inbound_messages WHERE id IN (${marks(part.length)}) ORDER BY id`,
        part,
      );
      const enc = new Map<number, string[]>();
      for (const r of await this.db.all(`SELECT message_id, encounter_key FROM message_encounters WHERE message_id IN (${marks(part.length)})`, part)) {
        const x = row('message_encounters', r);
        enc.set(x.int('message_id'), [...(enc.get(x.int('message_id')) ?? []), x.text('encounter_key')]);
      }
      for (const r of rows) {
        const m = messageFromRow(r);
        const x = row('inbound_messages', r);
        const outcome = x.json<MapOutcome | null>('outcome', MapOutcomeSchema, null);
        out.push({
          ...m,
          raw: x.text('raw'),
          rawPurged: x.optText('raw_purged_at') !== undefined,
          ...(outcome ? { outcome } : {}),
          encounters: (enc.get(m.id) ?? []).sort(),
        });
      }
    }
    return out;
  }

  async rederive(
    unit: { encounterKeys: readonly string[]; messageIds: readonly number[] },
    remapped: ReadonlyMap<number, MapOutcome>,
    opts: RederiveOptions,
  ): Promise<UnitResult> {
    // one encounter (or the few a message links) per database transaction; a dry run writes nothing in it
    const [r] = await this.rederiveBatch([{ unit, remapped, opts }], Infinity);
    return r!;
  }

  rederiveBatch(items: readonly RederiveItem[], budgetMs: number): Promise<UnitResult[]> {
    return this.db.transaction(async (q) => {
      const began = performance.now();
      const out: UnitResult[] = [];
      for (const { unit, remapped, opts } of items) {
        // each unit reads what the ones before it wrote, as in transactions of its own
        const r = await rederiveUnit(q, this.validator, unit, remapped, opts);
        if (opts.run && r.kind !== 'grow') await recordUnit(q, opts.run.id, opts.run.unit, r, opts.at);
        out.push(r);
        if (r.kind === 'grow' || performance.now() - began >= budgetMs) break;
      }
      return out;
    });
  }

  keepOutcomes(outcomes: readonly { id: number; outcome: MapOutcome }[]): Promise<void> {
    return this.db.transaction(async (q) => {
      for (const o of outcomes) await q.run('UPDATE inbound_messages SET outcome = ? WHERE id = ? AND raw_purged_at IS NULL', [storedOutcome(o.outcome), o.id]);
    });
  }

  // ---- reprocessing runs ----

  reprocessUnits(selection: ReprocessSelection): Promise<string[]> {
    return selectUnits(this.db, selection);
  }

  createReprocessRun(r: { who: string; apply: boolean; selection: ReprocessSelection; total: number; tables: string }, at: Date): Promise<number> {
    return this.db.transaction((q) => createRun(q, r, at));
  }

  reprocessRun(id: number): Promise<ReprocessRun | undefined> {
    return readRun(this.db, id);
  }

  reprocessRuns(filter: { status?: ReprocessStatus; limit?: number }): Promise<ReprocessRun[]> {
    return listRuns(this.db, filter);
  }

  finishReprocessRun(id: number, status: ReprocessStatus, at: Date, error?: string): Promise<void> {
    return this.db.transaction((q) => finishRun(q, id, status, at, error));
  }

  reprocessChanges(id: number, filter: { after?: number; limit?: number }): Promise<{ id: number; change: ConsultationChange }[]> {
    return runChanges(this.db, id, filter);
  }

  private async messageIn(q: Queryable, id: number): Promise<(MessageRow & { raw: string }) | undefined> {
    const r = await q.get(`SELECT ${MESSAGE_COLUMNS}, raw FROM inbound_messages WHERE id = ?`, [id]);
    return r ? { ...messageFromRow(r), raw: row('inbound_messages', r).text('raw') } : undefined;
  }

  message(id: number): Promise<(MessageRow & { raw: string }) | undefined> {
    return this.messageIn(this.db, id);
  }

  async queuePage(status: MessageStatus, afterId: number, limit: number, withRaw = false): Promise<QueuedMessage[]> {
    const rows = await this.db.all(
      `SELECT id, received_at, channel, problems${withRaw ? ', raw' : ''} FROM inbound_messages WHERE status = ? AND id > ? ORDER BY id LIMIT ?`,
      [status, afterId, limit],
    );
    // the messages of a queue mostly carry the same problems word for word (one unmapped value,
    // thousands of messages): each text is read and checked once a page
    const seen = new Map<string, readonly Problem[]>();
    return rows.map((r) => {
      const m = row('inbound_messages', r);
      const text = m.text('problems');
      let problems = seen.get(text);
      if (problems === undefined) {
        problems = m.json('problems', ProblemsSchema, []);
        seen.set(text, problems);
      }
      return {
        id: m.int('id'),
        receivedAt: m.text('received_at'),
        channel: m.oneOf('channel', CHANNELS),
        problems,
        ...(withRaw ? { raw: m.text('raw') } : {}),
      };
    });
  }

  errorGroups(examples: number): Promise<ErrorGroup[]> {
    // a read over the whole queue: on SQLite in the reports thread, not the event loop's
    return errorGroups(this.db.reports, this.db.dialect, examples);
  }

  async messageEdits(id: number): Promise<MessageEdits> {
    const own = await this.db.get('SELECT edited_from, edited_by, received_at FROM inbound_messages WHERE id = ?', [id]);
    const o = own ? row('inbound_messages', own) : undefined;
    const from = o?.optInt('edited_from');
    const copies = await this.db.all('SELECT id, edited_by, received_at FROM inbound_messages WHERE edited_from = ? ORDER BY id', [id]);
    return {
      ...(o !== undefined && from !== undefined ? { editedFrom: { messageId: from, by: o.optText('edited_by') ?? '', at: o.text('received_at') } } : {}),
      editedAs: copies.map((r) => {
        const c = row('inbound_messages', r);
        return { messageId: c.int('id'), by: c.optText('edited_by') ?? '', at: c.text('received_at') };
      }),
    };
  }

  async messages(filter: MessageFilter): Promise<MessageRow[]> {
    // only the filters given, as plain comparisons: an index serves `column = ?` but not `(? IS NULL OR column = ?)`
    const where: string[] = [];
    const params: SqlValue[] = [];
    const cond = (sql: string, value: string | undefined) => {
      if (value === undefined) return;
      where.push(sql);
      params.push(value);
    };
    cond('status = ?', filter.status);
    cond('channel = ?', filter.channel);
    cond('control_id = ?', filter.controlId);
    cond('sender = ?', filter.sender);
    cond('received_at >= ?', filter.from);
    cond('received_at < ?', filter.to);
    if (filter.notPurged === true) where.push('raw_purged_at IS NULL');
    // a substring test, case-sensitive on both (SQLite's LIKE folds ASCII case, PostgreSQL's does not)
    cond(this.db.dialect === 'postgres' ? 'strpos(raw, ?) > 0' : 'instr(raw, ?) > 0', filter.contains);
    const desc = filter.newestFirst === true;
    where.push(desc ? 'id < ?' : 'id > ?');
    params.push(desc ? (filter.beforeId ?? Number.MAX_SAFE_INTEGER) : (filter.afterId ?? 0), filter.limit ?? 100);
    const rows = await this.db.all(
      `SELECT ${MESSAGE_COLUMNS} FROM inbound_messages WHERE ${where.join(' AND ')} ORDER BY id ${desc ? 'DESC' : ''} LIMIT ?`,
      params,
    );
    return rows.map(messageFromRow);
  }

  async recordAnswerStatus(ids: readonly number[], status: number): Promise<void> {
    for (const part of chunks([...ids]))
      await this.db.run(`UPDATE inbound_messages SET answer_status = ? WHERE id IN (${marks(part.length)})`, [status, ...part]);
  }

  async messageDetails(ids: readonly number[]): Promise<MessageDetail[]> {
    const out: MessageDetail[] = [];
    for (const part of chunks([...ids])) {
      const numbers = new Map<number, string[]>();
      const found = await this.db.all(
        `SELECT DISTINCT om.message_id, n.number FROM order_messages om JOIN order_numbers n ON n.order_id = om.order_id WHERE om.message_id IN (${marks(part.length)}) ORDER BY om.message_id, n.number`,
        part,
      );
      for (const r of found) {
        const x = row('order_numbers', r);
        numbers.set(x.int('message_id'), [...(numbers.get(x.int('message_id')) ?? []), x.text('number')]);
      }
      const rows = await this.db.all(
        `SELECT m.id, m.raw, m.status, m.answer_status, f.status AS first_status FROM inbound_messages m LEFT JOIN inbound_messages f ON f.id = m.duplicate_of WHERE m.id IN (${marks(part.length)}) ORDER BY m.id`,
        part,
      );
      for (const r of rows) {
        const m = row('inbound_messages', r);
        const first = m.optText('first_status') !== undefined ? m.oneOf('first_status', MESSAGE_STATUSES) : undefined;
        out.push({
          id: m.int('id'),
          raw: m.text('raw'),
          orderNumbers: numbers.get(m.int('id')) ?? [],
          answeredAs: first ?? m.oneOf('status', MESSAGE_STATUSES),
          ...(m.optInt('answer_status') !== undefined ? { answerStatus: m.optInt('answer_status') } : {}),
        });
      }
    }
    return out.sort((a, b) => a.id - b.id);
  }

  recordEvents(subscription: string, eventNumbers: readonly number[], reportedSince: number | undefined, at: Date): Promise<void> {
    return this.db.transaction(async (q) => {
      for (const n of eventNumbers) {
        await q.run('INSERT INTO subscription_events (subscription, event_number, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [
          subscription,
          n,
          at.toISOString(),
        ]);
      }
      await q.run(
        `INSERT INTO subscriptions (subscription, reported_since, last_seen_at) VALUES (?, ?, ?)
         ON CONFLICT (subscription) DO UPDATE SET last_seen_at = excluded.last_seen_at, reported_since =
           CASE WHEN excluded.reported_since > subscriptions.reported_since THEN excluded.reported_since ELSE subscriptions.reported_since END`,
        [subscription, Math.max(reportedSince ?? 0, ...eventNumbers, 0), at.toISOString()],
      );
    });
  }

  async subscriptions(): Promise<SubscriptionView[]> {
    const out: SubscriptionView[] = [];
    for (const r of await this.db.all('SELECT subscription, reported_since, last_seen_at FROM subscriptions ORDER BY subscription')) {
      const s = row('subscriptions', r);
      const sub = s.text('subscription');
      const since = s.int('reported_since');
      const got = new Set(
        (await this.db.all('SELECT event_number FROM subscription_events WHERE subscription = ?', [sub])).map((e) =>
          row('subscription_events', e).int('event_number'),
        ),
      );
      const missing: number[] = [];
      for (let n = 1; n <= since && missing.length < 1000; n++) if (!got.has(n)) missing.push(n);
      out.push({ subscription: sub, received: got.size, reportedSince: since, missing, lastSeenAt: s.text('last_seen_at') });
    }
    return out;
  }

  // ---- merge ----

  /** `previous`: the encounter's consultations as read before the merge (read here when not given). */
  private async saveEncounter(q: Queryable, key: string, enc: EncounterState, seq: number, previous?: ReadonlyMap<string, StoredConsultation>): Promise<void> {
    await writeEncounter(q, key, enc, planEncounter(this.validator, enc, previous ?? (await readPrevious(q, key))), seq);
  }

  // ---- records ----

  async records(filter: { state?: RecordState; limit?: number; after?: { encounterKey: string; consultationKey: string } }): Promise<RecordSummary[]> {
    const a = filter.after ?? { encounterKey: '', consultationKey: '' };
    const rows = await this.db.all(
      `SELECT c.encounter_key, e.facility_id, e.encounter_id, c.consultation_key, c.state, c.missing
       FROM consultations c JOIN encounters e ON e.encounter_key = c.encounter_key
       WHERE (CAST(? AS TEXT) IS NULL OR c.state = ?) AND (c.encounter_key > ? OR (c.encounter_key = ? AND c.consultation_key > ?))
       ORDER BY c.encounter_key, c.consultation_key LIMIT ?`,
      [...either(filter.state), a.encounterKey, a.encounterKey, a.consultationKey, filter.limit ?? 100],
    );
    return rows.map(summaryFromRow);
  }

  async record(key: string): Promise<RecordView | undefined> {
    const e = await this.db.get('SELECT facility_id, encounter_id, partner_id, fields, consultation_defaults FROM encounters WHERE encounter_key = ?', [key]);
    if (!e) return undefined;
    const rows = await this.db.all(
      `SELECT consultation_key, cdate, ctime, key_rank, fields, cancelled, exclusion, state, missing, problems, nrdr_problems, transaction_id, retraction_ack_by, retraction_ack_at, retired
       FROM consultations WHERE encounter_key = ? ORDER BY consultation_key`,
      [key],
    );
    const enc = encounterFromRows(e, rows);
    const history = await recordHistory(this.db, key);
    const consultations: ConsultationRow[] = rows.map((r) => {
      const c = row('consultations', r);
      const transactionId = c.optText('transaction_id');
      const state = c.oneOf('state', RECORD_STATES);
      const exclusion = c.json<Exclusion | null>('exclusion', ExclusionSchema, null);
      const retraction =
        state === 'cancelled-after-submission'
          ? retractionOf({
              facilityId: enc.facilityId,
              encounterId: enc.encounterId,
              consultationKey: c.text('consultation_key'),
              transactionId,
              ackBy: c.optText('retraction_ack_by'),
              ackAt: c.optText('retraction_ack_at'),
              retired: c.int('retired') === 1,
            })
          : undefined;
      return {
        consultationKey: c.text('consultation_key'),
        ...keySourceOf(c.optInt('key_rank')),
        state,
        missing: c.json('missing', StringListSchema, []),
        problems: c.json('problems', ProblemsSchema, []),
        nrdrProblems: c.json('nrdr_problems', ProblemsSchema, []),
        fields: c.json('fields', FieldMapSchema, {}),
        cancelled: c.json('cancelled', FieldValueSchema.nullable(), null)?.value === 'cancelled',
        ...(exclusion ? { exclusion } : {}),
        ...(transactionId !== undefined ? { transactionId } : {}),
        ...(retraction ? { retraction } : {}),
        history: history.get(c.text('consultation_key')) ?? [],
      };
    });
    return {
      encounterKey: key,
      facilityId: enc.facilityId,
      encounterId: enc.encounterId,
      ...(enc.partnerId !== undefined ? { partnerId: enc.partnerId } : {}),
      fields: enc.fields,
      consultationDefaults: enc.consultationDefaults,
      consultations,
    };
  }

  guessTally(ruleName: (rule: string) => string, examples: number): Promise<KeptGuesses[]> {
    return keptGuesses(this.db, ruleName, examples);
  }

  async wireEncounters(state: RecordState, limit: number, after?: { encounterKey: string; consultationKey: string }): Promise<WireConsultation[]> {
    const a = after ?? { encounterKey: '', consultationKey: '' };
    const list = await this.db.all(
      `SELECT encounter_key, consultation_key FROM consultations WHERE state = ?
       AND (encounter_key > ? OR (encounter_key = ? AND consultation_key > ?))
       ORDER BY encounter_key, consultation_key LIMIT ?`,
      [state, a.encounterKey, a.encounterKey, a.consultationKey, limit],
    );
    const cache = new Map<string, EncounterState | undefined>();
    const out: WireConsultation[] = [];
    for (const r of list) {
      const c = row('consultations', r);
      const key = c.text('encounter_key');
      if (!cache.has(key)) cache.set(key, await loadEncounter(this.db, key));
      const enc = cache.get(key);
      const cons = enc?.consultations.get(c.text('consultation_key'));
      if (!enc || !cons) continue;
      const v = evaluateConsultation(this.validator, enc, cons);
      out.push({
        encounterKey: key,
        consultationKey: c.text('consultation_key'),
        facilityId: enc.facilityId,
        ...(enc.partnerId !== undefined ? { partnerId: enc.partnerId } : {}),
        wire: v.wire,
        contentHash: v.contentHash,
      });
    }
    return out;
  }

  // ---- resource cache ----

  saveResources(resources: readonly { key: string; version: string; body: string }[], messageId: number, at: Date): Promise<void> {
    return this.db.transaction(async (q) => {
      for (const r of resources) {
        await q.run(
          `INSERT INTO fhir_resources (resource_key, version, body, message_id, stored_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (resource_key) DO UPDATE SET version = excluded.version, body = excluded.body, message_id = excluded.message_id, stored_at = excluded.stored_at
           WHERE excluded.version >= fhir_resources.version`,
          [r.key, r.version, r.body, messageId, at.toISOString()],
        );
      }
    });
  }

  async resource(key: string): Promise<string | undefined> {
    const r = await this.db.get('SELECT body FROM fhir_resources WHERE resource_key = ?', [key]);
    return r ? row('fhir_resources', r).text('body') : undefined;
  }

  // ---- outbound ledger ----

  createTransaction(
    body: Transaction,
    records: readonly OutboundRecord[],
    at: Date,
    fence?: Fence,
    under?: { readonly profile: string; readonly deidSeal?: string },
  ): Promise<{ created: boolean; stale: OutboundRecord[]; fenced?: boolean }> {
    return this.db.transaction(async (q) => {
      // the same locks as the ingest of these encounters: neither writes over the other
      await q.lock([...records.map((r) => r.encounterKey), ...(fence ? [`lease|${fence.name}`] : [])]);
      if (fence && !(await SqlStore.holds(q, fence))) return { created: false, stale: [], fenced: true };
      const stale: OutboundRecord[] = [];
      for (const r of records) {
        const now = await q.get('SELECT state, content_hash FROM consultations WHERE encounter_key = ? AND consultation_key = ?', [
          r.encounterKey,
          r.consultationKey,
        ]);
        const c = now ? row('consultations', now) : undefined;
        if (!c || c.text('state') !== 'ready' || c.text('content_hash') !== r.contentHash) stale.push(r);
      }
      if (stale.length > 0) return { created: false, stale };
      await q.run(
        `INSERT INTO transactions (transaction_id, facility_id, partner_id, app_id, status, created_at, updated_at, body, attempts, profile, deid_seal)
         VALUES (?, ?, ?, ?, 'created', ?, ?, ?, 0, ?, ?)`,
        [
          body.Transaction_ID,
          body.Facility_ID,
          body.PartnerID,
          body.AppID,
          at.toISOString(),
          at.toISOString(),
          JSON.stringify(body),
          under?.profile ?? null,
          under?.deidSeal ?? null,
        ],
      );
      for (const r of records) {
        await q.run('INSERT INTO transaction_records (transaction_id, encounter_key, consultation_key, content_hash) VALUES (?, ?, ?, ?)', [
          body.Transaction_ID,
          r.encounterKey,
          r.consultationKey,
          r.contentHash,
        ]);
        await moveRecord(q, {
          encounterKey: r.encounterKey,
          consultationKey: r.consultationKey,
          from: 'ready',
          to: 'submitted',
          set: { sql: 'transaction_id = ?, submitted_hash = ?, nrdr_problems = NULL', params: [body.Transaction_ID, r.contentHash] },
        });
      }
      return { created: true, stale };
    });
  }

  async liveLeases(prefix: string, at: Date): Promise<{ name: string; holder: string }[]> {
    const rows = await this.db.all('SELECT name, holder FROM leases WHERE substr(name, 1, ?) = ? AND expires_at >= ? ORDER BY name', [
      prefix.length,
      prefix,
      at.toISOString(),
    ]);
    return rows.map((r) => ({ name: row('leases', r).text('name'), holder: row('leases', r).text('holder') }));
  }

  lease(name: string, holder: string, at: Date, ttlMs: number): Promise<boolean> {
    return this.db.transaction(async (q) => {
      await q.run(
        `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at < ?`,
        [name, holder, new Date(at.getTime() + ttlMs).toISOString(), at.toISOString()],
      );
      const r = await q.get('SELECT holder FROM leases WHERE name = ?', [name]);
      return r !== undefined && row('leases', r).text('holder') === holder;
    });
  }

  /** The fence holds: the lease is this claimant's, at this epoch, unexpired at the fence's time (the caller holds `lease|<name>`). */
  private static async holds(q: Queryable, f: Fence): Promise<boolean> {
    const r = await q.get('SELECT holder, token, epoch, expires_at FROM leases WHERE name = ?', [f.name]);
    if (!r) return false;
    const l = row('leases', r);
    return l.text('holder') === f.holder && l.text('token') === f.token && l.int('epoch') === f.epoch && l.text('expires_at') > f.at.toISOString();
  }

  private static leaseFromRow(r: Row, claim?: LeaseClaim): LeaseState {
    const l = row('leases', r);
    return {
      held: claim !== undefined && l.text('holder') === claim.holder && l.text('token') === claim.token,
      holder: l.text('holder'),
      epoch: l.int('epoch'),
      expiresAt: l.text('expires_at'),
    };
  }

  takeLease(name: string, claim: LeaseClaim, at: Date, ttlMs: number, opts: { reclaimOwn?: boolean } = {}): Promise<LeaseState> {
    const expiresAt = new Date(at.getTime() + ttlMs).toISOString();
    return this.db.transaction(async (q) => {
      await q.lock([`lease|${name}`]);
      const r = await q.get('SELECT holder, token, epoch, expires_at FROM leases WHERE name = ?', [name]);
      if (!r) {
        await q.run('INSERT INTO leases (name, holder, token, epoch, expires_at) VALUES (?, ?, ?, 1, ?)', [name, claim.holder, claim.token, expiresAt]);
        return { held: true, holder: claim.holder, epoch: 1, expiresAt };
      }
      const now = SqlStore.leaseFromRow(r, claim);
      // renewed by its claimant (the epoch stays); otherwise taken only when it ran out, or from an earlier process of this holder
      const runOut = now.expiresAt < at.toISOString();
      if (!now.held && !runOut && !(opts.reclaimOwn === true && now.holder === claim.holder)) return now;
      const epoch = now.held ? now.epoch : now.epoch + 1;
      await q.run('UPDATE leases SET holder = ?, token = ?, epoch = ?, expires_at = ? WHERE name = ?', [claim.holder, claim.token, epoch, expiresAt, name]);
      return { held: true, holder: claim.holder, epoch, expiresAt };
    });
  }

  async leaseState(name: string): Promise<LeaseState | undefined> {
    const r = await this.db.get('SELECT holder, token, epoch, expires_at FROM leases WHERE name = ?', [name]);
    return r ? SqlStore.leaseFromRow(r) : undefined;
  }

  releaseLease(name: string, holder: string, token?: string): Promise<void> {
    return this.db.transaction(
      async (q) =>
        void (await q.run('DELETE FROM leases WHERE name = ? AND holder = ? AND (CAST(? AS TEXT) IS NULL OR token = ?)', [name, holder, ...either(token)])),
    );
  }

  claimPost(id: string, from: { status: 'created' | 'sent'; attempts: number; profile?: string }, fence: Fence): Promise<PostClaim> {
    return this.db.transaction(async (q) => {
      await q.lock([`lease|${fence.name}`]);
      if (!(await SqlStore.holds(q, fence))) return 'fenced';
      const t = await q.get('SELECT seq, status, attempts, profile FROM transactions WHERE transaction_id = ?', [id]);
      // read in another state, or POSTed since it was read (two claims of one re-POST: one goes)
      if (!t || row('transactions', t).text('status') !== from.status || row('transactions', t).int('attempts') !== from.attempts) return 'moved';
      // another profile's: never sent to this one's environment
      if (from.profile !== undefined && row('transactions', t).optText('profile') !== from.profile) return 'moved';
      // a record of it sent since in a later transaction: this one would put an older revision over a newer one
      const later = await q.get(
        `SELECT 1 AS one FROM transaction_records r
         JOIN transaction_records l ON l.encounter_key = r.encounter_key AND l.consultation_key = r.consultation_key
         JOIN transactions t2 ON t2.transaction_id = l.transaction_id
         WHERE r.transaction_id = ? AND t2.seq > ? AND t2.status <> 'created' LIMIT 1`,
        [id, row('transactions', t).int('seq')],
      );
      if (later) return 'superseded';
      checkOutboundTransition(id, [from.status], 'sent');
      await q.run(
        `UPDATE transactions SET status = 'sent', sent_at = ?, sent_epoch = ?, attempts = attempts + 1, polls = 0, next_poll_at = NULL, updated_at = ?
         WHERE transaction_id = ?`,
        [fence.at.toISOString(), fence.epoch, fence.at.toISOString(), id],
      );
      return 'claimed';
    });
  }

  abandonTransaction(id: string, why: string, at: Date): Promise<void> {
    return this.db.transaction(async (q) => {
      const waiting = await q.all(`SELECT encounter_key, consultation_key FROM consultations WHERE transaction_id = ? AND state = 'submitted'`, [id]);
      await q.lock([...new Set(waiting.map((r) => row('consultations', r).text('encounter_key')))]);
      await q.run(
        `UPDATE transactions SET status = 'failed', last_error = ?, next_poll_at = NULL, updated_at = ?
         WHERE transaction_id = ? AND ${fromStatesSql(OUTBOUND_TRANSITIONS, OUTBOUND_STATUSES, 'failed', 'status')}`,
        [why, at.toISOString(), id],
      );
      for (const r of waiting) {
        const c = row('consultations', r);
        const changed = await moveRecord(q, {
          encounterKey: c.text('encounter_key'),
          consultationKey: c.text('consultation_key'),
          from: 'submitted',
          to: 'ready',
          where: { sql: 'transaction_id = ?', params: [id] },
        });
        // kept in the record's history: it goes out again in the next round, never silently
        if (changed === 1) {
          await q.run(
            'INSERT INTO record_history (encounter_key, consultation_key, at, from_state, to_state, who, why, transaction_id, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [c.text('encounter_key'), c.text('consultation_key'), at.toISOString(), 'submitted', 'ready', 'submitter', why, id, '[]'],
          );
        }
      }
    });
  }

  updateTransaction(id: string, patch: TransactionPatch, at: Date): Promise<void> {
    // only from states the caller names that the table allows (none named: every state the table allows)
    const from = patch.from !== undefined && patch.from.length > 0 ? patch.from : fromStates(OUTBOUND_TRANSITIONS, OUTBOUND_STATUSES, patch.status);
    const next = patch.nextPollAt === undefined ? [0, null] : [1, patch.nextPollAt === null ? null : patch.nextPollAt.toISOString()];
    return this.db.transaction(async (q) => {
      checkOutboundTransition(id, from, patch.status);
      const changed = await q.run(
        `UPDATE transactions SET status = ?, updated_at = ?, nrdr_status = COALESCE(?, nrdr_status), last_error = ?,
           attempts = attempts + ?, polls = polls + ?, next_poll_at = CASE WHEN CAST(? AS INTEGER) = 1 THEN CAST(? AS TEXT) ELSE next_poll_at END
         WHERE transaction_id = ? AND status IN (${marks(from.length)})`,
        [
          patch.status,
          at.toISOString(),
          patch.nrdr ? JSON.stringify(patch.nrdr) : null,
          patch.error ?? null,
          patch.attempted ? 1 : 0,
          patch.polled ? 1 : 0,
          ...next,
          id,
          ...from,
        ],
      );
      if (changed > 0 && patch.nrdr) await appendNrdrStatus(q, id, patch.nrdr, at);
      // a caller that named no states meant "from wherever it is": a row the table does not let
      // move there is refused by name, never left as it was in silence (a named `from` that no
      // longer holds is the fencing answer its caller expects)
      if (changed === 0 && (patch.from === undefined || patch.from.length === 0)) {
        const found = await q.get('SELECT status FROM transactions WHERE transaction_id = ?', [id]);
        const current = found === undefined ? undefined : row('transactions', found).oneOf('status', OUTBOUND_STATUSES);
        if (current !== undefined) checkOutboundTransition(id, [current], patch.status);
      }
    });
  }

  async duePolls(at: Date, limit: number, profile?: string): Promise<string[]> {
    // the ids only: a body may be a few hundred KB, and a pass reads each transaction whole just
    // before asking about it (200 bodies at once were most of serve's peak memory on a backlog)
    const list = await this.db.all(
      `SELECT transaction_id FROM transactions WHERE status IN ('sent', 'posted') AND (next_poll_at IS NULL OR next_poll_at <= ?)
       AND (CAST(? AS TEXT) IS NULL OR profile = ?)
       ORDER BY COALESCE(next_poll_at, ''), seq LIMIT ?`,
      [at.toISOString(), ...either(profile), limit],
    );
    return list.map((r) => row('transactions', r).text('transaction_id'));
  }

  async inFlight(profile?: string): Promise<{ count: number; oldestCreatedAt: string | null; nextPollAt: string | null }> {
    const r = await this.db.get(
      `SELECT COUNT(*) AS n, MIN(created_at) AS oldest, MIN(CASE WHEN status = 'created' THEN '0' ELSE COALESCE(next_poll_at, '0') END) AS next
       FROM transactions WHERE status IN (${marks(IN_FLIGHT_STATUSES.length)}) AND (CAST(? AS TEXT) IS NULL OR profile = ?)`,
      [...IN_FLIGHT_STATUSES, ...either(profile)],
    );
    const x = row('transactions', r ?? {});
    const next = x.optText('next');
    // '0' = due now (a POST to make, or a poll never scheduled)
    return {
      count: x.int('n'),
      oldestCreatedAt: x.optText('oldest') ?? null,
      nextPollAt: next === undefined ? null : next === '0' ? new Date(0).toISOString() : next,
    };
  }

  async inFlightByProfile(): Promise<{ profile: string | null; count: number }[]> {
    const rows = await this.db.all(
      `SELECT profile, COUNT(*) AS n FROM transactions WHERE status IN (${marks(IN_FLIGHT_STATUSES.length)}) GROUP BY profile ORDER BY profile`,
      [...IN_FLIGHT_STATUSES],
    );
    return rows.map((r) => ({ profile: row('transactions', r).optText('profile') ?? null, count: row('transactions', r).int('n') }));
  }

  adoptUnprofiled(profile: string, byFacility?: { readonly facilityId: string; readonly profile: string }): Promise<number> {
    return this.db.transaction(async (q) => {
      const named = byFacility
        ? await q.run('UPDATE transactions SET profile = ? WHERE profile IS NULL AND facility_id = ?', [byFacility.profile, byFacility.facilityId])
        : 0;
      return named + (await q.run('UPDATE transactions SET profile = ? WHERE profile IS NULL', [profile]));
    });
  }

  nrdrStatusSeen(id: string, status: TransactionStatus, at: Date): Promise<void> {
    return this.db.transaction(async (q) => {
      if (await appendNrdrStatus(q, id, status, at))
        await q.run('UPDATE transactions SET nrdr_status = ? WHERE transaction_id = ?', [JSON.stringify(status), id]);
    });
  }

  resubmit(filter: ResubmitFilter, by: { who: string; at: Date; why: string }): Promise<ResubmittedRecord[]> {
    return this.db.transaction((q) => resubmitRejected(q, filter, by));
  }

  resendFailed(transactionId: string, limit: number, at: Date): Promise<{ resent: ResubmittedRecord[]; kept: ResubmittedRecord[] }> {
    return this.db.transaction((q) => resendFailed(q, transactionId, limit, at));
  }

  recordResults(id: string, results: readonly RecordResult[], at: Date): Promise<void> {
    return this.db.transaction(async (q) => {
      await q.lock(results.map((r) => r.encounterKey));
      for (const r of results) {
        const problems = JSON.stringify(r.problems);
        await q.run('UPDATE transaction_records SET result = ?, nrdr_problems = ? WHERE transaction_id = ? AND encounter_key = ? AND consultation_key = ?', [
          r.result,
          problems,
          id,
          r.encounterKey,
          r.consultationKey,
        ]);
        await moveRecord(q, {
          encounterKey: r.encounterKey,
          consultationKey: r.consultationKey,
          from: 'submitted',
          to: r.result,
          set: { sql: 'nrdr_problems = ?', params: [problems] },
          where: { sql: 'transaction_id = ? AND submitted_hash = ?', params: [id, r.contentHash] },
        });
        // cancelled while in flight: if NRDR refused it everywhere, there is nothing to retract (a
        // result other than rejected was just written above, so only a rejection can make it so)
        if (r.result === 'rejected') {
          await moveRecord(q, {
            encounterKey: r.encounterKey,
            consultationKey: r.consultationKey,
            from: 'cancelled-after-submission',
            to: 'cancelled',
            set: { sql: 'nrdr_problems = ?', params: [problems] },
            where: {
              sql: `NOT EXISTS (SELECT 1 FROM transaction_records t
               WHERE t.encounter_key = consultations.encounter_key AND t.consultation_key = consultations.consultation_key
               AND (t.result IS NULL OR t.result <> 'rejected'))`,
              params: [],
            },
          });
        }
      }
      await q.run('UPDATE transactions SET updated_at = ? WHERE transaction_id = ?', [at.toISOString(), id]);
    });
  }

  private async withRecords(r: Row): Promise<TransactionRow> {
    const id = row('transactions', r).text('transaction_id');
    const recs = await this.db.all(
      'SELECT encounter_key, consultation_key, content_hash, result, nrdr_problems FROM transaction_records WHERE transaction_id = ? ORDER BY encounter_key, consultation_key',
      [id],
    );
    return transactionFromRows(r, recs, await nrdrStatusHistory(this.db, id));
  }

  async transactions(filter: { status?: OutboundStatus; profile?: string; limit?: number; after?: string; newestFirst?: boolean }): Promise<TransactionRow[]> {
    const list = await this.db.all(
      filter.newestFirst === true
        ? `SELECT * FROM transactions WHERE (CAST(? AS TEXT) IS NULL OR status = ?) AND (CAST(? AS TEXT) IS NULL OR profile = ?)
       AND seq < COALESCE((SELECT seq FROM transactions WHERE transaction_id = ?), ${Number.MAX_SAFE_INTEGER}) ORDER BY seq DESC LIMIT ?`
        : `SELECT * FROM transactions WHERE (CAST(? AS TEXT) IS NULL OR status = ?) AND (CAST(? AS TEXT) IS NULL OR profile = ?)
       AND seq > COALESCE((SELECT seq FROM transactions WHERE transaction_id = ?), 0) ORDER BY seq LIMIT ?`,
      [...either(filter.status), ...either(filter.profile), filter.after ?? null, filter.limit ?? 100],
    );
    const out: TransactionRow[] = [];
    for (const r of list) out.push(await this.withRecords(r));
    return out;
  }

  async transaction(id: string): Promise<TransactionRow | undefined> {
    const r = await this.db.get('SELECT * FROM transactions WHERE transaction_id = ?', [id]);
    return r ? this.withRecords(r) : undefined;
  }

  // ---- order ledger ----

  async orders(filter: OrderFilter): Promise<{ orders: OrderRow[]; next: number | null }> {
    const { mrn, ...rest } = filter;
    if (mrn === undefined) return listOrders(this.db, rest);
    return listOrders(this.db, rest, await patientMessageIds(this, this.db, this.db.dialect, mrn));
  }

  reconciliation(filter: ReconciliationFilter): Promise<ReconciliationRow[]> {
    return reconcile(this.db.reports, filter);
  }

  ledgerGauges(): Promise<LedgerGauges> {
    return ledgerGauges(this.db.reports);
  }

  oldestHeld(): Promise<Record<string, string>> {
    return oldestHeld(this.db.reports);
  }

  acknowledgeRetraction(orderId: number, who: string, at: Date): Promise<AcknowledgeResult> {
    return this.db.transaction(async (q) => {
      const o = await q.get('SELECT encounter_key, consultation_key FROM orders WHERE id = ?', [orderId]);
      if (!o) return { result: 'not-found' };
      const ekey = row('orders', o).optText('encounter_key');
      const ckey = row('orders', o).optText('consultation_key');
      if (ekey === undefined || ckey === undefined) return { result: 'not-retraction', state: 'not in a record' };
      const r = await acknowledgeIn(q, ekey, ckey, who, at, `order ${orderId} (${ekey} ${ckey})`);
      // the order is there; its consultation is not: nothing to acknowledge (not a missing order)
      return r.result === 'not-found' ? { result: 'not-retraction', state: 'not in a record' } : r;
    });
  }

  acknowledgeConsultationRetraction(encounterKey: string, consultationKey: string, who: string, at: Date): Promise<AcknowledgeResult> {
    return this.db.transaction((q) => acknowledgeIn(q, encounterKey, consultationKey, who, at, `${encounterKey} ${consultationKey}`));
  }

  // ---- access audit ----

  audit(entry: { at: Date; who: string; what: string }): Promise<void> {
    return this.db.transaction(
      async (q) => void (await q.run('INSERT INTO access_audit (at, who, what) VALUES (?, ?, ?)', [entry.at.toISOString(), entry.who, entry.what])),
    );
  }

  async accessLog(filter: { after?: number; limit?: number }): Promise<AccessEntry[]> {
    const rows = await this.db.all('SELECT id, at, who, what FROM access_audit WHERE id > ? ORDER BY id LIMIT ?', [filter.after ?? 0, filter.limit ?? 100]);
    return rows.map((r) => {
      const a = row('access_audit', r);
      return { id: a.int('id'), at: a.text('at'), who: a.text('who'), what: a.text('what') };
    });
  }

  // ---- credentials (sealed by the caller) ----

  private static credentialFromRow(r: Row): CredentialRow {
    const c = row('credentials', r);
    const expiresAt = c.optText('expires_at');
    return {
      name: c.text('name'),
      sealed: c.text('sealed'),
      meta: c.json<Record<string, unknown>>('meta', CredentialMetaSchema, {}),
      version: c.int('version'),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      updatedAt: c.text('updated_at'),
    };
  }

  async credential(name: string): Promise<CredentialRow | undefined> {
    const r = await this.db.get('SELECT * FROM credentials WHERE name = ?', [name]);
    return r ? SqlStore.credentialFromRow(r) : undefined;
  }

  putCredential(
    name: string,
    value: { sealed: string; meta: Readonly<Record<string, unknown>>; expiresAt?: Date },
    ifVersion: number,
    at: Date,
  ): Promise<number | false> {
    const params = [value.sealed, JSON.stringify(value.meta), value.expiresAt?.toISOString() ?? null, at.toISOString()];
    return this.db.transaction(async (q) => {
      await q.lock([`credential|${name}`]);
      const changed =
        ifVersion === 0
          ? await q.run(
              'INSERT INTO credentials (sealed, meta, expires_at, updated_at, name, version) VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (name) DO NOTHING',
              [...params, name],
            )
          : await q.run('UPDATE credentials SET sealed = ?, meta = ?, expires_at = ?, updated_at = ?, version = version + 1 WHERE name = ? AND version = ?', [
              ...params,
              name,
              ifVersion,
            ]);
      return changed === 1 ? ifVersion + 1 : false;
    });
  }

  takeCredential(name: string): Promise<CredentialRow | undefined> {
    return this.db.transaction(async (q) => {
      await q.lock([`credential|${name}`]);
      const r = await q.get('SELECT * FROM credentials WHERE name = ?', [name]);
      if (!r) return undefined;
      return (await q.run('DELETE FROM credentials WHERE name = ?', [name])) === 1 ? SqlStore.credentialFromRow(r) : undefined;
    });
  }

  deleteCredential(name: string): Promise<void> {
    return this.db.transaction(async (q) => void (await q.run('DELETE FROM credentials WHERE name = ?', [name])));
  }

  purgeCredentials(prefix: string, before: Date): Promise<number> {
    return this.db.transaction((q) =>
      q.run('DELETE FROM credentials WHERE SUBSTR(name, 1, ?) = ? AND expires_at IS NOT NULL AND expires_at < ?', [
        prefix.length,
        prefix,
        before.toISOString(),
      ]),
    );
  }

  // ---- the rest ----

  /** From the counters the triggers keep (counters.ts): a few dozen rows read, whatever the rows counted. */
  async counts(): Promise<StoreCounts> {
    const kept = await keptCounts(this.db.reports);
    return { messages: kept.messages ?? {}, records: kept.records ?? {}, transactions: kept.transactions ?? {} };
  }

  async ping(): Promise<void> {
    await this.db.get('SELECT 1 AS one');
    // a write too: a full disk or a read-only database is not ready
    await this.lease('readyz-probe', 'probe', new Date(), 0);
    // PostgreSQL: a lock someone holds on the messages table would keep every message waiting
    // (then 503 at the statement timeout); not ready while it is held (NOWAIT: asked, not waited for)
    if (this.db.dialect === 'postgres')
      await this.db.transaction((q) => q.run('LOCK TABLE inbound_messages IN ROW EXCLUSIVE MODE NOWAIT').then(() => undefined));
  }

  sizeBytes(): Promise<number> {
    return this.db.sizeBytes();
  }

  purgeRaw(before: Date, at: Date): Promise<{ messages: number; resources: number }> {
    return this.db.transaction(async (q) => {
      const messages = await q.run(
        `UPDATE inbound_messages SET raw = '', raw_purged_at = ?
         WHERE received_at < ? AND raw_purged_at IS NULL AND status IN ('applied', 'ignored', 'rejected', 'duplicate')`,
        [at.toISOString(), before.toISOString()],
      );
      // the FHIR resources kept for references (a Patient, a Coverage) go with the same days:
      // forgotten when last received before the cutoff (a later reference fetches it again)
      const resources = await q.run('DELETE FROM fhir_resources WHERE stored_at < ?', [before.toISOString()]);
      return { messages, resources };
    });
  }

  reclaimSpace(): Promise<Reclaim> {
    return this.db.reclaimSpace();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // a clean stop leaves no queue (one left is written at the next opening)
    await this.caughtUp().catch(() => undefined);
    return this.db.close();
  }
}
