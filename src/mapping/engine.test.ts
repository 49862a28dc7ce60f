// The rule engine over the shipped tables and over edited copies: field alternatives (Modality
// from the procedure code when OBR-24 says nothing usable), exclusion by a crosswalk row (kept,
// marked, never sent), encounter-key fallbacks, FHIR codings by system, and rules limited to
// facilities or senders.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResourcePool, type FhirResource } from '../fhir/intake.js';
import { loadMappings, type MappingTables } from './load.js';
import { mapFhirResource } from './map-fhir.js';
import { mapHl7Text } from './map-hl7.js';
import { MergeState } from './merge.js';
import type { MapOutcome } from './outcome.js';
import type { PartialRecord } from './record.js';
import { sendableConsultations } from './wire.js';
import { REPO_ROOT } from '../../test/helpers.js';

const SHIPPED = join(REPO_ROOT, 'mappings');
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const OBR = 'OBR|1|ORD1001^EHR|ACC2001^RIS|70450^CT HEAD WO CONTRAST^CPT|||20261102093015|||||||||1234567893^ORDER^ANN^^^^^^NPI||||||||CT|SC';
let tables: MappingTables;

const records = (o: MapOutcome): PartialRecord[] => {
  assert.equal(o.disposition, 'mapped', JSON.stringify(o.problems));
  return o.disposition === 'mapped' ? [...o.records] : [];
};
const one = (o: MapOutcome): PartialRecord => records(o)[0]!;
const withObr = (obr: string, msg = ORM) => mapHl7Text(msg.replace(OBR, obr), tables);
const traceOf = (r: PartialRecord, field: string) =>
  r.trace.filter((t) => t.field === field).map((t) => `${t.path} ${t.raw} → ${t.value} (${t.crosswalk ?? ''})`.replace(SHIPPED + '/', ''));
const lineOf = (file: string, start: string) =>
  readFileSync(join(SHIPPED, file), 'utf8')
    .split('\n')
    .findIndex((l) => l.startsWith(start)) + 1;

before(() => {
  const t = loadMappings(SHIPPED).tables;
  assert.ok(t);
  tables = t;
});

/** The shipped tables with an edit, in a folder of their own for the describe block that calls this (loaded before its tests, removed after). */
function editedTables(edit: (dir: string) => void): () => MappingTables {
  let dir = '';
  let edited: MappingTables | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-engine-'));
    cpSync(SHIPPED, dir, { recursive: true });
    edit(dir);
    const t = loadMappings(dir);
    assert.deepEqual(t.problems, []);
    edited = t.tables;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return () => {
    if (!edited) throw new Error('the edited tables are read before they were loaded');
    return edited;
  };
}

describe('HL7 Modality alternatives', () => {
  it('OBR-24 when it maps (the first alternative)', () => {
    const r = one(mapHl7Text(ORM, tables));
    assert.equal(r.consultationFields.Modality, '1');
    assert.deepEqual(traceOf(r, 'Modality'), [`OBR-24 CT → 1 (crosswalks/modality.csv:${lineOf('crosswalks/modality.csv', 'CT,')})`]);
  });

  it('no OBR-24: the CPT in OBR-4 through its range row, the trace naming the range', () => {
    const r = one(withObr(OBR.replace('70450^CT HEAD WO CONTRAST^CPT', '74177^CT ABD PELVIS W CONTRAST^CPT').replace('|CT|SC', '||SC')));
    assert.equal(r.consultationFields.Modality, '1');
    assert.deepEqual(traceOf(r, 'Modality'), [
      `OBR-4.1 74177 → 1 (crosswalks/procedure_modality.csv:${lineOf('crosswalks/procedure_modality.csv', '74150-74178')} (range 74150-74178))`,
    ]);
  });

  it('a chargemaster code in OBR-4 and the CPT in OBR-44: the CPT', () => {
    const obr =
      OBR.replace('70450^CT HEAD WO CONTRAST^CPT', 'CHG881^MRI L SPINE^L').replace('|CT|SC', '||SC') + '|||||||||||||||||||72148^MRI LUMBAR SPINE WO^C4';
    const r = one(withObr(obr));
    assert.equal(r.consultationFields.Modality, '2');
    assert.deepEqual(traceOf(r, 'Modality'), [
      `OBR-44.1 72148 → 2 (crosswalks/procedure_modality.csv:${lineOf('crosswalks/procedure_modality.csv', '72141-72159')} (range 72141-72159))`,
    ]);
  });

  it('a Category III code (0042T) maps through its own row', () => {
    const r = one(withObr(OBR.replace('70450^CT HEAD WO CONTRAST^CPT', '0042T^CT PERFUSION^CPT').replace('|CT|SC', '||SC')));
    assert.equal(r.consultationFields.Modality, '1');
  });

  it('an unknown OBR-24 with a mapped CPT: the CPT, and the passed-over code stays visible as a warning', () => {
    const o = withObr(OBR.replace('|CT|SC', '|ZZ|SC'));
    assert.equal(one(o).consultationFields.Modality, '1');
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.severity, p.source, p.message.replace(SHIPPED + '/', '')]),
      [['MAP_UNMAPPED_CODE', 'warning', 'OBR-24', 'Modality: no row for "ZZ" in crosswalks/modality.csv; add a row: ZZ,<ACR code>']],
    );
  });

  it('RAD (a section without a modality) says nothing: the CPT decides, no problem', () => {
    const o = withObr(OBR.replace('|CT|SC', '|RAD|SC'));
    assert.equal(one(o).consultationFields.Modality, '1');
    assert.deepEqual(o.problems, []);
  });
});

