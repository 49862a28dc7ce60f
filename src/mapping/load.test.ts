// Loading mapping tables: the shipped ones load; every kind of broken edit is refused with
// file:line messages, all at once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadMappings } from './load.js';
import { rulesFor } from './explain.js';
import { parseCrosswalk, lookup } from './crosswalk.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { runs } from '../../test/runs.js';

const SHIPPED = join(REPO_ROOT, 'mappings');
let dir = '';
const fresh = (): string => {
  rmSync(dir, { recursive: true, force: true });
  cpSync(SHIPPED, dir, { recursive: true });
  return dir;
};
const edit = (file: string, from: string, to: string) => {
  const p = join(dir, file);
  const text = readFileSync(p, 'utf8');
  assert.ok(text.includes(from), `${file} has no "${from}"`);
  writeFileSync(p, text.replace(from, to));
};
const located = () => loadMappings(dir).problems.map((p) => `${p.file?.slice(dir.length + 1)}:${p.line}: ${p.message}`);

describe('loadMappings', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-map-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the shipped tables', () => {
    const r = loadMappings(SHIPPED);
    assert.deepEqual(r.problems, []);
    assert.equal(r.tables?.hl7?.rules.length, 21);
    assert.equal(r.tables?.fhir?.rules.length, 16);
  });

  it('refuses bad YAML at its line', () => {
    fresh();
    edit('hl7v2.yaml', '  Patient_Sex:\n    from: PID-8', '  Patient_Sex:\n    from: [PID-8\n');
    assert.deepEqual(located().slice(0, 1), ['hl7v2.yaml:30: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]']);
  });

  it('refuses an unknown CDSR field, an unknown crosswalk, a bad path and a bad key, each at its line', () => {
    fresh();
    edit('hl7v2.yaml', '  Patient_Sex:\n    from: PID-8\n    crosswalk: patient_sex', '  Patient_Gender:\n    from: PID-8\n    crosswalk: patient_sex');
    edit('hl7v2.yaml', '    crosswalk: patient_class', '    crosswalk: patient_klass');
    edit('hl7v2.yaml', '    - from: [OBR-24, IPC-5]', '    - from: [OBR24, IPC-5]');
    edit('fhir.yaml', '    transform: date\n    for: order', '    transform: dates\n    for: order');
    assert.deepEqual(located(), [
      'hl7v2.yaml:27: "Patient_Gender" is not a CDSR encounter or consultation field',
      'hl7v2.yaml:66: unknown crosswalk "patient_klass" (no crosswalks/patient_klass.csv)',
      'hl7v2.yaml:73: "OBR24" is not an HL7 path such as PID-8, OBR-4.2 or OBX[3.1=CDS-GCODE]-5',
      'fhir.yaml:51: fields.CDS_Consultation_Date.transform: Invalid input',
    ]);
  });

  it('refuses a FHIRPath syntax error and an unknown %variable', () => {
    fresh();
    edit('fhir.yaml', '    from: "%patient.gender"', '    from: "%patient.gender.where("');
    edit('fhir.yaml', '    from: "%coverage.type.coding.code"', '    from: "%insurance.type.coding.code"');
    const ps = located();
    assert.equal(ps.length, 2);
    assert.match(ps[0]!, /^fhir\.yaml:33: "%patient\.gender\.where\(" is not a valid FHIRPath expression: /);
    assert.equal(
      ps[1],
      'fhir.yaml:36: "%insurance.type.coding.code": unknown variable %insurance (known: %patient, %encounter, %coverage, %requester, %requesterRole, %organization)',
    );
  });

  it('refuses a crosswalk row that contradicts another, and a value-set and facility problem, all at once', () => {
    fresh();
    appendFileSync(join(dir, 'crosswalks', 'modality.csv'), 'CT,2,contradicts line 3\nCT,1,same as line 3: fine\n');
    appendFileSync(join(dir, 'valuesets', 'Modality.csv'), '1,CT again,,check\n');
    appendFileSync(join(dir, 'facilities.csv'), 'GENHOSP,100001,,\n');
    assert.deepEqual(located(), [
      'crosswalks/modality.csv:77: "CT" is already mapped to "1" on line 10; this row says "2"',
      'valuesets/Modality.csv:10: code "1" is listed twice (first on line 5)',
      'facilities.csv:7: "GENHOSP" is already mapped to facility 100000 on line 6',
    ]);
  });

  it('refuses a broken site rule and field limit at their lines, and keeps the good rules', () => {
    fresh();
    appendFileSync(
      join(dir, 'site-rules.csv'),
      'Exam_Completion_Date,required_when,Ordered_Exam_Completed = 1,,\nModality,required_when,Patient_Sex maybe,,\n',
    );
    writeFileSync(join(dir, 'field-limits.csv'), 'field,max_length,numeric,required,format,max_items\nModality,,,,,2\n');
    assert.deepEqual(located(), [
      'field-limits.csv:2: max_items applies to multi-select fields only; Modality is not one',
      'site-rules.csv:13: when must be "<field> reported", "<field> not reported", "<field> = <value>" or "<field> in <value>|<value>", not "Patient_Sex maybe"',
    ]);
    edit('site-rules.csv', 'Modality,required_when,Patient_Sex maybe,,\n', '');
    writeFileSync(join(dir, 'field-limits.csv'), 'field,max_length\n');
    assert.deepEqual(
      loadMappings(dir).tables?.siteRules.map((r) => [r.field, r.code, r.origin.slice(dir.length + 1)]),
      [
        ['Clinician1_Unique_ID', 'SITE_NOT_NPI', 'site-rules.csv:10'],
        ['Clinician2_Unique_ID', 'SITE_NOT_NPI', 'site-rules.csv:11'],
        ['Exam_Completion_Date', 'CD3005', 'site-rules.csv:12'],
      ],
    );
  });

  it('alternatives, system lists, facilities and senders: each problem at its own line', () => {
    fresh();
    edit(
      'hl7v2.yaml',
      '    - from: OBR-44.1\n      system: OBR-44.3\n      crosswalk: procedure_modality',
      '    - from: OBR-44.1\n      system: [OBR-44.3, OBR 4.3]\n      crosswalk: procedure_modalities',
    );
    edit(
      'hl7v2.yaml',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]',
      '  Name_of_Exam_Ordered:\n    system: OBR-4.3\n    facilities: {a: 1}\n    from: [OBR-4.2, OBR-4.1]',
    );
    assert.deepEqual(located(), ['hl7v2.yaml:86: fields.Name_of_Exam_Ordered.facilities: Invalid input']);
    edit('hl7v2.yaml', '    facilities: {a: 1}\n', '    facilities: [100000]\n    senders: GENHOSP\n');
    assert.deepEqual(located(), [
      'hl7v2.yaml:77: unknown crosswalk "procedure_modalities" (no crosswalks/procedure_modalities.csv)',
      'hl7v2.yaml:76: "OBR 4.3" is not an HL7 path such as PID-8, OBR-4.2 or OBX[3.1=CDS-GCODE]-5',
      'hl7v2.yaml:85: "system" selects crosswalk rows: it needs a "crosswalk"',
    ]);
  });

  it('a rule naming a kind the table does not have, a message type twice, from and constant both', () => {
    fresh();
    edit('hl7v2.yaml', '    transform: date\n    for: order', '    transform: date\n    for: orders');
    edit('hl7v2.yaml', '  - type: OMI^O23', '  - type: ORM^O01');
    edit('hl7v2.yaml', '  CDS_Vendor:\n    from: OBX[3.1=CDS-GCODE]-5', '  CDS_Vendor:\n    constant: G1014\n    from: OBX[3.1=CDS-GCODE]-5');
    assert.deepEqual(located(), ['hl7v2.yaml:103: fields.CDS_Vendor: a rule needs "from" or "constant" (one of them)']);
    edit('hl7v2.yaml', '    constant: G1014\n', '');
    assert.deepEqual(located(), ['hl7v2.yaml:9: ORM^O01 is listed twice', 'hl7v2.yaml:54: "orders" is not a kind of this table (order, result)']);
  });
});

