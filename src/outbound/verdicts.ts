// NRDR's verdict on each record of a transaction, only from what its final answer says (never
// "accepted" by default, never "rejected" on a guess).
// - An Exam_Errors entry names a record only exactly (after trimming): its Unique_Encounter_ID as
//   sent (the whole encounter), or that id, the consultation's date and its time as sent, one
//   space apart. Anything that only resembles a record (other case or separators, a date written
//   differently) or names records of several encounters leaves those records needs-review.
// - Num_of_Exam_Included other than the exams sent: the answer may not be about what was sent, so
//   a Posted or PartiallySuccessful answer decides nothing (every record needs-review).
// - Posted: every record loaded; Exam_Errors it still carries (the spec's own example has one) are
//   kept on the records as warnings.
// - PartiallySuccessful: the records an entry names are rejected; the others are accepted only when
//   every entry was tied to records and Num_of_Exam_In_Error agrees.
// - ValidationFail: nothing loaded, every record rejected with the codes that name it.
// - Failed ("failed to be created due to an error"): an error at NRDR, not a verdict on the data:
//   every record needs-review with NRDR's text (the submitter may send them again, see
//   resendFailed).
import { parseErrorMsg } from '../cdsr/error-msg.js';
import type { Problem, ProblemCode, ProblemScope, Severity } from '../cdsr/problem.js';
import type { TransactionStatus } from '../cdsr/schema.js';
import type { OutboundLedger, OutboundRecord, RecordResult } from '../store/store.js';

function problem(code: string, message: string, severity: Severity = 'error', scope: ProblemScope = 'consultation'): Problem {
  return { code: code as ProblemCode, message, severity, scope, path: '' };
}

const encounterIdOf = (r: OutboundRecord): string => r.encounterKey.slice(r.encounterKey.indexOf('|') + 1);

/** The Exam_Unique_IDs that name a record exactly: its encounter, or its consultation. */
export function examIdsOf(r: OutboundRecord): [encounter: string, consultation: string] {
  const encounterId = encounterIdOf(r);
  return [encounterId, `${encounterId} ${r.consultationKey}`];
}

// only for telling a near miss from no match at all: never enough to reject anything
const loose = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9]/g, '');

/** How an Exam_Errors entry ties to the records of the transaction (indices into them). */
export type ExamMatch =
  | { readonly kind: 'exact'; readonly records: readonly number[] }
  /** Exact forms of records in more than one encounter. */
  | { readonly kind: 'ambiguous'; readonly records: readonly number[] }
  /** No exact form, but records it resembles. */
  | { readonly kind: 'partial'; readonly records: readonly number[] }
  | { readonly kind: 'none' };

export function matchExamId(examId: string | null | undefined, records: readonly OutboundRecord[]): ExamMatch {
  const id = (examId ?? '').trim();
  if (id === '') return { kind: 'none' };
  const exact = records.flatMap((r, i) => (examIdsOf(r).includes(id) ? [i] : []));
  if (exact.length > 0) {
    const encounters = new Set(exact.map((i) => records[i]!.encounterKey));
    return { kind: encounters.size > 1 ? 'ambiguous' : 'exact', records: exact };
  }
  const key = loose(id);
  const upper = id.toUpperCase();
  const partial = records.flatMap((r, i) => {
    const forms = examIdsOf(r);
    const enc = forms[0].toUpperCase();
    // the same characters in other case or separators, or the encounter id followed by a date and
    // time written otherwise ("V1 3/3/2022 9:05:00")
    const near = forms.some((f) => loose(f) === key) || (upper.startsWith(enc) && /^[^A-Z0-9]/.test(upper.slice(enc.length)));
    return near ? [i] : [];
  });
  return partial.length > 0 ? { kind: 'partial', records: partial } : { kind: 'none' };
}

interface Entry {
  readonly raw: string;
  readonly match: ExamMatch;
  readonly problems: Problem[];
}

// the schema turns null into [], but a status handed in by a stand-in may not have been through it
const examErrorsOf = (s: TransactionStatus): TransactionStatus['Exam_Errors'] => (Array.isArray(s.Exam_Errors) ? s.Exam_Errors : []);
const quoteIds = (s: TransactionStatus): string => JSON.stringify(examErrorsOf(s).map((e) => e.Exam_Unique_ID ?? null));