describe('exclusion: known, not advanced imaging', () => {
  it('an XR order is kept as a consultation marked by its row, and never sent', () => {
    const o = withObr(OBR.replace('70450^CT HEAD WO CONTRAST^CPT', '71046^XR CHEST 2 VIEWS^CPT').replace('|CT|SC', '|XR|SC'));
    const r = one(o);
    const xrLine = lineOf('crosswalks/modality.csv', 'XR,');
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.severity, p.source, p.message.replace(SHIPPED + '/', '')]),
      [
        [
          'MAP_EXCLUDED',
          'warning',
          'OBR-24',
          `Modality: "XR" is known and not reported (crosswalks/modality.csv:${xrLine} says exclude): the order is kept as excluded`,
        ],
      ],
    );
    assert.deepEqual(
      { ...r.excluded, rule: r.excluded?.rule.replace(SHIPPED + '/', ''), crosswalk: r.excluded?.crosswalk.replace(SHIPPED + '/', '') },
      {
        rule: `hl7v2.yaml:${lineOf('hl7v2.yaml', '    - from: [OBR-24, IPC-5]')}`,
        crosswalk: `crosswalks/modality.csv:${xrLine}`,
        raw: 'XR',
      },
    );
    assert.equal(r.consultationFields.Modality, undefined);
    const s = new MergeState();
    assert.equal(s.apply(r).status, 'applied');
    const enc = [...s.encounters.values()][0]!;
    const cons = [...enc.consultations.values()][0]!;
    assert.equal(cons.cancelled?.value, 'cancelled');
    assert.equal(cons.cancelled?.rule?.replace(SHIPPED + '/', ''), `hl7v2.yaml:${lineOf('hl7v2.yaml', '    - from: [OBR-24, IPC-5]')} excluded "XR"`);
    assert.equal(cons.cancelled?.crosswalk?.replace(SHIPPED + '/', ''), `crosswalks/modality.csv:${xrLine}`);
    assert.deepEqual(sendableConsultations(enc), []);
  });

  it('a later update to an advanced modality brings the order back', () => {
    const s = new MergeState();
    s.apply(one(withObr(OBR.replace('|CT|SC', '|US|SC'))));
    s.apply(one(withObr(OBR, ORM.replace('20261102093500', '20261102100000').replace('MSG0001', 'MSG0002'))));
    const enc = [...s.encounters.values()][0]!;
    assert.deepEqual(
      sendableConsultations(enc).map((c) => c.cons.fields.Modality?.value),
      ['1'],
    );
  });

  it('an XR CPT without OBR-24 is excluded by its range row', () => {
    const r = one(withObr(OBR.replace('70450^CT HEAD WO CONTRAST^CPT', '71046^XR CHEST 2 VIEWS^CPT').replace('|CT|SC', '||SC')));
    assert.equal(
      r.excluded?.crosswalk.replace(SHIPPED + '/', ''),
      `crosswalks/procedure_modality.csv:${lineOf('crosswalks/procedure_modality.csv', '71045-71048')} (range 71045-71048)`,
    );
  });
});

describe('HL7 encounter key, patient class and order status', () => {
  it('no visit number (PV1-19): the patient account number (PID-18)', () => {
    const msg = ORM.replace('|V0001^^^GENHOSP^VN', '|').replace('|1 TEST ST^^ANYTOWN^MI^48000', '|1 TEST ST^^ANYTOWN^MI^48000|||||||ACCT7788^^^GENHOSP^AN');
    assert.equal(one(mapHl7Text(msg, tables)).encounterId, 'ACCT7788');
  });

  for (const [pv12, pos] of [
    ['P', '22'],
    ['B', '21'],
    ['R', '22'],
    ['O', '22'],
    ['I', '21'],
  ] as const) {
    it(`PV1-2 ${pv12} → Place_of_Service ${pos}`, () => {
      assert.equal(one(mapHl7Text(ORM.replace('PV1|1|E|', `PV1|1|${pv12}|`), tables)).consultationFields.Place_of_Service, pos);
    });
  }

  for (const [status, code] of [
    ['R', '2'],
    ['DC', '2'],
    ['CM', '1'],
    ['A', '2'],
  ] as const) {
    it(`OBR-25 empty, ORC-5 ${status} → Ordered_Exam_Completed ${code}`, () => {
      const msg = ORM.replace('ORC|NW|ORD1001^EHR|ACC2001^RIS||SC|', `ORC|NW|ORD1001^EHR|ACC2001^RIS||${status}|`).replace('|CT|SC', '|CT|');
      assert.equal(one(mapHl7Text(msg, tables)).consultationFields.Ordered_Exam_Completed, code);
    });
  }
});

