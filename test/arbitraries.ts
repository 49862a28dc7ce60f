// fast-check arbitraries: random valid CDSR transactions (against the fixture value sets and the
// fixed clock NOW) and single-field corruptions that each trigger exactly one known CD code.
import fc from 'fast-check';
import type { CdCode } from '../src/cdsr/codes.js';

type Obj = Record<string, unknown>;

const pad = (n: number) => String(n).padStart(2, '0');

/** A CDSR date after 1/1/2000 and not after NOW (2026-06-15), in either accepted form. */
export const cdsrDate = fc
  .tuple(fc.date({ min: new Date('2000-01-02T00:00:00Z'), max: new Date('2026-06-15T00:00:00Z'), noInvalidDate: true }), fc.boolean())
  .map(([d, padded]) => {
    const m = d.getUTCMonth() + 1;
    const day = d.getUTCDate();
    return padded ? `${pad(m)}/${pad(day)}/${d.getUTCFullYear()}` : `${m}/${day}/${d.getUTCFullYear()}`;
  });

export const cdsrTime = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }))
  .map(([h, m, s]) => `${pad(h)}:${pad(m)}:${pad(s)}`);

/** Free text: no `|`, no comma (so it can sit in comma lists), not blank. */
export const text = (max: number) =>
  fc
    .string({ minLength: 1, maxLength: max, unit: 'grapheme-ascii' })
    .map((s) => s.replace(/[|,]/g, '-'))
    .filter((s) => s.trim() !== '');

const digits = (min: number, max: number) => fc.integer({ min, max }).map(String);

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

