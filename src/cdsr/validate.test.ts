// One minimal input per CD code the local validator checks, asserting the exact code, message
// and path of every problem found; plus the spec's example and a fully valid transaction.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { validateTransaction } from './validate.js';
import type { Problem } from './problem.js';
import { loadValueSets } from './valuesets.js';
import {
  REPO_ROOT,
  FIXTURES,
  NOW,
  fixtureValueSets,
  readJson,
  validConsultation as cons,
  validEncounter as enc,
  validTransaction as tx,
} from '../../test/helpers.js';

const valueSets = fixtureValueSets();
const check = (value: unknown): Problem[] => validateTransaction(value, { now: NOW, valueSets });
const brief = (ps: Problem[]) => ps.map((p) => ({ code: p.code, message: p.message, path: p.path }));
const C0 = 'Encounters[0].Consultations[0]';

interface Case {
  readonly name: string;
  readonly input: unknown;
  readonly expected: { code: string; message: string; path: string }[];
}

const cases: Case[] = [
  // JSON shape
  { name: 'CD1004 null', input: null, expected: [{ code: 'CD1004', message: 'Unable to import data submitted.  Data is empty or null', path: '' }] },
  { name: 'CD1004 empty object', input: {}, expected: [{ code: 'CD1004', message: 'Unable to import data submitted.  Data is empty or null', path: '' }] },
  {
    name: 'CD1003 root array',
    input: [tx()],
    expected: [{ code: 'CD1003', message: 'Unable to import data submitted.  Data does not match schema', path: '' }],
  },
  {
    name: 'CD1003 root string',
    input: 'hello',
    expected: [{ code: 'CD1003', message: 'Unable to import data submitted.  Data does not match schema', path: '' }],
  },
  {
    name: 'CD1003 object for a string field',
    input: tx({ Facility_ID: { id: 1 } }),
    expected: [{ code: 'CD1003', message: 'Unable to import data submitted.  Data does not match schema', path: 'Facility_ID' }],
  },
  {
    name: 'CD1003 Encounters not an array',
    input: tx({ Encounters: 'none' }),
    expected: [{ code: 'CD1003', message: 'Unable to import data submitted.  Data does not match schema', path: 'Encounters' }],
  },
  {
    name: 'CD1003 encounter not an object',
    input: tx({}, [42 as unknown as Record<string, unknown>]),
    expected: [{ code: 'CD1003', message: 'Unable to import data submitted.  Data does not match schema', path: 'Encounters[0]' }],
  },
  {
    name: 'CD1003 Consultations not an array',
    input: tx({}, [enc({ Consultations: {} })]),
    expected: [{ code: 'CD1003', message: 'Unable to import data submitted.  Data does not match schema', path: 'Encounters[0].Consultations' }],
  },
  {
    name: 'CD1003 consultation not an object',
    input: tx({}, [enc({}, ['x' as unknown as Record<string, unknown>])]),
    expected: [{ code: 'CD1003', message: 'Unable to import data submitted.  Data does not match schema', path: C0 }],
  },
  {
    name: 'CD1003 boolean in a consultation field',
    input: tx({}, [enc({}, [cons({ Modality: true })])]),
    expected: [{ code: 'CD1003', message: 'Unable to import data submitted.  Data does not match schema', path: `${C0}.Modality` }],
  },
  // transaction fields
  { name: 'CD2001', input: tx({ Transaction_ID: undefined }), expected: [{ code: 'CD2001', message: 'Missing Transaction_ID', path: 'Transaction_ID' }] },
  {
    name: 'CD2002',
    input: tx({ Transaction_ID: 'x'.repeat(51) }),
    expected: [{ code: 'CD2002', message: 'Invalid Transaction_ID. Maximum length is 50 characters', path: 'Transaction_ID' }],
  },
  {
    name: 'CD2011',
    input: tx({ Transaction_DateTime: '' }),
    expected: [{ code: 'CD2011', message: 'Missing Transaction_DateTime', path: 'Transaction_DateTime' }],
  },
  {
    name: 'CD2012',
    input: tx({ Transaction_DateTime: '2026-13-01' }),
    expected: [{ code: 'CD2012', message: 'Transaction_DateTime is not a valid date time format', path: 'Transaction_DateTime' }],
  },
  {
    name: 'CD2013',
    input: tx({ Transaction_DateTime: '2026-06-15T12:00:01Z' }),
    expected: [{ code: 'CD2013', message: 'Transaction_DateTime is a future date', path: 'Transaction_DateTime' }],
  },
  {
    name: 'CD2023',
    input: tx({ Num_of_Encounters_Included: null }),
    expected: [{ code: 'CD2023', message: 'Missing Num_of_Encounters_Included', path: 'Num_of_Encounters_Included' }],
  },
  {
    name: 'CD2024 fraction',
    input: tx({ Num_of_Encounters_Included: 1.5 }),
    expected: [{ code: 'CD2024', message: 'Num_of_Encounters_Included is not an integer', path: 'Num_of_Encounters_Included' }],
  },
  {
    name: 'CD2024 text',
    input: tx({ Num_of_Encounters_Included: 'one' }),
    expected: [{ code: 'CD2024', message: 'Num_of_Encounters_Included is not an integer', path: 'Num_of_Encounters_Included' }],
  },
  { name: 'CD2031', input: tx({ PartnerID: undefined }), expected: [{ code: 'CD2031', message: 'Missing PartnerID', path: 'PartnerID' }] },
  { name: 'CD2041', input: tx({ AppID: ' ' }), expected: [{ code: 'CD2041', message: 'Missing AppID', path: 'AppID' }] },
  { name: 'CD2051', input: tx({ Facility_ID: null }), expected: [{ code: 'CD2051', message: 'Missing Facility_ID', path: 'Facility_ID' }] },
  {
    name: 'CD2070 absent',
    input: tx({ Encounters: undefined }),
    expected: [{ code: 'CD2070', message: 'Missing encounter object information', path: 'Encounters' }],
  },
  {
    name: 'CD2070 empty',
    input: tx({ Num_of_Encounters_Included: 0 }, []),
    expected: [{ code: 'CD2070', message: 'Missing encounter object information', path: 'Encounters' }],
  },
  {
    name: 'CD2074',
    input: tx({ Num_of_Encounters_Included: 2 }),
    expected: [
      { code: 'CD2074', message: 'Num_of_Encounters_Included 2 does not match with encounters records received 1', path: 'Num_of_Encounters_Included' },
    ],
  },
  {
    name: 'CD2075 absent',
    input: tx({}, [enc({ Consultations: undefined })]),
    expected: [{ code: 'CD2075', message: 'Missing consultations object information', path: 'Encounters[0].Consultations' }],
  },
  {
    name: 'CD2075 empty',
    input: tx({}, [enc({}, [])]),
    expected: [{ code: 'CD2075', message: 'Missing consultations object information', path: 'Encounters[0].Consultations' }],
  },
  {
    name: 'CD2090 transaction',
    input: tx({ Site: 'x', Extra: 1 } as Record<string, unknown>),
    expected: [{ code: 'CD2090', message: 'Transaction has unknown element(s): Site, Extra', path: '' }],
  },
  {
    name: 'CD2090 encounter',
    input: tx({}, [enc({ MRN: '123' } as Record<string, unknown>)]),
    expected: [{ code: 'CD2090', message: 'Transaction has unknown element(s): MRN', path: 'Encounters[0]' }],
  },
  {
    name: 'CD2090 consultation',
    input: tx({}, [enc({}, [cons({ modality: '1' } as Record<string, unknown>)])]),
    expected: [{ code: 'CD2090', message: 'Transaction has unknown element(s): modality', path: C0 }],
  },
  {
    name: 'CD2091 transaction',
    input: tx({ Transaction_ID: 'a|b' }),
    expected: [{ code: 'CD2091', message: 'Forbidden symbol \u2018|\u2019 in field(s): Transaction_ID', path: '' }],
  },
  {
    name: 'CD2091 consultation, two fields',
    input: tx({}, [enc({}, [cons({ Name_of_Exam_Ordered: 'CT|MR', Clinician1_Last_Name: 'O|Brien' })])]),
    expected: [{ code: 'CD2091', message: 'Forbidden symbol \u2018|\u2019 in field(s): Name_of_Exam_Ordered, Clinician1_Last_Name', path: C0 }],
  },
  {
    name: 'CD2102',
    input: tx({ CDSR_File_Version_Num: 'v1' }),
    expected: [{ code: 'CD2102', message: 'Invalid file version number', path: 'CDSR_File_Version_Num' }],
  },
  {
    name: 'CD3041',
    input: tx({ CDSR_File_Version_Num: '2.0' }),
    expected: [{ code: 'CD3041', message: 'Version number is not supported', path: 'CDSR_File_Version_Num' }],
  },
  {
    name: 'CD3042',
    input: tx({ CDSR_File_Version_Num: undefined }),
    expected: [{ code: 'CD3042', message: 'Invalid. Missing version number', path: 'CDSR_File_Version_Num' }],
  },
  // record fields
  {
    name: 'CD3001 encounter id',
    input: tx({}, [enc({ Unique_Encounter_ID: '' })]),
    expected: [{ code: 'CD3001', message: 'Invalid. Required field is missing Unique_Encounter_ID', path: 'Encounters[0].Unique_Encounter_ID' }],
  },
  {
    name: 'CD3001 consultation field',
    input: tx({}, [enc({}, [cons({ CDS_Vendor: undefined })])]),
    expected: [{ code: 'CD3001', message: 'Invalid. Required field is missing CDS_Vendor', path: `${C0}.CDS_Vendor` }],
  },
  {
    name: 'CD3002',
    input: tx({}, [enc({}, [cons({ Modality_Other_Spec: 'cone beam CT' })])]),
    expected: [
      {
        code: 'CD3002',
        message: 'Invalid. Modality_Other_Spec is only applicable, if Modality is 88. Otherwise, should be blank',
        path: `${C0}.Modality_Other_Spec`,
      },
    ],
  },
  {
    name: 'CD3002 multi-select',
    input: tx({}, [enc({ Health_Insurance_Other_Spec: 'county plan' })]),
    expected: [
      {
        code: 'CD3002',
        message: 'Invalid. Health_Insurance_Other_Spec is only applicable, if Health_Insurance is 88. Otherwise, should be blank',
        path: 'Encounters[0].Health_Insurance_Other_Spec',
      },
    ],
  },
  {
    name: 'CD3030',
    input: tx({}, [enc({ Health_Insurance: '1,2,1' })]),
    expected: [{ code: 'CD3030', message: 'Invalid Health_Insurance. Values should be unique within array', path: 'Encounters[0].Health_Insurance' }],
  },
  {
    name: 'CD3060',
    input: tx({}, [enc({}, [cons({ CDS_Consultation_Date: '2022-03-03' })])]),
    expected: [
      { code: 'CD3060', message: 'Invalid CDS_Consultation_Date format. Valid format is mm/dd/yyyy or m/d/yyyy', path: `${C0}.CDS_Consultation_Date` },
    ],
  },
  {
    name: 'CD3060 not a calendar day',
    input: tx({}, [enc({}, [cons({ Exam_Completion_Date: '2/30/2022' })])]),
    expected: [{ code: 'CD3060', message: 'Invalid Exam_Completion_Date format. Valid format is mm/dd/yyyy or m/d/yyyy', path: `${C0}.Exam_Completion_Date` }],
  },
  {
    name: 'CD3061',
    input: tx({}, [enc({}, [cons({ CDS_Consultation_Time: '3:08 PM' })])]),
    expected: [
      { code: 'CD3061', message: 'Invalid CDS_Consultation_Time format. Valid format is hh:mi:ss in military format', path: `${C0}.CDS_Consultation_Time` },
    ],
  },
  {
    name: 'CD3110',
    input: tx({}, [enc({}, [cons({ Name_of_Exam_Ordered: 'x'.repeat(256) })])]),
    expected: [{ code: 'CD3110', message: 'Invalid Name_of_Exam_Ordered. Maximum character length is 255 character(s)', path: `${C0}.Name_of_Exam_Ordered` }],
  },
  {
    name: 'CD3111',
    input: tx({}, [enc({}, [cons({ Place_of_Service: 'ER' })])]),
    expected: [{ code: 'CD3111', message: 'Invalid Place_of_Service. Field must contain only the characters 0-9', path: `${C0}.Place_of_Service` }],
  },
  {
    name: 'CD3111 multi-select element',
    input: tx({}, [enc({ Health_Insurance: '1,X' })]),
    expected: [{ code: 'CD3111', message: 'Invalid Health_Insurance. Field must contain only the characters 0-9', path: 'Encounters[0].Health_Insurance' }],
  },
  {
    name: 'CD3120',
    input: tx({}, [enc({}, [cons({ Modality: '7' })])]),
    expected: [{ code: 'CD3120', message: 'Invalid Modality. Values 1,2,3,4,88 expected', path: `${C0}.Modality` }],
  },
  {
    name: 'CD3130 before 2000',
    input: tx({}, [enc({}, [cons({ CDS_Consultation_Date: '12/31/1999' })])]),
    expected: [
      {
        code: 'CD3130',
        message: 'Invalid CDS_Consultation_Date. Date must be greater than 1/1/2000 and less than or equal to the current date',
        path: `${C0}.CDS_Consultation_Date`,
      },
    ],
  },
  {
    name: 'CD3130 on 1/1/2000',
    input: tx({}, [enc({}, [cons({ CDS_Consultation_Date: '1/1/2000' })])]),
    expected: [
      {
        code: 'CD3130',
        message: 'Invalid CDS_Consultation_Date. Date must be greater than 1/1/2000 and less than or equal to the current date',
        path: `${C0}.CDS_Consultation_Date`,
      },
    ],
  },
  {
    name: 'CD3130 future',
    input: tx({}, [enc({}, [cons({ Exam_Completion_Date: '06/17/2026' })])]),
    expected: [
      {
        code: 'CD3130',
        message: 'Invalid Exam_Completion_Date. Date must be greater than 1/1/2000 and less than or equal to the current date',
        path: `${C0}.Exam_Completion_Date`,
      },
    ],
  },
  {
    name: 'CD3240',
    input: tx({}, [enc({ Health_Insurance: '1,99' })]),
    expected: [
      {
        code: 'CD3240',
        message: "Invalid. For Health_Insurance invalid options selected. If 'Unknown' option selected, then no other options can be selected",
        path: 'Encounters[0].Health_Insurance',
      },
    ],
  },
  {
    name: 'CD3300',
    input: tx({}, [enc({ Clinical_Scenario_Descriptions: 'Headache, unspecified,Vascular headache' })]),
    expected: [
      {
        code: 'CD3300',
        message: 'Invalid. "Clinical scenario codes" and "Clinical scenario descriptions\u201d fields must have the same number of separators (i.e. commas)',
        path: 'Encounters[0].Clinical_Scenario_Codes',
      },
    ],
  },
];

