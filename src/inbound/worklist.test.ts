// The worklist's grouping, pure: one row per (field, table, value, facility, system) counted by
// message, with the CSV stub in the table's own columns; guessed values one row per field, rule
// and reason, counted by value.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Problem } from '../cdsr/problem.js';
import type { FieldMap, FieldValue } from '../mapping/merge.js';
import { parseFacilities } from '../mapping/facilities.js';
import { groupGuesses, groupWorklist, stubRow, tableName } from './worklist.js';

const unmapped = (value: string, extra: Partial<Problem> = {}): Problem => ({
  code: 'MAP_UNMAPPED_CODE',
  message: 'text the worklist does not read',
  severity: 'error',
  scope: 'consultation',
  path: '',
  field: 'Modality',
  file: '/m/crosswalks/modality.csv',
  value,
  facilityId: '100000',
  ...extra,
});

/** A message read while its sender (MSH-4 NEWHOSP) had no row in facilities.csv. */
const noFacility: Problem = {
  code: 'MAP_NO_FACILITY',
  message: 'not read',
  severity: 'error',
  scope: 'encounter',
  path: '',
  file: 'facilities.csv',
  source: 'MSH-4.1',
  value: 'NEWHOSP',
};

describe('groupWorklist', () => {
  const header = () => ['source', 'acr_code', 'system', 'facility', 'comment'];
  it('groups by value without regard to case, counts messages (not problems), keeps first/last seen and five examples', () => {
    const msgs = [
      { id: 1, receivedAt: '2026-11-23T06:00:00.000Z', problems: [unmapped('XA'), unmapped('xa')] },
      { id: 2, receivedAt: '2026-11-22T06:00:00.000Z', problems: [unmapped('XA', { system: 'L' })] },
      ...[3, 4, 5, 6, 7, 8].map((id) => ({ id, receivedAt: `2026-11-2${id - 2}T01:00:00.000Z`, problems: [unmapped('XA')] })),
      { id: 9, receivedAt: '2026-11-23T07:00:00.000Z', problems: [{ ...unmapped('x'), code: 'CD3060' as const, value: undefined }] },
      { id: 10, receivedAt: '2026-11-23T07:00:00.000Z', problems: [] },
    ];
    const w = groupWorklist(msgs, '/m', header);
    assert.deepEqual(w, {
      messages: 10,
      otherProblems: { CD3060: 1, none: 1 },
      rows: [
        {
          field: 'Modality',
          table: 'crosswalks/modality.csv',
          value: 'XA',
          facilityId: '100000',
          system: null,
          count: 7,
          firstSeen: '2026-11-21T01:00:00.000Z',
          lastSeen: '2026-11-26T01:00:00.000Z',
          examples: [1, 3, 4, 5, 6],
          stub: 'XA,<ACR code>,,,seen in 7 message(s)',
        },
        {
          field: 'Modality',
          table: 'crosswalks/modality.csv',
          value: 'XA',
          facilityId: '100000',
          system: 'L',
          count: 1,
          firstSeen: '2026-11-22T06:00:00.000Z',
          lastSeen: '2026-11-22T06:00:00.000Z',
          examples: [2],
          stub: 'XA,<ACR code>,L,,seen in 1 message(s)',
        },
      ],
    });
  });

  it('messages read while their facility was unknown are folded into the rows of the facility facilities.csv gives them now, saying so', () => {
    const before = (id: number) => ({ id, receivedAt: `2026-11-2${id}T06:00:00.000Z`, problems: [noFacility, unmapped('XA', { facilityId: undefined })] });
    const msgs = [before(1), before(2), { id: 3, receivedAt: '2026-11-23T06:00:00.000Z', problems: [unmapped('XA', { facilityId: '200000' })] }];
    // as long as facilities.csv does not have it: the row to add, and the value once per facility
    const unknown = groupWorklist(msgs, '/m', header);
    assert.deepEqual(
      unknown.rows.map((r) => [r.field, r.value, r.facilityId, r.count, r.stub, r.fix, r.folded]),
      [
        ['Modality', 'XA', null, 2, 'XA,<ACR code>,,,seen in 2 message(s)', undefined, undefined],
        ['Facility_ID', 'NEWHOSP', null, 2, 'NEWHOSP,<Facility_ID>,,,seen in 2 message(s)', undefined, undefined],
        ['Modality', 'XA', '200000', 1, 'XA,<ACR code>,,,seen in 1 message(s)', undefined, undefined],
      ],
    );
    const { facilities } = parseFacilities('/m/facilities.csv', 'source,facility_id\nGENHOSP,100000\nnewhosp,200000\n');
    const w = groupWorklist(msgs, '/m', header, facilities);
    assert.deepEqual(w, {
      messages: 3,
      otherProblems: {},
      rows: [
        {
          field: 'Modality',
          table: 'crosswalks/modality.csv',
          value: 'XA',
          facilityId: '200000',
          system: null,
          count: 3,
          firstSeen: '2026-11-21T06:00:00.000Z',
          lastSeen: '2026-11-23T06:00:00.000Z',
          examples: [1, 2, 3],
          stub: 'XA,<ACR code>,,,seen in 3 message(s)',
          folded:
            '2 of these message(s) were read before their sending facility "NEWHOSP" (facilities.csv:3) was in facilities.csv and are counted under 200000; replay the error queue after adding the row',
        },
        {
          field: 'Facility_ID',
          table: 'facilities.csv',
          value: 'NEWHOSP',
          facilityId: '200000',
          system: null,
          count: 2,
          firstSeen: '2026-11-21T06:00:00.000Z',
          lastSeen: '2026-11-22T06:00:00.000Z',
          examples: [1, 2],
          stub: '',
          fix: '"NEWHOSP" has its row now (facilities.csv:3, Facility_ID 200000): nothing to add; replay the error queue to map these messages',
        },
      ],
    });
  });

  it('messages that share one array of problems (as the store pages them) are counted each, folded each, with their own ids and times', () => {
    const shared = [noFacility, unmapped('XA', { facilityId: undefined }), unmapped('xa', { facilityId: undefined })];
    const other: Problem[] = [{ ...unmapped('x'), code: 'CD3060', value: undefined }];
    const msgs = [
      { id: 7, receivedAt: '2026-11-22T06:00:00.000Z', problems: shared },
      { id: 3, receivedAt: '2026-11-24T06:00:00.000Z', problems: other },
      { id: 5, receivedAt: '2026-11-23T06:00:00.000Z', problems: shared },
      { id: 4, receivedAt: '2026-11-21T06:00:00.000Z', problems: other },
      { id: 9, receivedAt: '2026-11-20T06:00:00.000Z', problems: shared },
    ];
    const { facilities } = parseFacilities('/m/facilities.csv', 'source,facility_id\nnewhosp,200000\n');
    const w = groupWorklist(msgs, '/m', header, facilities);
    assert.deepEqual(w, {
      messages: 5,
      otherProblems: { CD3060: 2 },
      rows: [
        {
          field: 'Modality',
          table: 'crosswalks/modality.csv',
          value: 'XA',
          facilityId: '200000',
          system: null,
          count: 3,
          firstSeen: '2026-11-20T06:00:00.000Z',
          lastSeen: '2026-11-23T06:00:00.000Z',
          examples: [5, 7, 9],
          stub: 'XA,<ACR code>,,,seen in 3 message(s)',
          folded:
            '3 of these message(s) were read before their sending facility "NEWHOSP" (facilities.csv:2) was in facilities.csv and are counted under 200000; replay the error queue after adding the row',
        },
        {
          field: 'Facility_ID',
          table: 'facilities.csv',
          value: 'NEWHOSP',
          facilityId: '200000',
          system: null,
          count: 3,
          firstSeen: '2026-11-20T06:00:00.000Z',
          lastSeen: '2026-11-23T06:00:00.000Z',
          examples: [5, 7, 9],
          stub: '',
          fix: '"NEWHOSP" has its row now (facilities.csv:2, Facility_ID 200000): nothing to add; replay the error queue to map these messages',
        },
      ],
    });
    // the same as with a copy of the problems each
    assert.deepEqual(
      groupWorklist(
        msgs.map((m) => ({ ...m, problems: m.problems.map((p) => ({ ...p })) })),
        '/m',
        header,
        facilities,
      ),
      w,
    );
  });

  it("a mapped value outside ACR's value set: one row per field, value and the crosswalk row or rule that gave it, with the fix instead of a row to add", () => {
    const outside = (value: string, file: string, line: number, field = 'CDS_Vendor'): Problem => ({
      ...unmapped(value),
      code: 'MAP_NOT_IN_VALUESET',
      field,
      file,
      line,
    });
    const msgs = [
      { id: 1, receivedAt: '2026-11-23T06:00:00.000Z', problems: [outside('G9999', '/m/hl7v2.yaml', 103)] },
      {
        id: 2,
        receivedAt: '2026-11-23T07:00:00.000Z',
        problems: [outside('G9999', '/m/hl7v2.yaml', 103), outside('9', '/m/crosswalks/modality.csv', 31, 'Modality')],
      },
      // the same value from the FHIR rule is another line to fix
      { id: 3, receivedAt: '2026-11-23T08:00:00.000Z', problems: [outside('G9999', '/m/fhir.yaml', 81)] },
    ];
    const w = groupWorklist(msgs, '/m', header);
    const row = { facilityId: '100000', system: null, stub: '' };
    assert.deepEqual(w, {
      messages: 3,
      otherProblems: {},
      rows: [
        {
          ...row,
          field: 'CDS_Vendor',
          table: 'hl7v2.yaml:103',
          value: 'G9999',
          count: 2,
          firstSeen: '2026-11-23T06:00:00.000Z',
          lastSeen: '2026-11-23T07:00:00.000Z',
          examples: [1, 2],
          fix: '"G9999" is not an ACR code of CDS_Vendor: fix the rule at hl7v2.yaml:103, or add a crosswalk to it with a row G9999,<ACR code> (the codes of valuesets/CDS_Vendor.csv)',
        },
        {
          ...row,
          field: 'Modality',
          table: 'crosswalks/modality.csv:31',
          value: '9',
          count: 1,
          firstSeen: '2026-11-23T07:00:00.000Z',
          lastSeen: '2026-11-23T07:00:00.000Z',
          examples: [2],
          fix: '"9" is not an ACR code of Modality: change the ACR code of crosswalks/modality.csv:31 to one of ACR\'s codes (the codes of valuesets/Modality.csv)',
        },
        {
          ...row,
          field: 'CDS_Vendor',
          table: 'fhir.yaml:81',
          value: 'G9999',
          count: 1,
          firstSeen: '2026-11-23T08:00:00.000Z',
          lastSeen: '2026-11-23T08:00:00.000Z',
          examples: [3],
          fix: '"G9999" is not an ACR code of CDS_Vendor: fix the rule at fhir.yaml:81, or add a crosswalk to it with a row G9999,<ACR code> (the codes of valuesets/CDS_Vendor.csv)',
        },
      ],
    });
  });

  it('quotes a value CSV would misread and names tables outside the mappings directory by their path', () => {
    assert.equal(stubRow(['source', 'acr_code'], { value: 'A,"B"', system: null, count: 1 }, '<ACR code>'), '"A,""B""",<ACR code>');
    assert.equal(stubRow(undefined, { value: ' #x', system: null, count: 1 }, '<ACR code>'), '" #x",<ACR code>');
    assert.equal(tableName('/elsewhere/x.csv', '/m'), '/elsewhere/x.csv');
    assert.equal(tableName('facilities.csv', '/m'), 'facilities.csv');
  });
});

