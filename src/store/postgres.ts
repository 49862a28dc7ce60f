// The PostgreSQL store (pg), for several adapter instances sharing one database. Same contract
// and tests as the SQLite store. Each message is one database transaction; concurrent messages
// for the same encounter or order are serialised by transaction-scoped advisory locks, and the
// merge (the same applyRecord as everywhere) runs over the rows it needs, read first.
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Problem } from '../cdsr/problem.js';
import type { Encounter, Transaction, TransactionStatus } from '../cdsr/schema.js';
import type { CdsrValidator } from '../cdsr/validate.js';
import { applyRecord, encounterKey, orderKey, type EncounterState, type MergeRepository, type OrderRef, type OrphanEntry } from '../mapping/merge.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { PartialRecord } from '../mapping/record.js';
import { evaluateConsultation, type RecordState } from './evaluate.js';
import { forDialect, MIGRATIONS } from './migrations.js';
import { consultationWrites, encounterFromRows, json, messageFromRow, recordViewFromRows, str, summaryFromRow, transactionFromRows, type Row } from './rows.js';
import { statusForOutcome } from './sqlite.js';
import {
  StoreUnavailableError,
  type IngestResult,
  type InboundMeta,
  type MessageRow,
  type MessageStatus,
  type OutboundRecord,
  type OutboundStatus,
  type RecordResult,
  type RecordSummary,
  type RecordView,
  type Store,
  type SubscriptionView,
  type TransactionRow,
} from './store.js';

type Client = pg.PoolClient | pg.Pool;

