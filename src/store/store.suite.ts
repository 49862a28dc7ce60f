// The contract every Store keeps, run against each implementation (kysely's model: one suite,
// every dialect): migrations, one transaction per message, dedupe, merge and record states,
// outbound bookkeeping, reopening.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import type { Store } from './store.js';
import { REPO_ROOT } from '../../test/helpers.js';
import type { Transaction } from '../cdsr/schema.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const hl7 = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const meta = (raw: string, controlId: string) => ({ channel: 'hl7v2' as const, sender: 'EHR^GENHOSP', controlId, contentType: 'application/hl7-v2', raw, receivedAt: NOW });

export interface StoreBacking {
  /** Opens the same backing every time (a file, a schema), fresh for this suite. */
  open(validator: CdsrValidator): Promise<Store>;
  /** The schema versions recorded, read directly. */
  versions(): Promise<number[]>;
  cleanup(): Promise<void>;
}

export function storeSuite(name: string, backing: () => Promise<StoreBacking | string>): void {
  describe(`${name}: the Store contract`, () => {
  let b: StoreBacking;
  let skipped = '';
  let tables: MappingTables;
  let validator: CdsrValidator;
  const open = () => b.open(validator);
  before(async () => {
    const r = await backing();
    if (typeof r === 'string') skipped = r;
    else b = r;
    tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    validator = new CdsrValidator({ now: NOW, valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });
  });
  after(async () => {
    if (!skipped) await b.cleanup();
  });

  it('migrates once, and again on reopen without harm', async (t) => {
    if (skipped) return t.skip(skipped);
    const s = await open();
    await s.close();
    const s2 = await open();
    await s2.close();
    assert.deepEqual(await b.versions(), [1, 2, 3, 4]);
  });

  it('an ORU alone is stored and waits; its ORM completes the record, which becomes ready', async (t) => {
    if (skipped) return t.skip(skipped);
    const s = await open();
    try {
      const oru = hl7('04-oru-final.hl7');
      assert.deepEqual(await s.ingest(meta(oru, 'MSG0004'), mapHl7Text(oru, tables)), { messageId: 1, status: 'applied' });
      assert.deepEqual(await s.records({}), []);
      const orm = hl7('01-orm-new.hl7');
      await s.ingest(meta(orm, 'MSG0001'), mapHl7Text(orm, tables));
      const recs = await s.records({});
      assert.deepEqual(recs, [{ encounterKey: '100000|V0001', facilityId: '100000', encounterId: 'V0001', consultationKey: '11/02/2026 09:30:15', state: 'ready', missing: [] }]);
      const rec = await s.record('100000|V0001');
      assert.equal(rec?.consultations[0]?.fields.Ordered_Exam_Completed?.value, '1');
      assert.equal(rec?.consultations[0]?.fields.Ordered_Exam_Completed?.source, 'MSG0004');
      // the same content again is a duplicate of the first, and changes nothing
      assert.deepEqual(await s.ingest(meta(orm, 'MSG0001'), mapHl7Text(orm, tables)), { messageId: 3, status: 'duplicate', duplicateOf: 2 });
    } finally {
      await s.close();
    }
  });

  it('a record missing a required field is incomplete and lists it', async (t) => {
    if (skipped) return t.skip(skipped);
    const s = await open();
    try {
      const raw = hl7('05-omi-new.hl7').replace('|E|ED^BAY3', '||ED^BAY3');
      await s.ingest(meta(raw, 'MSG0005'), mapHl7Text(raw, tables));
      const recs = await s.records({ state: 'incomplete' });
      assert.deepEqual(recs.map((r) => [r.consultationKey, r.missing]), [['11/02/2026 13:55:12', ['Place_of_Service']]]);
    } finally {
      await s.close();
    }
  });

  it('keeps what it stored across a reopen', async (t) => {
    if (skipped) return t.skip(skipped);
    const s = await open();
    try {
      assert.equal((await s.messages({})).length, 4);
      assert.equal((await s.record('100000|V0001'))?.consultations.length, 2);
    } finally {
      await s.close();
    }
  });

  it('outbound: a submitted record keeps its state until it changes; results are recorded per record', async (t) => {
    if (skipped) return t.skip(skipped);
    const s = await open();
    try {
      const [ready] = await s.wireEncounters('ready', 10);
      assert.ok(ready);
      const body = { Transaction_ID: 'T-SUITE', Transaction_DateTime: '2026-11-23T06:00:00', Num_of_Encounters_Included: 1, Facility_ID: '100000', PartnerID: '10000', AppID: '10019', CDSR_File_Version_Num: '1.0', Encounters: [ready.wire] } as Transaction;
      await s.createTransaction(body, [ready], NOW);
      assert.deepEqual((await s.records({ state: 'submitted' })).map((r) => r.consultationKey), [ready.consultationKey]);
      // the same content again: still submitted
      const orm = hl7('01-orm-new.hl7').replace('MSG0001', 'MSG0011');
      await s.ingest(meta(orm, 'MSG0011'), mapHl7Text(orm, tables));
      assert.deepEqual((await s.records({ state: 'submitted' })).length, 1);
      await s.updateTransaction('T-SUITE', { status: 'done', attempted: true }, NOW);
      await s.recordResults('T-SUITE', [{ ...ready, result: 'rejected', problems: [{ code: 'CD2053', message: 'x', severity: 'error', scope: 'transaction', path: '' }] }], NOW);
      const tx = await s.transaction('T-SUITE');
      assert.deepEqual([tx?.status, tx?.attempts, tx?.records.map((r) => r.result)], ['done', 1, ['rejected']]);
      assert.deepEqual((await s.records({ state: 'rejected' })).length, 1);
      assert.deepEqual((await s.transactions({ status: 'done' })).map((x) => x.transactionId), ['T-SUITE']);
      // a change makes it ready again
      const changed = hl7('01-orm-new.hl7').replace('MSG0001', 'MSG0012').replace('20261102093500', '20261102100000').replace('|ME|', '|MF|').replace('CDS-MODIFIER^AUC HCPCS modifier||ME', 'CDS-MODIFIER^AUC HCPCS modifier||MF');
      await s.ingest(meta(changed, 'MSG0012'), mapHl7Text(changed, tables));
      assert.deepEqual((await s.records({ state: 'ready' })).map((r) => r.consultationKey), [ready.consultationKey]);
      const counts = await s.counts();
      assert.deepEqual(counts.transactions, { done: 1 });
    } finally {
      await s.close();
    }
  });
  });
}
