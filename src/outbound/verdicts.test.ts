// NRDR's verdicts only from evidence: an Exam_Errors entry names a record only exactly (a near miss
// or an entry naming several encounters leaves needs-review, never rejected), the exam count must
// be what was sent, Posted keeps its Exam_Errors as warnings, Failed is not a rejection.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TransactionStatus } from '../cdsr/schema.js';
import { matchExamId, verdicts } from './verdicts.js';

const A = { encounterKey: '100000|V0001', consultationKey: '11/02/2026 09:30:15', contentHash: 'a' };
const B = { encounterKey: '100000|V0001', consultationKey: '11/02/2026 13:55:12', contentHash: 'b' };
const C = { encounterKey: '100000|V0002', consultationKey: '11/02/2026 10:00:00', contentHash: 'c' };
const status = (Status: string, inError: number, errors: (string | null)[], Error_Msg: string | null = null, included = 3): TransactionStatus => ({
  Transaction_ID: 'T',
  Transaction_DateTime: '11/23/2026 06:00:00',
  Num_of_Exam_Included: included,
  Num_of_Exam_In_Error: inError,
  PartnerID: '10000',
  AppID: '10019',
  Facility_ID: '100000',
  Status,
  Error_Msg,
  Exam_Errors: errors.map((id) => ({ Exam_Unique_ID: id, Error_Msg: 'CD3060:Invalid date format' })),
});
const results = (s: TransactionStatus) => verdicts([A, B, C], s).map((r) => r.result);
const said = (r: { problems: { code: string; severity: string; message: string }[] } | undefined) =>
  r?.problems.map((p) => `${p.severity} ${p.code}:${p.message}`);

describe('matchExamId', () => {
  const H1 = { encounterKey: '100000|H1', consultationKey: '03/03/2022 15:08:33', contentHash: 'h1' };
  const Hdash1 = { encounterKey: '100000|H-1', consultationKey: '03/03/2022 15:08:33', contentHash: 'h-1' };
  it('exact after trimming: the encounter id, or encounter id, date and time one space apart', () => {
    assert.deepEqual(matchExamId('H-1', [H1, Hdash1]), { kind: 'exact', records: [1] });
    assert.deepEqual(matchExamId('  H1 03/03/2022 15:08:33\t', [H1, Hdash1]), { kind: 'exact', records: [0] });
    assert.deepEqual(matchExamId('H1', [H1, Hdash1]), { kind: 'exact', records: [0] });
  });
  it('other case, other separators, a date written otherwise: partial; nothing alike: none', () => {
    assert.deepEqual(matchExamId('h-1', [H1, Hdash1]), { kind: 'partial', records: [0, 1] });
    assert.deepEqual(matchExamId('H103032022150833', [H1, Hdash1]), { kind: 'partial', records: [0, 1] });
    assert.deepEqual(matchExamId('H-1|03/03/2022|15:08:33', [H1, Hdash1]), { kind: 'partial', records: [0, 1] });
    assert.deepEqual(matchExamId('H-1 3/3/2022 15:08:33', [H1, Hdash1]), { kind: 'partial', records: [1] });
    for (const none of ['', '   ', null, undefined, 'NRDR-7', 'H2']) assert.deepEqual(matchExamId(none, [H1, Hdash1]), { kind: 'none' }, String(none));
  });
  it('exact forms of records in two encounters: ambiguous', () => {
    const odd = { encounterKey: '100000|H1 03/03/2022 15:08:33', consultationKey: '03/04/2022 10:00:00', contentHash: 'o' };
    assert.deepEqual(matchExamId('H1 03/03/2022 15:08:33', [H1, odd]), { kind: 'ambiguous', records: [0, 1] });
  });
});

