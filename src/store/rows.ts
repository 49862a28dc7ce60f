// What both stores (SQLite, PostgreSQL) read from and write to their rows, in one place: merge
// state from rows, consultation rows from merge state, messages and transactions from rows.
import type { Problem } from '../cdsr/problem.js';
import type { Transaction, TransactionStatus } from '../cdsr/schema.js';
import type { CdsrValidator } from '../cdsr/validate.js';
import type { ConsultationState, EncounterState, FieldMap, FieldValue } from '../mapping/merge.js';
import { evaluateConsultation, type RecordState } from './evaluate.js';
import type { ConsultationRow, MessageRow, MessageStatus, OutboundStatus, RecordSummary, RecordView, TransactionRow } from './store.js';

export type Row = Record<string, unknown>;

export const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : '');
export const json = <T>(v: unknown, fallback: T): T => (typeof v === 'string' && v !== '' ? (JSON.parse(v) as T) : fallback);

export function encounterFromRows(e: Row, consultationRows: readonly Row[]): EncounterState {
  const consultations = new Map<string, ConsultationState>();
  for (const c of consultationRows) {
    const cancelled = json<FieldValue | null>(c.cancelled, null);
    consultations.set(str(c.consultation_key), { date: str(c.cdate), time: str(c.ctime), fields: json<FieldMap>(c.fields, {}), ...(cancelled ? { cancelled } : {}) });
  }
  return {
    facilityId: str(e.facility_id),
    encounterId: str(e.encounter_id),
    ...(e.partner_id ? { partnerId: str(e.partner_id) } : {}),
    fields: json<FieldMap>(e.fields, {}),
    consultationDefaults: json<FieldMap>(e.consultation_defaults, {}),
    consultations,
  };
}

export interface ConsultationWrite {
  readonly consultationKey: string;
  readonly date: string;
  readonly time: string;
  readonly fields: string;
  readonly cancelled: string | null;
  readonly state: RecordState;
  readonly missing: string;
  readonly problems: string;
  readonly contentHash: string;
}

/**
 * The rows to write for an encounter's consultations after a merge. A consultation whose content
 * is what was last submitted keeps its submission state (submitted / accepted / rejected).
 */
export function consultationWrites(
  validator: CdsrValidator,
  enc: EncounterState,
  previous: ReadonlyMap<string, { state: RecordState; submittedHash: string }>,
): ConsultationWrite[] {
  return [...enc.consultations].map(([cKey, cons]) => {
    const v = evaluateConsultation(validator, enc, cons);
    const before = previous.get(cKey);
    const state: RecordState = before && before.submittedHash === v.contentHash && v.state === 'ready' ? before.state : v.state;
    return {
      consultationKey: cKey,
      date: cons.date,
      time: cons.time,
      fields: JSON.stringify(cons.fields),
      cancelled: cons.cancelled ? JSON.stringify(cons.cancelled) : null,
      state,
      missing: JSON.stringify(v.missing),
      problems: JSON.stringify(v.problems),
      contentHash: v.contentHash,
    };
  });
}

export function messageFromRow(r: Row): MessageRow {
  return {
    id: Number(r.id),
    receivedAt: str(r.received_at),
    channel: str(r.channel) as MessageRow['channel'],
    sender: str(r.sender),
    controlId: str(r.control_id),
    contentType: str(r.content_type),
    auth: str(r.auth),
    hash: str(r.hash),
    status: str(r.status) as MessageStatus,
    problems: json<Problem[]>(r.problems, []),
  };
}

export function transactionFromRows(r: Row, recordRows: readonly Row[]): TransactionRow {
  const nrdr = json<TransactionStatus | null>(r.nrdr_status, null);
  return {
    transactionId: str(r.transaction_id),
    facilityId: str(r.facility_id),
    partnerId: str(r.partner_id),
    appId: str(r.app_id),
    status: str(r.status) as OutboundStatus,
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
    attempts: Number(r.attempts),
    ...(r.last_error ? { lastError: str(r.last_error) } : {}),
    ...(nrdr ? { nrdr } : {}),
    body: json<Transaction>(r.body, {} as Transaction),
    records: recordRows.map((x) => ({
      encounterKey: str(x.encounter_key),
      consultationKey: str(x.consultation_key),
      contentHash: str(x.content_hash),
      ...(x.result ? { result: str(x.result) as 'accepted' | 'rejected' } : {}),
      problems: json<Problem[]>(x.nrdr_problems, []),
    })),
  };
}

export function summaryFromRow(r: Row): RecordSummary {
  return {
    encounterKey: str(r.encounter_key),
    facilityId: str(r.facility_id),
    encounterId: str(r.encounter_id),
    consultationKey: str(r.consultation_key),
    state: str(r.state) as RecordState,
    missing: json<string[]>(r.missing, []),
  };
}

/** An encounter with its consultations' states, problems and field provenance. */
export function recordViewFromRows(encounterKey: string, e: Row, consultationRows: readonly Row[]): RecordView {
  const enc = encounterFromRows(e, consultationRows);
  const consultations: ConsultationRow[] = consultationRows.map((c) => ({
    consultationKey: str(c.consultation_key),
    state: str(c.state) as RecordState,
    missing: json<string[]>(c.missing, []),
    problems: json<Problem[]>(c.problems, []),
    nrdrProblems: json<Problem[]>(c.nrdr_problems, []),
    fields: json<FieldMap>(c.fields, {}),
    cancelled: json<FieldValue | null>(c.cancelled, null)?.value === 'cancelled',
    ...(c.transaction_id ? { transactionId: str(c.transaction_id) } : {}),
  }));
  return {
    encounterKey,
    facilityId: enc.facilityId,
    encounterId: enc.encounterId,
    ...(enc.partnerId !== undefined ? { partnerId: enc.partnerId } : {}),
    fields: enc.fields,
    consultationDefaults: enc.consultationDefaults,
    consultations,
  };
}