describe('validateTransaction: one case per CD code', () => {
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(brief(check(c.input)), c.expected));
  }
});

describe('validateTransaction: valid input', () => {
  it('finds nothing in a fully valid transaction', () => {
    assert.deepEqual(check(tx({}, [enc(), enc({ Unique_Encounter_ID: 'V1002' }, [cons(), cons({ CDS_Consultation_Time: '16:00:00' })])])), []);
  });

  it('takes Other codes with their *_Other_Spec and "Unknown" alone', () => {
    const c = cons({ Modality: '88', Modality_Other_Spec: 'cone beam CT', Clinician1_Role: '88', Clinician1_Role_Other_Spec: 'resident' });
    assert.deepEqual(check(tx({}, [enc({ Health_Insurance: '99' }, [c])])), []);
  });

  it('takes Num_of_Encounters_Included as a number or a numeric string, numbers for string fields', () => {
    assert.deepEqual(check(tx({ Num_of_Encounters_Included: '1', Facility_ID: 100000, PartnerID: 10000 })), []);
  });

  it('takes US and ISO forms of Transaction_DateTime', () => {
    for (const v of [
      '06/15/2026',
      '6/15/2026 8:00',
      '6/15/2026 11:59:59 PM',
      '2026-06-15',
      '2026-06-15T23:00:00',
      '2026-06-15T07:00:00-05:00',
      '2026-06-15T11:00:00.123Z',
    ]) {
      assert.deepEqual(check(tx({ Transaction_DateTime: v })), [], v);
    }
  });

  it('gives every problem its record keys and field', () => {
    const [p] = check(tx({}, [enc({}, [cons({ Modality: 'CT' })])]));
    assert.deepEqual(p, {
      code: 'CD3111',
      message: 'Invalid Modality. Field must contain only the characters 0-9',
      severity: 'error',
      scope: 'consultation',
      path: `${C0}.Modality`,
      field: 'Modality',
      encounterId: 'V1001',
      consultationKey: '03/03/2022 15:08:33',
    });
  });

  it('reports a value outside a non-enforced value set as a warning', () => {
    const ps = check(tx({}, [enc({}, [cons({ Medicare_Modifier: 'QQ' })])]));
    assert.deepEqual(
      ps.map((p) => [p.code, p.severity, p.message]),
      [['CD3120', 'warning', 'Invalid Medicare_Modifier. Values ME,MF,MG,MH expected']],
    );
  });

  it('applies a site override of a field limit', () => {
    const input = tx({}, [enc({}, [cons({ Name_of_Exam_Ordered: 'x'.repeat(300) })])]);
    const ps = validateTransaction(input, { now: NOW, valueSets, fieldLimits: [{ field: 'Name_of_Exam_Ordered', maxLength: 500 }] });
    assert.deepEqual(ps, []);
  });
});

