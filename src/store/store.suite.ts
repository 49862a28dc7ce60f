// The contract the store keeps, run against each dialect (kysely's model: one suite, every
// dialect), every case on a database of its own: migrations, one transaction per message, dedupe,
// merge and record states, outbound bookkeeping, paging, reopening, corrupt rows.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { StoreCorruptError, StoreNotFoundError, type Store } from './store.js';
import type { Row } from './sql.js';
import { REPO_ROOT } from '../../test/helpers.js';
import type { Transaction } from '../cdsr/schema.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const hl7 = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const meta = (raw: string, controlId: string) => ({ channel: 'hl7v2' as const, sender: 'EHR^GENHOSP', controlId, contentType: 'application/hl7-v2', raw, receivedAt: NOW });

export interface FreshDatabase {
  /** Opens the store on this database (again). */
  open(validator: CdsrValidator): Promise<Store>;
  /** Runs SQL on it directly, outside the store. */
  query(sql: string): Promise<Row[]>;
  drop(): Promise<void>;
}

/** A backing gives an empty database per test, or the reason it cannot (the suite then skips). */
export type StoreBacking = () => Promise<FreshDatabase>;

const tx = (id: string, wire: Transaction['Encounters'][number]): Transaction => ({
  Transaction_ID: id,
  Transaction_DateTime: '2026-11-23T06:00:00',
  Num_of_Encounters_Included: 1,
  Facility_ID: '100000',
  PartnerID: '10000',
  AppID: '10019',
  CDSR_File_Version_Num: '1.0',
  Encounters: [wire],
});