describe('FHIR Modality from any coding the crosswalk knows', () => {
  const sr = JSON.parse(readFileSync(join(REPO_ROOT, 'samples', 'fhir', '01-servicerequest.json'), 'utf8')) as Record<string, unknown>;
  const run = (code: unknown) => mapFhirResource({ ...sr, code } as unknown as FhirResource, new ResourcePool(), tables, { defaultFacilityId: '100000' });

  it('a LOINC coding, after a chargemaster coding the crosswalk does not know', () => {
    const o = run({
      coding: [
        { system: 'urn:oid:1.2.3.4', code: 'CHG881' },
        { system: 'http://loinc.org', code: '24627-2', display: 'CT Chest' },
      ],
    });
    assert.equal(one(o).consultationFields.Modality, '1');
    assert.deepEqual(o.problems, []);
  });

  for (const [system, code, modality] of [
    ['http://www.ama-assn.org/go/cpt', '78815', '4'],
    ['http://www.ama-assn.org/go/cpt', '78452', '3'],
    ['http://www.ama-assn.org/go/cpt', '77049', '2'],
    ['urn:oid:2.16.840.1.113883.6.12', '75574', '1'],
  ] as const) {
    it(`${code} of ${system} → ${modality}`, () => assert.equal(one(run({ coding: [{ system, code }] })).consultationFields.Modality, modality));
  }

  it('a portable chest radiograph (LOINC 30746-2) is excluded', () => {
    const r = one(run({ coding: [{ system: 'http://loinc.org', code: '30746-2' }] }));
    assert.equal(r.excluded?.raw, '30746-2');
  });

  it('only codings of unknown systems: no Modality, no problem (CD3001 names the rule later)', () => {
    const o = run({ coding: [{ system: 'urn:oid:1.2.3.4', code: 'CHG881' }] });
    assert.equal(one(o).consultationFields.Modality, undefined);
    assert.deepEqual(
      one(o)
        .misses?.filter((m) => m.field === 'Modality')
        .map((m) => m.tried),
      [['code.coding | code.concept.coding']],
    );
  });

  it('a CPT code the crosswalk lacks is an error naming the crosswalk', () => {
    const o = run({ coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '99999' }] });
    assert.equal(o.disposition, 'error');
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.severity, p.message.replace(SHIPPED + '/', '')]),
      [
        [
          'MAP_UNMAPPED_CODE',
          'error',
          'Modality: no row for "99999" (system "http://www.ama-assn.org/go/cpt") in crosswalks/procedure_modality.csv; add a row: 99999,<ACR code>',
        ],
      ],
    );
  });
});

describe('rules limited to facilities or senders; per-facility crosswalk rows', () => {
  const edited = editedTables((dir) => {
    appendFileSync(join(dir, 'facilities.csv'), 'NORTHCLINIC,200000,,\n');
    writeFileSync(join(dir, 'crosswalks', 'local_exam.csv'), 'source,acr_code,facility,comment\nCT,88,200000,this site sends CT for cone beam\n');
    const f = join(dir, 'hl7v2.yaml');
    const text = readFileSync(f, 'utf8');
    writeFileSync(
      f,
      text
        .replace(
          '  Modality:\n    - from: [OBR-24, IPC-5]',
          '  Modality:\n    - from: OBR-24\n      crosswalk: local_exam\n      facilities: [200000]\n    - from: [OBR-24, IPC-5]',
        )
        .replace(
          '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]\n    transform: trim',
          '  Name_of_Exam_Ordered:\n    - from: OBR-4.1\n      senders: [NORTHCLINIC]\n    - from: [OBR-4.2, OBR-4.1]\n      transform: trim',
        ),
    );
  });

  it('the limited alternatives apply to their facility and sender only', () => {
    const north = one(mapHl7Text(ORM.replace('|GENHOSP|CDSR|', '|NORTHCLINIC|CDSR|'), edited()));
    assert.deepEqual([north.facilityId, north.consultationFields.Modality, north.consultationFields.Name_of_Exam_Ordered], ['200000', '88', '70450']);
    const gen = one(mapHl7Text(ORM, edited()));
    assert.deepEqual([gen.facilityId, gen.consultationFields.Modality, gen.consultationFields.Name_of_Exam_Ordered], ['100000', '1', 'CT HEAD WO CONTRAST']);
  });
});

describe('the consultation key rank: which source of the key rules gave the date and time', () => {
  const noCds = (msg: string) =>
    msg
      .split('\r')
      .filter((l) => !l.startsWith('OBX|5|TS|CDS-DTTM'))
      .join('\r');
  const rankOf = (o: MapOutcome) => {
    const r = one(o);
    return [r.consultationDate, r.consultationTime, r.consultationKeyRank];
  };

  it('HL7: the CDS data is 0; then TQ1-7, OBR-6, OBR-7, ORC-9 are 1 to 4', () => {
    assert.deepEqual(rankOf(mapHl7Text(ORM, tables)), ['11/02/2026', '09:30:15', 0]);
    assert.deepEqual(rankOf(mapHl7Text(noCds(ORM).replace(OBR, OBR.replace('|||20261102093015|', '||20261102092000|20261102093015|')), tables)), [
      '11/02/2026',
      '09:20:00',
      2,
    ]);
    assert.deepEqual(rankOf(mapHl7Text(noCds(ORM), tables)), ['11/02/2026', '09:30:15', 3]);
    assert.deepEqual(rankOf(mapHl7Text(noCds(ORM).replace(OBR, OBR.replace('|||20261102093015|', '||||')), tables)), ['11/02/2026', '09:30:15', 4]);
  });

  it('FHIR: authoredOn, the only source, is 0', () => {
    const sr = JSON.parse(readFileSync(join(REPO_ROOT, 'samples', 'fhir', '01-servicerequest.json'), 'utf8')) as FhirResource;
    const r = one(mapFhirResource(sr, new ResourcePool(), tables, { defaultFacilityId: '100000' }));
    assert.equal(r.consultationKeyRank, 0);
  });

  describe('over alternatives, and the worse of date and time', () => {
    const edited = editedTables((dir) => {
      const f = join(dir, 'hl7v2.yaml');
      // the date from two alternatives (CDS data; then OBR-7, ORC-9); the time from ORC-9 alone
      const text = readFileSync(f, 'utf8')
        .replace(
          / {2}CDS_Consultation_Date:\n(?: {4}.*\n)+/,
          '  CDS_Consultation_Date:\n    - from: OBX[3.1=CDS-DTTM]-5\n      transform: date\n      for: order\n    - from: [OBR-7, ORC-9]\n      transform: date\n      for: order\n',
        )
        .replace(/ {2}CDS_Consultation_Time:\n(?: {4}.*\n)+/, '  CDS_Consultation_Time:\n    from: ORC-9\n    transform: time\n    for: order\n');
      writeFileSync(f, text);
    });

    it("a second alternative counts after the first one's sources; the key takes the worse part", () => {
      // date from the CDS data (0), time from ORC-9 (0 of its rule): 0
      assert.deepEqual(rankOf(mapHl7Text(ORM, edited())), ['11/02/2026', '09:30:15', 0]);
      // date from ORC-9 in the second alternative: 1 (the first one's path) + 1
      assert.deepEqual(rankOf(mapHl7Text(noCds(ORM).replace(OBR, OBR.replace('|||20261102093015|', '||||')), edited())), ['11/02/2026', '09:30:15', 2]);
    });
  });
});

