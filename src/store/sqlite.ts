// The SQLite store (better-sqlite3, WAL). Every inbound message is one SQLite transaction: the
// raw message, its outcome and the merged record changes are committed together, before the
// sender gets an answer (synchronous=FULL by default: the commit is on disk).
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Problem } from '../cdsr/problem.js';
import type { CdsrValidator } from '../cdsr/validate.js';
import type { Transaction, TransactionStatus } from '../cdsr/schema.js';
import {
  applyRecord,
  type EncounterState,
  type MergeRepository,
  type OrderRef,
  type OrphanEntry,
} from '../mapping/merge.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { PartialRecord } from '../mapping/record.js';
import { evaluateConsultation, type RecordState } from './evaluate.js';
import { MIGRATIONS } from './migrations.js';
import { consultationWrites, encounterFromRows, json, messageFromRow, recordViewFromRows, str, summaryFromRow, transactionFromRows, type Row } from './rows.js';
import type {
  IngestResult,
  InboundMeta,
  MessageRow,
  MessageStatus,
  RecordSummary,
  RecordView,
  Store,
  SubscriptionView,
  OutboundRecord,
  OutboundStatus,
  RecordResult,
  TransactionRow,
} from './store.js';
import { StoreUnavailableError } from './store.js';

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  readonly file: string;
  readonly validator: CdsrValidator;
  /** FULL (default): an answered message survives power loss; NORMAL: survives a crash of the process only. */
  readonly synchronous?: 'FULL' | 'NORMAL';
}