describe('the guess option', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-map-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the shipped table marks Exam_Completion_Date per path', () => {
    fresh();
    const rule = loadMappings(dir).tables?.hl7?.rules.find((r) => r.field === 'Exam_Completion_Date');
    assert.deepEqual(rule?.guess, undefined);
    assert.deepEqual(
      [...(rule?.guesses ?? [])],
      [
        ['OBR-22', 'OBR-22 is the result report time, not the exam completion'],
        ['OBR-7', 'OBR-7 is the observation start time, not the exam completion'],
      ],
    );
  });

  it('a rule-wide reason; an empty reason, a path not in "from" and a guess without "from" are refused at their lines', () => {
    fresh();
    edit(
      'hl7v2.yaml',
      '  Place_of_Service:\n    from: PV1-2\n',
      '  Place_of_Service:\n    from: PV1-2\n    guess: "PV1-2 is the patient class, not the place of service"\n',
    );
    const t = loadMappings(dir).tables?.hl7?.rules.find((r) => r.field === 'Place_of_Service');
    assert.equal(t?.guess, 'PV1-2 is the patient class, not the place of service');
    edit('hl7v2.yaml', '    guess: "PV1-2 is the patient class, not the place of service"\n', '    guess: " "\n');
    edit(
      'hl7v2.yaml',
      '      OBR-7: "OBR-7 is the observation start time, not the exam completion"\n',
      '      OBR-7: "OBR-7 is the observation start time, not the exam completion"\n      OBR-8: "not a path of the rule"\n',
    );
    edit('hl7v2.yaml', '  CDS_Vendor:\n    from: OBX[3.1=CDS-GCODE]-5\n', '  CDS_Vendor:\n    constant: G1014\n    guess: {OBR-4: "no from"}\n');
    const lineOf = (start: string) =>
      readFileSync(join(dir, 'hl7v2.yaml'), 'utf8')
        .split('\n')
        .findIndex((l) => l.startsWith(start)) + 1;
    assert.deepEqual(located(), [`hl7v2.yaml:${lineOf('    guess: " "')}: fields.Place_of_Service.guess: a guess needs its reason`]);
    edit('hl7v2.yaml', '    guess: " "\n', '');
    assert.deepEqual(located(), [
      `hl7v2.yaml:${lineOf('      OBR-8:')}: guess names "OBR-8": not a path of its "from" (OBR-22, OBR-7)`,
      `hl7v2.yaml:${lineOf('    guess: {OBR-4')}: guess names "OBR-4": the rule has no "from"`,
    ]);
  });
});