describe('guess marks: values the tables guessed', () => {
  const ORU = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '04-oru-final.hl7'), 'utf8');
  const guesses = (r: PartialRecord) => r.trace.filter((t) => t.guess !== undefined).map((t) => [t.field, t.path, t.value, t.guess]);

  it('the first path of each rule: no guess', () => {
    assert.deepEqual(guesses(one(mapHl7Text(ORM, tables))), []);
  });

  it('a later candidate: fallback with its place in the list (ORC-12 empty, OBR-16 read)', () => {
    const r = one(mapHl7Text(ORM.replace('|||1234567893^ORDER^ANN^^^^^^NPI\r', '|||\r'), tables));
    assert.deepEqual(guesses(r), [
      ['Clinician1_Unique_ID', 'OBR-16.1', '1234567893', 'fallback: OBR-16.1, the 2nd of 2 candidates'],
      ['Clinician1_Last_Name', 'OBR-16.2', 'ORDER', 'fallback: OBR-16.2, the 2nd of 2 candidates'],
      ['Clinician1_First_Name', 'OBR-16.3', 'ANN', 'fallback: OBR-16.3, the 2nd of 2 candidates'],
    ]);
  });

  it('a later alternative: fallback naming the alternative (Modality from the CPT in OBR-44)', () => {
    const obr =
      OBR.replace('70450^CT HEAD WO CONTRAST^CPT', 'CHG881^MRI L SPINE^L').replace('|CT|SC', '||SC') + '|||||||||||||||||||72148^MRI LUMBAR SPINE WO^C4';
    assert.deepEqual(guesses(one(withObr(obr))), [['Modality', 'OBR-44.1', '2', 'fallback: OBR-44.1, alternative 2 of 4']]);
  });

  it("the table's own reason (OBR-22 as completion time), per path", () => {
    const r = one(mapHl7Text(ORU, tables));
    assert.deepEqual(guesses(r), [['Exam_Completion_Date', 'OBR-22', '11/02/2026', 'OBR-22 is the result report time, not the exam completion']]);
  });

  it('the encounter key from a later candidate is marked in the trace', () => {
    const r = one(
      mapHl7Text(
        ORM.replace('|V0001^^^GENHOSP^VN', '|').replace(/(PID\|[^\r]*)/, (pid) => `${pid}|||||||A0001`),
        tables,
      ),
    );
    assert.deepEqual(
      r.trace.filter((t) => t.field === 'Unique_Encounter_ID').map((t) => [t.path, t.value, t.guess]),
      [['PID-18.1', 'A0001', 'fallback: PID-18.1, the 2nd of 2 candidates']],
    );
  });
});

describe('guess marks from edited tables: a default, a rule-wide reason', () => {
  const edited = editedTables((dir) => {
    const f = join(dir, 'hl7v2.yaml');
    writeFileSync(
      f,
      readFileSync(f, 'utf8')
        .replace(
          '  Place_of_Service:\n    from: PV1-2\n',
          '  Place_of_Service:\n    from: PV1-2\n    guess: "PV1-2 is the patient class, not the place of service"\n',
        )
        .replace('  Medicare_Modifier:\n    from: OBX[3.1=CDS-MODIFIER]-5\n', '  Medicare_Modifier:\n    from: OBX[3.1=CDS-MODIFIER]-5\n    default: MF\n'),
    );
  });

  it('a default stands in for a missing value; a rule-wide reason marks every value of the rule', () => {
    const r = one(mapHl7Text(ORM.replace(/OBX\|2\|ST\|CDS-MODIFIER[^\r]*\r/, ''), edited()));
    assert.deepEqual(
      r.trace.filter((t) => t.guess !== undefined).map((t) => [t.field, t.path, t.value, t.guess]),
      [
        ['Place_of_Service', 'PV1-2', '23', 'PV1-2 is the patient class, not the place of service'],
        ['Medicare_Modifier', 'default', 'MF', 'default: none of OBX[3.1=CDS-MODIFIER]-5 has a value'],
      ],
    );
  });
});

