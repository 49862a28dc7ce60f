// Resubmission: records NRDR rejected go back to `ready` (after a registration fix at ACR, say)
// and are sent in the next round; each change is kept in the record's history (who, when, from
// which transaction, with the rejection's codes), never made silently.
import type { Problem } from '../cdsr/problem.js';
import { ProblemsSchema, row } from './rows.js';
import type { Queryable, TxQueryable } from './sql.js';
import { moveRecord } from './states.js';

export interface ResubmitFilter {
  readonly facility?: string;
  readonly encounterKey?: string;
}

export interface ResubmittedRecord {
  readonly encounterKey: string;
  readonly consultationKey: string;
  /** The transaction NRDR rejected it in. */
  readonly transactionId: string | null;
}

/** A change of a record's state made by hand. */
export interface HistoryEntry {
  readonly at: string;
  readonly from: string;
  readonly to: string;
  /** The key by role and position (`operate#1`). */
  readonly who: string;
  readonly why: string;
  readonly transactionId: string | null;
  /** What NRDR had said (the rejection that was resubmitted). */
  readonly problems: Problem[];
}

const SELECT = `SELECT c.encounter_key, c.consultation_key, c.transaction_id, c.nrdr_problems FROM consultations c JOIN encounters e ON e.encounter_key = c.encounter_key
  WHERE c.state = 'rejected' AND (CAST(? AS TEXT) IS NULL OR e.facility_id = ?) AND (CAST(? AS TEXT) IS NULL OR c.encounter_key = ?)
  ORDER BY c.encounter_key, c.consultation_key`;

export async function resubmitRejected(q: TxQueryable, f: ResubmitFilter, by: { who: string; at: Date; why: string }): Promise<ResubmittedRecord[]> {
  const params = [f.facility ?? null, f.facility ?? null, f.encounterKey ?? null, f.encounterKey ?? null];
  const first = await q.all(SELECT, params);
  if (first.length === 0) return [];
  await q.lock([...new Set(first.map((r) => row('consultations', r).text('encounter_key')))]);
  // read again under the locks: a record that changed meanwhile is no longer rejected
  const rows = await q.all(SELECT, params);
  const done: ResubmittedRecord[] = [];
  for (const r of rows) {
    const c = row('consultations', r);
    const key = c.text('encounter_key');
    const cons = c.text('consultation_key');
    const transactionId = c.optText('transaction_id') ?? null;
    const changed = await moveRecord(q, { encounterKey: key, consultationKey: cons, from: 'rejected', to: 'ready' });
    if (changed === 0) continue;
    await q.run(
      'INSERT INTO record_history (encounter_key, consultation_key, at, from_state, to_state, who, why, transaction_id, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [key, cons, by.at.toISOString(), 'rejected', 'ready', by.who, by.why, transactionId, c.optText('nrdr_problems') ?? '[]'],
    );
    done.push({ encounterKey: key, consultationKey: cons, transactionId });
  }
  return done;
}

/** Who the record history names for a resend after NRDR answered Failed. */
export const AUTOMATIC_RESEND = 'submitter (NRDR answered Failed)';

const FAILED_SELECT = `SELECT c.encounter_key, c.consultation_key, c.nrdr_problems, t.content_hash FROM consultations c
  JOIN transaction_records t ON t.transaction_id = c.transaction_id AND t.encounter_key = c.encounter_key AND t.consultation_key = c.consultation_key
  WHERE c.transaction_id = ? AND c.state = 'needs-review' AND c.submitted_hash = t.content_hash
  ORDER BY c.encounter_key, c.consultation_key`;

/**
 * After NRDR answered Failed for a transaction: its records (still needs-review, unchanged since)
 * go back to `ready`, so the next round sends them in a new transaction, each at most `limit`
 * times for the same content (counted in the record history); the others stay needs-review.
 */
export async function resendFailed(
  q: TxQueryable,
  transactionId: string,
  limit: number,
  at: Date,
): Promise<{ resent: ResubmittedRecord[]; kept: ResubmittedRecord[] }> {
  const first = await q.all(FAILED_SELECT, [transactionId]);
  if (first.length === 0) return { resent: [], kept: [] };
  await q.lock([...new Set(first.map((r) => row('consultations', r).text('encounter_key')))]);
  const resent: ResubmittedRecord[] = [];
  const kept: ResubmittedRecord[] = [];
  for (const r of await q.all(FAILED_SELECT, [transactionId])) {
    const c = row('consultations', r);
    const key = c.text('encounter_key');
    const cons = c.text('consultation_key');
    // resends of this same content before (a changed record is sent anyway, as a new one)
    const before = await q.get(
      `SELECT COUNT(*) AS n FROM record_history h JOIN transaction_records t
         ON t.transaction_id = h.transaction_id AND t.encounter_key = h.encounter_key AND t.consultation_key = h.consultation_key
       WHERE h.encounter_key = ? AND h.consultation_key = ? AND h.who = ? AND t.content_hash = ?`,
      [key, cons, AUTOMATIC_RESEND, c.text('content_hash')],
    );
    const n = before ? row('record_history', before).int('n') : 0;
    if (n >= limit) {
      kept.push({ encounterKey: key, consultationKey: cons, transactionId });
      continue;
    }
    await moveRecord(q, {
      encounterKey: key,
      consultationKey: cons,
      from: 'needs-review',
      to: 'ready',
      where: { sql: 'transaction_id = ?', params: [transactionId] },
    });
    await q.run(
      'INSERT INTO record_history (encounter_key, consultation_key, at, from_state, to_state, who, why, transaction_id, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        key,
        cons,
        at.toISOString(),
        'needs-review',
        'ready',
        AUTOMATIC_RESEND,
        `sent again under a new Transaction_ID (automatic resend ${n + 1} of ${limit}, CDSR_RESEND_FAILED)`,
        transactionId,
        c.optText('nrdr_problems') ?? '[]',
      ],
    );
    resent.push({ encounterKey: key, consultationKey: cons, transactionId });
  }
  return { resent, kept };
}

export async function recordHistory(q: Queryable, encounterKey: string): Promise<Map<string, HistoryEntry[]>> {
  const rows = await q.all(
    'SELECT consultation_key, at, from_state, to_state, who, why, transaction_id, problems FROM record_history WHERE encounter_key = ? ORDER BY id',
    [encounterKey],
  );
  const out = new Map<string, HistoryEntry[]>();
  for (const r of rows) {
    const h = row('record_history', r);
    const list = out.get(h.text('consultation_key')) ?? [];
    list.push({
      at: h.text('at'),
      from: h.text('from_state'),
      to: h.text('to_state'),
      who: h.text('who'),
      why: h.text('why'),
      transactionId: h.optText('transaction_id') ?? null,
      problems: h.json('problems', ProblemsSchema, []),
    });
    out.set(h.text('consultation_key'), list);
  }
  return out;
}