export function verdicts(records: readonly OutboundRecord[], status: TransactionStatus): RecordResult[] {
  const txProblems = parseErrorMsg(status.Error_Msg).map((m) => problem(m.code, m.message));
  const entries: Entry[] = examErrorsOf(status).map((e) => ({
    raw: e.Exam_Unique_ID ?? '',
    match: matchExamId(e.Exam_Unique_ID, records),
    problems: parseErrorMsg(e.Error_Msg).map((m) => problem(m.code, m.message)),
  }));
  const named = (i: number, kind: ExamMatch['kind']): Entry[] =>
    entries.filter((e) => e.match.kind === kind && 'records' in e.match && e.match.records.includes(i));
  const unnamed = entries.filter((e) => e.match.kind === 'none');
  const countsOff = status.Num_of_Exam_Included !== records.length;
  const countProblem = problem(
    'NRDR_UNCLEAR',
    `NRDR's answer (${status.Status}) counts ${status.Num_of_Exam_Included} exam(s) included, but the transaction sent ${records.length}: ` +
      `it may not be about what was sent, so it does not say whether this record was loaded`,
  );

  if (status.Status === 'Failed') {
    // NRDR could not create the transaction: says nothing about the data, and is not a rejection
    const failed = problem(
      'NRDR_FAILED',
      `NRDR answered Failed: the transaction failed to be created due to an error at NRDR (not a verdict on the data)` +
        `${status.Error_Msg ? `, Error_Msg "${status.Error_Msg}"` : ''}; check the transaction at NRDR; the record is sent again when it changes, or automatically with CDSR_RESEND_FAILED`,
    );
    return records.map((r) => ({ ...r, result: 'needs-review' as const, problems: [failed, ...txProblems, ...entries.flatMap((e) => e.problems)] }));
  }

  if (status.Status === 'ValidationFail') {
    // nothing was loaded, whatever the entries name: every record is rejected, with what names it
    // exactly and what names no record exactly
    const loose = entries.filter((e) => e.match.kind !== 'exact').flatMap((e) => e.problems);
    return records.map((r, i) => ({ ...r, result: 'rejected' as const, problems: [...txProblems, ...named(i, 'exact').flatMap((e) => e.problems), ...loose] }));
  }

  if (status.Status === 'Posted') {
    if (countsOff) return records.map((r) => ({ ...r, result: 'needs-review' as const, problems: [countProblem] }));
    // loaded; what NRDR still says about an exam stays on it, or on every record when it names none exactly
    const warn = (e: Entry, scope: ProblemScope) => e.problems.map((p) => ({ ...p, severity: 'warning' as const, scope }));
    const general = entries.filter((e) => e.match.kind !== 'exact').flatMap((e) => warn(e, 'transaction'));
    return records.map((r, i) => ({ ...r, result: 'accepted' as const, problems: [...named(i, 'exact').flatMap((e) => warn(e, 'consultation')), ...general] }));
  }

  // PartiallySuccessful (the only other final status)
  const doubt = (e: Entry): Problem =>
    problem(
      'NRDR_UNCLEAR',
      e.match.kind === 'ambiguous'
        ? `NRDR's Exam_Errors entry "${e.raw}" names records of ${new Set(e.match.records.map((i) => records[i]!.encounterKey)).size} encounters: it does not say which one it refused`
        : `NRDR's Exam_Errors entry "${e.raw}" resembles this record but does not name it exactly (its encounter id, or the encounter id, consultation date and time one space apart): it does not say whether this record was loaded`,
    );
  const tied = records.map((_, i) => entries.some((e) => e.match.kind !== 'none' && e.match.records.includes(i)));
  const inError = tied.filter(Boolean).length;
  const encountersInError = new Set(records.filter((_, i) => tied[i]).map((r) => r.encounterKey)).size;
  // NRDR may count the consultations, the encounters or its entries in error
  const counted = [inError, encountersInError, entries.length];
  const clear = !countsOff && unnamed.length === 0 && counted.includes(status.Num_of_Exam_In_Error);
  const unclear = problem(
    'NRDR_UNCLEAR',
    `NRDR's answer (${status.Status}, ${status.Num_of_Exam_In_Error} in error) does not say whether this record was loaded: ` +
      `Exam_Errors ${quoteIds(status)}${status.Error_Msg ? `, Error_Msg "${status.Error_Msg}"` : ''}`,
  );
  return records.map((r, i) => {
    const exactEntries = named(i, 'exact');
    const exact = exactEntries.flatMap((e) =>
      e.problems.length > 0 ? e.problems : [problem('NRDR_UNCLEAR', `NRDR's Exam_Errors entry "${e.raw}" names this record without an Error_Msg`)],
    );
    const doubtful = [...named(i, 'ambiguous'), ...named(i, 'partial')];
    if (countsOff) return { ...r, result: 'needs-review' as const, problems: [countProblem, ...exact, ...doubtful.flatMap((e) => e.problems), ...txProblems] };
    if (exactEntries.length > 0) return { ...r, result: 'rejected' as const, problems: [...exact, ...doubtful.flatMap((e) => e.problems)] };
    if (doubtful.length > 0) return { ...r, result: 'needs-review' as const, problems: doubtful.flatMap((e) => [doubt(e), ...e.problems]) };
    return clear ? { ...r, result: 'accepted' as const, problems: [] } : { ...r, result: 'needs-review' as const, problems: [unclear, ...txProblems] };
  });
}

/**
 * After a Failed answer (its records just marked needs-review): with CDSR_RESEND_FAILED, they go
 * back to ready and the next round sends them under a new Transaction_ID (bounded per content).
 */
export async function resendFailed(
  store: OutboundLedger,
  transactionId: string,
  limit: number,
  at: Date,
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void },
): Promise<void> {
  if (limit <= 0) return;
  const r = await store.resendFailed(transactionId, limit, at);
  if (r.resent.length > 0)
    log?.info(
      { event: 'transaction_failed_resend', transactionId, records: r.resent.length },
      'NRDR answered Failed: its records are sent again in a new transaction',
    );
  if (r.kept.length > 0)
    log?.warn(
      { event: 'transaction_failed_review', transactionId, records: r.kept.length },
      'NRDR answered Failed again: records sent as often as CDSR_RESEND_FAILED allows need review',
    );
}