describe("the spec's example (docs/cdsr-spec.md §4.3.1)", () => {
  const example = readJson(join(FIXTURES, 'spec-example.json'));

  // Decision: NRDR takes Num_of_Encounters_Included "1" as the string it is in the example
  // (CD2024 "is not an integer" only makes sense for a reader of text), so it is no problem.
  it('has no problem without value sets', () => {
    assert.deepEqual(validateTransaction(example, { now: NOW }), []);
  });

  it('has no problem with the shipped value sets either', () => {
    const shipped = loadValueSets(join(REPO_ROOT, 'mappings', 'valuesets'));
    assert.deepEqual(shipped.problems, []);
    assert.deepEqual(validateTransaction(example, { now: NOW, valueSets: shipped.catalog }), []);
  });

  // With value sets that know the "Other" code of Appropriateness_Category, the example's
  // Appropriateness_Category_Other_Spec "null" (a string, not null) is a CD3002, and so is its
  // Health_Insurance_Other_Spec beside a list without the fixture's Other code 88.
  it('gives exactly these problems with the fixture value sets', () => {
    assert.deepEqual(brief(check(example)), [
      {
        code: 'CD3002',
        message: 'Invalid. Health_Insurance_Other_Spec is only applicable, if Health_Insurance is 88. Otherwise, should be blank',
        path: 'Encounters[0].Health_Insurance_Other_Spec',
      },
      {
        code: 'CD3002',
        message: 'Invalid. Appropriateness_Category_Other_Spec is only applicable, if Appropriateness_Category is 88. Otherwise, should be blank',
        path: 'Encounters[0].Consultations[0].Appropriateness_Category_Other_Spec',
      },
    ]);
  });
});