describe('verdicts', () => {
  it('Posted with the count sent: every record accepted, no problems', () => {
    assert.deepEqual(verdicts([A, B, C], status('Posted', 0, [])), [
      { ...A, result: 'accepted', problems: [] },
      { ...B, result: 'accepted', problems: [] },
      { ...C, result: 'accepted', problems: [] },
    ]);
  });

  it("Posted with Exam_Errors (the spec example's CD2070 with an empty id): accepted, the entries kept as warnings", () => {
    const s: TransactionStatus = {
      ...status('Posted', 0, []),
      Exam_Errors: [
        { Exam_Unique_ID: '', Error_Msg: 'CD2070:Invalid. Missing encounter object information' },
        { Exam_Unique_ID: 'V0002', Error_Msg: 'CD3060:Invalid date format' },
      ],
    };
    const r = verdicts([A, B, C], s);
    assert.deepEqual(
      r.map((x) => x.result),
      ['accepted', 'accepted', 'accepted'],
    );
    assert.deepEqual(r[0]?.problems, [
      { code: 'CD2070', message: 'Invalid. Missing encounter object information', severity: 'warning', scope: 'transaction', path: '' },
    ]);
    assert.deepEqual(said(r[2]), ['warning CD3060:Invalid date format', 'warning CD2070:Invalid. Missing encounter object information']);
    assert.equal(r[2]?.problems[0]?.scope, 'consultation');
  });

  it('Num_of_Exam_Included other than the exams sent: every record needs-review with the reason', () => {
    const reason =
      "error NRDR_UNCLEAR:NRDR's answer (Posted) counts 1 exam(s) included, but the transaction sent 3: it may not be about what was sent, so it does not say whether this record was loaded";
    const posted = verdicts([A, B, C], status('Posted', 0, [], null, 1));
    assert.deepEqual(
      posted.map((x) => x.result),
      ['needs-review', 'needs-review', 'needs-review'],
    );
    assert.deepEqual(said(posted[0]), [reason]);
    const partly = verdicts(
      [A, B, C],
      status('PartiallySuccessful', 1, ['V0002'], 'CD2080:Some of the encounters did not pass validation and were rejected', 4),
    );
    assert.deepEqual(
      partly.map((x) => x.result),
      ['needs-review', 'needs-review', 'needs-review'],
    );
    assert.deepEqual(said(partly[2]), [
      "error NRDR_UNCLEAR:NRDR's answer (PartiallySuccessful) counts 4 exam(s) included, but the transaction sent 3: it may not be about what was sent, so it does not say whether this record was loaded",
      'error CD3060:Invalid date format',
      'error CD2080:Some of the encounters did not pass validation and were rejected',
    ]);
  });

  it('PartiallySuccessful naming a consultation or an encounter exactly: those rejected, the rest accepted', () => {
    assert.deepEqual(results(status('PartiallySuccessful', 1, ['V0001 11/02/2026 09:30:15'])), ['rejected', 'accepted', 'accepted']);
    assert.deepEqual(results(status('PartiallySuccessful', 1, [' V0002 '])), ['accepted', 'accepted', 'rejected']);
    // the whole encounter named: both its consultations (NRDR counting the encounter once)
    assert.deepEqual(results(status('PartiallySuccessful', 1, ['V0001'])), ['rejected', 'rejected', 'accepted']);
    const [rejected] = verdicts([A], status('PartiallySuccessful', 1, ['V0001'], null, 1));
    assert.deepEqual(said(rejected), ['error CD3060:Invalid date format']);
  });

  it('H-1 named, H1 loaded: H-1 rejected, H1 accepted', () => {
    const H1 = { encounterKey: '100000|H1', consultationKey: '03/03/2022 15:08:33', contentHash: 'h1' };
    const Hdash1 = { encounterKey: '100000|H-1', consultationKey: '03/03/2022 15:08:33', contentHash: 'h-1' };
    assert.deepEqual(
      verdicts([H1, Hdash1], status('PartiallySuccessful', 1, ['H-1 03/03/2022 15:08:33'], null, 2)).map((r) => [r.encounterKey, r.result]),
      [
        ['100000|H1', 'accepted'],
        ['100000|H-1', 'rejected'],
      ],
    );
  });

  it('an entry that only resembles a record: that record needs-review (never rejected), the others accepted when the count agrees', () => {
    for (const id of ['v0002', 'V0002|11022026|100000', 'V000211022026100000', 'V0002 11/2/2026 10:00:00']) {
      assert.deepEqual(results(status('PartiallySuccessful', 1, [id])), ['accepted', 'accepted', 'needs-review'], id);
    }
    const r = verdicts([A, B, C], status('PartiallySuccessful', 1, ['v0002']));
    assert.deepEqual(said(r[2]), [
      `error NRDR_UNCLEAR:NRDR's Exam_Errors entry "v0002" resembles this record but does not name it exactly (its encounter id, or the encounter id, consultation date and time one space apart): it does not say whether this record was loaded`,
      'error CD3060:Invalid date format',
    ]);
    // resembling both consultations of V0001: both need review
    assert.deepEqual(results(status('PartiallySuccessful', 1, ['v0001'])), ['needs-review', 'needs-review', 'accepted']);
  });

  it('an entry naming records of two encounters: those need review, with why', () => {
    const odd = { encounterKey: '100000|V0002 11/02/2026 10:00:00', consultationKey: '11/03/2026 08:00:00', contentHash: 'o' };
    const r = verdicts([A, C, odd], status('PartiallySuccessful', 1, ['V0002 11/02/2026 10:00:00']));
    assert.deepEqual(
      r.map((x) => x.result),
      ['accepted', 'needs-review', 'needs-review'],
    );
    assert.equal(
      r[1]?.problems[0]?.message,
      `NRDR's Exam_Errors entry "V0002 11/02/2026 10:00:00" names records of 2 encounters: it does not say which one it refused`,
    );
  });

  it('an entry that names no record, or counts that disagree: the others need review, never accepted', () => {
    for (const id of ['', null, 'NRDR-internal-123', 'ENC:V0009']) {
      assert.deepEqual(results(status('PartiallySuccessful', 1, [id])), ['needs-review', 'needs-review', 'needs-review'], String(id));
    }
    assert.deepEqual(results(status('PartiallySuccessful', 2, ['V0002'])), ['needs-review', 'needs-review', 'rejected']);
    const [review] = verdicts([A], status('PartiallySuccessful', 1, ['NRDR-internal-123'], null, 1));
    assert.deepEqual(said(review), [
      `error NRDR_UNCLEAR:NRDR's answer (PartiallySuccessful, 1 in error) does not say whether this record was loaded: Exam_Errors ["NRDR-internal-123"]`,
    ]);
  });

  it("ValidationFail: nothing loaded, every record rejected with the transaction's codes and those naming it", () => {
    const r = verdicts([A, C], status('ValidationFail', 0, [], 'CD2053:Facility has not registered for CDSR.  Submission aborted', 2));
    assert.deepEqual(
      r.map((x) => [x.result, x.problems.map((p) => p.code)]),
      [
        ['rejected', ['CD2053']],
        ['rejected', ['CD2053']],
      ],
    );
    assert.deepEqual(results(status('ValidationFail', 3, ['V0002', 'v0001'], 'CD0004:The entire transaction was rejected due to failure in validation')), [
      'rejected',
      'rejected',
      'rejected',
    ]);
  });

  it("Failed: every record needs-review with NRDR's text, not rejected", () => {
    const r = verdicts([A, C], status('Failed', 2, [], 'CD1005:Error importing data simulated import failure', 2));
    assert.deepEqual(
      r.map((x) => x.result),
      ['needs-review', 'needs-review'],
    );
    assert.deepEqual(said(r[0]), [
      'error NRDR_FAILED:NRDR answered Failed: the transaction failed to be created due to an error at NRDR (not a verdict on the data), Error_Msg "CD1005:Error importing data simulated import failure"; check the transaction at NRDR; the record is sent again when it changes, or automatically with CDSR_RESEND_FAILED',
      'error CD1005:Error importing data simulated import failure',
    ]);
    assert.deepEqual(results(status('Failed', 3, ['x'])), ['needs-review', 'needs-review', 'needs-review']);
  });
});