describe('when: a candidate read only when its condition holds (HL7)', () => {
  const noCds = (msg: string) =>
    msg
      .split('\r')
      .filter((l) => !l.startsWith('OBX|5|TS|CDS-DTTM'))
      .join('\r');
  // no CDS data, no OBR-7: the consultation's time can only come from ORC-9
  const onlyOrc9 = (msg: string) => noCds(msg).replace(OBR, OBR.replace('|||20261102093015|', '||||'));
  const edited = editedTables((dir) => {
    const f = join(dir, 'hl7v2.yaml');
    const text = readFileSync(f, 'utf8');
    writeFileSync(
      f,
      text
        .replace(
          '      - OBR-7\n      - ORC-9\n    transform: date',
          '      - OBR-7\n      - path: ORC-9\n        when: ORC-1 in [NW, XO]\n    transform: date',
        )
        .replace(
          '      - OBR-7\n      - ORC-9\n    transform: time',
          '      - OBR-7\n      - path: ORC-9\n        when: ORC-1 in [NW, XO]\n    transform: time',
        ),
    );
  });
  const rule = (field: string) => `${edited().hl7!.rules.find((r) => r.field === field)!.origin}`;

  it('ORC-1 NW (or xo, any case): ORC-9 gives the consultation time, nothing skipped', () => {
    for (const orc1 of ['NW', 'xo']) {
      const r = one(mapHl7Text(onlyOrc9(ORM).replace('ORC|NW|', `ORC|${orc1}|`), edited()));
      assert.deepEqual([r.consultationDate, r.consultationTime, r.consultationKeyRank], ['11/02/2026', '09:30:15', 4]);
      assert.deepEqual(
        r.trace.filter((t) => t.field === 'CDS_Consultation_Time').map((t) => [t.path, t.value, t.skipped]),
        [['ORC-9', '09:30:15', undefined]],
      );
    }
  });

  it('ORC-1 SC: ORC-9 is skipped, and the key miss and the misses say why', () => {
    const r = one(mapHl7Text(onlyOrc9(ORM).replace('ORC|NW|', 'ORC|SC|'), edited()));
    assert.equal(r.consultationTime, undefined);
    assert.equal(
      r.consultationKeyTried,
      `CDS_Consultation_Date (${rule('CDS_Consultation_Date')}) from OBX[3.1=CDS-DTTM]-5, TQ1-7.1, OBR-6, OBR-7, ORC-9 (ORC-9 skipped: ORC-1 = SC is not in [NW, XO]); ` +
        `CDS_Consultation_Time (${rule('CDS_Consultation_Time')}) from OBX[3.1=CDS-DTTM]-5, TQ1-7.1, OBR-6, OBR-7, ORC-9 (ORC-9 skipped: ORC-1 = SC is not in [NW, XO]): none has a value`,
    );
    assert.deepEqual(
      r.misses?.map((m) => [m.field, m.skipped]),
      [
        ['CDS_Consultation_Date', ['ORC-9 skipped: ORC-1 = SC is not in [NW, XO]']],
        ['CDS_Consultation_Time', ['ORC-9 skipped: ORC-1 = SC is not in [NW, XO]']],
      ],
    );
  });

  it('a candidate without a value is not said to be skipped (its condition is not read)', () => {
    const r = one(mapHl7Text(onlyOrc9(ORM).replace('ORC|NW|', 'ORC|SC|').replace('||||20261102093015|||1234567893', '|||||||1234567893'), edited()));
    assert.deepEqual(
      r.misses?.map((m) => [m.field, m.skipped]),
      [
        ['CDS_Consultation_Date', undefined],
        ['CDS_Consultation_Time', undefined],
      ],
    );
  });
});

describe('when: every operator, rule-level conditions over alternatives', () => {
  // Name_of_Exam_Ordered (free text) takes the constant of the first alternative whose when holds;
  // the winning value's trace names the alternatives skipped before it
  const edited = editedTables((dir) => {
    const f = join(dir, 'hl7v2.yaml');
    writeFileSync(
      f,
      readFileSync(f, 'utf8').replace(
        '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]\n    transform: trim',
        [
          '  Name_of_Exam_Ordered:',
          '    - constant: EQ',
          '      when: ORC-1 = NW',
          '    - constant: IN',
          '      when: ORC-1 in [SC, RE]',
          '    - constant: NOTIN',
          '      when: ORC-1 not in [XO, HD]',
          '    - constant: EMPTY',
          '      when: PV1-3.4 empty',
          '    - constant: EXISTS',
          '      when: ZDS-1 exists',
          '    - constant: ALL',
          '      when:',
          '        - ORC-1 != CA',
          '        - PV1-2 = I',
          '    - constant: NE',
          '      when: ORC-1 != CA',
        ].join('\n'),
      ),
    );
  });
  const exam = (msg: string) => {
    const r = one(mapHl7Text(msg, edited()));
    return [r.consultationFields.Name_of_Exam_Ordered, r.trace.find((t) => t.field === 'Name_of_Exam_Ordered')?.skipped];
  };

  it('= holds (without regard to case): the first alternative, nothing skipped', () => {
    assert.deepEqual(exam(ORM), ['EQ', undefined]);
    assert.deepEqual(exam(ORM.replace('ORC|NW|', 'ORC|nw|')), ['EQ', undefined]);
  });

  it('in holds: the one before it is skipped, with why', () => {
    assert.deepEqual(exam(ORM.replace('ORC|NW|', 'ORC|RE|')), ['IN', ['rule skipped: ORC-1 = RE is not NW']]);
  });

  it('XO: =, in, not in, empty, exists and a list with one failing condition skipped; != holds', () => {
    assert.deepEqual(exam(ORM.replace('ORC|NW|', 'ORC|XO|')), [
      'NE',
      [
        'rule skipped: ORC-1 = XO is not NW',
        'rule skipped: ORC-1 = XO is not in [SC, RE]',
        'rule skipped: ORC-1 = XO is in [XO, HD]',
        'rule skipped: PV1-3.4 = GENHOSP is not empty',
        'rule skipped: ZDS-1 is empty',
        'rule skipped: PV1-2 = E is not I',
      ],
    ]);
  });

  it('not in holds for a value outside the list; exists for a Z-segment; both conditions of a list', () => {
    assert.deepEqual(exam(ORM.replace('ORC|NW|', 'ORC|SN|')), ['NOTIN', ['rule skipped: ORC-1 = SN is not NW', 'rule skipped: ORC-1 = SN is not in [SC, RE]']]);
    assert.deepEqual(exam(ORM.replace('ORC|NW|', 'ORC|XO|') + 'ZDS|CT1\r')[0], 'EXISTS');
    assert.deepEqual(exam(ORM.replace('ORC|NW|', 'ORC|XO|').replace('PV1|1|E|', 'PV1|1|I|'))[0], 'ALL');
  });

  it('no alternative holds (ORC-1 repeats XO~CA: in matches either, != neither): the field stays empty, each alternative a miss saying why', () => {
    const r = one(mapHl7Text(ORM.replace('ORC|NW|', 'ORC|XO~CA|'), edited()));
    assert.equal(r.consultationFields.Name_of_Exam_Ordered, undefined);
    const origins = edited()
      .hl7!.rules.filter((x) => x.field === 'Name_of_Exam_Ordered')
      .map((x) => x.origin);
    assert.deepEqual(
      r.misses?.filter((m) => m.field === 'Name_of_Exam_Ordered'),
      [
        'ORC-1 = XO|CA is not NW',
        'ORC-1 = XO|CA is not in [SC, RE]',
        'ORC-1 = XO|CA is in [XO, HD]',
        'PV1-3.4 = GENHOSP is not empty',
        'ZDS-1 is empty',
        'ORC-1 = XO|CA, excluded by != CA',
        'ORC-1 = XO|CA, excluded by != CA',
      ].map((why, i) => ({ field: 'Name_of_Exam_Ordered', rule: origins[i], tried: [], skipped: [`rule skipped: ${why}`] })),
    );
  });
});

