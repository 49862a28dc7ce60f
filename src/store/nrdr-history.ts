// NRDR's status history of a transaction: every answer that said something new (the POST's answer
// and each poll whose status, Error_Msg or exam errors differ from the one before), with when it
// came, so an operator sees Received → Loading → Posted and not only the last word.
import type { TransactionStatus } from '../cdsr/schema.js';
import { row } from './rows.js';
import type { Queryable } from './sql.js';

/** One status answer of NRDR, as kept. */
export interface NrdrStatusEntry {
  /** When the answer came (ISO). */
  readonly at: string;
  readonly status: string;
  readonly errorMsg: string | null;
  /** How many Exam_Errors the answer listed. */
  readonly examErrors: number;
  /** The exam errors in short (`V0001: message; …`), '' when none; at most 500 characters. */
  readonly summary: string;
}

const SUMMARY_MAX = 500;

// a status not read through the schema may carry null for "no errors"
const examErrorsOf = (s: TransactionStatus) => (Array.isArray(s.Exam_Errors) ? s.Exam_Errors : []);

export function summarizeExamErrors(s: TransactionStatus): string {
  const text = examErrorsOf(s)
    .map((e) => (e.Exam_Unique_ID ? `${e.Exam_Unique_ID}: ${e.Error_Msg}` : e.Error_Msg))
    .join('; ');
  return text.length > SUMMARY_MAX ? `${text.slice(0, SUMMARY_MAX - 1)}…` : text;
}

/** Keeps a status answer unless it says what the last kept one said; true when a row was added. */
export async function appendNrdrStatus(q: Queryable, transactionId: string, s: TransactionStatus, at: Date): Promise<boolean> {
  const entry = { status: s.Status, errorMsg: s.Error_Msg ?? null, examErrors: examErrorsOf(s).length, summary: summarizeExamErrors(s) };
  const last = await q.get('SELECT status, error_msg, exam_errors, summary FROM nrdr_status_history WHERE transaction_id = ? ORDER BY id DESC LIMIT 1', [
    transactionId,
  ]);
  if (last) {
    const l = row('nrdr_status_history', last);
    if (
      l.text('status') === entry.status &&
      (l.optText('error_msg') ?? null) === entry.errorMsg &&
      l.int('exam_errors') === entry.examErrors &&
      l.text('summary') === entry.summary
    )
      return false;
  }
  await q.run('INSERT INTO nrdr_status_history (transaction_id, at, status, error_msg, exam_errors, summary) VALUES (?, ?, ?, ?, ?, ?)', [
    transactionId,
    at.toISOString(),
    entry.status,
    entry.errorMsg,
    entry.examErrors,
    entry.summary,
  ]);
  return true;
}

/** Oldest first. */
export async function nrdrStatusHistory(q: Queryable, transactionId: string): Promise<NrdrStatusEntry[]> {
  const rows = await q.all('SELECT at, status, error_msg, exam_errors, summary FROM nrdr_status_history WHERE transaction_id = ? ORDER BY id', [transactionId]);
  return rows.map((r) => {
    const h = row('nrdr_status_history', r);
    return {
      at: h.text('at'),
      status: h.text('status'),
      errorMsg: h.optText('error_msg') ?? null,
      examErrors: h.int('exam_errors'),
      summary: h.text('summary'),
    };
  });
}
