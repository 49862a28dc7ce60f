// The sandbox's own checks (check.ts): the spec's example passes, each rule gives its message at
// its place, and the reading switches decide what the spec leaves open.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkTransaction, isReadableZone, transactionDateTime, wallClock, type CheckOptions, type Readings } from './check.js';
import { DEFAULT_ANSWERS } from './switches.js';
import { FIXTURES, readJson, validConsultation, validEncounter, validTransaction } from '../../test/helpers.js';

const NOW = new Date('2026-06-15T12:00:00Z');
const opts = (readings: Partial<Readings> = {}, more: Partial<CheckOptions> = {}): CheckOptions => ({
  now: NOW,
  readings: { ...DEFAULT_ANSWERS, ...readings },
  ...more,
});
const codes = (body: unknown, o = opts()) => checkTransaction(body, o).map((f) => `${f.code} ${f.path}`);

describe('sandbox checks', () => {
  it("find nothing in the spec's own POST example, nor in the test helpers' transaction", () => {
    assert.deepEqual(checkTransaction(readJson(join(FIXTURES, 'spec-example.json')), opts()), []);
    assert.deepEqual(checkTransaction(validTransaction(), opts()), []);
  });

  it('give each finding its message, place, encounter and consultation', () => {
    const tx = validTransaction(
      { Transaction_ID: undefined, Num_of_Encounters_Included: 2, CDSR_File_Version_Num: '2.0', AppID: 'A|B', Extra: 1 } as Record<string, unknown>,
      [
        validEncounter({ Clinical_Scenario_Descriptions: 'one' }, [
          validConsultation({ Modality: 'CT', CDS_Consultation_Time: '3 PM', Modality_Other_Spec: 'cone beam' }),
        ]),
      ],
    );
    assert.deepEqual(checkTransaction(tx, opts()), [
      { code: 'CD2090', message: 'Transaction has unknown element(s): Extra', path: '' },
      { code: 'CD2001', message: 'Missing Transaction_ID', path: 'Transaction_ID', field: 'Transaction_ID' },
      { code: 'CD3041', message: 'Version number is not supported', path: 'CDSR_File_Version_Num', field: 'CDSR_File_Version_Num' },
      { code: 'CD2091', message: 'Forbidden symbol \u2018|\u2019 in field(s): AppID', path: '' },
      {
        code: 'CD2074',
        message: 'Num_of_Encounters_Included 2 does not match with encounters records received 1',
        path: 'Num_of_Encounters_Included',
        field: 'Num_of_Encounters_Included',
      },
      {
        code: 'CD3300',
        message: 'Invalid. "Clinical scenario codes" and "Clinical scenario descriptions\u201d fields must have the same number of separators (i.e. commas)',
        path: 'Encounters[0].Clinical_Scenario_Codes',
        field: 'Clinical_Scenario_Codes',
        encounter: 0,
        encounterId: 'V1001',
      },
      {
        code: 'CD3061',
        message: 'Invalid CDS_Consultation_Time format. Valid format is hh:mi:ss in military format',
        path: 'Encounters[0].Consultations[0].CDS_Consultation_Time',
        field: 'CDS_Consultation_Time',
        encounter: 0,
        encounterId: 'V1001',
        consultationKey: '03/03/2022 3 PM',
      },
      {
        code: 'CD3111',
        message: 'Invalid Modality. Field must contain only the characters 0-9',
        path: 'Encounters[0].Consultations[0].Modality',
        field: 'Modality',
        encounter: 0,
        encounterId: 'V1001',
        consultationKey: '03/03/2022 3 PM',
      },
      {
        code: 'CD3002',
        message: 'Invalid. Modality_Other_Spec is only applicable, if Modality is 88. Otherwise, should be blank',
        path: 'Encounters[0].Consultations[0].Modality_Other_Spec',
        field: 'Modality_Other_Spec',
        encounter: 0,
        encounterId: 'V1001',
        consultationKey: '03/03/2022 3 PM',
      },
    ]);
  });

  it('read the schema: missing, empty, of another JSON type', () => {
    assert.deepEqual(codes(null), ['CD1004 ']);
    assert.deepEqual(codes({}), ['CD1004 ']);
    assert.deepEqual(codes([1]), ['CD1003 ']);
    assert.deepEqual(codes(validTransaction({ Encounters: [] })), ['CD2070 Encounters']);
    assert.deepEqual(codes(validTransaction({ Encounters: {} })), ['CD1003 Encounters']);
    assert.deepEqual(codes(validTransaction({ Num_of_Encounters_Included: '1.5' })), ['CD2024 Num_of_Encounters_Included']);
    assert.deepEqual(codes(validTransaction({ Num_of_Encounters_Included: ' 1 ', PartnerID: 10000, Transaction_ID: 'T'.repeat(50) })), []);
    assert.deepEqual(codes(validTransaction({ Transaction_ID: 'T'.repeat(51), Facility_ID: '  ', PartnerID: true })), [
      'CD2002 Transaction_ID',
      'CD2051 Facility_ID',
      'CD1003 PartnerID',
    ]);
    assert.deepEqual(codes(validTransaction({}, [validEncounter({ Consultations: [] }), 'text' as unknown as Record<string, unknown>])), [
      'CD2075 Encounters[0].Consultations',
      'CD1003 Encounters[1]',
    ]);
    assert.deepEqual(
      codes(
        validTransaction({}, [
          validEncounter({}, [validConsultation({ Name_of_Exam_Ordered: null, Place_of_Service: ['22'], CDS_Consultation_Date: '2/30/2024' })]),
        ]),
      ),
      [
        'CD3060 Encounters[0].Consultations[0].CDS_Consultation_Date',
        'CD1003 Encounters[0].Consultations[0].Place_of_Service',
        'CD3001 Encounters[0].Consultations[0].Name_of_Exam_Ordered',
      ],
    );
  });

  it('check codes against the lists given: CD3120, CD3030, CD3240, and the list\'s "Other" code for CD3002', () => {
    const valueLists = { Health_Insurance: { codes: ['1', '2', '3', '99'], unknown: '99', other: '3' }, Modality: { codes: ['1', '2', '88'] } };
    const tx = validTransaction({}, [validEncounter({ Health_Insurance: '2,2,99', Health_Insurance_Other_Spec: 'x' }, [validConsultation({ Modality: '7' })])]);
    assert.deepEqual(
      checkTransaction(tx, opts({}, { valueLists })).map((f) => [f.code, f.message]),
      [
        ['CD3030', 'Invalid Health_Insurance. Values should be unique within array'],
        ['CD3240', "Invalid. For Health_Insurance invalid options selected. If 'Unknown' option selected, then no other options can be selected"],
        ['CD3002', 'Invalid. Health_Insurance_Other_Spec is only applicable, if Health_Insurance is 3. Otherwise, should be blank'],
        ['CD3120', 'Invalid Modality. Values 1,2,88 expected'],
      ],
    );
    // without lists the codes are not checked
    assert.deepEqual(codes(tx), ['CD3030 Encounters[0].Health_Insurance']);
  });

  it('todayZone: what is "now" for CD2013 and "today" for CD3130', () => {
    // 12:00 UTC: 02:00 the next day at UTC+14, 08:00 in New York, 07:00 at UTC-05:00
    const tx = validTransaction({ Transaction_DateTime: '06/15/2026 10:00:00' }, [
      validEncounter({}, [validConsultation({ Exam_Completion_Date: '6/16/2026' })]),
    ]);
    const byZone = Object.fromEntries(
      ['UTC+14', 'UTC', 'UTC-05:00', 'America/New_York', 'Pacific/Kiritimati'].map((z) => [z, codes(tx, opts({ todayZone: z }))]),
    );
    assert.deepEqual(byZone, {
      'UTC+14': [],
      UTC: ['CD3130 Encounters[0].Consultations[0].Exam_Completion_Date'],
      'UTC-05:00': ['CD2013 Transaction_DateTime', 'CD3130 Encounters[0].Consultations[0].Exam_Completion_Date'],
      'America/New_York': ['CD2013 Transaction_DateTime', 'CD3130 Encounters[0].Consultations[0].Exam_Completion_Date'],
      'Pacific/Kiritimati': [],
    });
    assert.deepEqual(
      [wallClock(NOW, 'UTC+14'), wallClock(NOW, 'America/New_York'), wallClock(NOW, 'UTC-05:30')],
      [20260616020000, 20260615080000, 20260615063000],
    );
    assert.deepEqual(['UTC', 'UTC+14', 'UTC-05:00', 'UTC+5:30', 'Europe/Paris', 'UTC+15', 'Mars/Base', 'EST5'].map(isReadableZone), [
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('transactionDateTime: the forms the spec shows, by the switch', () => {
    const values = [
      '03/04/2022',
      '3/4/2022 15:08:33',
      '2022-03-04',
      '2022-03-04T15:08:33',
      '2022-03-04T15:08:33Z',
      '2022-03-04 15:08:33',
      '03/04/2022 3:08 PM',
      '02/29/2022',
      '2022-03-04T24:00:00',
    ];
    const accepted = (form: Readings['transactionDateTime']) => values.filter((v) => transactionDateTime(v, form) !== undefined);
    assert.deepEqual(accepted('any'), ['03/04/2022', '3/4/2022 15:08:33', '2022-03-04', '2022-03-04T15:08:33']);
    assert.deepEqual(accepted('us'), ['03/04/2022', '3/4/2022 15:08:33']);
    assert.deepEqual(accepted('iso'), ['2022-03-04', '2022-03-04T15:08:33']);
    assert.deepEqual(codes(validTransaction({ Transaction_DateTime: '06/15/2026 06:00:00' }), opts({ transactionDateTime: 'iso' })), [
      'CD2012 Transaction_DateTime',
    ]);
  });
});