describe('when in fhir.yaml: FHIRPath conditions on a candidate and on a rule', () => {
  const sr = JSON.parse(readFileSync(join(REPO_ROOT, 'samples', 'fhir', '01-servicerequest.json'), 'utf8')) as Record<string, unknown>;
  const edited = editedTables((dir) => {
    const f = join(dir, 'fhir.yaml');
    writeFileSync(
      f,
      readFileSync(f, 'utf8')
        .replace(
          '  Name_of_Exam_Ordered:\n    from: ["code.text | code.concept.text", "code.coding.display | code.concept.coding.display"]',
          '  Name_of_Exam_Ordered:\n    from:\n      - path: code.text\n        when: status in [active, completed]\n      - code.coding.display',
        )
        .replace(
          '    from: status\n    crosswalk: exam_completed',
          `    from: status\n    when: "identifier.where(type.coding.code = 'FILL').value exists"\n    crosswalk: exam_completed`,
        ),
    );
  });
  const run = (resource: Record<string, unknown>) =>
    one(mapFhirResource({ ...sr, ...resource } as unknown as FhirResource, new ResourcePool(), edited(), { defaultFacilityId: '100000' }));

  it('status active: code.text, nothing skipped', () => {
    const r = run({ code: { ...(sr.code as object), text: 'CT head (text)' } });
    assert.deepEqual(
      r.trace.filter((t) => t.field === 'Name_of_Exam_Ordered').map((t) => [t.path, t.value, t.guess, t.skipped]),
      [['code.text', 'CT head (text)', undefined, undefined]],
    );
  });

  it('status draft: code.text skipped, the display given as a fallback with why', () => {
    const r = run({ status: 'draft', code: { ...(sr.code as object), text: 'CT head (text)' } });
    assert.deepEqual(
      r.trace.filter((t) => t.field === 'Name_of_Exam_Ordered').map((t) => [t.path, t.value, t.guess, t.skipped]),
      [
        [
          'code.coding.display',
          'CT HEAD WO CONTRAST',
          'fallback: code.coding.display, the 2nd of 2 candidates',
          ['code.text skipped: status = draft is not in [active, completed]'],
        ],
      ],
    );
  });

  it('a rule-level FHIRPath with its own where(): no FILL identifier, the rule is skipped', () => {
    const r = run({ identifier: (sr.identifier as { type: { coding: { code: string }[] } }[]).filter((i) => i.type.coding[0]!.code !== 'FILL') });
    assert.equal(r.consultationFields.Ordered_Exam_Completed, undefined);
    assert.deepEqual(r.misses?.find((m) => m.field === 'Ordered_Exam_Completed')?.skipped, [
      "rule skipped: identifier.where(type.coding.code = 'FILL').value is empty",
    ]);
    assert.equal(run({}).consultationFields.Ordered_Exam_Completed, '2');
  });
});

