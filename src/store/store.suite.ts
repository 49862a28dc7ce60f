// The contract the store keeps, run against each dialect (kysely's model: one suite, every
// dialect), every case on a database of its own: migrations, one transaction per message, dedupe,
// merge and record states, outbound bookkeeping, paging, reopening, corrupt rows.
import { describe, it, before } from 'node:test';
import { parseHl7Path } from '../mapping/hl7-path.js';
import { messagesWithValue } from './content-search.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { StoreCorruptError, type Store } from './store.js';
import { StoreSchemaNewerError, type Row } from './sql.js';
import { MIGRATIONS } from './migrations.js';
import { undoCountersMigration } from './counters.js';
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';
import { unmappedMessage } from '../../test/unmapped.js';
import type { Transaction, TransactionStatus } from '../cdsr/schema.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const hl7 = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const meta = (raw: string, controlId: string) => ({
  channel: 'hl7v2' as const,
  sender: 'EHR^GENHOSP',
  controlId,
  contentType: 'application/hl7-v2',
  raw,
  receivedAt: NOW,
});

export interface FreshDatabase {
  /** Opens the store on this database (again). */
  open(validator: CdsrValidator): Promise<Store>;
  /** Runs SQL on it directly, outside the store. */
  query(sql: string): Promise<Row[]>;
  drop(): Promise<void>;
}

/** A backing gives a database of its own per test (measures of its size count nobody else's rows), or the reason it cannot (the suite then skips). */
export type StoreBacking = () => Promise<FreshDatabase>;

const tx = (id: string, wire: Transaction['Encounters'][number]): Transaction => transactionFor(id, [wire]);

/**
 * `concurrency`: cases run at a time. Each has a database of its own; a backing whose cases mostly
 * wait on a server (PostgreSQL) runs several together.
 */
