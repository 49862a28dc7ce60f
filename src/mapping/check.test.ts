// check-mappings' checks beyond loading: crosswalk targets and rule constants and defaults against
// the value sets (warning while a value set says "enforce: no"), facility and system qualifiers, rule facilities and senders.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { checkMappings, systemProblem } from './check.js';
import { loadMappings } from './load.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { runs } from '../../test/runs.js';

const SHIPPED = join(REPO_ROOT, 'mappings');
let dir = '';
const fresh = () => {
  rmSync(dir, { recursive: true, force: true });
  cpSync(SHIPPED, dir, { recursive: true });
};
const edit = (file: string, from: string, to: string) => {
  const p = join(dir, file);
  const text = readFileSync(p, 'utf8');
  assert.ok(text.includes(from), `${file} has no "${from}"`);
  writeFileSync(p, text.replace(from, to));
};
const lines = (file: string) => readFileSync(join(dir, file), 'utf8').split('\n').length - 1;
const found = () => {
  const t = loadMappings(dir);
  assert.deepEqual(t.problems, []);
  return checkMappings(t.tables!).map((p) => `${p.severity} ${p.file?.slice(dir.length + 1)}:${p.line}: ${p.message}`);
};

describe('checkMappings', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-check-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds nothing in the shipped tables', () => {
    const t = loadMappings(SHIPPED).tables!;
    assert.deepEqual(checkMappings(t), []);
  });

  it('a DICOM code where an ACR code belongs: a warning under "enforce: no", an error under "enforce: yes"', () => {
    fresh();
    appendFileSync(join(dir, 'crosswalks', 'modality.csv'), 'MRI,MR,the DICOM code by mistake\n');
    const at = lines('crosswalks/modality.csv');
    assert.deepEqual(found(), [
      `warning crosswalks/modality.csv:${at}: Modality: "MR" (for "MRI") is not in ${join(dir, 'valuesets', 'Modality.csv')} (codes: 1, 2, 3, 4, 88); a warning while that file says "enforce: no"`,
    ]);
    edit('valuesets/Modality.csv', '# enforce: no', '# enforce: yes');
    assert.deepEqual(found(), [
      `error crosswalks/modality.csv:${at}: Modality: "MR" (for "MRI") is not in ${join(dir, 'valuesets', 'Modality.csv')} (codes: 1, 2, 3, 4, 88)`,
    ]);
  });

  it('a range target is checked too; exclude and empty targets are not', () => {
    fresh();
    edit('valuesets/Modality.csv', '# enforce: no', '# enforce: yes');
    appendFileSync(join(dir, 'crosswalks', 'procedure_modality.csv'), '0100T-0102T,CT,,CPT,\n0200T,exclude,,CPT,\n0201T,,,CPT,\n');
    const at = lines('crosswalks/procedure_modality.csv') - 2;
    assert.deepEqual(found(), [
      `error crosswalks/procedure_modality.csv:${at}: Modality: "CT" (for "0100T-0102T") is not in ${join(dir, 'valuesets', 'Modality.csv')} (codes: 1, 2, 3, 4, 88)`,
    ]);
  });

  it("a rule's constant or default outside the value set, as its transforms leave it, at the rule line; a constant a crosswalk reads is the crosswalk's", () => {
    fresh();
    edit(
      'hl7v2.yaml',
      '  Medicare_Modifier:\n    from: OBX[3.1=CDS-MODIFIER]-5\n    transform: [trim, upper]\n',
      '  Medicare_Modifier:\n    from: OBX[3.1=CDS-MODIFIER]-5\n    transform: [trim, upper]\n    default: " mz"\n',
    );
    edit('hl7v2.yaml', '  CDS_Vendor:\n    from: OBX[3.1=CDS-GCODE]-5\n', '  CDS_Vendor:\n    constant: G9999\n');
    const line = (field: string) => readFileSync(join(dir, 'hl7v2.yaml'), 'utf8').split('\n').indexOf(`  ${field}:`) + 1;
    assert.deepEqual(found(), [
      `error hl7v2.yaml:${line('CDS_Vendor')}: CDS_Vendor: the constant "G9999" is not in ${join(dir, 'valuesets', 'CDS_Vendor.csv')}`,
      `warning hl7v2.yaml:${line('Medicare_Modifier')}: Medicare_Modifier: the default "MZ" is not in ${join(dir, 'valuesets', 'Medicare_Modifier.csv')}; a warning while that file says "enforce: no"`,
    ]);
    fresh();
    edit('hl7v2.yaml', '  Patient_Sex:\n    from: PID-8\n', '  Patient_Sex:\n    constant: female\n');
    assert.deepEqual(found(), []);
  });

  it('an unknown facility and a malformed system in crosswalk rows, each at its line', () => {
    fresh();
    appendFileSync(
      join(dir, 'crosswalks', 'procedure_modality.csv'),
      '70450,1,999999,CPT,no such facility\n70460,1,,http//loinc.org,\n70470,1,,urn:oid:2.16.840.01.113883,\n70480,1,,CPT code,\n',
    );
    const at = lines('crosswalks/procedure_modality.csv') - 3;
    assert.deepEqual(found(), [
      `error crosswalks/procedure_modality.csv:${at}: facility "999999" is no facility_id of facilities.csv`,
      `error crosswalks/procedure_modality.csv:${at + 1}: system "http//loinc.org" is not a code system: use a URI (http://loinc.org), an OID (urn:oid:2.16.840.1.113883.6.12) or a short name such as CPT`,
      `error crosswalks/procedure_modality.csv:${at + 2}: system "urn:oid:2.16.840.01.113883" is not a valid OID (digits separated by dots, no leading zeros)`,
      `error crosswalks/procedure_modality.csv:${at + 3}: system "CPT code" is not a code system: use a URI (http://loinc.org), an OID (urn:oid:2.16.840.1.113883.6.12) or a short name such as CPT`,
    ]);
  });

  it('a rule limited to an unknown facility (error) or sender (warning), at the rule line', () => {
    fresh();
    edit(
      'hl7v2.yaml',
      '  Patient_Sex:\n    from: PID-8\n    crosswalk: patient_sex',
      '  Patient_Sex:\n    from: PID-8\n    crosswalk: patient_sex\n    facilities: [100000, 123456]\n    senders: NOBODY',
    );
    assert.deepEqual(found(), [
      'error hl7v2.yaml:27: Patient_Sex: facility "123456" is no facility_id of facilities.csv',
      'warning hl7v2.yaml:27: Patient_Sex: sender "NOBODY" has no row in facilities.csv',
    ]);
  });
});