export function storeSuite(name: string, backing: () => Promise<StoreBacking | string>): void {
  describe(`${name}: the Store contract`, () => {
    let fresh: StoreBacking | undefined;
    let skipped = '';
    let tables: MappingTables;
    let validator: CdsrValidator;
    before(async () => {
      const r = await backing();
      if (typeof r === 'string') skipped = r;
      else fresh = r;
      tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
      validator = new CdsrValidator({ now: NOW, valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });
    });
    /** Runs a case on a database of its own, with the store open. */
    const withStore = (title: string, fn: (s: Store, db: FreshDatabase) => Promise<void>): void =>
      void it(title, async (t) => {
        if (skipped || !fresh) return t.skip(skipped);
        const db = await fresh();
        const s = await db.open(validator);
        try {
          await fn(s, db);
        } finally {
          await s.close();
          await db.drop();
        }
      });
    const ingest = (s: Store, file: string, controlId: string, edit: (raw: string) => string = (x) => x) => {
      const raw = edit(hl7(file));
      return s.ingest(meta(raw, controlId), mapHl7Text(raw, tables));
    };

    withStore('migrates once, and again on reopen without harm', async (s, db) => {
      await s.close();
      const again = await db.open(validator);
      await again.close();
      const versions = (await db.query('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
      assert.deepEqual(versions, [1, 2, 3, 4, 5]);
    });

    withStore('an ORU alone is stored and waits; its ORM completes the record, which becomes ready', async (s) => {
      assert.deepEqual(await ingest(s, '04-oru-final.hl7', 'MSG0004'), { messageId: 1, status: 'applied' });
      assert.deepEqual(await s.records({}), []);
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      assert.deepEqual(await s.records({}), [{ encounterKey: '100000|V0001', facilityId: '100000', encounterId: 'V0001', consultationKey: '11/02/2026 09:30:15', state: 'ready', missing: [] }]);
      const rec = await s.record('100000|V0001');
      assert.equal(rec?.consultations[0]?.fields.Ordered_Exam_Completed?.value, '1');
      assert.equal(rec?.consultations[0]?.fields.Ordered_Exam_Completed?.source, 'MSG0004');
      // the same content again is a duplicate of the first, and changes nothing
      assert.deepEqual(await ingest(s, '01-orm-new.hl7', 'MSG0001'), { messageId: 3, status: 'duplicate', duplicateOf: 2 });
      assert.deepEqual((await s.counts()).messages, { applied: 2, duplicate: 1 });
    });

    withStore('a record missing a required field is incomplete and lists it', async (s) => {
      await ingest(s, '05-omi-new.hl7', 'MSG0005', (raw) => raw.replace('|E|ED^BAY3', '||ED^BAY3'));
      const recs = await s.records({ state: 'incomplete' });
      assert.deepEqual(recs.map((r) => [r.consultationKey, r.missing]), [['11/02/2026 13:55:12', ['Place_of_Service']]]);
    });

    withStore('keeps what it stored across a reopen', async (s, db) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await ingest(s, '05-omi-new.hl7', 'MSG0005');
      await s.close();
      const again = await db.open(validator);
      try {
        assert.equal((await again.messages({})).length, 2);
        assert.equal((await again.record('100000|V0001'))?.consultations.length, 2);
      } finally {
        await again.close();
      }
    });

    withStore('outbound: a submitted record keeps its state until it changes; results are recorded per record', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      await s.createTransaction(tx('T-SUITE', ready.wire), [ready], NOW);
      assert.deepEqual((await s.records({ state: 'submitted' })).map((r) => r.consultationKey), [ready.consultationKey]);
      // the same content again: still submitted
      await ingest(s, '01-orm-new.hl7', 'MSG0011', (raw) => raw.replace('MSG0001', 'MSG0011'));
      assert.deepEqual((await s.records({ state: 'submitted' })).length, 1);
      await s.updateTransaction('T-SUITE', { status: 'done', attempted: true }, NOW);
      await s.recordResults('T-SUITE', [{ ...ready, result: 'rejected', problems: [{ code: 'CD2053', message: 'x', severity: 'error', scope: 'transaction', path: '' }] }], NOW);
      const t = await s.transaction('T-SUITE');
      assert.deepEqual([t?.status, t?.attempts, t?.records.map((r) => r.result), t?.body.Transaction_ID], ['done', 1, ['rejected'], 'T-SUITE']);
      assert.deepEqual((await s.records({ state: 'rejected' })).length, 1);
      assert.deepEqual((await s.transactions({ status: 'done' })).map((x) => x.transactionId), ['T-SUITE']);
      // a change makes it ready again
      await ingest(s, '01-orm-new.hl7', 'MSG0012', (raw) =>
        raw.replace('MSG0001', 'MSG0012').replace('20261102093500', '20261102100000').replace('|ME|', '|MF|').replace('CDS-MODIFIER^AUC HCPCS modifier||ME', 'CDS-MODIFIER^AUC HCPCS modifier||MF'),
      );
      assert.deepEqual((await s.records({ state: 'ready' })).map((r) => r.consultationKey), [ready.consultationKey]);
      assert.deepEqual((await s.counts()).transactions, { done: 1 });
    });

    withStore('transactions page in creation order on a sequence, whatever their ids and times', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      // ids and creation times in an order of their own: paging follows creation
      const ids = ['T-Z', 'T-A', 'T-M', 'T-B', 'T-Y'];
      for (const [i, id] of ids.entries()) await s.createTransaction(tx(id, ready.wire), [], new Date(NOW.getTime() - i * 1000));
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await s.transactions({ limit: 2, ...(after !== undefined ? { after } : {}) });
        if (page.length === 0) break;
        seen.push(...page.map((p) => p.transactionId));
        after = page[page.length - 1]!.transactionId;
      }
      assert.deepEqual(seen, ids);
      assert.deepEqual((await s.transactions({ status: 'created', after: 'T-M' })).map((p) => p.transactionId), ['T-B', 'T-Y']);
    });

    withStore('messages page by id and filter by status', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await ingest(s, '05-omi-new.hl7', 'MSG0005');
      assert.deepEqual((await s.messages({ afterId: 1 })).map((m) => [m.id, m.status]), [[2, 'duplicate'], [3, 'applied']]);
      assert.deepEqual((await s.messages({ status: 'applied', limit: 1 })).map((m) => m.id), [1]);
      await assert.rejects(s.replay(99, () => ({ disposition: 'error', problems: [] })), StoreNotFoundError);
    });

    withStore('a corrupt row is refused with its table and column, not read as an empty record', async (s, db) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      await s.createTransaction(tx('T-BAD', ready.wire), [ready], NOW);
      await db.query("UPDATE transactions SET body = '{}' WHERE transaction_id = 'T-BAD'");
      await assert.rejects(s.transaction('T-BAD'), (e: unknown) => e instanceof StoreCorruptError && /^transactions\.body: /.test(e.message));
      await db.query("UPDATE consultations SET state = 'lost'");
      await assert.rejects(s.records({}), (e: unknown) => e instanceof StoreCorruptError && e.message === 'consultations.state: expected one of incomplete, invalid, ready, submitted, accepted, rejected, cancelled, found string');
    });
  });
}