function compact(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

const clinician = (n: 1 | 2) =>
  fc
    .record({
      id: opt(digits(1000000000, 1999999999)),
      role: opt(fc.constantFrom('1', '2', '88', '99')),
      roleSpec: opt(text(20)),
      first: opt(text(30)),
      last: opt(text(30)),
      training: opt(digits(1, 99)),
      specialty: opt(fc.stringMatching(/^[0-9A-Z]{2}$/)),
    })
    .map((c) => ({
      [`Clinician${n}_Unique_ID`]: c.id,
      [`Clinician${n}_Role`]: c.role,
      [`Clinician${n}_Role_Other_Spec`]: c.role === '88' ? c.roleSpec : undefined,
      [`Clinician${n}_First_Name`]: c.first,
      [`Clinician${n}_Last_Name`]: c.last,
      [`Clinician${n}_Training`]: c.training,
      [`Clinician${n}_Medical_Specialty_Code`]: c.specialty,
    }));

export const consultation: fc.Arbitrary<Obj> = fc
  .record({
    date: cdsrDate,
    time: cdsrTime,
    pos: fc.constantFrom('11', '19', '21', '22', '23', '99'),
    steward: opt(digits(1, 20)),
    modality: fc.constantFrom('1', '2', '3', '4'),
    exam: text(60),
    completed: digits(1, 9),
    completion: opt(cdsrDate),
    category: opt(fc.constantFrom('1', '2', '3', '88')),
    categorySpec: opt(text(30)),
    vendor: digits(1001, 1024).map((n) => `G${n}`),
    modifier: opt(fc.constantFrom('ME', 'MF', 'MG', 'MH')),
    c1: clinician(1),
    c2: clinician(2),
  })
  .map((r) =>
    compact({
      CDS_Consultation_Date: r.date,
      CDS_Consultation_Time: r.time,
      Place_of_Service: r.pos,
      Guideline_Steward: r.steward,
      Modality: r.modality,
      Name_of_Exam_Ordered: r.exam,
      Ordered_Exam_Completed: r.completed,
      Exam_Completion_Date: r.completion,
      Appropriateness_Category: r.category,
      Appropriateness_Category_Other_Spec: r.category === '88' ? r.categorySpec : undefined,
      CDS_Vendor: r.vendor,
      Medicare_Modifier: r.modifier,
      ...r.c1,
      ...r.c2,
    }),
  );

const insurance = fc.oneof(
  fc.constant('99'),
  fc.uniqueArray(fc.constantFrom('1', '2', '3', '4', '5', '6', '7', '88'), { minLength: 1, maxLength: 8 }).map((a) => a.join(',')),
);

export const encounter: fc.Arbitrary<Obj> = fc
  .record({
    id: text(40),
    sex: opt(fc.constantFrom('M', 'F', 'U')),
    insurance: opt(insurance),
    insuranceSpec: opt(text(30)),
    scenarios: opt(fc.array(fc.tuple(text(10), text(40)), { minLength: 1, maxLength: 4 })),
    consultations: fc.array(consultation, { minLength: 1, maxLength: 3 }),
  })
  .map((r) =>
    compact({
      Unique_Encounter_ID: r.id,
      Patient_Sex: r.sex,
      Health_Insurance: r.insurance,
      Health_Insurance_Other_Spec: r.insurance?.split(',').includes('88') ? r.insuranceSpec : undefined,
      Clinical_Scenario_Codes: r.scenarios?.map((s) => s[0]).join(','),
      Clinical_Scenario_Descriptions: r.scenarios?.map((s) => s[1]).join(','),
      Consultations: r.consultations,
    }),
  );

export const transaction: fc.Arbitrary<Obj> = fc
  .record({
    id: text(50),
    when: fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2026-06-15T11:00:00Z'), noInvalidDate: true }),
    countAsText: fc.boolean(),
    encounters: fc.array(encounter, { minLength: 1, maxLength: 3 }),
  })
  .map((r) => ({
    Transaction_ID: r.id,
    Transaction_DateTime: r.when.toISOString().slice(0, 19),
    Num_of_Encounters_Included: r.countAsText ? String(r.encounters.length) : r.encounters.length,
    Facility_ID: '100000',
    PartnerID: '10000',
    AppID: '10019',
    CDSR_File_Version_Num: '1.0',
    Encounters: r.encounters,
  }));

/** A corruption: changes one thing of a valid transaction (in place) and names the code expected. */
export interface Corruption {
  readonly name: string;
  readonly code: CdCode;
  readonly apply: (tx: Obj) => void;
}

const enc0 = (tx: Obj) => (tx.Encounters as Obj[])[0]!;
const cons0 = (tx: Obj) => (enc0(tx).Consultations as Obj[])[0]!;

const txField = (field: string, code: CdCode): Corruption => ({ name: `remove ${field}`, code, apply: (tx) => void delete tx[field] });
const consField = (field: string, value: unknown, code: CdCode, name = `${field}=${String(value)}`): Corruption => ({
  name,
  code,
  apply: (tx) => {
    if (value === undefined) delete cons0(tx)[field];
    else cons0(tx)[field] = value;
  },
});

export const CORRUPTIONS: readonly Corruption[] = [
  txField('Transaction_ID', 'CD2001'),
  txField('Transaction_DateTime', 'CD2011'),
  txField('Num_of_Encounters_Included', 'CD2023'),
  txField('PartnerID', 'CD2031'),
  txField('AppID', 'CD2041'),
  txField('Facility_ID', 'CD2051'),
  txField('CDSR_File_Version_Num', 'CD3042'),
  { name: 'long Transaction_ID', code: 'CD2002', apply: (tx) => void (tx.Transaction_ID = 'T'.repeat(51)) },
  { name: 'bad Transaction_DateTime', code: 'CD2012', apply: (tx) => void (tx.Transaction_DateTime = 'yesterday') },
  { name: 'future Transaction_DateTime', code: 'CD2013', apply: (tx) => void (tx.Transaction_DateTime = '2026-06-17T00:00:00Z') },
  { name: 'fractional count', code: 'CD2024', apply: (tx) => void (tx.Num_of_Encounters_Included = '1.5') },
  { name: 'count off by one', code: 'CD2074', apply: (tx) => void (tx.Num_of_Encounters_Included = (tx.Encounters as Obj[]).length + 1) },
  { name: 'version 2.0', code: 'CD3041', apply: (tx) => void (tx.CDSR_File_Version_Num = '2.0') },
  { name: 'version text', code: 'CD2102', apply: (tx) => void (tx.CDSR_File_Version_Num = 'one') },
  { name: 'no encounters', code: 'CD2070', apply: (tx) => void (tx.Encounters = []) },
  { name: 'encounter as text', code: 'CD1003', apply: (tx) => void ((tx.Encounters as unknown[])[0] = 'encounter') },
  { name: 'unknown member', code: 'CD2090', apply: (tx) => void (cons0(tx).Accession = 'A1') },
  { name: 'pipe in exam name', code: 'CD2091', apply: (tx) => void (cons0(tx).Name_of_Exam_Ordered = 'CT|head') },
  { name: 'remove encounter id', code: 'CD3001', apply: (tx) => void delete enc0(tx).Unique_Encounter_ID },
  { name: 'no consultations', code: 'CD2075', apply: (tx) => void (enc0(tx).Consultations = []) },
  consField('CDS_Consultation_Date', undefined, 'CD3001', 'remove CDS_Consultation_Date'),
  consField('CDS_Consultation_Time', undefined, 'CD3001', 'remove CDS_Consultation_Time'),
  consField('Place_of_Service', undefined, 'CD3001', 'remove Place_of_Service'),
  consField('Modality', undefined, 'CD3001', 'remove Modality'),
  consField('Name_of_Exam_Ordered', undefined, 'CD3001', 'remove Name_of_Exam_Ordered'),
  consField('Ordered_Exam_Completed', undefined, 'CD3001', 'remove Ordered_Exam_Completed'),
  consField('CDS_Vendor', undefined, 'CD3001', 'remove CDS_Vendor'),
  consField('CDS_Consultation_Date', '2022-03-03', 'CD3060'),
  consField('CDS_Consultation_Date', '12/31/1999', 'CD3130'),
  consField('Exam_Completion_Date', '7/1/2026', 'CD3130'),
  consField('CDS_Consultation_Time', '24:00:00', 'CD3061'),
  consField('Name_of_Exam_Ordered', 'x'.repeat(256), 'CD3110', 'long exam name'),
  consField('Place_of_Service', 'ER', 'CD3111'),
  consField('Modality', '7', 'CD3120'),
  consField('Modality_Other_Spec', 'cone beam', 'CD3002'),
  consField('Modality', ['CT'], 'CD1003', 'Modality as array'),
  {
    name: 'duplicate insurance',
    code: 'CD3030',
    apply: (tx) => {
      enc0(tx).Health_Insurance = '2,2';
      delete enc0(tx).Health_Insurance_Other_Spec;
    },
  },
  {
    name: 'unknown insurance with others',
    code: 'CD3240',
    apply: (tx) => {
      enc0(tx).Health_Insurance = '3,99';
      delete enc0(tx).Health_Insurance_Other_Spec;
    },
  },
  {
    name: 'scenario separators differ',
    code: 'CD3300',
    apply: (tx) => {
      enc0(tx).Clinical_Scenario_Codes = 'R51.9,G44.1';
      enc0(tx).Clinical_Scenario_Descriptions = 'Headache';
    },
  },
];