describe('checkMappings: when conditions and application senders', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-check-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const lineOf = (file: string, start: string) =>
    readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .findIndex((l) => l.startsWith(start)) + 1;

  it('a value listed twice, and two conditions on one path that want different values: warnings at the condition lines', () => {
    fresh();
    edit(
      'hl7v2.yaml',
      '      - OBR-7\n      - ORC-9\n    transform: time',
      '      - OBR-7\n      - path: ORC-9\n        when: ORC-1 in [NW, XO, nw]\n    transform: time',
    );
    edit(
      'hl7v2.yaml',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]\n    when:\n      - ORC-1 = NW\n      - PV1-2 exists\n      - ORC-1 = XO',
    );
    edit(
      'fhir.yaml',
      '    from: status\n    crosswalk: exam_completed',
      '    from: status\n    when: [status = active, status = completed]\n    crosswalk: exam_completed',
    );
    assert.deepEqual(found(), [
      `warning fhir.yaml:${lineOf('fhir.yaml', '    when: [status')}: Ordered_Exam_Completed: when "status = active" and "status = completed" must both hold, which they do only if status repeats with both; for either, write "status in [active, completed]"`,
      `warning hl7v2.yaml:${lineOf('hl7v2.yaml', '        when: ORC-1 in')}: CDS_Consultation_Time ORC-9: when "ORC-1 in [NW, XO, nw]" lists NW twice`,
      `warning hl7v2.yaml:${lineOf('hl7v2.yaml', '      - ORC-1 = XO')}: Name_of_Exam_Ordered: when "ORC-1 = NW" and "ORC-1 = XO" must both hold, which they do only if ORC-1 repeats with both; for either, write "ORC-1 in [NW, XO]"`,
    ]);
  });

  it('a sender APPLICATION@FACILITY whose facility has no row: a warning naming the facility', () => {
    fresh();
    edit(
      'hl7v2.yaml',
      '  Patient_Sex:\n    from: PID-8\n    crosswalk: patient_sex',
      '  Patient_Sex:\n    from: PID-8\n    crosswalk: patient_sex\n    senders: [RIS1@GENHOSP, RIS1@NORTH]',
    );
    assert.deepEqual(found(), ['warning hl7v2.yaml:27: Patient_Sex: sender "RIS1@NORTH" has no row in facilities.csv (for facility "NORTH")']);
  });
});

describe('systemProblem', () => {
  it('takes URIs, OIDs and short names; refuses the rest', () => {
    for (const ok of [
      'http://loinc.org',
      'http://www.ama-assn.org/go/cpt',
      'urn:oid:2.16.840.1.113883.6.12',
      '2.16.840.1.113883.6.1',
      'CPT',
      'C4',
      'LN',
      'DCM',
      'L',
      '99LOCAL',
    ]) {
      assert.equal(systemProblem(ok), undefined, ok);
    }
    for (const bad of ['http://', 'urn:oid:1..2', '2.16.840.01', 'urn:oid:x', 'CPT 4', 'a/b', 'x'.repeat(21), 'http://loinc .org']) {
      assert.notEqual(systemProblem(bad), undefined, bad);
    }
  });

  it('never throws (fuzz)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => void systemProblem(s)),
      { numRuns: runs(500) },
    );
  });
});