describe('groupGuesses', () => {
  const v = (source: string, rule: string, guess?: string): FieldValue => ({
    value: 'x',
    time: '',
    seq: 1,
    source,
    rule,
    ...(guess !== undefined ? { guess } : {}),
  });
  const ORC9 = 'fallback: ORC-9, the 5th of 5 candidates';
  const OBR22 = 'OBR-22 is the result report time, not the exam completion';

  it('one row per field, rule and reason however many records hold it, the most first, five example sources', () => {
    const maps: FieldMap[] = [
      ...['M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M6'].map((id) => ({
        CDS_Consultation_Date: v(id, '/m/hl7v2.yaml:46', ORC9),
        CDS_Consultation_Time: v(id, '/m/hl7v2.yaml:55', 'fallback: ORC-9, the 5th of 5 candidates'),
      })),
      { Exam_Completion_Date: v('R1', '/m/hl7v2.yaml:95', OBR22), Modality: v('R1', '/m/hl7v2.yaml:73') },
      { Exam_Completion_Date: v('R2', '/m/hl7v2.yaml:95', 'OBR-7 is the observation start time, not the exam completion') },
      {},
    ];
    assert.deepEqual(groupGuesses(maps, '/m'), [
      { field: 'CDS_Consultation_Date', rule: 'hl7v2.yaml:46', guess: ORC9, count: 7, examples: ['M1', 'M2', 'M3', 'M4', 'M5'] },
      { field: 'CDS_Consultation_Time', rule: 'hl7v2.yaml:55', guess: ORC9, count: 7, examples: ['M1', 'M2', 'M3', 'M4', 'M5'] },
      { field: 'Exam_Completion_Date', rule: 'hl7v2.yaml:95', guess: OBR22, count: 1, examples: ['R1'] },
      {
        field: 'Exam_Completion_Date',
        rule: 'hl7v2.yaml:95',
        guess: 'OBR-7 is the observation start time, not the exam completion',
        count: 1,
        examples: ['R2'],
      },
    ]);
  });
});
