// Resubmission: records NRDR rejected go back to `ready` (after a registration fix at ACR, say)
// and are sent in the next round; each change is kept in the record's history (who, when, from
// which transaction, with the rejection's codes), never made silently.
import type { Problem } from '../cdsr/problem.js';
import { ProblemsSchema, row } from './rows.js';
import type { Queryable, TxQueryable } from './sql.js';

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
    const changed = await q.run(`UPDATE consultations SET state = 'ready' WHERE encounter_key = ? AND consultation_key = ? AND state = 'rejected'`, [key, cons]);
    if (changed === 0) continue;
    await q.run(
      'INSERT INTO record_history (encounter_key, consultation_key, at, from_state, to_state, who, why, transaction_id, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [key, cons, by.at.toISOString(), 'rejected', 'ready', by.who, by.why, transactionId, c.optText('nrdr_problems') ?? '[]'],
    );
    done.push({ encounterKey: key, consultationKey: cons, transactionId });
  }
  return done;
}

export async function recordHistory(q: Queryable, encounterKey: string): Promise<Map<string, HistoryEntry[]>> {
  const rows = await q.all('SELECT consultation_key, at, from_state, to_state, who, why, transaction_id, problems FROM record_history WHERE encounter_key = ? ORDER BY id', [encounterKey]);
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
