// Golden tests: every sample, alone and in the sequences the issue names, maps to the checked-in
// output under test/golden/. `npm run golden:update` rewrites them (review the diff!).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMappings, type MappingTables } from './load.js';
import { mapFiles, type MapFilesResult } from './map-files.js';
import { REPO_ROOT } from '../../test/helpers.js';

const GOLDEN = join(REPO_ROOT, 'test', 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const NOW = new Date('2026-11-23T06:00:00Z');
let tables: MappingTables;

const hl7 = (n: string) => join('samples', 'hl7v2', n);
const fhir = (n: string) => join('samples', 'fhir', n);
const HL7 = [
  '01-orm-new.hl7',
  '02-orm-update.hl7',
  '03-orm-cancel.hl7',
  '04-oru-final.hl7',
  '05-omi-new.hl7',
  '06-orm-lf-escapes.hl7',
  '07-orm-two-orders.hl7',
  '08-oru-two-results-no-orc.hl7',
  '09-orm-xr-excluded.hl7',
  '10-orm-cpt-in-obr44.hl7',
];
const FHIR = [
  '01-servicerequest.json',
  '02-encounter.json',
  '03-bundle-transaction.json',
  '04-notification-r4b.json',
  '05-notification-id-only.json',
  '06-servicerequest-update.json',
];

function run(files: string[], trace = false): unknown {
  const r: MapFilesResult = mapFiles(files, { tables, partnerId: '10000', appId: '10019', maxEncounters: 100, now: NOW });
  return trace ? { transactions: r.transactions, problems: r.problems, trace: r.inputs } : { transactions: r.transactions, problems: r.problems };
}

function golden(name: string, actual: unknown): void {
  const file = join(GOLDEN, `${name}.json`);
  const text = JSON.stringify(actual, null, 2) + '\n';
  if (UPDATE) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  assert.ok(existsSync(file), `no golden file ${file}: run npm run golden:update`);
  assert.equal(text, readFileSync(file, 'utf8'), `${name} differs from test/golden/${name}.json`);
}

const consultations = (out: unknown) =>
  (out as { transactions: { Encounters: { Consultations: unknown[] }[] }[] }).transactions.flatMap((t) => t.Encounters.flatMap((e) => e.Consultations));

describe('golden outputs of the samples', () => {
  before(() => {
    process.chdir(REPO_ROOT);
    const r = loadMappings('mappings');
    if (!r.tables) throw new Error(JSON.stringify(r.problems));
    tables = r.tables;
  });

  for (const f of HL7) it(`hl7v2/${f}`, () => golden(`hl7v2-${f.replace(/\.hl7$/, '')}`, run([hl7(f)])));
  for (const f of FHIR) it(`fhir/${f}`, () => golden(`fhir-${f.replace(/\.json$/, '')}`, run([fhir(f)])));
  it('all HL7 samples in order', () => golden('hl7v2-all', run(HL7.map(hl7))));
  it('all FHIR samples in order', () => golden('fhir-all', run(FHIR.map(fhir))));
  it('the ORM with its trace', () => golden('hl7v2-01-orm-new.trace', run([hl7('01-orm-new.hl7')], true)));

  it('ORM then ORU: one encounter, one consultation, completion fields from the ORU', () => {
    const out = run([hl7('01-orm-new.hl7'), hl7('04-oru-final.hl7')]);
    golden('hl7v2-orm-then-oru', out);
    const cs = consultations(out) as Record<string, string>[];
    assert.equal(cs.length, 1);
    assert.equal(cs[0]!.Ordered_Exam_Completed, '1');
    assert.equal(cs[0]!.Exam_Completion_Date, '11/02/2026');
  });

  it('ORU before its ORM gives the same result', () => {
    assert.deepEqual(run([hl7('04-oru-final.hl7'), hl7('01-orm-new.hl7')]), run([hl7('01-orm-new.hl7'), hl7('04-oru-final.hl7')]));
  });

  it('an ORU alone is held as waiting for its order', () => {
    const out = run([hl7('04-oru-final.hl7')]) as { transactions: unknown[]; problems: { code: string; severity: string }[] };
    assert.deepEqual(out.transactions, []);
    assert.deepEqual(
      out.problems.map((p) => [p.code, p.severity]),
      [['MERGE_ORPHAN', 'warning']],
    );
  });

  it('the same message twice gives the same result', () => {
    assert.deepEqual(
      run([hl7('01-orm-new.hl7'), hl7('01-orm-new.hl7'), hl7('04-oru-final.hl7'), hl7('04-oru-final.hl7')]),
      run([hl7('01-orm-new.hl7'), hl7('04-oru-final.hl7')]),
    );
  });

  it('a message with two orders yields two consultations; a result message with two OBRs completes both', () => {
    const out = run([hl7('07-orm-two-orders.hl7'), hl7('08-oru-two-results-no-orc.hl7')]);
    const cs = consultations(out) as Record<string, string>[];
    assert.deepEqual(
      cs.map((c) => [c.CDS_Consultation_Time, c.Name_of_Exam_Ordered, c.Ordered_Exam_Completed, c.Exam_Completion_Date]),
      [
        ['16:05:00', 'CT HEAD WO CONTRAST', '1', '11/02/2026'],
        ['16:07:00', 'CT CHEST WO CONTRAST', '1', '11/02/2026'],
      ],
    );
  });

  it('an order the tables exclude (XR) yields no consultation to send, and a warning naming the row', () => {
    const out = run([hl7('09-orm-xr-excluded.hl7')]) as { transactions: unknown[]; problems: { code: string; severity: string; message: string }[] };
    assert.deepEqual(out.transactions, []);
    assert.deepEqual(
      out.problems.map((p) => [p.code, p.severity, p.message]),
      [
        [
          'MAP_EXCLUDED',
          'warning',
          'Modality: "XR" is known and not reported (mappings/crosswalks/modality.csv:22 says exclude): the order is kept as excluded',
        ],
      ],
    );
  });

  it('Modality from the CPT in OBR-44 when OBR-24 is empty and OBR-4 holds a chargemaster code', () => {
    assert.deepEqual(
      (consultations(run([hl7('10-orm-cpt-in-obr44.hl7')])) as Record<string, string>[]).map((c) => [c.Modality, c.Name_of_Exam_Ordered]),
      [['2', 'MRI L-SPINE WO']],
    );
  });

  it('a cancelled order yields no consultation', () => {
    assert.deepEqual(consultations(run([hl7('03-orm-cancel.hl7')])), []);
  });

  it('HL7 and FHIR for the same order end in one consultation', () => {
    const out = run([fhir('02-encounter.json'), fhir('01-servicerequest.json'), hl7('01-orm-new.hl7')]);
    golden('mixed-fhir-then-hl7', out);
    assert.equal(consultations(out).length, 1);
  });
});
