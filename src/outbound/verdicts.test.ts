// NRDR's verdicts only from evidence: the forms an Exam_Errors entry may take, and what happens
// when an answer cannot be matched (needs-review, never accepted by default).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TransactionStatus } from '../cdsr/schema.js';
import { verdicts } from './verdicts.js';

const A = { encounterKey: '100000|V0001', consultationKey: '11/02/2026 09:30:15', contentHash: 'a' };
const B = { encounterKey: '100000|V0001', consultationKey: '11/02/2026 13:55:12', contentHash: 'b' };
const C = { encounterKey: '100000|V0002', consultationKey: '11/02/2026 10:00:00', contentHash: 'c' };
const status = (Status: string, inError: number, errors: (string | null)[], Error_Msg: string | null = null): TransactionStatus => ({
  Transaction_ID: 'T',
  Transaction_DateTime: '11/23/2026 06:00:00',
  Num_of_Exam_Included: 3,
  Num_of_Exam_In_Error: inError,
  PartnerID: '10000',
  AppID: '10019',
  Facility_ID: '100000',
  Status,
  Error_Msg,
  Exam_Errors: errors.map((id) => ({ Exam_Unique_ID: id, Error_Msg: 'CD3060:Invalid date format' })),
});
const results = (s: TransactionStatus) => verdicts([A, B, C], s).map((r) => r.result);

describe('verdicts', () => {
  it('Posted: every record accepted', () => {
    assert.deepEqual(results(status('Posted', 0, [])), ['accepted', 'accepted', 'accepted']);
  });

  it('PartiallySuccessful naming a consultation or an encounter, in any separators: those rejected, the rest accepted', () => {
    assert.deepEqual(results(status('PartiallySuccessful', 1, ['V0001 11/02/2026 09:30:15'])), ['rejected', 'accepted', 'accepted']);
    assert.deepEqual(results(status('PartiallySuccessful', 1, ['V0001|11022026|093015'])), ['rejected', 'accepted', 'accepted']);
    assert.deepEqual(results(status('PartiallySuccessful', 1, ['v0002'])), ['accepted', 'accepted', 'rejected']);
    // the whole encounter named: both its consultations (NRDR counting the encounter once)
    assert.deepEqual(results(status('PartiallySuccessful', 1, ['V0001'])), ['rejected', 'rejected', 'accepted']);
    const [rejected] = verdicts([A], status('PartiallySuccessful', 1, ['V0001']));
    assert.deepEqual(rejected?.problems.map((p) => `${p.code}:${p.message}`), ['CD3060:Invalid date format']);
  });

  it('an entry that names no record, or counts that disagree: the others need review, never accepted', () => {
    for (const id of ['', null, 'NRDR-internal-123', 'ENC:V0009']) {
      assert.deepEqual(results(status('PartiallySuccessful', 1, [id])), ['needs-review', 'needs-review', 'needs-review'], String(id));
    }
    assert.deepEqual(results(status('PartiallySuccessful', 2, ['V0002'])), ['needs-review', 'needs-review', 'rejected']);
    const [review] = verdicts([A], status('PartiallySuccessful', 1, ['NRDR-internal-123']));
    assert.deepEqual(review?.problems[0]?.message, `NRDR's answer (PartiallySuccessful, 1 in error) does not say whether this record was loaded: Exam_Errors ["NRDR-internal-123"]`);
  });

  it('ValidationFail and Failed: nothing loaded, every record rejected with the transaction\'s codes', () => {
    const r = verdicts([A, C], status('ValidationFail', 0, [], 'CD2053:Facility has not registered for CDSR.  Submission aborted'));
    assert.deepEqual(r.map((x) => [x.result, x.problems.map((p) => p.code)]), [
      ['rejected', ['CD2053']],
      ['rejected', ['CD2053']],
    ]);
    assert.deepEqual(results(status('Failed', 3, ['x'])), ['rejected', 'rejected', 'rejected']);
  });
});