export function storeSuite(name: string, backing: () => Promise<StoreBacking | string>, concurrency = 1): void {
  describe(`${name}: the Store contract`, { concurrency }, () => {
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
      assert.deepEqual(versions, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    });

    withStore('a store a newer build migrated is refused at opening, naming both versions; nothing is written', async (s, db) => {
      await s.close();
      const known = Math.max(...MIGRATIONS.map((m) => m.version));
      await db.query(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${known + 1}, 'from a newer build', '2027-01-01T00:00:00Z')`);
      await assert.rejects(db.open(validator), (e: unknown) => {
        assert.ok(e instanceof StoreSchemaNewerError);
        assert.deepEqual([e.code, e.storeVersion, e.knownVersion], ['STORE_SCHEMA_NEWER', known + 1, known]);
        assert.match(e.message, new RegExp(`^the store is at schema version ${known + 1}, and this cdsr-adapter knows versions up to ${known}: `));
        return true;
      });
      const versions = (await db.query('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
      assert.deepEqual(versions.slice(-2), [known, known + 1]);
    });

    withStore('an ORU alone is stored and waits; its ORM completes the record, which becomes ready', async (s) => {
      assert.deepEqual(await ingest(s, '04-oru-final.hl7', 'MSG0004'), { messageId: 1, status: 'applied', problems: [] });
      assert.deepEqual(await s.records({}), []);
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      assert.deepEqual(await s.records({}), [
        { encounterKey: '100000|V0001', facilityId: '100000', encounterId: 'V0001', consultationKey: '11/02/2026 09:30:15', state: 'ready', missing: [] },
      ]);
      const rec = await s.record('100000|V0001');
      assert.equal(rec?.consultations[0]?.fields.Ordered_Exam_Completed?.value, '1');
      assert.equal(rec?.consultations[0]?.fields.Ordered_Exam_Completed?.source, 'MSG0004');
      // the same content again is a duplicate of the first, and changes nothing
      assert.deepEqual(await ingest(s, '01-orm-new.hl7', 'MSG0001'), { messageId: 3, status: 'duplicate', duplicateOf: 2, problems: [] });
      assert.deepEqual((await s.counts()).messages, { applied: 2, duplicate: 1 });
    });

    withStore('a record missing a required field is incomplete and lists it', async (s) => {
      await ingest(s, '05-omi-new.hl7', 'MSG0005', (raw) => raw.replace('|E|ED^BAY3', '||ED^BAY3'));
      const recs = await s.records({ state: 'incomplete' });
      assert.deepEqual(
        recs.map((r) => [r.consultationKey, r.missing]),
        [['11/02/2026 13:55:12', ['Place_of_Service']]],
      );
    });

    withStore('resubmit: rejected records back to ready, the change in the record history; the same content is then batched again', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      await s.createTransaction(tx('T-RS', ready.wire), [ready], NOW);
      const cd2053 = { code: 'CD2053', message: 'not registered', severity: 'error', scope: 'transaction', path: '' } as const;
      await s.recordResults('T-RS', [{ ...ready, result: 'rejected', problems: [cd2053] }], NOW);
      assert.deepEqual(await s.resubmit({ facility: 'OTHER' }, { who: 'operate#1', at: NOW, why: 'resubmit' }), []);
      assert.deepEqual(await s.resubmit({ facility: '100000' }, { who: 'operate#1', at: NOW, why: 'resubmit: registered' }), [
        { encounterKey: '100000|V0001', consultationKey: ready.consultationKey, transactionId: 'T-RS' },
      ]);
      const c = (await s.record('100000|V0001'))!.consultations[0]!;
      assert.deepEqual(
        [c.state, c.history],
        [
          'ready',
          [{ at: NOW.toISOString(), from: 'rejected', to: 'ready', who: 'operate#1', why: 'resubmit: registered', transactionId: 'T-RS', problems: [cd2053] }],
        ],
      );
      assert.deepEqual(await s.resubmit({}, { who: 'operate#1', at: NOW, why: 'resubmit' }), []);
      // the unchanged content is ready: the next round batches it again
      const again = await s.wireEncounters('ready', 10);
      assert.deepEqual(
        again.map((w) => w.contentHash),
        [ready.contentHash],
      );
      assert.equal((await s.createTransaction(tx('T-RS2', again[0]!.wire), again, NOW)).created, true);
      assert.equal((await s.record('100000|V0001'))!.consultations[0]!.state, 'submitted');
    });

    withStore('resendFailed: needs-review records of a Failed transaction back to ready, at most n times per content, each in the history', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const failed = { code: 'NRDR_FAILED', message: 'Failed', severity: 'error', scope: 'consultation', path: '' } as const;
      const send = async (id: string) => {
        const ready = await s.wireEncounters('ready', 10);
        assert.equal(ready.length, 1, id);
        assert.equal((await s.createTransaction(tx(id, ready[0]!.wire), ready, NOW)).created, true);
        await s.recordResults(id, [{ ...ready[0]!, result: 'needs-review', problems: [failed] }], NOW);
        return ready[0]!;
      };
      const r = await send('T-F1');
      const one = { encounterKey: '100000|V0001', consultationKey: r.consultationKey };
      assert.deepEqual(await s.resendFailed('T-F1', 2, NOW), { resent: [{ ...one, transactionId: 'T-F1' }], kept: [] });
      assert.equal((await s.record('100000|V0001'))!.consultations[0]!.state, 'ready');
      // asked again about the same transaction: nothing is needs-review in it any more
      assert.deepEqual(await s.resendFailed('T-F1', 2, NOW), { resent: [], kept: [] });
      await send('T-F2');
      assert.deepEqual(await s.resendFailed('T-F2', 2, NOW), { resent: [{ ...one, transactionId: 'T-F2' }], kept: [] });
      await send('T-F3');
      assert.deepEqual(await s.resendFailed('T-F3', 2, NOW), { resent: [], kept: [{ ...one, transactionId: 'T-F3' }] });
      const c = (await s.record('100000|V0001'))!.consultations[0]!;
      assert.deepEqual(
        [c.state, c.history.map((h) => [h.from, h.to, h.who, h.why, h.transactionId, h.problems.map((p) => p.code)])],
        [
          'needs-review',
          [
            [
              'needs-review',
              'ready',
              'submitter (NRDR answered Failed)',
              'sent again under a new Transaction_ID (automatic resend 1 of 2, CDSR_RESEND_FAILED)',
              'T-F1',
              ['NRDR_FAILED'],
            ],
            [
              'needs-review',
              'ready',
              'submitter (NRDR answered Failed)',
              'sent again under a new Transaction_ID (automatic resend 2 of 2, CDSR_RESEND_FAILED)',
              'T-F2',
              ['NRDR_FAILED'],
            ],
          ],
        ],
      );
      // a record that changed since is not touched (it is ready with its new content anyway)
      await ingest(s, '01-orm-new.hl7', 'MSG0012', (raw) =>
        raw
          .replace('MSG0001', 'MSG0012')
          .replace('20261102093500', '20261102100000')
          .replace('CDS-MODIFIER^AUC HCPCS modifier||ME', 'CDS-MODIFIER^AUC HCPCS modifier||MF'),
      );
      assert.deepEqual(await s.resendFailed('T-F3', 2, NOW), { resent: [], kept: [] });
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
      assert.deepEqual(
        (await s.records({ state: 'submitted' })).map((r) => r.consultationKey),
        [ready.consultationKey],
      );
      // the same content again: still submitted
      await ingest(s, '01-orm-new.hl7', 'MSG0011', (raw) => raw.replace('MSG0001', 'MSG0011'));
      assert.deepEqual((await s.records({ state: 'submitted' })).length, 1);
      // claimed, then final (states.ts: a created transaction is sent before anything else)
      await s.updateTransaction('T-SUITE', { status: 'sent' }, NOW);
      await s.updateTransaction('T-SUITE', { status: 'done', attempted: true }, NOW);
      await s.recordResults(
        'T-SUITE',
        [{ ...ready, result: 'rejected', problems: [{ code: 'CD2053', message: 'x', severity: 'error', scope: 'transaction', path: '' }] }],
        NOW,
      );
      const t = await s.transaction('T-SUITE');
      assert.deepEqual([t?.status, t?.attempts, t?.records.map((r) => r.result), t?.body.Transaction_ID], ['done', 1, ['rejected'], 'T-SUITE']);
      assert.deepEqual((await s.records({ state: 'rejected' })).length, 1);
      assert.deepEqual(
        (await s.transactions({ status: 'done' })).map((x) => x.transactionId),
        ['T-SUITE'],
      );
      // a change makes it ready again
      await ingest(s, '01-orm-new.hl7', 'MSG0012', (raw) =>
        raw
          .replace('MSG0001', 'MSG0012')
          .replace('20261102093500', '20261102100000')
          .replace('|ME|', '|MF|')
          .replace('CDS-MODIFIER^AUC HCPCS modifier||ME', 'CDS-MODIFIER^AUC HCPCS modifier||MF'),
      );
      assert.deepEqual(
        (await s.records({ state: 'ready' })).map((r) => r.consultationKey),
        [ready.consultationKey],
      );
      assert.deepEqual((await s.counts()).transactions, { done: 1 });
    });

    withStore("NRDR status history: every answer that says something new, oldest first; the poll's answer leaves the state and updated_at", async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      await s.createTransaction(tx('T-HIST', ready.wire), [ready], NOW);
      assert.deepEqual((await s.transaction('T-HIST'))?.nrdrHistory, []);
      const said = (Status: string, extra: Partial<TransactionStatus> = {}): TransactionStatus => ({
        Transaction_ID: 'T-HIST',
        Transaction_DateTime: '2026-11-23 01:00:00',
        Num_of_Exam_Included: 1,
        Num_of_Exam_In_Error: 0,
        PartnerID: '10000',
        AppID: '10019',
        Facility_ID: '100000',
        Status,
        Error_Msg: null,
        Exam_Errors: [],
        ...extra,
      });
      const at = (s: number) => new Date(NOW.getTime() + s * 1000);
      await s.updateTransaction('T-HIST', { status: 'sent' }, NOW);
      await s.updateTransaction('T-HIST', { status: 'posted', attempted: true, nrdr: said('Received') }, at(1));
      await s.nrdrStatusSeen('T-HIST', said('Received'), at(2));
      await s.nrdrStatusSeen('T-HIST', said('Loading'), at(3));
      await s.nrdrStatusSeen('T-HIST', said('Loading'), at(4));
      const partial = said('PartiallySuccessful', {
        Num_of_Exam_In_Error: 1,
        Error_Msg: 'Some exams failed',
        Exam_Errors: [{ Exam_Unique_ID: 'V0001', Error_Msg: 'CD3060:Invalid date format' }, { Error_Msg: 'CD2053:not registered' }],
      });
      await s.nrdrStatusSeen('T-HIST', partial, at(5));
      const polled = await s.transaction('T-HIST');
      assert.deepEqual([polled?.status, polled?.updatedAt, polled?.nrdr?.Status], ['posted', at(1).toISOString(), 'PartiallySuccessful']);
      // the final update repeats the last answer: no new row
      await s.updateTransaction('T-HIST', { status: 'done', nrdr: partial }, at(6));
      const t = await s.transaction('T-HIST');
      assert.deepEqual(t?.nrdrHistory, [
        { at: at(1).toISOString(), status: 'Received', errorMsg: null, examErrors: 0, summary: '' },
        { at: at(3).toISOString(), status: 'Loading', errorMsg: null, examErrors: 0, summary: '' },
        {
          at: at(5).toISOString(),
          status: 'PartiallySuccessful',
          errorMsg: 'Some exams failed',
          examErrors: 2,
          summary: 'V0001: CD3060:Invalid date format; CD2053:not registered',
        },
      ]);
      assert.deepEqual([t?.status, t?.updatedAt], ['done', at(6).toISOString()]);
      assert.deepEqual(
        (await s.transactions({}))[0]?.nrdrHistory.map((h) => h.status),
        ['Received', 'Loading', 'PartiallySuccessful'],
      );
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
      assert.deepEqual(
        (await s.transactions({ status: 'created', after: 'T-M' })).map((p) => p.transactionId),
        ['T-B', 'T-Y'],
      );
      assert.deepEqual(
        (await s.transactions({ newestFirst: true, limit: 2 })).map((p) => p.transactionId),
        ['T-Y', 'T-B'],
      );
      assert.deepEqual(
        (await s.transactions({ newestFirst: true, after: 'T-M' })).map((p) => p.transactionId),
        ['T-A', 'T-Z'],
      );
    });

    withStore('queuePage: one status by id, lean, the same problems text read once into one array, the text when asked', async (s) => {
      const za = unmappedMessage(1, 'Modality', 'ZA');
      await s.ingest(meta(za, 'WL0001'), mapHl7Text(za, tables));
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      for (const [n, value] of [
        [2, 'ZA'],
        [3, 'ZB'],
      ] as const) {
        const raw = unmappedMessage(n, 'Modality', value);
        await s.ingest(meta(raw, `WL000${n}`), mapHl7Text(raw, tables));
      }
      const full = await s.messages({ status: 'error' });
      assert.deepEqual(
        full.map((m) => [m.id, m.problems.map((p) => `${p.code} ${p.value ?? ''}`)]),
        [
          [1, ['MAP_UNMAPPED_CODE ZA']],
          [3, ['MAP_UNMAPPED_CODE ZA']],
          [4, ['MAP_UNMAPPED_CODE ZB']],
        ],
      );
      const page = await s.queuePage('error', 0, 2);
      assert.deepEqual(page, [
        { id: 1, receivedAt: NOW.toISOString(), channel: 'hl7v2', problems: full[0]!.problems },
        { id: 3, receivedAt: NOW.toISOString(), channel: 'hl7v2', problems: full[1]!.problems },
      ]);
      // one array for the same text
      assert.equal(page[0]!.problems, page[1]!.problems);
      const next = await s.queuePage('error', 3, 2, true);
      assert.deepEqual(next, [
        { id: 4, receivedAt: NOW.toISOString(), channel: 'hl7v2', problems: full[2]!.problems, raw: unmappedMessage(3, 'Modality', 'ZB') },
      ]);
      assert.deepEqual(
        (await s.queuePage('applied', 0, 10)).map((m) => m.id),
        [2],
      );
      assert.deepEqual(await s.queuePage('error', 4, 10), []);
    });

    withStore('messages page by id and filter by status', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await ingest(s, '05-omi-new.hl7', 'MSG0005');
      assert.deepEqual(
        (await s.messages({ afterId: 1 })).map((m) => [m.id, m.status]),
        [
          [2, 'duplicate'],
          [3, 'applied'],
        ],
      );
      assert.deepEqual(
        (await s.messages({ status: 'applied', limit: 1 })).map((m) => m.id),
        [1],
      );
      assert.deepEqual(await s.unitMessages([], [99]), []);
    });

    withStore('messages searched by control id, sender, channel, status and a received-at range, newest first when asked', async (s) => {
      const at = (h: number) => new Date(NOW.getTime() + h * 3_600_000);
      const put = (raw: string, controlId: string, sender: string, h: number) =>
        s.ingest({ ...meta(raw, controlId), sender, receivedAt: at(h) }, mapHl7Text(raw, tables));
      await put(hl7('01-orm-new.hl7'), 'A1', 'EHR^GENHOSP', 0);
      await put(hl7('05-omi-new.hl7'), 'A2', 'RIS^NORTH', 1);
      await put(hl7('05-omi-new.hl7'), 'A3', 'RIS^NORTH', 2);
      await s.ingest(
        { channel: 'fhir', sender: 'key#1', controlId: 'ServiceRequest/x', contentType: 'application/fhir+json', raw: '{}', receivedAt: at(3) },
        { disposition: 'invalid', problems: [] },
      );
      const ids = async (f: Parameters<Store['messages']>[0]) => (await s.messages(f)).map((m) => m.id);
      assert.deepEqual(await ids({ controlId: 'A2' }), [2]);
      assert.deepEqual(await ids({ sender: 'RIS^NORTH' }), [2, 3]);
      assert.deepEqual(await ids({ channel: 'fhir' }), [4]);
      assert.deepEqual(await ids({ status: 'rejected', channel: 'hl7v2' }), []);
      assert.deepEqual(await ids({ from: at(1).toISOString(), to: at(3).toISOString() }), [2, 3]);
      assert.deepEqual(await ids({ newestFirst: true, limit: 2 }), [4, 3]);
      assert.deepEqual(await ids({ newestFirst: true, beforeId: 3 }), [2, 1]);
      assert.deepEqual(await ids({ sender: 'RIS^NORTH', controlId: 'A1' }), []);
    });

    withStore(
      'messages searched in their content: a text exactly, a field path = value evaluated on the candidates, paged by id; a resend keeps no text',
      async (s) => {
        const a1 = hl7('01-orm-new.hl7');
        await ingest(s, '01-orm-new.hl7', 'A1');
        await ingest(s, '05-omi-new.hl7', 'A2', (r) => r.replace('PID|1||MRN0001', 'PID|1||MRN0002'));
        await ingest(s, '01-orm-new.hl7', 'A1');
        // MRN0001 in PID-2, not in PID-3: a candidate of the SQL test that the path turns down
        await ingest(s, '05-omi-new.hl7', 'A4', (r) => r.replace('PID|1||MRN0001', 'PID|1|MRN0001|MRN0002'));
        await ingest(s, '01-orm-new.hl7', 'A5', (r) => r.replaceAll('ORD1001^EHR|ACC2001', 'ORD1009^EHR|ACC2009'));
        const ids = (rows: readonly { id: number }[]) => rows.map((m) => m.id);
        assert.deepEqual(ids(await s.messages({ contains: 'MRN0001' })), [1, 4, 5]);
        assert.deepEqual(ids(await s.messages({ contains: 'mrn0001' })), []);
        assert.deepEqual(ids(await s.messages({ contains: 'MRN0001', newestFirst: true, limit: 2 })), [5, 4]);
        const pid31 = parseHl7Path('PID-3.1');
        assert.deepEqual(ids(await messagesWithValue(s, {}, pid31, 'MRN0001')), [1, 5]);
        assert.deepEqual(ids(await messagesWithValue(s, {}, pid31, 'MRN0002')), [2, 4]);
        assert.deepEqual(ids(await messagesWithValue(s, {}, pid31, 'MRN000')), []);
        assert.deepEqual(ids(await messagesWithValue(s, { channel: 'fhir' }, pid31, 'MRN0001')), [1, 5]);
        // newest first a page of one, candidates read one at a time: every round of the loop
        const page = async (beforeId?: number) =>
          ids(await messagesWithValue(s, { newestFirst: true, limit: 1, ...(beforeId !== undefined ? { beforeId } : {}) }, pid31, 'MRN0001', 1));
        assert.deepEqual([await page(), await page(5), await page(1)], [[5], [1], []]);
        assert.deepEqual(ids(await messagesWithValue(s, { afterId: 1 }, parseHl7Path('OBR-3.1'), 'ACC2009', 1)), [5]);
        // a value with a delimiter, escaped in the text
        await ingest(s, '05-omi-new.hl7', 'A6', (r) => r.replace('TESTPATIENT^', 'O\\T\\BRIEN^'));
        assert.deepEqual(ids(await messagesWithValue(s, {}, parseHl7Path('PID-5.1'), 'O&BRIEN')), [6]);
        assert.deepEqual(await s.messageDetails([3, 1, 99]), [
          { id: 1, raw: a1, orderNumbers: ['ACC2001', 'ORD1001'], answeredAs: 'applied' },
          { id: 3, raw: '', orderNumbers: [], answeredAs: 'applied' },
        ]);
        // the HTTP status a request was answered with, kept on the messages it stored
        await s.recordAnswerStatus([1, 3], 422);
        assert.deepEqual(
          (await s.messageDetails([1, 2, 3])).map((d) => [d.id, d.answerStatus]),
          [
            [1, 422],
            [2, undefined],
            [3, 422],
          ],
        );
      },
    );

    withStore('a corrupt row is refused with its table and column, not read as an empty record', async (s, db) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      await s.createTransaction(tx('T-BAD', ready.wire), [ready], NOW);
      await db.query("UPDATE transactions SET body = '{}' WHERE transaction_id = 'T-BAD'");
      await assert.rejects(s.transaction('T-BAD'), (e: unknown) => e instanceof StoreCorruptError && /^transactions\.body: /.test(e.message));
      await db.query("UPDATE consultations SET state = 'lost'");
      await assert.rejects(
        s.records({}),
        (e: unknown) =>
          e instanceof StoreCorruptError &&
          e.message ===
            'consultations.state: expected one of incomplete, invalid, ready, submitted, accepted, rejected, needs-review, cancelled, cancelled-after-submission, found string',
      );
    });

    // ---- the order ledger ----
    const at = NOW.toISOString();
    const noCds = (raw: string) =>
      raw
        .split('\r')
        .filter((l) => !l.startsWith('OBX|'))
        .join('\r');

    withStore(
      "ledger: orders searched by the patient's MRN, through the messages that touched them (HL7 PID-3.1, FHIR the Patient referenced or contained), paged",
      async (s) => {
        await ingest(s, '01-orm-new.hl7', 'A1');
        await ingest(s, '05-omi-new.hl7', 'A2', (r) => r.replace('PID|1||MRN0001', 'PID|1||MRN0002'));
        // MRN0002 in PID-2 only: not the patient's MRN
        await ingest(s, '01-orm-new.hl7', 'A3', (r) =>
          r.replace('PID|1||MRN0001', 'PID|1|MRN0002|MRN0009').replaceAll('ORD1001^EHR|ACC2001', 'ORD1009^EHR|ACC2009'),
        );
        const fhir = (controlId: string, resource: object, patient?: string) =>
          s.ingest(
            {
              channel: 'fhir',
              sender: 'fhir',
              controlId,
              contentType: 'application/fhir+json',
              raw: JSON.stringify(resource),
              receivedAt: NOW,
              ...(patient !== undefined ? { patient } : {}),
            },
            {
              disposition: 'error',
              problems: [{ code: 'MAP_UNMAPPED_CODE', message: 'unmapped', severity: 'error', scope: 'consultation', path: '' }],
              orders: [{ facilityId: '100000', encounterId: 'V0009', numbers: [controlId] }],
            },
          );
        await s.saveResources(
          [{ key: 'Patient/pat-9', version: '1', body: JSON.stringify({ resourceType: 'Patient', id: 'pat-9', identifier: [{ value: 'MRN0002' }] }) }],
          0,
          NOW,
        );
        await fhir('SR-4', { resourceType: 'ServiceRequest', id: 'sr-4', subject: { reference: 'https://ehr.example/fhir/Patient/pat-9/_history/1' } });
        await fhir('SR-5', {
          resourceType: 'ServiceRequest',
          id: 'sr-5',
          contained: [{ resourceType: 'Patient', id: 'p', identifier: [{ value: 'MRN0003' }] }],
          subject: { reference: '#p' },
        });
        // the MRN in the text, but not as the identifier of its patient
        await fhir('SR-6', { resourceType: 'ServiceRequest', id: 'sr-6', note: [{ text: 'MRN0002' }], subject: { reference: 'Patient/pat-8' } });
        // a Bundle's entry names its patient by urn:uuid: the Patient resolved on arrival is kept beside it
        await fhir(
          'SR-7',
          { resourceType: 'ServiceRequest', id: 'sr-7', subject: { reference: 'urn:uuid:2b0f7d0e-0001-4000-8000-000000000001' } },
          'Patient/pat-9',
        );
        const numbers = async (mrn: string, page: { after?: number; limit?: number } = {}) => {
          const r = await s.orders({ mrn, ...page });
          return { orders: r.orders.map((o) => o.orderNumbers.join(' / ')), next: r.next };
        };
        assert.deepEqual(await numbers('MRN0001'), { orders: ['ACC2001 / ORD1001'], next: null });
        assert.deepEqual(await numbers('MRN0002'), { orders: ['ACC2003 / ORD1003', 'SR-4', 'SR-7'], next: null });
        assert.deepEqual(await numbers('MRN0002', { limit: 1 }), { orders: ['ACC2003 / ORD1003'], next: 2 });
        assert.deepEqual(await numbers('MRN0002', { after: 2, limit: 1 }), { orders: ['SR-4'], next: 4 });
        assert.deepEqual(await numbers('MRN0002', { after: 4, limit: 1 }), { orders: ['SR-7'], next: null });
        assert.deepEqual(await numbers('MRN0003'), { orders: ['SR-5'], next: null });
        assert.deepEqual(await numbers('MRN000'), { orders: [], next: null });
        // with the other filters
        assert.deepEqual(
          (await s.orders({ mrn: 'MRN0002', state: 'held' })).orders.map((o) => o.orderNumbers),
          [['SR-4'], ['SR-7']],
        );
        assert.deepEqual((await s.orders({ mrn: 'MRN0001', order: 'ACC2003' })).orders, []);
      },
    );

    withStore("ledger: orders listed by the facility's own days (from, to) across a UTC midnight, paged; by UTC days without zones", async (s) => {
      // America/Chicago is UTC-6 in November: 05:59:59Z is the 22nd there, 06:00Z the 23rd
      const times = [
        '2026-11-23T05:00:00.000Z',
        '2026-11-23T05:59:59.000Z',
        '2026-11-23T06:00:00.000Z',
        '2026-11-23T07:00:00.000Z',
        '2026-11-24T05:59:59.000Z',
      ];
      for (const [i, t] of times.entries())
        await s.ingest(
          { channel: 'fhir', sender: 'fhir', controlId: `SR-${i + 1}`, contentType: 'application/fhir+json', raw: '{}', receivedAt: new Date(t) },
          {
            disposition: 'error',
            problems: [{ code: 'MAP_UNMAPPED_CODE', message: 'unmapped', severity: 'error', scope: 'consultation', path: '' }],
            orders: [{ facilityId: i === 4 ? '200000' : '100000', encounterId: 'V0009', numbers: [`SR-${i + 1}`] }],
          },
        );
      const chicago = (f: string) => (f === '100000' ? 'America/Chicago' : 'UTC');
      const list = async (filter: { from?: string; to?: string; after?: number; limit?: number; timeZoneOf?: (f: string) => string }) => {
        const r = await s.orders(filter);
        return { orders: r.orders.map((o) => o.orderNumbers[0]), next: r.next };
      };
      assert.deepEqual(await list({ from: '2026-11-23', to: '2026-11-23', timeZoneOf: chicago }), { orders: ['SR-3', 'SR-4'], next: null });
      assert.deepEqual(await list({ to: '2026-11-22', timeZoneOf: chicago }), { orders: ['SR-1', 'SR-2'], next: null });
      // the other facility's day is UTC: 05:59:59Z of the 24th is the 24th
      assert.deepEqual(await list({ from: '2026-11-24', timeZoneOf: chicago }), { orders: ['SR-5'], next: null });
      assert.deepEqual(await list({ from: '2026-11-23', timeZoneOf: chicago, limit: 1 }), { orders: ['SR-3'], next: 3 });
      assert.deepEqual(await list({ from: '2026-11-23', timeZoneOf: chicago, limit: 1, after: 3 }), { orders: ['SR-4'], next: 4 });
      assert.deepEqual(await list({ from: '2026-11-23', timeZoneOf: chicago, limit: 1, after: 4 }), { orders: ['SR-5'], next: null });
      // without zones, UTC days
      assert.deepEqual(await list({ from: '2026-11-23', to: '2026-11-23' }), { orders: ['SR-1', 'SR-2', 'SR-3', 'SR-4'], next: null });
      assert.deepEqual(await list({ to: '2026-11-22' }), { orders: [], next: null });
    });

    withStore('ledger: an order first seen by its result is held as orphan, then reported on the same row', async (s) => {
      await ingest(s, '04-oru-final.hl7', 'MSG0004');
      assert.deepEqual((await s.orders({})).orders, [
        {
          id: 1,
          facilityId: '100000',
          encounterId: 'V0001',
          orderNumbers: ['ACC2001', 'ORD1001'],
          consultationKey: null,
          state: 'held',
          reason: 'orphan',
          problems: [
            {
              code: 'MERGE_ORPHAN',
              message: 'ORU^R01 MSG0004 for order ORD1001 / ACC2001 is waiting for its order',
              severity: 'warning',
              scope: 'consultation',
              path: '',
              encounterId: 'V0001',
            },
          ],
          missing: [],
          messageIds: [1],
          firstSeen: at,
          lastSeen: at,
        },
      ]);
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const { orders, next } = await s.orders({});
      assert.deepEqual(
        orders.map((o) => [o.id, o.state, o.reason, o.consultationKey, o.messageIds]),
        [[1, 'reported', '', '11/02/2026 09:30:15', [1, 2]]],
      );
      assert.equal(next, null);
      assert.deepEqual(
        (await s.orders({ order: 'ACC2001' })).orders.map((o) => o.id),
        [1],
      );
      assert.deepEqual((await s.orders({ state: 'held' })).orders, []);
      assert.deepEqual(await s.reconciliation({}), [{ facilityId: '100000', day: '2026-11-23', seen: 1, reported: 1, held: {}, excluded: {} }]);
    });

    // ---- one message naming several orders ----

    /** A sample cut at its first ORC: the header (MSH to DG1) and the order group (ORC, OBR, OBX…). */
    const cut = (file: string) => {
      const lines = hl7(file)
        .replace(/\r?\n?$/, '')
        .split('\r');
      const at = lines.findIndex((l) => l.startsWith('ORC|'));
      return { header: lines.slice(0, at), group: lines.slice(at) };
    };
    /** 01-orm-new's or 04-oru-final's group for order ORD300<n> / ACC300<n>, its CDS time 09:<minute>:15, OBR set id `setId`. */
    const groupFor = (file: string, n: number, minute: string, setId: number) =>
      cut(file).group.map((l) =>
        l
          .replaceAll('ORD1001', `ORD300${n}`)
          .replaceAll('ACC2001', `ACC300${n}`)
          .replaceAll('20261102093015', `2026110209${minute}15`)
          .replace(/^OBR\|1\|/, `OBR|${setId}|`),
      );
    const messageOf = (file: string, controlId: string, groups: string[][]) =>
      [...cut(file).header.map((l) => (l.startsWith('MSH|') ? l.replace(/\|MSG000\d\|/, `|${controlId}|`) : l)), ...groups.flat()].join('\r');
    const ingestRaw = (s: Store, raw: string, controlId: string) => s.ingest(meta(raw, controlId), mapHl7Text(raw, tables));
    const completion = async (s: Store) =>
      (await s.record('100000|V0001'))?.consultations.map((c) => [
        c.consultationKey,
        c.state,
        c.missing,
        c.fields.Ordered_Exam_Completed?.value,
        c.fields.Exam_Completion_Date?.value,
        c.fields.Ordered_Exam_Completed?.source,
      ]);
    const bothComplete = [
      ['11/02/2026 09:30:15', 'ready', [], '1', '11/02/2026', 'MSG3000'],
      ['11/02/2026 09:40:15', 'ready', [], '1', '11/02/2026', 'MSG3000'],
    ];

    for (const [title, orms] of [
      [
        'one ORM with both OBRs (set ids 1, 2)',
        [
          [
            'MSG3001',
            [
              [1, 1],
              [2, 2],
            ],
          ],
        ],
      ],
      [
        'one ORM with both OBRs (both set id 1)',
        [
          [
            'MSG3001',
            [
              [1, 1],
              [2, 1],
            ],
          ],
        ],
      ],
      [
        'two ORMs, one OBR each',
        [
          ['MSG3001', [[1, 1]]],
          ['MSG3002', [[2, 1]]],
        ],
      ],
    ] as const) {
      withStore(`a result naming two orders, before them, completes both: ${title}`, async (s) => {
        const oru = messageOf('04-oru-final.hl7', 'MSG3000', [groupFor('04-oru-final.hl7', 1, '30', 1), groupFor('04-oru-final.hl7', 2, '40', 2)]);
        assert.deepEqual(await ingestRaw(s, oru, 'MSG3000'), { messageId: 1, status: 'applied', problems: [] });
        assert.deepEqual(
          (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason]),
          [
            [['ACC3001', 'ORD3001'], 'held', 'orphan'],
            [['ACC3002', 'ORD3002'], 'held', 'orphan'],
          ],
        );
        for (const [controlId, obrs] of orms) {
          const raw = messageOf(
            '01-orm-new.hl7',
            controlId,
            obrs.map(([n, setId]) => groupFor('01-orm-new.hl7', n, n === 1 ? '30' : '40', setId)),
          );
          assert.deepEqual(await ingestRaw(s, raw, controlId), { messageId: orms.findIndex((m) => m[0] === controlId) + 2, status: 'applied', problems: [] });
        }
        assert.deepEqual(await completion(s), bothComplete);
        assert.deepEqual(
          (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason, o.messageIds]),
          [
            [['ACC3001', 'ORD3001'], 'reported', '', [1, 2]],
            [['ACC3002', 'ORD3002'], 'reported', '', orms.length === 1 ? [1, 2] : [1, 3]],
          ],
        );
      });
    }

    // ---- the consultation key from the right message ----

    /** 01-orm-new as another message: ORC-1 `control`, without its CDS time (OBX CDS-DTTM) unless `cds` gives one, OBR-7 and ORC-9 at `fallback`. */
    const orm01 = (controlId: string, control: string, fallback: string, cds?: string) =>
      hl7('01-orm-new.hl7')
        .replace('|MSG0001|', `|${controlId}|`)
        .replace('ORC|NW|', `ORC|${control}|`)
        .replaceAll('|20261102093015|', `|${fallback}|`)
        .split('\r')
        .filter((l) => cds !== undefined || !l.startsWith('OBX|5|TS|CDS-DTTM'))
        .map((l) => (cds !== undefined && l.startsWith('OBX|5|TS|CDS-DTTM') ? l.replace(fallback, cds) : l))
        .join('\r');
    const keys = async (s: Store) =>
      (await s.record('100000|V0001'))?.consultations.map((c) => [c.consultationKey, c.keySource, c.keyRank, c.state, c.fields.CDS_Consultation_Time?.value]);

    withStore("key: a status message (SC) before its new order (NW) gives way to the NW's CDS time", async (s) => {
      await ingestRaw(s, orm01('MSG4001', 'SC', '20261102091000'), 'MSG4001');
      assert.deepEqual(await keys(s), [['11/02/2026 09:10:00', 'fallback', 3, 'ready', '09:10:00']]);
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      // the fallback key was never sent: its row is gone
      assert.deepEqual(await keys(s), [['11/02/2026 09:30:15', 'cds', 0, 'ready', '09:30:15']]);
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.consultationKey, o.state, o.messageIds]),
        [[['ACC2001', 'ORD1001'], '11/02/2026 09:30:15', 'reported', [1, 2]]],
      );
      // a result finds the order at its new key
      await ingest(s, '04-oru-final.hl7', 'MSG0004');
      assert.equal((await s.record('100000|V0001'))?.consultations[0]?.fields.Ordered_Exam_Completed?.source, 'MSG0004');
    });

    withStore('key: an order changed (XO) with its own CDS time moves its fallback key', async (s) => {
      await ingestRaw(s, orm01('MSG4001', 'NW', '20261102092000'), 'MSG4001');
      assert.deepEqual(await ingestRaw(s, orm01('MSG4002', 'XO', '20261102092000', '20261102094500'), 'MSG4002'), {
        messageId: 2,
        status: 'applied',
        problems: [],
      });
      assert.deepEqual(await keys(s), [['11/02/2026 09:45:00', 'cds', 0, 'ready', '09:45:00']]);
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.consultationKey, o.state]),
        [['11/02/2026 09:45:00', 'reported']],
      );
    });

    withStore('key: a fallback key NRDR accepted, moved by the XO: retracted under the old key, the new key sent', async (s) => {
      await ingestRaw(s, orm01('MSG4001', 'NW', '20261102092000'), 'MSG4001');
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      await s.createTransaction(tx('T-K', ready.wire), [ready], NOW);
      await s.recordResults('T-K', [{ ...ready, result: 'accepted', problems: [] }], NOW);
      await ingestRaw(s, orm01('MSG4002', 'XO', '20261102092000', '20261102094500'), 'MSG4002');
      assert.deepEqual(
        (await s.record('100000|V0001'))?.consultations.map((c) => [c.consultationKey, c.state, c.retraction?.transactionId]),
        [
          ['11/02/2026 09:20:00', 'cancelled-after-submission', 'T-K'],
          ['11/02/2026 09:45:00', 'ready', undefined],
        ],
      );
    });

    withStore('key: a better key another order holds does not move; the message says so', async (s) => {
      await ingestRaw(s, orm01('MSG4001', 'NW', '20261102091000'), 'MSG4001');
      await ingest(s, '01-orm-new.hl7', 'MSG0002', (raw) =>
        raw.replace('MSG0001', 'MSG0002').replaceAll('ORD1001', 'ORD3001').replaceAll('ACC2001', 'ACC4001'),
      );
      const r = await ingestRaw(s, orm01('MSG4003', 'XO', '20261102091000', '20261102093015'), 'MSG4003');
      assert.deepEqual(r, {
        messageId: 3,
        status: 'applied',
        problems: [
          {
            code: 'MERGE_KEY_HELD',
            message:
              'order ORD1001 / ACC2001 now has the consultation date and time 11/02/2026 09:30:15, which order ORD3001 / ACC4001 holds in encounter V0001: its record keeps the key 11/02/2026 09:10:00 it had from a fallback source',
            severity: 'warning',
            scope: 'consultation',
            path: '',
            encounterId: 'V0001',
            consultationKey: '11/02/2026 09:10:00',
          },
        ],
      });
      assert.deepEqual(await keys(s), [
        ['11/02/2026 09:10:00', 'fallback', 3, 'ready', '09:10:00'],
        ['11/02/2026 09:30:15', 'cds', 0, 'ready', '09:30:15'],
      ]);
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.consultationKey]),
        [
          [['ACC2001', 'ORD1001'], '11/02/2026 09:10:00'],
          [['ACC4001', 'ORD3001'], '11/02/2026 09:30:15'],
        ],
      );
      assert.deepEqual(
        (await s.message(3))?.problems.map((p) => p.code),
        ['MERGE_KEY_HELD'],
      );
    });

    withStore('key: a row stored before key ranks (key_rank NULL) reads as unknown and is never re-keyed', async (s, db) => {
      await ingestRaw(s, orm01('MSG4001', 'NW', '20261102091000'), 'MSG4001');
      // the record read through the store first: its rows are written (on SQLite, after the answer)
      // before they are changed behind the store's back
      await keys(s);
      await db.query('UPDATE consultations SET key_rank = NULL');
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      assert.deepEqual(await keys(s), [['11/02/2026 09:10:00', 'unknown', null, 'ready', '09:10:00']]);
    });

    withStore('ledger: a result known only by its accession waits; the order that names both numbers folds the rows into one', async (s) => {
      await ingest(s, '04-oru-final.hl7', 'MSG0004', (raw) => raw.replaceAll('ORD1001^EHR', ''));
      await ingest(s, '01-orm-new.hl7', 'MSG0001', (raw) => raw.replaceAll('ACC2001^RIS', ''));
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.id, o.orderNumbers, o.state, o.reason]),
        [
          [1, ['ACC2001'], 'held', 'orphan'],
          [2, ['ORD1001'], 'reported', ''],
        ],
      );
      await ingest(s, '01-orm-new.hl7', 'MSG0012', (raw) => raw.replace('MSG0001', 'MSG0012').replace('20261102093500', '20261102100000'));
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.id, o.orderNumbers, o.state, o.messageIds]),
        [[1, ['ACC2001', 'ORD1001'], 'reported', [1, 2, 3]]],
      );
      // the waiting result was joined: the exam is completed
      assert.equal((await s.record('100000|V0001'))?.consultations[0]?.fields.Ordered_Exam_Completed?.source, 'MSG0004');
      assert.deepEqual((await s.reconciliation({ from: '2026-11-23', to: '2026-11-23' }))[0]?.seen, 1);
    });

    withStore('ledger: a second order at the same second is held as a collision, never merged over the first', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const r = await ingest(s, '01-orm-new.hl7', 'MSG0002', (raw) =>
        raw
          .replace('MSG0001', 'MSG0002')
          .replaceAll('ORD1001', 'ORD3001')
          .replaceAll('ACC2001', 'ACC4001')
          .replace('70450^CT HEAD WO CONTRAST', '71250^CT CHEST WO CONTRAST'),
      );
      assert.deepEqual(r, {
        messageId: 2,
        status: 'error',
        problems: [
          {
            code: 'MERGE_COLLISION',
            message:
              'order ORD3001 / ACC4001 has the consultation date and time 11/02/2026 09:30:15 of order ORD1001 / ACC2001 in encounter V0001: two orders cannot share one CDSR consultation, so it is held and nothing of it merged',
            severity: 'error',
            scope: 'consultation',
            path: '',
            encounterId: 'V0001',
            consultationKey: '11/02/2026 09:30:15',
          },
        ],
      });
      assert.equal((await s.record('100000|V0001'))?.consultations[0]?.fields.Name_of_Exam_Ordered?.value, 'CT HEAD WO CONTRAST');
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason]),
        [
          [['ACC2001', 'ORD1001'], 'reported', ''],
          [['ACC4001', 'ORD3001'], 'held', 'collision'],
        ],
      );
      assert.deepEqual(await s.reconciliation({}), [{ facilityId: '100000', day: '2026-11-23', seen: 2, reported: 1, held: { collision: 1 }, excluded: {} }]);
    });

    // ---- reconciliation in the facility's own days ----

    /** 01-orm-new as order n of encounter Vn, its consultation at `cds` (HL7 TS), arriving at `at`; or 04-oru-final (a result with no order). */
    const orderAt = (s: Store, file: '01-orm-new.hl7' | '04-oru-final.hl7', n: number, at: string, cds = '20261102093015') => {
      const raw = hl7(file)
        .replace(/\|MSG000\d\|/, `|MSG${n}|`)
        .replaceAll('ORD1001', `ORD${n}`)
        .replaceAll('ACC2001', `ACC${n}`)
        .replaceAll('V0001', `V${n}`)
        .replaceAll('20261102093015', cds);
      return s.ingest({ ...meta(raw, `MSG${n}`), receivedAt: new Date(at) }, mapHl7Text(raw, tables));
    };
    const chicago = () => 'America/Chicago';

    withStore("reconciliation: days in the facility's time zone (America/Chicago) across a UTC midnight, by arrival and by ordered day", async (s) => {
      // arrives Dec 3 23:30 CST, ordered Dec 3
      await orderAt(s, '01-orm-new.hl7', 5001, '2026-12-04T05:30:00Z', '20261103223000');
      // arrives Dec 4 00:30 CST, ordered Dec 3
      await orderAt(s, '01-orm-new.hl7', 5002, '2026-12-04T06:30:00Z', '20261103231500');
      // a result whose order never came: no consultation date, arrives Dec 4 00:45 CST
      await orderAt(s, '04-oru-final.hl7', 5003, '2026-12-04T06:45:00Z');
      assert.deepEqual(await s.reconciliation({ timeZoneOf: chicago }), [
        { facilityId: '100000', day: '2026-12-03', seen: 1, reported: 1, held: {}, excluded: {} },
        { facilityId: '100000', day: '2026-12-04', seen: 2, reported: 1, held: { orphan: 1 }, excluded: {} },
      ]);
      assert.deepEqual(await s.reconciliation({ from: '2026-12-03', to: '2026-12-03', timeZoneOf: chicago }), [
        { facilityId: '100000', day: '2026-12-03', seen: 1, reported: 1, held: {}, excluded: {} },
      ]);
      // in UTC all three arrived on Dec 4: what the site saw as "no orders seen" on Dec 3
      assert.deepEqual(await s.reconciliation({ from: '2026-12-03', to: '2026-12-03' }), []);
      assert.deepEqual(await s.reconciliation({ by: 'ordered', timeZoneOf: chicago }), [
        { facilityId: '100000', day: '2026-11-03', seen: 2, byArrival: 0, reported: 2, held: {}, excluded: {} },
        { facilityId: '100000', day: '2026-12-04', seen: 1, byArrival: 1, reported: 0, held: { orphan: 1 }, excluded: {} },
      ]);
      assert.deepEqual(await s.reconciliation({ by: 'ordered', from: '2026-11-03', to: '2026-11-03', facility: '100000', timeZoneOf: chicago }), [
        { facilityId: '100000', day: '2026-11-03', seen: 2, byArrival: 0, reported: 2, held: {}, excluded: {} },
      ]);
      assert.deepEqual(await s.reconciliation({ by: 'ordered', from: '2026-12-05', timeZoneOf: chicago }), []);
    });

    withStore("oldestHeld: per facility, the first arrival of its oldest held order (the Overview's wait); nothing when none is held", async (s) => {
      assert.deepEqual(await s.oldestHeld(), {});
      // an older order that is reported does not count
      await orderAt(s, '01-orm-new.hl7', 5101, '2026-12-01T10:00:00Z');
      assert.deepEqual(await s.oldestHeld(), {});
      await orderAt(s, '04-oru-final.hl7', 5102, '2026-12-04T06:45:00Z');
      await orderAt(s, '04-oru-final.hl7', 5103, '2026-12-03T06:45:00Z');
      assert.deepEqual(await s.oldestHeld(), { '100000': '2026-12-03T06:45:00.000Z' });
    });

    withStore('reconciliation: the day DST ends in America/Chicago has 25 hours, and each order lands on its local day', async (s) => {
      // 2026-11-01: 00:00 CDT is 05:00Z; 02:00 CDT falls back to 01:00 CST; 2026-11-02 00:00 CST is 06:00Z
      await orderAt(s, '01-orm-new.hl7', 6001, '2026-11-01T04:59:00Z'); // Oct 31 23:59 CDT
      await orderAt(s, '01-orm-new.hl7', 6002, '2026-11-01T05:00:00Z'); // Nov 1 00:00 CDT
      await orderAt(s, '01-orm-new.hl7', 6003, '2026-11-02T05:59:00Z'); // Nov 1 23:59 CST
      await orderAt(s, '01-orm-new.hl7', 6004, '2026-11-02T06:00:00Z'); // Nov 2 00:00 CST
      assert.deepEqual(
        (await s.reconciliation({ timeZoneOf: chicago })).map((d) => [d.day, d.seen]),
        [
          ['2026-10-31', 1],
          ['2026-11-01', 2],
          ['2026-11-02', 1],
        ],
      );
      assert.deepEqual(
        (await s.reconciliation({ from: '2026-11-01', to: '2026-11-01', timeZoneOf: chicago })).map((d) => [d.day, d.seen]),
        [['2026-11-01', 2]],
      );
    });

    withStore('ledger: a cancel without the CDS data finds its order by number and excludes it', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      // the cancel carries only its own time (ORC-9, OBR-7), not the consultation's
      await ingest(s, '03-orm-cancel.hl7', 'MSG0003', (raw) => noCds(raw).replaceAll('ORD1002', 'ORD1001').replaceAll('ACC2002', 'ACC2001'));
      assert.deepEqual(
        (await s.records({})).map((r) => [r.consultationKey, r.state]),
        [['11/02/2026 09:30:15', 'cancelled']],
      );
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason, o.messageIds]),
        [[['ACC2001', 'ORD1001'], 'excluded', 'cancelled', [1, 2]]],
      );
      assert.deepEqual(await s.reconciliation({}), [{ facilityId: '100000', day: '2026-11-23', seen: 1, reported: 0, held: {}, excluded: { cancelled: 1 } }]);
    });

    withStore('ledger: a cancel of an order never seen is held, and applies when the order comes', async (s) => {
      await ingest(s, '03-orm-cancel.hl7', 'MSG0003', (raw) => noCds(raw).replaceAll('ORD1002', 'ORD1001').replaceAll('ACC2002', 'ACC2001'));
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.state, o.reason]),
        [['held', 'cancel_unmatched']],
      );
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.state, o.reason]),
        [['excluded', 'cancelled']],
      );
    });

    // ---- the order of decisions: identity, cancellation, exclusion, then the other fields ----

    /** Codes a site's feed sends that the shipped tables do not map: OBR-24 Consult, OBR-4 CON255, PV1-2 H, insurance ZZPLAN. */
    const siteCodes = (raw: string) =>
      raw
        .replace('|MR|CA', '|Consult|CA')
        .replace('70553^MRI BRAIN WO/W CONTRAST^CPT', 'CON255^RADIOLOGY CONSULT^C4')
        .replace('PV1|1|E|', 'PV1|1|H|')
        .replace(/(PV1\|[^\r]*)/, '$1\rIN1|1|ZZPLAN^SITE PLAN|ZZ01|SITE PLAN|||||||||||ZZPLAN');
    const shipped = (file: string) => join(REPO_ROOT, 'mappings', 'crosswalks', file);

    withStore('ledger: a cancel of an order never seen, with codes the tables do not map, is AA and cancels the order when it comes', async (s) => {
      const cancel = await ingest(s, '03-orm-cancel.hl7', 'MSG0003', (raw) =>
        siteCodes(noCds(raw)).replaceAll('ORD1002', 'ORD1001').replaceAll('ACC2002', 'ACC2001'),
      );
      assert.equal(cancel.status, 'applied');
      // every code the cancel carries and the tables lack stays visible, as a warning saying why it is not needed
      const unneeded = (field: string, value: string, file: string, system = '') => [
        'MAP_UNMAPPED_CODE',
        'warning',
        `${field}: no row for "${value}"${system} in ${shipped(file)}; add a row: ${value},<ACR code> (not needed: the order is cancelled)`,
      ];
      assert.deepEqual(
        cancel.problems.map((p) => [p.code, p.severity, p.message]),
        [
          unneeded('Health_Insurance', 'ZZPLAN', 'health_insurance.csv'),
          unneeded('Place_of_Service', 'H', 'patient_class.csv'),
          unneeded('Modality', 'Consult', 'modality.csv'),
          unneeded('Modality', 'CON255', 'procedure_modality.csv', ' (system "C4")'),
        ],
      );
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason]),
        [[['ACC2001', 'ORD1001'], 'held', 'cancel_unmatched']],
      );
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason, o.messageIds]),
        [[['ACC2001', 'ORD1001'], 'excluded', 'cancelled', [1, 2]]],
      );
      assert.deepEqual(
        (await s.records({})).map((r) => [r.consultationKey, r.state]),
        [['11/02/2026 09:30:15', 'cancelled']],
      );
      assert.deepEqual(await s.wireEncounters('ready', 10), []);
    });

    withStore('ledger: an excluded order (XR) with an insurance code the tables do not map is excluded, not AE', async (s) => {
      const r = await ingest(s, '09-orm-xr-excluded.hl7', 'MSG0009', (raw) =>
        raw.replace(/(PV1\|[^\r]*)/, '$1\rIN1|1|ZZPLAN^SITE PLAN|ZZ01|SITE PLAN|||||||||||ZZPLAN'),
      );
      assert.equal(r.status, 'applied');
      assert.deepEqual(
        r.problems.map((p) => [p.code, p.severity, p.message]),
        [
          ['MAP_EXCLUDED', 'warning', `Modality: "XR" is known and not reported (${XR_EXCLUSION.crosswalk} says exclude): the order is kept as excluded`],
          [
            'MAP_UNMAPPED_CODE',
            'warning',
            `Health_Insurance: no row for "ZZPLAN" in ${shipped('health_insurance.csv')}; add a row: ZZPLAN,<ACR code> (not needed: the order is excluded by ${XR_EXCLUSION.crosswalk})`,
          ],
        ],
      );
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason]),
        [[['ACC2009', 'ORD1009'], 'excluded', 'not-advanced-imaging']],
      );
    });

    withStore('ledger: the same insurance code on an advanced-imaging order is AE, its order held for the error', async (s) => {
      const r = await ingest(s, '01-orm-new.hl7', 'MSG0001', (raw) => raw.replace(/IN1\|[^\r]*/, 'IN1|1|ZZPLAN^SITE PLAN|ZZ01|SITE PLAN|||||||||||ZZPLAN'));
      assert.deepEqual([r.status, r.problems.map((p) => [p.code, p.severity])], ['error', [['MAP_UNMAPPED_CODE', 'error']]]);
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason]),
        [[['ACC2001', 'ORD1001'], 'held', 'error']],
      );
    });

    withStore('ledger: twelve OBRs under one ORC, none with its own numbers, are twelve orders known by the ORC number and OBR-1', async (s) => {
      const obrs = Array.from(
        { length: 12 },
        (_, i) =>
          `OBR|${i + 1}|||7045${i % 10}^CT ${i + 1}^CPT|||20261102093015|||||||||1234567893^ORDER^ANN||||||||CT|SC\rOBX|1|TS|CDS-DTTM^AUC consultation date/time||202611020930${String(10 + i)}||||||F`,
      );
      const raw = hl7('01-orm-new.hl7')
        .split('\r')
        .filter((l) => !l.startsWith('OBR|') && !l.startsWith('OBX|'))
        .concat(obrs)
        .join('\r');
      const r = await s.ingest(meta(raw, 'MSG1200'), mapHl7Text(raw, tables));
      assert.equal(r.status, 'applied', JSON.stringify(r.problems));
      const given = Array.from({ length: 12 }, (_, i) => `ORD1001:${i + 1}`);
      assert.deepEqual(
        r.problems.filter((p) => p.code === 'MAP_ORDER_DERIVED').map((p) => p.message),
        [
          `12 orders of the message share the order number ORD1001 (OBRs without a number of their own read their ORC's): each is an order of its own, known as ${given.join(', ')} (the number and its OBR-1)`,
          `12 orders of the message share the order number ACC2001 (OBRs without a number of their own read their ORC's): each is an order of its own, known as ${given.map((g) => g.replace('ORD1001', 'ACC2001')).join(', ')} (the number and its OBR-1)`,
        ],
      );
      const orders = (await s.orders({})).orders;
      assert.deepEqual(orders.map((o) => o.orderNumbers.join(' ')).sort(), given.map((g) => `${g.replace('ORD1001', 'ACC2001')} ${g}`).sort());
      // each its own consultation (its own CDS time), none merged into another
      assert.equal(new Set(orders.map((o) => o.consultationKey)).size, 12);
    });

    withStore('ledger: a message of an order type with no ORC or OBR is AE saying there is no order in it', async (s) => {
      const raw = hl7('01-orm-new.hl7')
        .split('\r')
        .filter((l) => !/^(ORC|OBR|OBX)\|/.test(l))
        .join('\r');
      const r = await s.ingest(meta(raw, 'MSG1300'), mapHl7Text(raw, tables));
      assert.deepEqual(
        [r.status, r.problems.map((p) => [p.code, p.message])],
        ['error', [['MAP_NO_ORDER', 'no order in the message: ORM^O01 has no ORC or OBR segment, so there is nothing to report']]],
      );
      assert.deepEqual((await s.orders({})).orders, []);
      assert.deepEqual(
        (await s.messages({ status: 'error' })).map((m) => m.controlId),
        ['MSG1300'],
      );
    });

    // ---- exclusions: a crosswalk row says the order is known but not advanced imaging ----

    /** Rule and row as the tables loaded from the repository name them. */
    const XR_EXCLUSION = {
      rule: join(REPO_ROOT, 'mappings', 'hl7v2.yaml:73'),
      crosswalk: join(REPO_ROOT, 'mappings', 'crosswalks', 'modality.csv:22'),
      raw: 'XR',
    };
    /** A cancel of 09-orm-xr-excluded's order (ORD1009 / ACC2009), later than it, its OBR-24 as given. */
    const cancel09 = (s: Store, modality: string) =>
      ingest(s, '03-orm-cancel.hl7', 'MSG0903', (raw) =>
        noCds(raw)
          .replaceAll('ORD1002', 'ORD1009')
          .replaceAll('ACC2002', 'ACC2009')
          .replace('20261102111500', '20261102160000')
          .replace('|MR|CA', `|${modality}|CA`),
      );
    const exclusions = async (s: Store) => ({
      records: (await s.record('100000|V0001'))?.consultations.map((c) => [c.consultationKey, c.state, c.cancelled, c.exclusion]),
      orders: (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason, o.exclusion]),
      reconciliation: await s.reconciliation({}),
    });

    withStore(
      'ledger: an order a crosswalk row excludes (XR) is excluded as not-advanced-imaging, naming the rule and the row, never as cancelled',
      async (s) => {
        const r = await ingest(s, '09-orm-xr-excluded.hl7', 'MSG0009');
        assert.deepEqual([r.status, r.problems.map((p) => p.code)], ['applied', ['MAP_EXCLUDED']]);
        assert.deepEqual(await exclusions(s), {
          records: [['11/02/2026 15:00:00', 'cancelled', true, XR_EXCLUSION]],
          orders: [[['ACC2009', 'ORD1009'], 'excluded', 'not-advanced-imaging', XR_EXCLUSION]],
          reconciliation: [{ facilityId: '100000', day: '2026-11-23', seen: 1, reported: 0, held: {}, excluded: { 'not-advanced-imaging': 1 } }],
        });
        assert.deepEqual(
          (await s.orders({ state: 'excluded', reason: 'not-advanced-imaging' })).orders.map((o) => o.id),
          [1],
        );
        assert.deepEqual((await s.orders({ reason: 'cancelled' })).orders, []);
        assert.deepEqual(await s.wireEncounters('ready', 10), []);
      },
    );

    withStore('ledger: a cancel of an excluded order makes it cancelled: the cancel wins and the exclusion is gone', async (s) => {
      await ingest(s, '09-orm-xr-excluded.hl7', 'MSG0009');
      // the cancel names the same XR: still a cancel, not an exclusion
      await cancel09(s, 'XR');
      assert.deepEqual(await exclusions(s), {
        records: [['11/02/2026 15:00:00', 'cancelled', true, undefined]],
        orders: [[['ACC2009', 'ORD1009'], 'excluded', 'cancelled', undefined]],
        reconciliation: [{ facilityId: '100000', day: '2026-11-23', seen: 1, reported: 0, held: {}, excluded: { cancelled: 1 } }],
      });
    });

    withStore('ledger: a cancel without OBR-24 of an excluded order makes it cancelled too', async (s) => {
      await ingest(s, '09-orm-xr-excluded.hl7', 'MSG0009');
      await cancel09(s, '');
      assert.deepEqual((await exclusions(s)).orders, [[['ACC2009', 'ORD1009'], 'excluded', 'cancelled', undefined]]);
    });

    withStore('ledger: an excluded order changed to CT is no longer excluded and names no exclusion', async (s) => {
      await ingest(s, '09-orm-xr-excluded.hl7', 'MSG0009');
      await ingest(s, '09-orm-xr-excluded.hl7', 'MSG0010', (raw) =>
        raw.replace('20261102150500', '20261102153000').replace('71046^XR CHEST 2 VIEWS', '71250^CT CHEST WO CONTRAST').replace('|XR|SC', '|CT|SC'),
      );
      const after = await exclusions(s);
      assert.deepEqual(
        after.records?.map((c) => [c[1], c[3]]),
        [['incomplete', undefined]],
      );
      assert.deepEqual(
        after.orders.map((o) => [o[1], o[2], o[3]]),
        [['held', 'incomplete', undefined]],
      );
    });

    withStore('ledger: an order excluded before migration 13 (the row only in its cancel flag) reads as not-advanced-imaging after it', async (s, db) => {
      await ingest(s, '09-orm-xr-excluded.hl7', 'MSG0009');
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await cancel01(s);
      await s.close();
      // the database as version 12 left it: no exclusion column, the exclusion known only by the flag
      // (nor the counters of migration 26, which read that column: migrated again after 13)
      for (const sql of undoCountersMigration(name === 'PostgreSQL' ? 'postgres' : 'sqlite')) await db.query(sql);
      await db.query('ALTER TABLE consultations DROP COLUMN exclusion');
      await db.query('DELETE FROM schema_migrations WHERE version IN (13, 26)');
      const again = await db.open(validator);
      try {
        assert.deepEqual(
          (await again.orders({})).orders.map((o) => [o.orderNumbers, o.reason, o.exclusion]),
          [
            [['ACC2009', 'ORD1009'], 'not-advanced-imaging', XR_EXCLUSION],
            [['ACC2001', 'ORD1001'], 'cancelled', undefined],
          ],
        );
        assert.deepEqual(
          (await again.record('100000|V0001'))?.consultations.map((c) => [c.consultationKey, c.exclusion]),
          [
            ['11/02/2026 09:30:15', undefined],
            ['11/02/2026 15:00:00', XR_EXCLUSION],
          ],
        );
        // migration 26 run again over these rows: its counters and kept states start from them
        assert.deepEqual((await again.ledgerGauges()).byState, { excluded: 2 });
        assert.deepEqual(await again.counts(), { messages: { applied: 3 }, records: { cancelled: 2 }, transactions: {} });
      } finally {
        await again.close();
      }
    });

    withStore('ledger: an order with no consultation time and no known order is refused (AE) naming what was tried', async (s) => {
      const r = await ingest(s, '01-orm-new.hl7', 'MSG0001', (raw) =>
        noCds(raw)
          .split('\r')
          .map((l) => (l.startsWith('ORC|') || l.startsWith('OBR|') ? l.replaceAll('20261102093015', '') : l))
          .join('\r'),
      );
      assert.equal(r.status, 'error');
      assert.deepEqual(
        r.problems.map((p) => [p.code, p.message.replace(/[^\s(]*hl7v2\.yaml/g, 'hl7v2.yaml')]),
        [
          [
            'MAP_NO_CONSULTATION',
            'order ORD1001 / ACC2001 has no consultation date and time and matches no order seen before: CDS_Consultation_Date (hl7v2.yaml:46) from OBX[3.1=CDS-DTTM]-5, TQ1-7.1, OBR-6, OBR-7, ORC-9; CDS_Consultation_Time (hl7v2.yaml:55) from OBX[3.1=CDS-DTTM]-5, TQ1-7.1, OBR-6, OBR-7, ORC-9: none has a value',
          ],
        ],
      );
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason]),
        [[['ACC2001', 'ORD1001'], 'held', 'error']],
      );
      assert.deepEqual(await s.records({}), []);
    });

    // ---- retractions: a cancellation once NRDR may hold the consultation ----

    const cancel01 = (s: Store, controlId = 'MSG0003') =>
      ingest(s, '03-orm-cancel.hl7', controlId, (raw) => noCds(raw).replaceAll('ORD1002', 'ORD1001').replaceAll('ACC2002', 'ACC2001'));
    /** The record of 01-orm-new sent in T-1, and NRDR's verdict on it (none: still in flight). */
    const send01 = async (s: Store, verdict?: 'accepted' | 'rejected') => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      assert.equal((await s.createTransaction(tx('T-1', ready.wire), [ready], NOW)).created, true);
      if (verdict) await s.recordResults('T-1', [{ ...ready, result: verdict, problems: [] }], NOW);
    };
    const INSTRUCTION =
      "cancelled after it was sent to NRDR (Transaction_ID T-1), and NRDR's API cannot delete a record: ask the NRDR Help Desk to remove consultation " +
      '11/02/2026 09:30:15 of encounter V0001 at facility 100000 from the CDSR registry, then acknowledge it here (POST /api/orders/{order id}/acknowledge)';
    const LATER = new Date(NOW.getTime() + 60_000);

    withStore('retraction: a cancel of an accepted record is cancelled-after-submission, held until acknowledged, then excluded, never gone', async (s) => {
      await send01(s, 'accepted');
      await cancel01(s);
      assert.deepEqual(
        (await s.records({})).map((r) => r.state),
        ['cancelled-after-submission'],
      );
      const waiting = { transactionId: 'T-1', instruction: INSTRUCTION, acknowledged: null };
      assert.deepEqual(
        (await s.record('100000|V0001'))?.consultations.map((c) => [c.state, c.cancelled, c.retraction]),
        [['cancelled-after-submission', true, waiting]],
      );
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.id, o.state, o.reason, o.retraction]),
        [[1, 'held', 'cancelled-after-submission', waiting]],
      );
      assert.deepEqual((await s.orders({ reason: 'cancelled-after-submission', state: 'held' })).orders.length, 1);
      assert.equal((await s.ledgerGauges()).unacknowledgedRetractions, 1);
      assert.deepEqual(await s.reconciliation({}), [
        { facilityId: '100000', day: '2026-11-23', seen: 1, reported: 0, held: { 'cancelled-after-submission': 1 }, excluded: {} },
      ]);
      // the same cancel again changes nothing
      await cancel01(s, 'MSG0103');
      assert.deepEqual(
        (await s.records({})).map((r) => r.state),
        ['cancelled-after-submission'],
      );

      assert.deepEqual(await s.acknowledgeRetraction(1, 'operate#1', LATER), { result: 'acknowledged', by: 'operate#1', at: LATER.toISOString() });
      assert.deepEqual(await s.acknowledgeRetraction(1, 'operate#2', new Date(LATER.getTime() + 1000)), {
        result: 'already',
        by: 'operate#1',
        at: LATER.toISOString(),
      });
      const done = { ...waiting, acknowledged: { by: 'operate#1', at: LATER.toISOString() } };
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.state, o.reason, o.retraction]),
        [['excluded', 'cancelled-after-submission', done]],
      );
      assert.deepEqual(
        (await s.record('100000|V0001'))?.consultations.map((c) => [c.state, c.retraction]),
        [['cancelled-after-submission', done]],
      );
      assert.equal((await s.ledgerGauges()).unacknowledgedRetractions, 0);
      assert.deepEqual(await s.reconciliation({}), [
        { facilityId: '100000', day: '2026-11-23', seen: 1, reported: 0, held: {}, excluded: { 'cancelled-after-submission': 1 } },
      ]);
      assert.deepEqual(
        (await s.accessLog({})).map((e) => [e.who, e.what, e.at]),
        [['operate#1', 'acknowledged retraction of order 1 (100000|V0001 11/02/2026 09:30:15)', LATER.toISOString()]],
      );
      assert.deepEqual(await s.acknowledgeRetraction(99, 'operate#1', LATER), { result: 'not-found' });
    });

    withStore('retraction: a cancel of a record not yet sent, or rejected by NRDR, is plainly cancelled; nothing to acknowledge', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await cancel01(s);
      assert.deepEqual(
        (await s.records({})).map((r) => r.state),
        ['cancelled'],
      );
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.state, o.reason, o.retraction]),
        [['excluded', 'cancelled', undefined]],
      );
      assert.deepEqual(await s.acknowledgeRetraction(1, 'operate#1', LATER), { result: 'not-retraction', state: 'cancelled' });
      assert.deepEqual(await s.accessLog({}), []);
    });

    withStore('retraction: a record rejected by NRDR and then cancelled is plainly cancelled', async (s) => {
      await send01(s, 'rejected');
      await cancel01(s);
      assert.deepEqual(
        (await s.records({})).map((r) => r.state),
        ['cancelled'],
      );
      assert.equal((await s.ledgerGauges()).unacknowledgedRetractions, 0);
    });

    withStore('retraction: cancelled while in flight and then rejected by NRDR, it is plainly cancelled', async (s) => {
      await send01(s);
      await cancel01(s);
      assert.deepEqual(
        (await s.records({})).map((r) => r.state),
        ['cancelled-after-submission'],
      );
      const [sent] = (await s.transaction('T-1'))?.records ?? [];
      assert.ok(sent);
      await s.recordResults('T-1', [{ ...sent, result: 'rejected', problems: [] }], NOW);
      assert.deepEqual(
        (await s.records({})).map((r) => r.state),
        ['cancelled'],
      );
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.state, o.reason]),
        [['excluded', 'cancelled']],
      );
    });

    withStore(
      'retraction: an order placed again after its cancel is ready to send again (NRDR may have removed it); cancelled once more it waits for a new acknowledgement',
      async (s) => {
        await send01(s, 'accepted');
        await cancel01(s);
        assert.equal((await s.acknowledgeRetraction(1, 'operate#1', LATER)).result, 'acknowledged');
        // the same order, newer than the cancel (MSH-7 after it): no longer cancelled; sent again, as the site may have had it removed
        await ingest(s, '01-orm-new.hl7', 'MSG0301', (raw) => raw.replace('20261102093500', '20261102120000').replace('MSG0001', 'MSG0301'));
        assert.deepEqual(
          (await s.records({})).map((r) => r.state),
          ['ready'],
        );
        assert.deepEqual(
          (await s.orders({})).orders.map((o) => [o.state, o.reason, o.retraction]),
          [['reported', '', undefined]],
        );
        // cancelled again, later still: the earlier acknowledgement does not cover it
        await ingest(s, '03-orm-cancel.hl7', 'MSG0303', (raw) =>
          noCds(raw)
            .replaceAll('ORD1002', 'ORD1001')
            .replaceAll('ACC2002', 'ACC2001')
            .replace('20261102111500', '20261102130000')
            .replace('MSG0003', 'MSG0303'),
        );
        assert.deepEqual(
          (await s.orders({})).orders.map((o) => [o.state, o.reason, o.retraction?.acknowledged ?? null]),
          [['held', 'cancelled-after-submission', null]],
        );
        assert.equal((await s.ledgerGauges()).unacknowledgedRetractions, 1);
      },
    );

    withStore('retraction: cancelled while in flight and then loaded by NRDR, it stays to retract', async (s) => {
      await send01(s);
      await cancel01(s);
      const [sent] = (await s.transaction('T-1'))?.records ?? [];
      assert.ok(sent);
      await s.recordResults('T-1', [{ ...sent, result: 'accepted', problems: [] }], NOW);
      assert.deepEqual(
        (await s.records({})).map((r) => r.state),
        ['cancelled-after-submission'],
      );
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.state, o.reason, o.retraction?.transactionId]),
        [['held', 'cancelled-after-submission', 'T-1']],
      );
      assert.deepEqual(
        (await s.transaction('T-1'))?.records.map((r) => r.result),
        ['accepted'],
      );
    });

    // ---- outbound: compare-and-set and the lease ----

    withStore('a batch whose record changed after it was read is not stored; the record stays ready', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [read] = await s.wireEncounters('ready', 10);
      assert.ok(read);
      // a result lands between the read and the batch
      await ingest(s, '04-oru-final.hl7', 'MSG0004');
      const r = await s.createTransaction(tx('T-STALE', read.wire), [read], NOW);
      assert.deepEqual(r, { created: false, stale: [read] });
      assert.deepEqual(await s.transactions({}), []);
      assert.deepEqual(
        (await s.records({})).map((x) => x.state),
        ['ready'],
      );
      const [again] = await s.wireEncounters('ready', 10);
      assert.ok(again && again.contentHash !== read.contentHash);
      assert.deepEqual((await s.createTransaction(tx('T-FRESH', again.wire), [again], NOW)).created, true);
      assert.deepEqual(
        (await s.records({})).map((x) => x.state),
        ['submitted'],
      );
    });

    withStore('one lease holder at a time; taken over when it runs out; handed back on release', async (s) => {
      const later = (ms: number) => new Date(NOW.getTime() + ms);
      assert.equal(await s.lease('submitter', 'a', NOW, 60_000), true);
      assert.equal(await s.lease('submitter', 'b', later(1_000), 60_000), false);
      assert.equal(await s.lease('submitter', 'a', later(30_000), 60_000), true);
      assert.equal(await s.lease('submitter', 'b', later(80_000), 60_000), false);
      assert.equal(await s.lease('submitter', 'b', later(91_000), 60_000), true);
      await s.releaseLease('submitter', 'a');
      assert.equal(await s.lease('submitter', 'a', later(92_000), 60_000), false);
      await s.releaseLease('submitter', 'b');
      assert.equal(await s.lease('submitter', 'a', later(93_000), 60_000), true);
    });

    withStore(
      'a lease with an epoch: renewed by its process, taken when run out or by a restart of its holder (the epoch moves on), refused otherwise',
      async (s) => {
        const later = (ms: number) => new Date(NOW.getTime() + ms);
        const a1 = { holder: 'host-a', token: 'p1' };
        const a2 = { holder: 'host-a', token: 'p2' };
        const b = { holder: 'host-b', token: 'p9' };
        const brief = (l: { held: boolean; holder: string; epoch: number }) => [l.held, l.holder, l.epoch];
        assert.deepEqual(brief(await s.takeLease('submitter', a1, NOW, 60_000)), [true, 'host-a', 1]);
        assert.deepEqual(brief(await s.takeLease('submitter', a1, later(30_000), 60_000)), [true, 'host-a', 1]);
        assert.deepEqual(brief(await s.takeLease('submitter', b, later(31_000), 60_000)), [false, 'host-a', 1]);
        // the same instance restarted: a live lease of an earlier process is taken back at once, only when asked
        assert.deepEqual(brief(await s.takeLease('submitter', a2, later(32_000), 60_000)), [false, 'host-a', 1]);
        assert.deepEqual(brief(await s.takeLease('submitter', a2, later(32_000), 60_000, { reclaimOwn: true })), [true, 'host-a', 2]);
        assert.deepEqual(brief(await s.takeLease('submitter', a1, later(33_000), 60_000)), [false, 'host-a', 2]);
        // run out: another instance takes it
        assert.deepEqual(brief(await s.takeLease('submitter', b, later(93_000), 60_000)), [true, 'host-b', 3]);
        assert.deepEqual(await s.leaseState('submitter'), { held: false, holder: 'host-b', epoch: 3, expiresAt: later(153_000).toISOString() });
        // handed back only by its own process
        await s.releaseLease('submitter', 'host-b', 'p0');
        assert.equal((await s.leaseState('submitter'))?.holder, 'host-b');
        await s.releaseLease('submitter', 'host-b', 'p9');
        assert.equal(await s.leaseState('submitter'), undefined);
      },
    );

    withStore('live leases by the start of their name: the unexpired ones, with their holders', async (s) => {
      const later = (ms: number) => new Date(NOW.getTime() + ms);
      assert.equal(await s.lease('profile:a', 'test', NOW, 60_000), true);
      assert.equal(await s.lease('profile:b', 'production', NOW, 1_000), true);
      assert.equal(await s.lease('profile_c', 'production', NOW, 60_000), true);
      assert.equal(await s.lease('submitter', 'x', NOW, 60_000), true);
      assert.deepEqual(await s.liveLeases('profile:', later(500)), [
        { name: 'profile:a', holder: 'test' },
        { name: 'profile:b', holder: 'production' },
      ]);
      assert.deepEqual(await s.liveLeases('profile:', later(2_000)), [{ name: 'profile:a', holder: 'test' }]);
      assert.deepEqual(await s.liveLeases('profile:', later(61_000)), []);
    });

    withStore('fencing: a batch and a POST are claimed only under the lease epoch that holds now, unexpired; a POST is claimed once', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [read] = await s.wireEncounters('ready', 10);
      assert.ok(read);
      const a = { holder: 'host-a', token: 'p1' };
      const la = await s.takeLease('submitter', a, NOW, 60_000);
      const fenceA = (at: Date) => ({ name: 'submitter', ...a, epoch: la.epoch, at });
      // past its lease (paused), a batch is not stored even before anyone took over
      assert.deepEqual(await s.createTransaction(tx('T-1', read.wire), [read], NOW, fenceA(new Date(NOW.getTime() + 61_000))), {
        created: false,
        stale: [],
        fenced: true,
      });
      assert.deepEqual((await s.createTransaction(tx('T-1', read.wire), [read], NOW, fenceA(NOW))).created, true);
      // taken over by b: a's claim of the POST fails whatever it read
      const b = { holder: 'host-b', token: 'p9' };
      const lb = await s.takeLease('submitter', b, new Date(NOW.getTime() + 61_000), 60_000);
      assert.deepEqual([lb.held, lb.epoch], [true, 2]);
      assert.equal(await s.claimPost('T-1', { status: 'created', attempts: 0 }, fenceA(NOW)), 'fenced');
      const fenceB = { name: 'submitter', ...b, epoch: 2, at: new Date(NOW.getTime() + 62_000) };
      assert.equal(await s.claimPost('T-1', { status: 'created', attempts: 0 }, fenceB), 'claimed');
      const t = await s.transaction('T-1');
      assert.deepEqual([t?.status, t?.attempts, t?.sentAt, t?.sentEpoch, t?.polls], ['sent', 1, fenceB.at.toISOString(), 2, 0]);
      // the same POST claimed twice (from what was read before the first claim): one goes
      assert.equal(await s.claimPost('T-1', { status: 'created', attempts: 0 }, fenceB), 'moved');
      assert.equal(await s.claimPost('T-1', { status: 'sent', attempts: 0 }, fenceB), 'moved');
      // a re-POST (NRDR did not know it) from what was read after the claim
      assert.equal(await s.claimPost('T-1', { status: 'sent', attempts: 1 }, fenceB), 'claimed');
      assert.equal((await s.transaction('T-1'))?.attempts, 2);
    });

    withStore(
      'a transaction whose record went out since in a later one is not sent (superseded); abandoned, its other records go back to ready, in their history',
      async (s) => {
        await ingest(s, '01-orm-new.hl7', 'MSG0001');
        await ingest(s, '05-omi-new.hl7', 'MSG0005');
        const read = await s.wireEncounters('ready', 10);
        assert.equal(read.length, 2);
        const l = await s.takeLease('submitter', { holder: 'a', token: 't' }, NOW, 60_000);
        const fence = { name: 'submitter', holder: 'a', token: 't', epoch: l.epoch, at: NOW };
        const body = tx('T-OLD', read[0]!.wire);
        assert.equal((await s.createTransaction(body, read, NOW, fence)).created, true);
        assert.equal(await s.claimPost('T-OLD', { status: 'created', attempts: 0 }, fence), 'claimed');
        // the first record changes and goes out in a later transaction
        await ingest(s, '04-oru-final.hl7', 'MSG0004');
        const changed = (await s.wireEncounters('ready', 10)).find((r) => r.consultationKey === read[0]!.consultationKey);
        assert.ok(changed);
        assert.equal((await s.createTransaction(tx('T-NEW', changed.wire), [changed], NOW, fence)).created, true);
        // still created: T-OLD goes first, in order
        assert.equal(await s.claimPost('T-OLD', { status: 'sent', attempts: 1 }, fence), 'claimed');
        assert.equal(await s.claimPost('T-NEW', { status: 'created', attempts: 0 }, fence), 'claimed');
        // T-NEW went out: T-OLD (NRDR did not know it) would put the older revision after the newer one
        assert.equal(await s.claimPost('T-OLD', { status: 'sent', attempts: 2 }, fence), 'superseded');
        await s.abandonTransaction('T-OLD', 'superseded', NOW);
        const old = await s.transaction('T-OLD');
        assert.deepEqual([old?.status, old?.lastError], ['failed', 'superseded']);
        const states = Object.fromEntries((await s.records({})).map((r) => [r.consultationKey, r.state]));
        assert.deepEqual(states, { [read[0]!.consultationKey]: 'submitted', [read[1]!.consultationKey]: 'ready' });
        const h = (await s.record(read[1]!.encounterKey))?.consultations.find((c) => c.consultationKey === read[1]!.consultationKey)?.history;
        assert.deepEqual(
          h?.map((x) => [x.from, x.to, x.who, x.why, x.transactionId]),
          [['submitted', 'ready', 'submitter', 'superseded', 'T-OLD']],
        );
      },
    );

    withStore(
      'connection profiles: each transaction keeps the profile it was created under; lists, polls, counts and claims are by profile; those written before are named once',
      async (s) => {
        await ingest(s, '01-orm-new.hl7', 'MSG0001');
        await ingest(s, '05-omi-new.hl7', 'MSG0005');
        const read = await s.wireEncounters('ready', 10);
        const l = await s.takeLease('submitter', { holder: 'a', token: 't' }, NOW, 60_000);
        const fence = { name: 'submitter', holder: 'a', token: 't', epoch: l.epoch, at: NOW };
        assert.equal((await s.createTransaction(tx('T-TEST', read[0]!.wire), [read[0]!], NOW, fence, { profile: 'test', deidSeal: 'seal-1' })).created, true);
        assert.equal((await s.createTransaction(tx('T-PROD', read[1]!.wire), [read[1]!], NOW, fence, { profile: 'production' })).created, true);
        assert.deepEqual(
          [await s.transaction('T-TEST'), await s.transaction('T-PROD')].map((t) => [t?.profile, t?.deidSeal]),
          [
            ['test', 'seal-1'],
            ['production', undefined],
          ],
        );
        assert.deepEqual(
          (await s.transactions({ status: 'created', profile: 'production' })).map((t) => t.transactionId),
          ['T-PROD'],
        );
        assert.deepEqual((await s.inFlight('test')).count, 1);
        assert.deepEqual(await s.inFlightByProfile(), [
          { profile: 'production', count: 1 },
          { profile: 'test', count: 1 },
        ]);
        // a claim under another profile is refused as moved: nothing is sent to the wrong environment
        assert.equal(await s.claimPost('T-TEST', { status: 'created', attempts: 0, profile: 'production' }, fence), 'moved');
        assert.equal(await s.claimPost('T-TEST', { status: 'created', attempts: 0, profile: 'test' }, fence), 'claimed');
        assert.deepEqual(await s.duePolls(NOW, 10, 'production'), []);
        assert.deepEqual(await s.duePolls(NOW, 10, 'test'), ['T-TEST']);
        // written before profiles (no profile): named once, by the caller's choice
        await ingest(s, '01-orm-new.hl7', 'MSG0021', (raw) => raw.replace('MSG0001', 'MSG0021').replace('|ME|', '|MF|'));
        const again = await s.wireEncounters('ready', 10);
        assert.equal((await s.createTransaction(tx('T-OLD', again[0]!.wire), [again[0]!], NOW)).created, true);
        assert.equal((await s.transaction('T-OLD'))?.profile, null);
        // sent as the test facility: it went to the test environment, whatever today's variables say
        assert.equal(await s.adoptUnprofiled('production', { facilityId: '100000', profile: 'test' }), 1);
        assert.equal(await s.adoptUnprofiled('production'), 0);
        assert.equal((await s.transaction('T-OLD'))?.profile, 'test');
      },
    );

    withStore('polls due: sent and posted transactions whose next poll has come, the most overdue first; in flight counted with the oldest', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      const [read] = await s.wireEncounters('ready', 10);
      assert.ok(read);
      const at = (ms: number) => new Date(NOW.getTime() + ms);
      assert.deepEqual(await s.inFlight(), { count: 0, oldestCreatedAt: null, nextPollAt: null });
      await s.createTransaction(tx('T-P', read.wire), [read], NOW);
      assert.deepEqual(await s.inFlight(), { count: 1, oldestCreatedAt: NOW.toISOString(), nextPollAt: new Date(0).toISOString() });
      const l = await s.takeLease('submitter', { holder: 'a', token: 't' }, NOW, 60_000);
      assert.equal(
        await s.claimPost('T-P', { status: 'created', attempts: 0 }, { name: 'submitter', holder: 'a', token: 't', epoch: l.epoch, at: NOW }),
        'claimed',
      );
      // sent, never scheduled: due at once
      assert.deepEqual(await s.duePolls(NOW, 10), ['T-P']);
      await s.updateTransaction('T-P', { status: 'posted', from: ['sent'], nextPollAt: at(5_000), polled: true }, at(1));
      assert.deepEqual(await s.duePolls(at(4_999), 10), []);
      assert.deepEqual(
        await Promise.all((await s.duePolls(at(5_000), 10)).map(async (id) => ((t) => [id, t?.status, t?.polls, t?.nextPollAt])(await s.transaction(id)))),
        [['T-P', 'posted', 1, at(5_000).toISOString()]],
      );
      assert.deepEqual((await s.inFlight()).nextPollAt, at(5_000).toISOString());
      // an answer never moves a transaction back: done stays done
      await s.updateTransaction('T-P', { status: 'done', from: ['sent', 'posted'], nextPollAt: null }, at(6_000));
      await s.updateTransaction('T-P', { status: 'posted', from: ['sent', 'posted'], nextPollAt: at(9_000) }, at(7_000));
      assert.deepEqual([(await s.transaction('T-P'))?.status, (await s.duePolls(at(99_000), 10)).length], ['done', 0]);
      assert.deepEqual(await s.inFlight(), { count: 0, oldestCreatedAt: null, nextPollAt: null });
    });

    withStore('a NUL character is stored (as U+FFFD) and read back the same on every database', async (s) => {
      const r = await ingest(s, '01-orm-new.hl7', 'MSG0001', (raw) =>
        raw.replace('TESTPATIENT', 'TEST\u0000PATIENT').replace('CT HEAD WO CONTRAST', 'CT HEAD\u0000WO CONTRAST'),
      );
      assert.equal(r.status, 'applied');
      const m = await s.message(1);
      assert.ok(m?.raw.includes('TEST\uFFFDPATIENT'));
      // merged as stored too (a JSON escape would have kept it), so re-deriving the text gives the same
      assert.equal((await s.record('100000|V0001'))?.consultations[0]?.fields.Name_of_Exam_Ordered?.value, 'CT HEAD\uFFFDWO CONTRAST');
    });

    withStore('retention: raw text past the days is purged where it will not be replayed; a resend keeps no copy', async (s) => {
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await ingest(s, '01-orm-new.hl7', 'MSG0001');
      await ingest(s, '01-orm-new.hl7', 'MSG0101', (raw) => raw.replace('MSG0001', 'MSG0101').replace('|CT|SC', '|XX|SC').replace('^CPT|', '^L|'));
      assert.deepEqual(
        (await s.messages({})).map((m) => m.status),
        ['applied', 'duplicate', 'error'],
      );
      assert.equal((await s.message(2))?.raw, '');
      assert.deepEqual(await s.purgeRaw(new Date(NOW.getTime() + 1), NOW), { messages: 2, resources: 0 });
      assert.deepEqual([(await s.message(1))?.raw, (await s.message(1))?.status], ['', 'applied']);
      // the error queue keeps its text for the replay; the record and the ledger stay
      assert.ok(((await s.message(3))?.raw ?? '').startsWith('MSH|'));
      assert.equal((await s.records({})).length, 1);
      assert.deepEqual(
        (await s.orders({})).orders.map((o) => [o.state, o.messageIds]),
        [['reported', [1, 3]]],
      );
      assert.deepEqual(await s.purgeRaw(new Date(NOW.getTime() + 1), NOW), { messages: 0, resources: 0 });
      assert.ok((await s.sizeBytes()) > 0);
      await s.ping();
    });

    withStore('retention: the space of the purged text is given back (the store size drops)', async (s, db) => {
      // an autovacuum ANALYZE started by the purge would hold a snapshot that keeps the purged
      // text from being removed until it ends (on a loaded machine, past our VACUUM): the
      // reclaim is tested alone
      if (name === 'PostgreSQL') await db.query('ALTER TABLE inbound_messages SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)');
      // 120 messages with 24 KB of text each that neither store can compress much
      let seed = 7;
      const noise = () => Array.from({ length: 24_000 }, () => String.fromCharCode(65 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 26))).join('');
      for (let i = 0; i < 120; i++) {
        const id = `MSG${1000 + i}`;
        const r = await ingest(s, '01-orm-new.hl7', id, (raw) => `${raw.replace('MSG0001', id).trimEnd()}\rNTE|1||${noise()}\r`);
        assert.equal(r.status, 'applied');
      }
      const full = await s.sizeBytes();
      assert.deepEqual(await s.purgeRaw(new Date(NOW.getTime() + 1), NOW), { messages: 120, resources: 0 });
      // the purge alone leaves the space in the files (free pages, dead tuples)
      const purged = await s.sizeBytes();
      assert.ok(purged >= full - 200_000, `${full} → ${purged} bytes before reclaiming`);
      await s.reclaimSpace();
      const after = await s.sizeBytes();
      assert.ok(full - after > 1_500_000, `${full} → ${after} bytes`);
      // nothing else went: the messages, their outcome and the record stay
      assert.deepEqual([(await s.messages({ limit: 500 })).length, (await s.message(120))?.status, (await s.records({})).length], [120, 'applied', 1]);
      await s.reclaimSpace();
      await s.ping();
    });

    withStore('access audit: reads are listed in order, a page at a time, by key name', async (s) => {
      await s.audit({ at: NOW, who: 'operate#1', what: 'record 100000|V0001' });
      await s.audit({ at: NOW, who: 'key#2', what: 'transaction T-1' });
      assert.deepEqual(
        (await s.accessLog({})).map((e) => [e.id, e.who, e.what, e.at]),
        [
          [1, 'operate#1', 'record 100000|V0001', NOW.toISOString()],
          [2, 'key#2', 'transaction T-1', NOW.toISOString()],
        ],
      );
      assert.deepEqual(
        (await s.accessLog({ after: 1, limit: 5 })).map((e) => e.id),
        [2],
      );
    });

    // ---- credentials ----

    withStore('credentials: written once, then only over the version read (compare-and-set); kept across reopen', async (s, db) => {
      const later = new Date(NOW.getTime() + 60_000);
      assert.equal(await s.credential('acr-signin'), undefined);
      assert.equal(await s.putCredential('acr-signin', { sealed: 'v1.a', meta: { subject: '100000_jdoe' }, expiresAt: later }, 0, NOW), 1);
      // a second first write loses: someone else wrote it
      assert.equal(await s.putCredential('acr-signin', { sealed: 'v1.b', meta: {} }, 0, NOW), false);
      assert.equal(await s.putCredential('acr-signin', { sealed: 'v1.c', meta: { subject: '100000_jdoe', rotations: 1 } }, 1, later), 2);
      // a writer that read version 1 is refused, and nothing of its value is kept
      assert.equal(await s.putCredential('acr-signin', { sealed: 'v1.stale', meta: {} }, 1, later), false);
      await s.close();
      const again = await db.open(validator);
      try {
        assert.deepEqual(await again.credential('acr-signin'), {
          name: 'acr-signin',
          sealed: 'v1.c',
          meta: { subject: '100000_jdoe', rotations: 1 },
          version: 2,
          updatedAt: later.toISOString(),
        });
        await again.deleteCredential('acr-signin');
        assert.equal(await again.credential('acr-signin'), undefined);
      } finally {
        await again.close();
      }
    });

    withStore('credentials: a single-use value is taken by one caller only; expired ones are purged by prefix', async (s) => {
      const soon = new Date(NOW.getTime() + 600_000);
      await s.putCredential('acr-pending:a', { sealed: 'v1.a', meta: {}, expiresAt: soon }, 0, NOW);
      await s.putCredential('acr-pending:b', { sealed: 'v1.b', meta: {}, expiresAt: NOW }, 0, NOW);
      await s.putCredential('acr-signin', { sealed: 'v1.s', meta: {}, expiresAt: NOW }, 0, NOW);
      const [one, two] = await Promise.all([s.takeCredential('acr-pending:a'), s.takeCredential('acr-pending:a')]);
      assert.deepEqual([one?.sealed ?? two?.sealed, [one, two].filter((x) => x === undefined).length], ['v1.a', 1]);
      assert.equal(await s.purgeCredentials('acr-pending:', new Date(NOW.getTime() + 1)), 1);
      assert.equal(await s.credential('acr-pending:b'), undefined);
      // another prefix is left alone
      assert.equal((await s.credential('acr-signin'))?.expiresAt, NOW.toISOString());
    });
  });
}