describe('senders by application: APPLICATION@FACILITY (keys.application)', () => {
  const edited = editedTables((dir) => {
    appendFileSync(join(dir, 'facilities.csv'), 'NORTHCLINIC,200000,,\n');
    const name = '  Name_of_Exam_Ordered:\n    from: [OBR-4.2, OBR-4.1]\n    transform: trim';
    const hl7 = join(dir, 'hl7v2.yaml');
    writeFileSync(
      hl7,
      readFileSync(hl7, 'utf8').replace(
        name,
        '  Name_of_Exam_Ordered:\n    - from: OBR-4.1\n      senders: [RIS1@GENHOSP]\n    - from: [OBR-4.2, OBR-4.1]\n      transform: trim',
      ),
    );
    const fhir = join(dir, 'fhir.yaml');
    writeFileSync(
      fhir,
      readFileSync(fhir, 'utf8').replace(
        '  Name_of_Exam_Ordered:\n    from: ["code.text | code.concept.text", "code.coding.display | code.concept.coding.display"]\n    for: order',
        '  Name_of_Exam_Ordered:\n    - from: code.coding.code\n      senders: ["http://ris1.example.org/fhir@GENHOSP"]\n      for: order\n    - from: [code.text, code.coding.display]\n      for: order',
      ),
    );
  });
  const exam = (msg: string) => one(mapHl7Text(msg, edited())).consultationFields.Name_of_Exam_Ordered;

  it('HL7: only RIS1 (MSH-3.1, any case) of GENHOSP (MSH-4.1) takes the limited rule', () => {
    assert.equal(exam(ORM.replace('MSH|^~\\&|EHR|GENHOSP|', 'MSH|^~\\&|RIS1|GENHOSP|')), '70450');
    assert.equal(exam(ORM.replace('MSH|^~\\&|EHR|GENHOSP|', 'MSH|^~\\&|ris1^1.2.3^ISO|GENHOSP|')), '70450');
    assert.equal(exam(ORM), 'CT HEAD WO CONTRAST');
    assert.equal(exam(ORM.replace('MSH|^~\\&|EHR|GENHOSP|', 'MSH|^~\\&|RIS1|NORTHCLINIC|')), 'CT HEAD WO CONTRAST');
    assert.equal(exam(ORM.replace('MSH|^~\\&|EHR|GENHOSP|', 'MSH|^~\\&||GENHOSP|')), 'CT HEAD WO CONTRAST');
  });

  it('FHIR: the application is meta.source', () => {
    const sr = JSON.parse(readFileSync(join(REPO_ROOT, 'samples', 'fhir', '01-servicerequest.json'), 'utf8')) as { meta: object };
    const run = (meta: object) =>
      one(mapFhirResource({ ...sr, meta: { ...sr.meta, ...meta } } as unknown as FhirResource, new ResourcePool(), edited(), {})).consultationFields
        .Name_of_Exam_Ordered;
    assert.equal(run({ source: 'http://ris1.example.org/fhir' }), '70450');
    assert.equal(run({ source: 'http://ehr.example.org/fhir' }), 'CT HEAD WO CONTRAST');
    assert.equal(run({}), 'CT HEAD WO CONTRAST');
  });
});

