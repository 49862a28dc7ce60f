// NRDR's verdict on each record of a transaction, only from what its final answer says (never
// "accepted" by default). Posted: every record loaded. ValidationFail / Failed: nothing loaded.
// PartiallySuccessful: a record is rejected when an Exam_Errors entry names it, in any of the forms
// NRDR may use (its encounter id, or encounter id with the consultation's date and time, with any
// separators); the others are accepted only when every entry was matched and Num_of_Exam_In_Error
// agrees — otherwise they need review, with NRDR's own text attached.
import { parseErrorMsg } from '../cdsr/error-msg.js';
import type { Problem } from '../cdsr/problem.js';
import type { TransactionStatus } from '../cdsr/schema.js';
import type { OutboundRecord, RecordResult } from '../store/store.js';

const norm = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9]/g, '');

function problem(code: string, message: string): Problem {
  return { code: code as Problem['code'], message, severity: 'error', scope: 'consultation', path: '' };
}

/** The forms an Exam_Unique_ID may take for a record, normalised. */
function formsOf(r: OutboundRecord): string[] {
  const encounterId = r.encounterKey.slice(r.encounterKey.indexOf('|') + 1);
  return [norm(encounterId), norm(`${encounterId}${r.consultationKey}`)];
}

export function verdicts(records: readonly OutboundRecord[], status: TransactionStatus): RecordResult[] {
  const txProblems = parseErrorMsg(status.Error_Msg).map((m) => problem(m.code, m.message));
  if (status.Status === 'Posted') return records.map((r) => ({ ...r, result: 'accepted' as const, problems: [] }));
  const entries = status.Exam_Errors.map((e) => ({ key: norm(e.Exam_Unique_ID ?? ''), raw: e.Exam_Unique_ID ?? '', problems: parseErrorMsg(e.Error_Msg).map((m) => problem(m.code, m.message)) }));
  const matched = new Set<number>();
  const mine = records.map((r) => {
    const forms = formsOf(r);
    const found: Problem[] = [];
    entries.forEach((e, i) => {
      if (e.key !== '' && forms.includes(e.key)) {
        matched.add(i);
        found.push(...e.problems);
      }
    });
    return found;
  });
  if (status.Status === 'ValidationFail' || status.Status === 'Failed') {
    // nothing was loaded: every record is rejected, with what names it and what names the whole
    const unnamed = entries.filter((_, i) => !matched.has(i)).flatMap((e) => e.problems);
    return records.map((r, i) => ({ ...r, result: 'rejected' as const, problems: [...txProblems, ...mine[i]!, ...unnamed] }));
  }
  const rejected = mine.filter((m) => m.length > 0).length;
  const encountersRejected = new Set(records.filter((_, i) => mine[i]!.length > 0).map((r) => r.encounterKey)).size;
  const allMatched = entries.every((_, i) => matched.has(i));
  const countsAgree = status.Num_of_Exam_In_Error === rejected || status.Num_of_Exam_In_Error === encountersRejected;
  const clear = allMatched && countsAgree;
  const unclear = problem(
    'NRDR_UNCLEAR',
    `NRDR's answer (${status.Status}, ${status.Num_of_Exam_In_Error} in error) does not say whether this record was loaded: ` +
      `Exam_Errors ${JSON.stringify(status.Exam_Errors.map((e) => e.Exam_Unique_ID ?? null))}${status.Error_Msg ? `, Error_Msg "${status.Error_Msg}"` : ''}`,
  );
  return records.map((r, i) => {
    if (mine[i]!.length > 0) return { ...r, result: 'rejected' as const, problems: mine[i]! };
    return clear ? { ...r, result: 'accepted' as const, problems: [] } : { ...r, result: 'needs-review' as const, problems: [unclear, ...txProblems] };
  });
}