describe('when conditions and application senders', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-map-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const lineOf = (file: string, start: string) =>
    readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .findIndex((l) => l.startsWith(start)) + 1;

  it('compiles a rule-level and a candidate-level when, each condition with its line', () => {
    fresh();
    edit(
      'hl7v2.yaml',
      '      - OBR-7\n      - ORC-9\n    transform: time',
      '      - OBR-7\n      - path: ORC-9\n        when: ORC-1 in [NW, XO]\n    transform: time',
    );
    edit(
      'hl7v2.yaml',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]\n    when:\n      - ORC-1 != CA\n      - PV1-2 exists',
    );
    const rules = loadMappings(dir).tables?.hl7?.rules ?? [];
    const time = rules.find((r) => r.field === 'CDS_Consultation_Time');
    assert.deepEqual(
      time?.candidates.map((c) => [c.text, c.when?.map((w) => [w.text, w.origin.slice(dir.length + 1), w.condition])]),
      [
        ['OBX[3.1=CDS-DTTM]-5', undefined],
        ['TQ1-7.1', undefined],
        ['OBR-6', undefined],
        ['OBR-7', undefined],
        ['ORC-9', [['ORC-1 in [NW, XO]', `hl7v2.yaml:${lineOf('hl7v2.yaml', '        when: ORC-1 in')}`, { path: 'ORC-1', op: 'in', values: ['NW', 'XO'] }]]],
      ],
    );
    const exam = rules.find((r) => r.field === 'Name_of_Exam_Ordered');
    assert.deepEqual(
      exam?.when?.map((w) => [w.text, w.origin.slice(dir.length + 1)]),
      [
        ['ORC-1 != CA', `hl7v2.yaml:${lineOf('hl7v2.yaml', '      - ORC-1 != CA')}`],
        ['PV1-2 exists', `hl7v2.yaml:${lineOf('hl7v2.yaml', '      - PV1-2 exists')}`],
      ],
    );
    // what a CD3001 names as tried: the conditions with their paths, in one spelling
    const t = loadMappings(dir).tables!;
    assert.deepEqual(
      ['CDS_Consultation_Time', 'Name_of_Exam_Ordered'].flatMap((f) => rulesFor({ ...t, fhir: undefined }, f).map((r) => r.slice(dir.length + 1))),
      [
        `hl7v2.yaml:${lineOf('hl7v2.yaml', '  CDS_Consultation_Time:')} (OBX[3.1=CDS-DTTM]-5, TQ1-7.1, OBR-6, OBR-7, ORC-9 when ORC-1 in [NW, XO])`,
        `hl7v2.yaml:${lineOf('hl7v2.yaml', '  Name_of_Exam_Ordered:')} (OBR-4.2, OBR-4.1; when ORC-1 != CA and PV1-2 exists)`,
      ],
    );
  });

  it('refuses a bad operator, an empty list, a bad path, a constant and a malformed { path, when }, each at its line', () => {
    fresh();
    edit(
      'hl7v2.yaml',
      '      - OBR-7\n      - ORC-9\n    transform: time',
      '      - OBR-7\n      - path: ORC-9\n        when: ORC-1 is NW\n    transform: time',
    );
    edit(
      'hl7v2.yaml',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]\n    when:\n      - ORC-1 in []\n      - ORC1 = NW',
    );
    edit('fhir.yaml', '    from: status\n    crosswalk: exam_completed', '    from: status\n    when: "\'active\' = active"\n    crosswalk: exam_completed');
    edit('fhir.yaml', '    from: "%patient.gender"', '    from: "%patient.gender"\n    when: "%insurance.type = A"');
    assert.deepEqual(located(), [
      `hl7v2.yaml:${lineOf('hl7v2.yaml', '        when: ORC-1 is NW')}: when "ORC-1 is NW" is not a condition: write <path> = <value>, <path> != <value>, <path> in [<value>, …], <path> not in [<value>, …], <path> exists or <path> empty`,
      `hl7v2.yaml:${lineOf('hl7v2.yaml', '      - ORC-1 in []')}: when "ORC-1 in []": the list after in is empty`,
      `hl7v2.yaml:${lineOf('hl7v2.yaml', '      - ORC1 = NW')}: when "ORC1 = NW": "ORC1" is not an HL7 path such as PID-8, OBR-4.2 or OBX[3.1=CDS-GCODE]-5`,
      `fhir.yaml:${lineOf('fhir.yaml', '    when: "%insurance')}: when "%insurance.type = A": "%insurance.type": unknown variable %insurance (known: %patient, %encounter, %coverage, %requester, %requesterRole, %organization)`,
      `fhir.yaml:${lineOf('fhir.yaml', "    when: \"'active'")}: when "'active' = active": 'active' is a constant, not a path of the message: the condition would always give the same answer`,
    ]);
    fresh();
    edit('hl7v2.yaml', '      - OBR-7\n      - ORC-9\n    transform: time', '      - OBR-7\n      - path: ORC-9\n        when: []\n    transform: time');
    edit(
      'hl7v2.yaml',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]',
      '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, { path: OBR-4.1, whn: ORC-1 = NW }]',
    );
    edit('fhir.yaml', '    from: status\n    crosswalk: exam_completed', '    from: status\n    when: ""\n    crosswalk: exam_completed');
    assert.deepEqual(located(), [
      `hl7v2.yaml:${lineOf('hl7v2.yaml', '        when: []')}: fields.CDS_Consultation_Time.from.4.when: "when" needs at least one condition`,
      `hl7v2.yaml:${lineOf('hl7v2.yaml', '    from: [OBR-4.2, { path')}: fields.Name_of_Exam_Ordered.from.1: Unrecognized key: "whn"`,
      `fhir.yaml:${lineOf('fhir.yaml', '    when: ""')}: fields.Ordered_Exam_Completed.when: a condition may not be empty`,
    ]);
  });

  it('a sender APPLICATION@FACILITY needs both parts and a table that reads the application', () => {
    fresh();
    edit('hl7v2.yaml', '  Patient_Sex:\n    from: PID-8', '  Patient_Sex:\n    from: PID-8\n    senders: [RIS1@GENHOSP, GENHOSP]');
    assert.deepEqual([...(loadMappings(dir).tables?.hl7?.rules.find((r) => r.field === 'Patient_Sex')?.senders ?? [])], ['RIS1@GENHOSP', 'GENHOSP']);
    edit('hl7v2.yaml', '    senders: [RIS1@GENHOSP, GENHOSP]', '    senders: [RIS1@GENHOSP, "@GENHOSP", RIS1@]');
    edit('hl7v2.yaml', '  application: MSH-3.1                   # the sending application, for senders: [RIS1@GENHOSP]\n', '');
    const at = lineOf('hl7v2.yaml', '    senders:');
    assert.deepEqual(located(), [
      `hl7v2.yaml:${at}: sender "RIS1@GENHOSP" names an application: the table needs keys.application (the path of the sending application, e.g. MSH-3.1)`,
      `hl7v2.yaml:${at}: sender "@GENHOSP": write APPLICATION@FACILITY (e.g. RIS1@GENHOSP), both parts filled`,
      `hl7v2.yaml:${at}: sender "RIS1@": write APPLICATION@FACILITY (e.g. RIS1@GENHOSP), both parts filled`,
    ]);
  });
});

describe('crosswalks', () => {
  const cw = parseCrosswalk('m', 'm.csv', 'source,acr_code,facility,system\nCT,1,,\nct,9,200000,\nCT,7,200000,LOCAL\nXR,,,\n').crosswalk!;

  it('prefers the row naming the facility and system, matches without case', () => {
    assert.equal(lookup(cw, 'CT')?.acrCode, '1');
    assert.equal(lookup(cw, ' ct ', { facility: '200000' })?.acrCode, '9');
    assert.equal(lookup(cw, 'CT', { facility: '200000', system: 'LOCAL' })?.acrCode, '7');
    assert.equal(lookup(cw, 'CT', { facility: '100000', system: 'LOCAL' })?.acrCode, '1');
    assert.equal(lookup(cw, 'XR')?.acrCode, '');
    assert.equal(lookup(cw, 'MR'), undefined);
  });

  it('never throws on random CSV (fuzz)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => void parseCrosswalk('x', 'x.csv', `source,acr_code\n${s}`)),
      { numRuns: runs(500) },
    );
  });
});