describe("a mapped value outside ACR's value set (MAP_NOT_IN_VALUESET)", () => {
  const enforce = (dir: string, name: string) => {
    const f = join(dir, 'valuesets', `${name}.csv`);
    writeFileSync(f, readFileSync(f, 'utf8').replace('# enforce: no', '# enforce: yes'));
  };
  const edited = editedTables((dir) => {
    for (const name of ['CDS_Vendor', 'Modality', 'Health_Insurance', 'Medicare_Modifier']) enforce(dir, name);
    appendFileSync(join(dir, 'crosswalks', 'modality.csv'), 'ZZ,9,a typo: there is no ACR code 9\n');
    appendFileSync(join(dir, 'crosswalks', 'health_insurance.csv'), 'XX,42,not an ACR code\n');
    const f = join(dir, 'hl7v2.yaml');
    writeFileSync(
      f,
      readFileSync(f, 'utf8').replace(
        '  Medicare_Modifier:\n    from: OBX[3.1=CDS-MODIFIER]-5\n',
        '  Medicare_Modifier:\n    from: OBX[3.1=CDS-MODIFIER]-5\n    default: MZ\n',
      ),
    );
  });
  const relative = (o: MapOutcome) =>
    o.problems.map((p) => [
      p.code,
      p.severity,
      p.scope,
      p.field,
      p.source,
      p.value,
      `${(p.file ?? '').replace(/^.*\/cdsr-engine-[^/]+\//, '')}:${p.line}`,
      p.message.replace(/\/[^ ;()]*\/cdsr-engine-[^/]+\//g, ''),
    ]);
  const ruleLine = (field: string) => lineOf('hl7v2.yaml', `  ${field}:`);
  const G9999 = ORM.replace('||G1014||', '||G9999||');

  it('a value read from the message and sent as it is: an error naming the rule (no crosswalk to add a row to)', () => {
    const o = mapHl7Text(G9999, edited());
    assert.equal(o.disposition, 'error');
    assert.deepEqual(relative(o), [
      [
        'MAP_NOT_IN_VALUESET',
        'error',
        'consultation',
        'CDS_Vendor',
        'OBX[3.1=CDS-GCODE]-5',
        'G9999',
        `hl7v2.yaml:${ruleLine('CDS_Vendor')}`,
        `CDS_Vendor: "G9999" from OBX[3.1=CDS-GCODE]-5 is not in ACR's value set (valuesets/CDS_Vendor.csv); fix the rule at hl7v2.yaml:${ruleLine('CDS_Vendor')} or add a crosswalk to it with a row G9999,<ACR code>`,
      ],
    ]);
    // the order is held by who it is, as for an unmapped code
    assert.deepEqual(o.disposition === 'error' ? o.orders : undefined, [{ facilityId: '100000', encounterId: 'V0001', numbers: ['ORD1001', 'ACC2001'] }]);
  });

  it('a crosswalk row whose ACR code is not in the set: the row is what to fix', () => {
    const zzLine = readFileSync(join(edited().dir, 'crosswalks', 'modality.csv'), 'utf8')
      .trimEnd()
      .split('\n').length;
    const o = mapHl7Text(ORM.replace('|CT|SC', '|ZZ|SC'), edited());
    assert.equal(o.disposition, 'error');
    assert.deepEqual(relative(o), [
      [
        'MAP_NOT_IN_VALUESET',
        'error',
        'consultation',
        'Modality',
        'OBR-24',
        '9',
        `crosswalks/modality.csv:${zzLine}`,
        `Modality: "9" is not in ACR's value set (valuesets/Modality.csv); the crosswalk row crosswalks/modality.csv:${zzLine} maps "ZZ" to it: change that row's ACR code to a code of the set`,
      ],
    ]);
  });

  it('each value of a multi-select field by itself, each naming its own row; a default names the rule', () => {
    const hiLine = readFileSync(join(edited().dir, 'crosswalks', 'health_insurance.csv'), 'utf8')
      .trimEnd()
      .split('\n').length;
    const msg = ORM.replace(/(IN1\|[^\r]*)\r/, '$1\rIN1|2|X^X|X|X|||||||||||XX\r').replace(/OBX\|2\|ST\|CDS-MODIFIER[^\r]*\r/, '');
    const o = mapHl7Text(msg, edited());
    assert.deepEqual(relative(o), [
      [
        'MAP_NOT_IN_VALUESET',
        'error',
        'encounter',
        'Health_Insurance',
        'IN1-15.1',
        '42',
        `crosswalks/health_insurance.csv:${hiLine}`,
        `Health_Insurance: "42" is not in ACR's value set (valuesets/Health_Insurance.csv); the crosswalk row crosswalks/health_insurance.csv:${hiLine} maps "XX" to it: change that row's ACR code to a code of the set`,
      ],
      [
        'MAP_NOT_IN_VALUESET',
        'error',
        'consultation',
        'Medicare_Modifier',
        'default',
        'MZ',
        `hl7v2.yaml:${ruleLine('Medicare_Modifier')}`,
        `Medicare_Modifier: "MZ" is not in ACR's value set (valuesets/Medicare_Modifier.csv); it is the default of the rule at hl7v2.yaml:${ruleLine('Medicare_Modifier')}: change it to a code of the set`,
      ],
    ]);
  });

  it('"# enforce: no" (the shipped Medicare_Modifier): a warning, and the order is mapped', () => {
    const o = mapHl7Text(ORM.replace('||ME||', '||ZZ||'), tables);
    assert.equal(one(o).consultationFields.Medicare_Modifier, 'ZZ');
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.severity, p.message.replaceAll(SHIPPED + '/', '')]),
      [
        [
          'MAP_NOT_IN_VALUESET',
          'warning',
          `Medicare_Modifier: "ZZ" from OBX[3.1=CDS-MODIFIER]-5 is not in ACR's value set (valuesets/Medicare_Modifier.csv); fix the rule at hl7v2.yaml:${ruleLine('Medicare_Modifier')} or add a crosswalk to it with a row ZZ,<ACR code>; a warning while that file says "enforce: no"`,
        ],
      ],
    );
  });

  it('the shipped CDS_Vendor set is enforced: G9999 is refused with the shipped tables', () => {
    const o = mapHl7Text(G9999, tables);
    assert.equal(o.disposition, 'error');
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.severity, p.value]),
      [['MAP_NOT_IN_VALUESET', 'error', 'G9999']],
    );
  });

  it('an order that is not reported (excluded by a row, or a cancel) is not refused for it: a warning', () => {
    const xr = mapHl7Text(G9999.replace('|CT|SC', '|XR|SC').replace('70450^CT HEAD WO CONTRAST^CPT', '71046^XR CHEST 2 VIEWS^CPT'), edited());
    assert.equal(one(xr).excluded?.raw, 'XR');
    assert.deepEqual(
      xr.problems.map((p) => [p.code, p.severity]),
      [
        ['MAP_EXCLUDED', 'warning'],
        ['MAP_NOT_IN_VALUESET', 'warning'],
      ],
    );
    const cancel = mapHl7Text(readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '03-orm-cancel.hl7'), 'utf8').replace('||G1014||', '||G9999||'), edited());
    assert.equal(one(cancel).cancelled, true);
    assert.deepEqual(
      cancel.problems.map((p) => [p.code, p.severity, p.value]),
      [['MAP_NOT_IN_VALUESET', 'warning', 'G9999']],
    );
  });

  it('FHIR: the same check, naming fhir.yaml', () => {
    const sr = readFileSync(join(REPO_ROOT, 'samples', 'fhir', '01-servicerequest.json'), 'utf8').replace('"valueString": "G1014"', '"valueString": "g9999 "');
    const o = mapFhirResource(JSON.parse(sr) as FhirResource, new ResourcePool(), edited(), { defaultFacilityId: '100000' });
    assert.equal(o.disposition, 'error');
    const line = lineOf('fhir.yaml', '  CDS_Vendor:');
    assert.deepEqual(relative(o), [
      [
        'MAP_NOT_IN_VALUESET',
        'error',
        'consultation',
        'CDS_Vendor',
        "extension('http://fhir.org/argonaut/Extension/pama-rating-qcdsm-consulted').value",
        'G9999',
        `fhir.yaml:${line}`,
        `CDS_Vendor: "G9999" from extension('http://fhir.org/argonaut/Extension/pama-rating-qcdsm-consulted').value is not in ACR's value set (valuesets/CDS_Vendor.csv); fix the rule at fhir.yaml:${line} or add a crosswalk to it with a row G9999,<ACR code>`,
      ],
    ]);
  });

  it('no value sets loaded: nothing is checked', () => {
    assert.deepEqual(mapHl7Text(G9999, { ...edited(), valueSets: new Map() }).problems, []);
  });
});