export function statusForOutcome(outcome: MapOutcome): MessageStatus {
  switch (outcome.disposition) {
    case 'mapped':
      return 'applied';
    case 'error':
      return 'error';
    case 'unsupported':
      return 'ignored';
    case 'invalid':
      return 'rejected';
  }
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly validator: CdsrValidator;
  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement, prepared once per SQL text (preparing costs more than running). */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  constructor(options: SqliteStoreOptions) {
    if (options.file !== ':memory:') mkdirSync(dirname(options.file), { recursive: true });
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.validator = options.validator;
    this.migrate();
    this.ingestOneTx = this.db.transaction((meta: InboundMeta, outcome: MapOutcome) => this.ingestOne(meta, outcome));
    this.batchTx = this.db.transaction((jobs: readonly { meta: InboundMeta; outcome: MapOutcome }[]) =>
      jobs.map((job) => {
        try {
          // nested: a savepoint, so one bad message rolls back alone
          return this.ingestSavepoint(job.meta, job.outcome);
        } catch (e) {
          return e instanceof Error ? e : new Error(String(e));
        }
      }),
    );
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const done = new Set((this.stmt('SELECT version FROM schema_migrations').all() as Row[]).map((r) => Number(r.version)));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      this.db.transaction(() => {
        for (const s of m.statements) this.db.exec(s);
        this.stmt('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      })();
    }
  }

  private guard<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      if (e instanceof Database.SqliteError || (e instanceof TypeError && /database connection is not open/.test(e.message))) {
        return Promise.reject(new StoreUnavailableError(`the store cannot be written: ${e.message}`));
      }
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  // Group commit: messages that arrive while a commit is on its way to disk are committed
  // together in the next transaction (each in its own savepoint), so concurrent senders share one
  // fsync instead of queueing behind one each. A lone sender still gets one commit per message.
  private queue: { meta: InboundMeta; outcome: MapOutcome; resolve: (r: IngestResult) => void; reject: (e: Error) => void }[] = [];
  // built once: better-sqlite3 transaction functions are cheap to call, not to create
  private readonly ingestSavepoint = (meta: InboundMeta, outcome: MapOutcome): IngestResult => this.ingestOneTx(meta, outcome);
  private ingestOneTx!: (meta: InboundMeta, outcome: MapOutcome) => IngestResult;
  private batchTx!: (jobs: readonly { meta: InboundMeta; outcome: MapOutcome }[]) => (IngestResult | Error)[];
  private flushScheduled = false;

  ingest(meta: InboundMeta, outcome: MapOutcome): Promise<IngestResult> {
    if (!this.db.open) return Promise.reject(new StoreUnavailableError('the store is closed'));
    return new Promise<IngestResult>((resolve, reject) => {
      this.queue.push({ meta, outcome, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length === 0) return;
    let results: (IngestResult | Error)[];
    try {
      results = this.batchTx(jobs);
    } catch (e) {
      const err = new StoreUnavailableError(`the store cannot be written: ${e instanceof Error ? e.message : String(e)}`);
      for (const job of jobs) job.reject(err);
      return;
    }
    jobs.forEach((job, i) => {
      const r = results[i]!;
      if (r instanceof Error) job.reject(r instanceof Database.SqliteError ? new StoreUnavailableError(`the store cannot be written: ${r.message}`) : r);
      else job.resolve(r);
    });
  }

  private ingestOne(meta: InboundMeta, outcome: MapOutcome): IngestResult {
    const hash = createHash('sha256').update(meta.raw).digest('hex');
    const twin = this.stmt(
        `SELECT id, status FROM inbound_messages WHERE channel = ? AND sender = ? AND control_id = ? AND hash = ?
         AND status IN ('applied', 'error', 'ignored') ORDER BY id DESC LIMIT 1`,
      )
      .get(meta.channel, meta.sender, meta.controlId, hash) as Row | undefined;
    if (twin && meta.controlId !== '') {
      const id = this.insertMessage(meta, hash, 'duplicate', [], Number(twin.id));
      return { messageId: id, status: 'duplicate', duplicateOf: Number(twin.id) };
    }
    const status = statusForOutcome(outcome);
    const id = this.insertMessage(meta, hash, status, [...outcome.problems]);
    if (outcome.disposition === 'mapped') for (const r of outcome.records) this.merge(r, id);
    return { messageId: id, status };
  }

  private insertMessage(meta: InboundMeta, hash: string, status: MessageStatus, problems: Problem[], duplicateOf?: number): number {
    const r = this.stmt(
        `INSERT INTO inbound_messages (received_at, channel, sender, control_id, content_type, auth, hash, status, problems, duplicate_of, raw)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(meta.receivedAt.toISOString(), meta.channel, meta.sender, meta.controlId, meta.contentType, meta.auth ?? '', hash, status, JSON.stringify(problems), duplicateOf ?? null, meta.raw);
    return Number(r.lastInsertRowid);
  }

  /** Merges one record (inside the caller's transaction) and re-evaluates what it touched. */
  private merge(record: PartialRecord, seq: number): void {
    const repo = new SqliteMergeRepository((sql) => this.stmt(sql));
    applyRecord(repo, record, seq);
    for (const [key, enc] of repo.dirty) this.saveEncounter(key, enc, seq);
  }

  private saveEncounter(key: string, enc: EncounterState, seq: number): void {
    this.stmt(
        `INSERT INTO encounters (encounter_key, facility_id, encounter_id, partner_id, fields, consultation_defaults, updated_seq)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (encounter_key) DO UPDATE SET partner_id = excluded.partner_id, fields = excluded.fields,
           consultation_defaults = excluded.consultation_defaults, updated_seq = excluded.updated_seq`,
      )
      .run(key, enc.facilityId, enc.encounterId, enc.partnerId ?? null, JSON.stringify(enc.fields), JSON.stringify(enc.consultationDefaults), seq);
    const previous = new Map(
      (this.stmt('SELECT consultation_key, state, submitted_hash FROM consultations WHERE encounter_key = ?').all(key) as Row[]).map((r) => [
        str(r.consultation_key),
        { state: str(r.state) as RecordState, submittedHash: str(r.submitted_hash) },
      ]),
    );
    const upsert = this.stmt(
      `INSERT INTO consultations (encounter_key, consultation_key, cdate, ctime, fields, cancelled, state, missing, problems, content_hash, updated_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (encounter_key, consultation_key) DO UPDATE SET fields = excluded.fields, cancelled = excluded.cancelled,
         state = excluded.state, missing = excluded.missing, problems = excluded.problems, content_hash = excluded.content_hash,
         updated_seq = excluded.updated_seq`,
    );
    for (const w of consultationWrites(this.validator, enc, previous)) {
      upsert.run(key, w.consultationKey, w.date, w.time, w.fields, w.cancelled, w.state, w.missing, w.problems, w.contentHash, seq);
    }
  }

  replay(id: number, remap: (m: MessageRow & { raw: string }) => MapOutcome): Promise<MessageStatus> {
    return this.guard(() =>
      this.db.transaction((): MessageStatus => {
        const m = this.messageSync(id);
        if (!m) throw new Error(`no message ${id}`);
        if (m.status !== 'error' && m.status !== 'pending') return m.status;
        const outcome = remap(m);
        const status = statusForOutcome(outcome);
        this.stmt('UPDATE inbound_messages SET status = ?, problems = ? WHERE id = ?').run(status, JSON.stringify(outcome.problems), id);
        // the message keeps its place in arrival order: its id is its merge sequence number
        if (outcome.disposition === 'mapped') for (const r of outcome.records) this.merge(r, id);
        return status;
      })(),
    );
  }

  private messageSync(id: number): (MessageRow & { raw: string }) | undefined {
    const r = this.stmt('SELECT * FROM inbound_messages WHERE id = ?').get(id) as Row | undefined;
    return r ? { ...messageFromRow(r), raw: str(r.raw) } : undefined;
  }

  message(id: number): Promise<(MessageRow & { raw: string }) | undefined> {
    return this.guard(() => this.messageSync(id));
  }

  messages(filter: { status?: MessageStatus; limit?: number; afterId?: number }): Promise<MessageRow[]> {
    return this.guard(() => {
      const rows = this.stmt(
          `SELECT id, received_at, channel, sender, control_id, content_type, auth, hash, status, problems FROM inbound_messages
           WHERE (? IS NULL OR status = ?) AND id > ? ORDER BY id LIMIT ?`,
        )
        .all(filter.status ?? null, filter.status ?? null, filter.afterId ?? 0, filter.limit ?? 100) as Row[];
      return rows.map(messageFromRow);
    });
  }

  records(filter: { state?: RecordState; limit?: number }): Promise<RecordSummary[]> {
    return this.guard(() => {
      const rows = this.stmt(
          `SELECT c.encounter_key, e.facility_id, e.encounter_id, c.consultation_key, c.state, c.missing
           FROM consultations c JOIN encounters e ON e.encounter_key = c.encounter_key
           WHERE (? IS NULL OR c.state = ?) ORDER BY c.encounter_key, c.consultation_key LIMIT ?`,
        )
        .all(filter.state ?? null, filter.state ?? null, filter.limit ?? 100) as Row[];
      return rows.map(summaryFromRow);
    });
  }

  record(encounterKey: string): Promise<RecordView | undefined> {
    return this.guard(() => {
      const e = this.stmt('SELECT * FROM encounters WHERE encounter_key = ?').get(encounterKey) as Row | undefined;
      if (!e) return undefined;
      const cs = this.stmt('SELECT * FROM consultations WHERE encounter_key = ? ORDER BY consultation_key').all(encounterKey) as Row[];
      return recordViewFromRows(encounterKey, e, cs);
    });
  }

  wireEncounters(state: RecordState, limit: number, after?: { encounterKey: string; consultationKey: string }) {
    return this.guard(() => {
      const a = after ?? { encounterKey: '', consultationKey: '' };
      const rows = this.stmt(
        `SELECT encounter_key, consultation_key FROM consultations WHERE state = ?
         AND (encounter_key > ? OR (encounter_key = ? AND consultation_key > ?))
         ORDER BY encounter_key, consultation_key LIMIT ?`,
      ).all(state, a.encounterKey, a.encounterKey, a.consultationKey, limit) as Row[];
      const repo = new SqliteMergeRepository((sql) => this.stmt(sql));
      return rows.flatMap((r) => {
        const enc = repo.encounter(str(r.encounter_key));
        const cons = enc?.consultations.get(str(r.consultation_key));
        if (!enc || !cons) return [];
        const v = evaluateConsultation(this.validator, enc, cons);
        return [
          {
            encounterKey: str(r.encounter_key),
            consultationKey: str(r.consultation_key),
            facilityId: enc.facilityId,
            ...(enc.partnerId !== undefined ? { partnerId: enc.partnerId } : {}),
            wire: v.wire,
            contentHash: v.contentHash,
          },
        ];
      });
    });
  }

  saveResources(resources: readonly { key: string; version: string; body: string }[], messageId: number): Promise<void> {
    return this.guard(() =>
      this.db.transaction(() => {
        const up = this.stmt(
          `INSERT INTO fhir_resources (resource_key, version, body, message_id) VALUES (?, ?, ?, ?)
           ON CONFLICT (resource_key) DO UPDATE SET version = excluded.version, body = excluded.body, message_id = excluded.message_id
           WHERE excluded.version >= fhir_resources.version`,
        );
        for (const r of resources) up.run(r.key, r.version, r.body, messageId);
      })(),
    );
  }

  resource(key: string): Promise<string | undefined> {
    return this.guard(() => {
      const r = this.stmt('SELECT body FROM fhir_resources WHERE resource_key = ?').get(key) as Row | undefined;
      return r ? str(r.body) : undefined;
    });
  }

  recordEvents(subscription: string, eventNumbers: readonly number[], reportedSince: number | undefined, at: Date): Promise<void> {
    return this.guard(() =>
      this.db.transaction(() => {
        const ins = this.stmt('INSERT INTO subscription_events (subscription, event_number, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
        for (const n of eventNumbers) ins.run(subscription, n, at.toISOString());
        const since = Math.max(reportedSince ?? 0, ...eventNumbers, 0);
        this.stmt(
          `INSERT INTO subscriptions (subscription, reported_since, last_seen_at) VALUES (?, ?, ?)
           ON CONFLICT (subscription) DO UPDATE SET reported_since = MAX(subscriptions.reported_since, excluded.reported_since), last_seen_at = excluded.last_seen_at`,
        ).run(subscription, since, at.toISOString());
      })(),
    );
  }

  subscriptions(): Promise<SubscriptionView[]> {
    return this.guard(() =>
      (this.stmt('SELECT subscription, reported_since, last_seen_at FROM subscriptions ORDER BY subscription').all() as Row[]).map((r) => {
        const sub = str(r.subscription);
        const since = Number(r.reported_since);
        const got = new Set((this.stmt('SELECT event_number FROM subscription_events WHERE subscription = ?').all(sub) as Row[]).map((e) => Number(e.event_number)));
        const missing: number[] = [];
        for (let n = 1; n <= since && missing.length < 1000; n++) if (!got.has(n)) missing.push(n);
        return { subscription: sub, received: got.size, reportedSince: since, missing, lastSeenAt: str(r.last_seen_at) };
      }),
    );
  }

  createTransaction(body: Transaction, records: readonly OutboundRecord[], at: Date): Promise<void> {
    return this.guard(() =>
      this.db.transaction(() => {
        this.stmt(
          `INSERT INTO transactions (transaction_id, facility_id, partner_id, app_id, status, created_at, updated_at, body, attempts)
           VALUES (?, ?, ?, ?, 'created', ?, ?, ?, 0)`,
        ).run(body.Transaction_ID, body.Facility_ID, body.PartnerID, body.AppID, at.toISOString(), at.toISOString(), JSON.stringify(body));
        const rec = this.stmt('INSERT INTO transaction_records (transaction_id, encounter_key, consultation_key, content_hash) VALUES (?, ?, ?, ?)');
        const mark = this.stmt(
          `UPDATE consultations SET state = 'submitted', transaction_id = ?, submitted_hash = ?, nrdr_problems = NULL
           WHERE encounter_key = ? AND consultation_key = ?`,
        );
        for (const r of records) {
          rec.run(body.Transaction_ID, r.encounterKey, r.consultationKey, r.contentHash);
          mark.run(body.Transaction_ID, r.contentHash, r.encounterKey, r.consultationKey);
        }
      })(),
    );
  }

  updateTransaction(id: string, patch: { status: OutboundStatus; nrdr?: TransactionStatus; error?: string; attempted?: boolean }, at: Date): Promise<void> {
    return this.guard(
      () =>
        void this.stmt(
          `UPDATE transactions SET status = ?, updated_at = ?, nrdr_status = COALESCE(?, nrdr_status), last_error = ?,
             attempts = attempts + ? WHERE transaction_id = ?`,
        ).run(patch.status, at.toISOString(), patch.nrdr ? JSON.stringify(patch.nrdr) : null, patch.error ?? null, patch.attempted ? 1 : 0, id),
    );
  }

  recordResults(id: string, results: readonly RecordResult[], at: Date): Promise<void> {
    return this.guard(() =>
      this.db.transaction(() => {
        const rec = this.stmt('UPDATE transaction_records SET result = ?, nrdr_problems = ? WHERE transaction_id = ? AND encounter_key = ? AND consultation_key = ?');
        const cons = this.stmt(
          `UPDATE consultations SET state = ?, nrdr_problems = ? WHERE encounter_key = ? AND consultation_key = ?
           AND transaction_id = ? AND state = 'submitted' AND submitted_hash = ?`,
        );
        for (const r of results) {
          const problems = JSON.stringify(r.problems);
          rec.run(r.result, problems, id, r.encounterKey, r.consultationKey);
          cons.run(r.result, problems, r.encounterKey, r.consultationKey, id, r.contentHash);
        }
        this.stmt('UPDATE transactions SET updated_at = ? WHERE transaction_id = ?').run(at.toISOString(), id);
      })(),
    );
  }

  transactions(filter: { status?: OutboundStatus; limit?: number; after?: string }): Promise<TransactionRow[]> {
    return this.guard(() => {
      const rows = this.stmt('SELECT * FROM transactions WHERE (? IS NULL OR status = ?) AND rowid > ? ORDER BY rowid LIMIT ?').all(
        filter.status ?? null,
        filter.status ?? null,
        filter.after === undefined ? 0 : ((this.stmt('SELECT rowid FROM transactions WHERE transaction_id = ?').get(filter.after) as Row | undefined)?.rowid ?? 0),
        filter.limit ?? 100,
      ) as Row[];
      return rows.map((r) => this.toTransaction(r));
    });
  }

  transaction(id: string): Promise<TransactionRow | undefined> {
    return this.guard(() => {
      const r = this.stmt('SELECT * FROM transactions WHERE transaction_id = ?').get(id) as Row | undefined;
      return r ? this.toTransaction(r) : undefined;
    });
  }

  private toTransaction(r: Row): TransactionRow {
    return transactionFromRows(r, this.stmt('SELECT * FROM transaction_records WHERE transaction_id = ? ORDER BY encounter_key, consultation_key').all(str(r.transaction_id)) as Row[]);
  }

  counts(): Promise<{ messages: Record<string, number>; records: Record<string, number>; transactions: Record<string, number> }> {
    return this.guard(() => {
      const group = (sql: string) => Object.fromEntries((this.stmt(sql).all() as Row[]).map((r) => [str(r.k), Number(r.n)]));
      return {
        messages: group('SELECT status AS k, COUNT(*) AS n FROM inbound_messages GROUP BY status'),
        records: group('SELECT state AS k, COUNT(*) AS n FROM consultations GROUP BY state'),
        transactions: group('SELECT status AS k, COUNT(*) AS n FROM transactions GROUP BY status'),
      };
    });
  }

  ping(): Promise<void> {
    return this.guard(() => void this.stmt('SELECT 1').get());
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}

/** The merge repository over the tables, inside the caller's SQLite transaction. */
class SqliteMergeRepository implements MergeRepository {
  readonly dirty = new Map<string, EncounterState>();
  private readonly cache = new Map<string, EncounterState | undefined>();

  constructor(private readonly stmt: (sql: string) => Database.Statement) {}

  encounter(key: string): EncounterState | undefined {
    if (this.cache.has(key)) return this.cache.get(key);
    const e = this.stmt('SELECT * FROM encounters WHERE encounter_key = ?').get(key) as Row | undefined;
    const enc = e ? encounterFromRows(e, this.stmt('SELECT consultation_key, cdate, ctime, fields, cancelled FROM consultations WHERE encounter_key = ?').all(key) as Row[]) : undefined;
    this.cache.set(key, enc);
    return enc;
  }

  saveEncounter(key: string, enc: EncounterState): void {
    this.cache.set(key, enc);
    this.dirty.set(key, enc);
  }

  order(key: string): OrderRef | undefined {
    const r = this.stmt('SELECT encounter_key, consultation_key FROM order_index WHERE order_key = ?').get(key) as Row | undefined;
    return r ? { encounterKey: str(r.encounter_key), consultationKey: str(r.consultation_key) } : undefined;
  }

  saveOrder(key: string, ref: OrderRef): void {
    this
      .stmt(
        `INSERT INTO order_index (order_key, encounter_key, consultation_key) VALUES (?, ?, ?)
         ON CONFLICT (order_key) DO UPDATE SET encounter_key = excluded.encounter_key, consultation_key = excluded.consultation_key`,
      )
      .run(key, ref.encounterKey, ref.consultationKey);
  }

  orphans(key: string): readonly OrphanEntry[] {
    return (this.stmt('SELECT seq, record FROM orphans WHERE order_key = ? ORDER BY seq').all(key) as Row[]).map((r) => ({
      seq: Number(r.seq),
      record: json<PartialRecord>(r.record, {} as PartialRecord),
    }));
  }

  addOrphan(key: string, entry: OrphanEntry): void {
    this
      .stmt('INSERT INTO orphans (order_key, seq, source_id, source_time, record) VALUES (?, ?, ?, ?, ?)')
      .run(key, entry.seq, entry.record.source.id, entry.record.sourceTime, JSON.stringify(entry.record));
  }

  takeOrphans(key: string): OrphanEntry[] {
    const list = [...this.orphans(key)];
    this.stmt('DELETE FROM orphans WHERE order_key = ?').run(key);
    return list;
  }
}