/** A connection-class failure (the database is down or unreachable), as opposed to a bug. */
function unavailable(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (/^(08|53|57)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE'].includes(code))) return true;
  return e instanceof Error && /Connection terminated|Client was closed|Cannot use a pool after calling end/.test(e.message);
}

export interface PgStoreOptions {
  readonly url: string;
  readonly validator: CdsrValidator;
  /** A schema to work in (created if missing): tests use one each. */
  readonly schema?: string;
}

async function rows(c: Client, sql: string, params: unknown[] = []): Promise<Row[]> {
  return (await c.query(sql, params)).rows as Row[];
}

export class PgStore implements Store {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly validator: CdsrValidator,
  ) {}

  static async open(o: PgStoreOptions): Promise<PgStore> {
    if (o.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(o.schema)) throw new Error(`bad schema name ${o.schema}`);
    const pool = new pg.Pool({ connectionString: o.url, max: 10, ...(o.schema ? { options: `-c search_path=${o.schema}` } : {}) });
    pool.on('error', () => undefined); // an idle client's error: the next query reports it
    const store = new PgStore(pool, o.validator);
    try {
      if (o.schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${o.schema}`);
      await store.migrate();
    } catch (e) {
      await pool.end();
      throw e;
    }
    return store;
  }

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      // one instance migrates at a time
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['cdsr-adapter migrations']);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const done = new Set((await rows(c, 'SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const s of m.statements) await c.query(forDialect(s, 'postgres'));
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
      }
    });
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      if (!unavailable(e) && !(e instanceof Error)) throw e;
      throw new StoreUnavailableError(`the database cannot be reached: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      if (unavailable(e)) throw new StoreUnavailableError(`the database cannot be written: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    } finally {
      c.release();
    }
  }

  private async read<T>(fn: (c: pg.Pool) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (e) {
      if (unavailable(e)) throw new StoreUnavailableError(`the database cannot be read: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    }
  }

  /** Locks (for this transaction) what a record's merge touches, in a fixed order. */
  private async lock(c: pg.PoolClient, keys: string[]): Promise<void> {
    for (const k of [...new Set(keys)].sort()) await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [k]);
  }

  private mergeKeys(record: PartialRecord): string[] {
    return [encounterKey(record.facilityId, record.encounterId), ...(record.orderKey !== undefined ? [orderKey(record.facilityId, record.orderKey)] : [])];
  }

  ingest(meta: InboundMeta, outcome: MapOutcome): Promise<IngestResult> {
    const hash = createHash('sha256').update(meta.raw).digest('hex');
    return this.tx(async (c) => {
      await this.lock(c, [`msg|${meta.channel}|${meta.sender}|${meta.controlId}`, ...(outcome.disposition === 'mapped' ? outcome.records.flatMap((r) => this.mergeKeys(r)) : [])]);
      const [twin] = await rows(
        c,
        `SELECT id FROM inbound_messages WHERE channel = $1 AND sender = $2 AND control_id = $3 AND hash = $4
         AND status IN ('applied', 'error', 'ignored') ORDER BY id DESC LIMIT 1`,
        [meta.channel, meta.sender, meta.controlId, hash],
      );
      if (twin && meta.controlId !== '') {
        const id = await this.insertMessage(c, meta, hash, 'duplicate', [], Number(twin.id));
        return { messageId: id, status: 'duplicate' as const, duplicateOf: Number(twin.id) };
      }
      const status = statusForOutcome(outcome);
      const id = await this.insertMessage(c, meta, hash, status, [...outcome.problems]);
      if (outcome.disposition === 'mapped') for (const r of outcome.records) await this.merge(c, r, id);
      return { messageId: id, status };
    });
  }

  private async insertMessage(c: pg.PoolClient, meta: InboundMeta, hash: string, status: MessageStatus, problems: Problem[], duplicateOf?: number): Promise<number> {
    const [r] = await rows(
      c,
      `INSERT INTO inbound_messages (received_at, channel, sender, control_id, content_type, auth, hash, status, problems, duplicate_of, raw)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
      [meta.receivedAt.toISOString(), meta.channel, meta.sender, meta.controlId, meta.contentType, meta.auth ?? '', hash, status, JSON.stringify(problems), duplicateOf ?? null, meta.raw],
    );
    return Number(r!.id);
  }

  private async loadEncounter(c: Client, key: string): Promise<EncounterState | undefined> {
    const [e] = await rows(c, 'SELECT * FROM encounters WHERE encounter_key = $1', [key]);
    return e ? encounterFromRows(e, await rows(c, 'SELECT consultation_key, cdate, ctime, fields, cancelled FROM consultations WHERE encounter_key = $1', [key])) : undefined;
  }

  /** Reads what applyRecord will ask for, runs it, writes back what it changed. */
  private async merge(c: pg.PoolClient, record: PartialRecord, seq: number): Promise<void> {
    const repo = new PreloadedRepository();
    const eKey = encounterKey(record.facilityId, record.encounterId);
    repo.encounters.set(eKey, await this.loadEncounter(c, eKey));
    if (record.orderKey !== undefined) {
      const k = orderKey(record.facilityId, record.orderKey);
      const [o] = await rows(c, 'SELECT encounter_key, consultation_key FROM order_index WHERE order_key = $1', [k]);
      if (o) repo.orders.set(k, { encounterKey: str(o.encounter_key), consultationKey: str(o.consultation_key) });
      const waiting = (await rows(c, 'SELECT seq, record FROM orphans WHERE order_key = $1 ORDER BY seq', [k])).map((r) => ({ seq: Number(r.seq), record: json<PartialRecord>(r.record, {} as PartialRecord) }));
      repo.waiting.set(k, waiting);
      for (const w of waiting) {
        const ok = encounterKey(w.record.facilityId, w.record.encounterId);
        if (!repo.encounters.has(ok)) repo.encounters.set(ok, await this.loadEncounter(c, ok));
      }
    }
    applyRecord(repo, record, seq);
    for (const [k, ref] of repo.savedOrders) {
      await c.query(
        `INSERT INTO order_index (order_key, encounter_key, consultation_key) VALUES ($1, $2, $3)
         ON CONFLICT (order_key) DO UPDATE SET encounter_key = excluded.encounter_key, consultation_key = excluded.consultation_key`,
        [k, ref.encounterKey, ref.consultationKey],
      );
    }
    for (const k of repo.taken) await c.query('DELETE FROM orphans WHERE order_key = $1', [k]);
    for (const [k, list] of repo.added) {
      for (const e of list) {
        await c.query('INSERT INTO orphans (order_key, seq, source_id, source_time, record) VALUES ($1, $2, $3, $4, $5)', [k, e.seq, e.record.source.id, e.record.sourceTime, JSON.stringify(e.record)]);
      }
    }
    for (const [key, enc] of repo.dirty) await this.saveEncounter(c, key, enc, seq);
  }

  private async saveEncounter(c: pg.PoolClient, key: string, enc: EncounterState, seq: number): Promise<void> {
    await c.query(
      `INSERT INTO encounters (encounter_key, facility_id, encounter_id, partner_id, fields, consultation_defaults, updated_seq)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (encounter_key) DO UPDATE SET partner_id = excluded.partner_id, fields = excluded.fields,
         consultation_defaults = excluded.consultation_defaults, updated_seq = excluded.updated_seq`,
      [key, enc.facilityId, enc.encounterId, enc.partnerId ?? null, JSON.stringify(enc.fields), JSON.stringify(enc.consultationDefaults), seq],
    );
    const previous = new Map(
      (await rows(c, 'SELECT consultation_key, state, submitted_hash FROM consultations WHERE encounter_key = $1', [key])).map((r) => [
        str(r.consultation_key),
        { state: str(r.state) as RecordState, submittedHash: str(r.submitted_hash) },
      ]),
    );
    for (const w of consultationWrites(this.validator, enc, previous)) {
      await c.query(
        `INSERT INTO consultations (encounter_key, consultation_key, cdate, ctime, fields, cancelled, state, missing, problems, content_hash, updated_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (encounter_key, consultation_key) DO UPDATE SET fields = excluded.fields, cancelled = excluded.cancelled,
           state = excluded.state, missing = excluded.missing, problems = excluded.problems, content_hash = excluded.content_hash,
           updated_seq = excluded.updated_seq`,
        [key, w.consultationKey, w.date, w.time, w.fields, w.cancelled, w.state, w.missing, w.problems, w.contentHash, seq],
      );
    }
  }

  replay(id: number, remap: (m: MessageRow & { raw: string }) => MapOutcome): Promise<MessageStatus> {
    return this.tx(async (c) => {
      const [r] = await rows(c, 'SELECT * FROM inbound_messages WHERE id = $1 FOR UPDATE', [id]);
      if (!r) throw new Error(`no message ${id}`);
      const m = { ...messageFromRow(r), raw: str(r.raw) };
      if (m.status !== 'error' && m.status !== 'pending') return m.status;
      const outcome = remap(m);
      const status = statusForOutcome(outcome);
      await c.query('UPDATE inbound_messages SET status = $1, problems = $2 WHERE id = $3', [status, JSON.stringify(outcome.problems), id]);
      if (outcome.disposition === 'mapped') {
        await this.lock(c, outcome.records.flatMap((r) => this.mergeKeys(r)));
        for (const r of outcome.records) await this.merge(c, r, id);
      }
      return status;
    });
  }

  message(id: number): Promise<(MessageRow & { raw: string }) | undefined> {
    return this.read(async (c) => {
      const [r] = await rows(c, 'SELECT * FROM inbound_messages WHERE id = $1', [id]);
      return r ? { ...messageFromRow(r), raw: str(r.raw) } : undefined;
    });
  }

  messages(filter: { status?: MessageStatus; limit?: number; afterId?: number }): Promise<MessageRow[]> {
    return this.read(async (c) =>
      (
        await rows(
          c,
          `SELECT id, received_at, channel, sender, control_id, content_type, auth, hash, status, problems FROM inbound_messages
           WHERE ($1::text IS NULL OR status = $1) AND id > $2 ORDER BY id LIMIT $3`,
          [filter.status ?? null, filter.afterId ?? 0, filter.limit ?? 100],
        )
      ).map(messageFromRow),
    );
  }

  records(filter: { state?: RecordState; limit?: number }): Promise<RecordSummary[]> {
    return this.read(async (c) =>
      (
        await rows(
          c,
          `SELECT c.encounter_key, e.facility_id, e.encounter_id, c.consultation_key, c.state, c.missing
           FROM consultations c JOIN encounters e ON e.encounter_key = c.encounter_key
           WHERE ($1::text IS NULL OR c.state = $1) ORDER BY c.encounter_key, c.consultation_key LIMIT $2`,
          [filter.state ?? null, filter.limit ?? 100],
        )
      ).map(summaryFromRow),
    );
  }

  record(key: string): Promise<RecordView | undefined> {
    return this.read(async (c) => {
      const [e] = await rows(c, 'SELECT * FROM encounters WHERE encounter_key = $1', [key]);
      if (!e) return undefined;
      return recordViewFromRows(key, e, await rows(c, 'SELECT * FROM consultations WHERE encounter_key = $1 ORDER BY consultation_key', [key]));
    });
  }

  wireEncounters(state: RecordState, limit: number, after?: { encounterKey: string; consultationKey: string }) {
    return this.read(async (c) => {
      const a = after ?? { encounterKey: '', consultationKey: '' };
      const list = await rows(
        c,
        `SELECT encounter_key, consultation_key FROM consultations WHERE state = $1
         AND (encounter_key > $2 OR (encounter_key = $2 AND consultation_key > $3))
         ORDER BY encounter_key, consultation_key LIMIT $4`,
        [state, a.encounterKey, a.consultationKey, limit],
      );
      const cache = new Map<string, EncounterState | undefined>();
      const out: { encounterKey: string; consultationKey: string; facilityId: string; partnerId?: string; wire: Encounter; contentHash: string }[] = [];
      for (const r of list) {
        const key = str(r.encounter_key);
        if (!cache.has(key)) cache.set(key, await this.loadEncounter(c, key));
        const enc = cache.get(key);
        const cons = enc?.consultations.get(str(r.consultation_key));
        if (!enc || !cons) continue;
        const v = evaluateConsultation(this.validator, enc, cons);
        out.push({ encounterKey: key, consultationKey: str(r.consultation_key), facilityId: enc.facilityId, ...(enc.partnerId !== undefined ? { partnerId: enc.partnerId } : {}), wire: v.wire, contentHash: v.contentHash });
      }
      return out;
    });
  }

  saveResources(resources: readonly { key: string; version: string; body: string }[], messageId: number): Promise<void> {
    return this.tx(async (c) => {
      for (const r of resources) {
        await c.query(
          `INSERT INTO fhir_resources (resource_key, version, body, message_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (resource_key) DO UPDATE SET version = excluded.version, body = excluded.body, message_id = excluded.message_id
           WHERE excluded.version >= fhir_resources.version`,
          [r.key, r.version, r.body, messageId],
        );
      }
    });
  }

  resource(key: string): Promise<string | undefined> {
    return this.read(async (c) => {
      const [r] = await rows(c, 'SELECT body FROM fhir_resources WHERE resource_key = $1', [key]);
      return r ? str(r.body) : undefined;
    });
  }

  recordEvents(subscription: string, eventNumbers: readonly number[], reportedSince: number | undefined, at: Date): Promise<void> {
    return this.tx(async (c) => {
      for (const n of eventNumbers) {
        await c.query('INSERT INTO subscription_events (subscription, event_number, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [subscription, n, at.toISOString()]);
      }
      await c.query(
        `INSERT INTO subscriptions (subscription, reported_since, last_seen_at) VALUES ($1, $2, $3)
         ON CONFLICT (subscription) DO UPDATE SET reported_since = GREATEST(subscriptions.reported_since, excluded.reported_since), last_seen_at = excluded.last_seen_at`,
        [subscription, Math.max(reportedSince ?? 0, ...eventNumbers, 0), at.toISOString()],
      );
    });
  }

  subscriptions(): Promise<SubscriptionView[]> {
    return this.read(async (c) => {
      const out: SubscriptionView[] = [];
      for (const r of await rows(c, 'SELECT subscription, reported_since, last_seen_at FROM subscriptions ORDER BY subscription')) {
        const sub = str(r.subscription);
        const since = Number(r.reported_since);
        const got = new Set((await rows(c, 'SELECT event_number FROM subscription_events WHERE subscription = $1', [sub])).map((e) => Number(e.event_number)));
        const missing: number[] = [];
        for (let n = 1; n <= since && missing.length < 1000; n++) if (!got.has(n)) missing.push(n);
        out.push({ subscription: sub, received: got.size, reportedSince: since, missing, lastSeenAt: str(r.last_seen_at) });
      }
      return out;
    });
  }

  createTransaction(body: Transaction, records: readonly OutboundRecord[], at: Date): Promise<void> {
    return this.tx(async (c) => {
      await c.query(
        `INSERT INTO transactions (transaction_id, facility_id, partner_id, app_id, status, created_at, updated_at, body, attempts)
         VALUES ($1, $2, $3, $4, 'created', $5, $6, $7, 0)`,
        [body.Transaction_ID, body.Facility_ID, body.PartnerID, body.AppID, at.toISOString(), at.toISOString(), JSON.stringify(body)],
      );
      for (const r of records) {
        await c.query('INSERT INTO transaction_records (transaction_id, encounter_key, consultation_key, content_hash) VALUES ($1, $2, $3, $4)', [body.Transaction_ID, r.encounterKey, r.consultationKey, r.contentHash]);
        await c.query(
          `UPDATE consultations SET state = 'submitted', transaction_id = $1, submitted_hash = $2, nrdr_problems = NULL
           WHERE encounter_key = $3 AND consultation_key = $4`,
          [body.Transaction_ID, r.contentHash, r.encounterKey, r.consultationKey],
        );
      }
    });
  }

  updateTransaction(id: string, patch: { status: OutboundStatus; nrdr?: TransactionStatus; error?: string; attempted?: boolean }, at: Date): Promise<void> {
    return this.tx(async (c) => {
      await c.query(
        `UPDATE transactions SET status = $1, updated_at = $2, nrdr_status = COALESCE($3, nrdr_status), last_error = $4,
           attempts = attempts + $5 WHERE transaction_id = $6`,
        [patch.status, at.toISOString(), patch.nrdr ? JSON.stringify(patch.nrdr) : null, patch.error ?? null, patch.attempted ? 1 : 0, id],
      );
    });
  }

  recordResults(id: string, results: readonly RecordResult[], at: Date): Promise<void> {
    return this.tx(async (c) => {
      for (const r of results) {
        const problems = JSON.stringify(r.problems);
        await c.query('UPDATE transaction_records SET result = $1, nrdr_problems = $2 WHERE transaction_id = $3 AND encounter_key = $4 AND consultation_key = $5', [r.result, problems, id, r.encounterKey, r.consultationKey]);
        await c.query(
          `UPDATE consultations SET state = $1, nrdr_problems = $2 WHERE encounter_key = $3 AND consultation_key = $4
           AND transaction_id = $5 AND state = 'submitted' AND submitted_hash = $6`,
          [r.result, problems, r.encounterKey, r.consultationKey, id, r.contentHash],
        );
      }
      await c.query('UPDATE transactions SET updated_at = $1 WHERE transaction_id = $2', [at.toISOString(), id]);
    });
  }

  transactions(filter: { status?: OutboundStatus; limit?: number; after?: string }): Promise<TransactionRow[]> {
    return this.read(async (c) => {
      const list = await rows(
        c,
        `SELECT * FROM transactions WHERE ($1::text IS NULL OR status = $1)
         AND ($2::text IS NULL OR (created_at, transaction_id) > (SELECT created_at, transaction_id FROM transactions WHERE transaction_id = $2))
         ORDER BY created_at, transaction_id LIMIT $3`,
        [filter.status ?? null, filter.after ?? null, filter.limit ?? 100],
      );
      const out: TransactionRow[] = [];
      for (const r of list) out.push(transactionFromRows(r, await rows(c, 'SELECT * FROM transaction_records WHERE transaction_id = $1 ORDER BY encounter_key, consultation_key', [str(r.transaction_id)])));
      return out;
    });
  }

  transaction(id: string): Promise<TransactionRow | undefined> {
    return this.read(async (c) => {
      const [r] = await rows(c, 'SELECT * FROM transactions WHERE transaction_id = $1', [id]);
      return r ? transactionFromRows(r, await rows(c, 'SELECT * FROM transaction_records WHERE transaction_id = $1 ORDER BY encounter_key, consultation_key', [id])) : undefined;
    });
  }

  counts(): Promise<{ messages: Record<string, number>; records: Record<string, number>; transactions: Record<string, number> }> {
    return this.read(async (c) => {
      const group = async (sql: string) => Object.fromEntries((await rows(c, sql)).map((r) => [str(r.k), Number(r.n)]));
      return {
        messages: await group('SELECT status AS k, COUNT(*) AS n FROM inbound_messages GROUP BY status'),
        records: await group('SELECT state AS k, COUNT(*) AS n FROM consultations GROUP BY state'),
        transactions: await group('SELECT status AS k, COUNT(*) AS n FROM transactions GROUP BY status'),
      };
    });
  }

  ping(): Promise<void> {
    return this.read(async (c) => void (await c.query('SELECT 1')));
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

/** A merge repository over rows read beforehand; it records what the merge changes. */
class PreloadedRepository implements MergeRepository {
  readonly encounters = new Map<string, EncounterState | undefined>();
  readonly orders = new Map<string, OrderRef>();
  readonly waiting = new Map<string, OrphanEntry[]>();
  readonly dirty = new Map<string, EncounterState>();
  readonly savedOrders = new Map<string, OrderRef>();
  readonly added = new Map<string, OrphanEntry[]>();
  readonly taken = new Set<string>();

  encounter(key: string): EncounterState | undefined {
    return this.encounters.get(key);
  }
  saveEncounter(key: string, enc: EncounterState): void {
    this.encounters.set(key, enc);
    this.dirty.set(key, enc);
  }
  order(key: string): OrderRef | undefined {
    return this.orders.get(key);
  }
  saveOrder(key: string, ref: OrderRef): void {
    this.orders.set(key, ref);
    this.savedOrders.set(key, ref);
  }
  orphans(key: string): readonly OrphanEntry[] {
    return [...(this.waiting.get(key) ?? []), ...(this.added.get(key) ?? [])];
  }
  addOrphan(key: string, entry: OrphanEntry): void {
    this.added.set(key, [...(this.added.get(key) ?? []), entry]);
  }
  takeOrphans(key: string): OrphanEntry[] {
    const list = this.orphans(key);
    this.waiting.delete(key);
    this.added.delete(key);
    this.taken.add(key);
    return [...list];
  }
}
