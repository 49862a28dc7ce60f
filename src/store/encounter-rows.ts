// Writing one merged encounter and its consultations, for a live merge and for a re-derivation
// alike: each consultation's state from its content and what NRDR was sent (evaluate.ts), and a
// consultation the merge no longer has (its key moved, its message re-mapped elsewhere) deleted,
// or, when NRDR may hold it, kept as cancelled-after-submission for the site to retract.
import type { CdsrValidator } from '../cdsr/validate.js';
import type { EncounterState } from '../mapping/merge.js';
import { consultationWire } from '../mapping/wire.js';
import { consultationWrites, RECORD_STATES, type ConsultationWrite, type PreviousConsultation, type RecordState } from './evaluate.js';
import { encounterFromRows, row } from './rows.js';
import { byCount, chunks, later, marks, readAll, type Queryable, type Read, type Row } from './sql.js';
import { checkRecordTransition } from './states.js';

/** What the store holds of a consultation before a write: its state and NRDR's part in it. */
export interface StoredConsultation extends PreviousConsultation {
  readonly transactionId?: string;
}

/** An encounter as stored: its merge state and each consultation's submission state. */
export interface StoredEncounter {
  readonly enc: EncounterState | undefined;
  readonly previous: ReadonlyMap<string, StoredConsultation>;
}

/** An encounter's merge state; a retired consultation (its key moved while NRDR held it) waits for its retraction, outside the merge. */
export async function loadEncounter(q: Queryable, key: string): Promise<EncounterState | undefined> {
  const e = await q.get('SELECT facility_id, encounter_id, partner_id, fields, consultation_defaults FROM encounters WHERE encounter_key = ?', [key]);
  return e
    ? encounterFromRows(
        e,
        await q.all(
          'SELECT consultation_key, cdate, ctime, key_rank, fields, cancelled, exclusion FROM consultations WHERE encounter_key = ? AND retired = 0',
          [key],
        ),
      )
    : undefined;
}

/** Whether NRDR may hold a consultation (`c`): a transaction sent it that NRDR did not reject. */
const AT_NRDR = `CASE WHEN EXISTS (SELECT 1 FROM transaction_records t WHERE t.encounter_key = c.encounter_key AND t.consultation_key = c.consultation_key
         AND (t.result IS NULL OR t.result <> 'rejected')) THEN 1 ELSE 0 END AS at_nrdr`;

function storedConsultation(r: Row): [string, StoredConsultation] {
  const c = row('consultations', r);
  const transactionId = c.optText('transaction_id');
  return [
    c.text('consultation_key'),
    {
      state: c.oneOf('state', RECORD_STATES),
      submittedHash: c.optText('submitted_hash') ?? '',
      atNrdr: c.int('at_nrdr') === 1,
      ...(transactionId !== undefined ? { transactionId } : {}),
    },
  ];
}

/** Each consultation's state and NRDR's part in it (retired ones too): what a write compares with. */
export async function readPrevious(q: Queryable, key: string): Promise<Map<string, StoredConsultation>> {
  const rows = await q.all(
    `SELECT c.consultation_key, c.state, c.submitted_hash, c.transaction_id, ${AT_NRDR}
     FROM consultations c WHERE c.encounter_key = ?`,
    [key],
  );
  return new Map(rows.map(storedConsultation));
}

/**
 * The reads of some encounters as stored (`storedFrom` makes them of the rows): each encounter's
 * row, then their consultations with all a merge and its write need (what `readEncounter` reads
 * of them, in two statements for all of them).
 */
export function storedReads(keys: readonly string[]): Read[] {
  return [
    { sql: ENCOUNTERS_IN(keys.length), params: keys },
    { sql: CONSULTATIONS_IN(keys.length), params: keys },
  ];
}
const ENCOUNTERS_IN = byCount(
  (n) => `SELECT encounter_key, facility_id, encounter_id, partner_id, fields, consultation_defaults FROM encounters WHERE encounter_key IN (${marks(n)})`,
);
const CONSULTATIONS_IN = byCount(
  (n) => `SELECT c.encounter_key, c.consultation_key, c.cdate, c.ctime, c.key_rank, c.fields, c.cancelled, c.exclusion, c.retired,
         c.state, c.submitted_hash, c.transaction_id, ${AT_NRDR}
       FROM consultations c WHERE c.encounter_key IN (${marks(n)}) ORDER BY c.encounter_key, c.consultation_key`,
);

/** The encounters of `storedReads` from its rows: each key asked for, stored or not (then no merge state and nothing previous). */
export function storedFrom(keys: readonly string[], [encounterRows, consultationRows]: readonly (readonly Row[])[]): Map<string, StoredEncounter> {
  const byKey = new Map<string, Row[]>();
  for (const r of consultationRows ?? []) {
    const key = row('consultations', r).text('encounter_key');
    byKey.set(key, [...(byKey.get(key) ?? []), r]);
  }
  const encounters = new Map((encounterRows ?? []).map((r) => [row('encounters', r).text('encounter_key'), r] as const));
  return new Map(
    keys.map((key) => {
      const e = encounters.get(key);
      const rows = byKey.get(key) ?? [];
      // a retired consultation (its key moved while NRDR held it) is outside the merge, as in loadEncounter
      const enc = e
        ? encounterFromRows(
            e,
            rows.filter((r) => row('consultations', r).int('retired') === 0),
          )
        : undefined;
      return [key, { enc, previous: new Map(rows.map(storedConsultation)) }] as const;
    }),
  );
}

/** Some encounters as stored (`storedReads`: two statements for up to 50 of them, in one round trip on PostgreSQL). */
export async function readEncounters(q: Queryable, keys: readonly string[]): Promise<Map<string, StoredEncounter>> {
  const out = new Map<string, StoredEncounter>();
  for (const part of chunks(keys)) for (const [key, s] of storedFrom(part, await readAll(q, storedReads(part)))) out.set(key, s);
  return out;
}

/** A consultation the merge no longer has: deleted, or kept for a retraction at NRDR. */
export interface Removal {
  readonly consultationKey: string;
  readonly state: RecordState;
  /** NRDR may hold it: it stays, as cancelled-after-submission. */
  readonly retract: boolean;
}

export interface EncounterPlan {
  readonly writes: readonly ConsultationWrite[];
  readonly removals: readonly Removal[];
}

export function planEncounter(validator: CdsrValidator, enc: EncounterState | undefined, previous: ReadonlyMap<string, StoredConsultation>): EncounterPlan {
  const writes = enc ? consultationWrites(validator, enc, previous) : [];
  const kept = new Set(writes.map((w) => w.consultationKey));
  const removals = [...previous]
    .filter(([k]) => !kept.has(k))
    .map(([consultationKey, p]) => ({ consultationKey, state: p.state, retract: p.atNrdr || p.state === 'cancelled-after-submission' }));
  return { writes, removals };
}

/** Values as NRDR would receive them (the wire form of one consultation), for a before/after comparison. */
export function wireValues(enc: EncounterState, consultationKey: string): Record<string, string> | undefined {
  const cons = enc.consultations.get(consultationKey);
  if (!cons) return undefined;
  const wire = consultationWire(enc, cons);
  const { Consultations, ...encounter } = wire;
  return { ...(encounter as Record<string, string>), ...((Consultations[0] ?? {}) as Record<string, string>) };
}

/** Writes an encounter and its consultations as planned; `seq` is the last message merged into it. */
export async function writeEncounter(q: Queryable, key: string, enc: EncounterState | undefined, plan: EncounterPlan, seq: number): Promise<void> {
  if (enc) {
    await later(
      q,
      `INSERT INTO encounters (encounter_key, facility_id, encounter_id, partner_id, fields, consultation_defaults, updated_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (encounter_key) DO UPDATE SET partner_id = excluded.partner_id, fields = excluded.fields,
         consultation_defaults = excluded.consultation_defaults, updated_seq = excluded.updated_seq`,
      [key, enc.facilityId, enc.encounterId, enc.partnerId ?? null, JSON.stringify(enc.fields), JSON.stringify(enc.consultationDefaults), seq],
    );
  }
  for (const w of plan.writes) {
    await later(
      q,
      `INSERT INTO consultations (encounter_key, consultation_key, cdate, ctime, key_rank, fields, cancelled, exclusion, state, missing, problems, content_hash, updated_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (encounter_key, consultation_key) DO UPDATE SET key_rank = excluded.key_rank, fields = excluded.fields, cancelled = excluded.cancelled, exclusion = excluded.exclusion,
         state = excluded.state, missing = excluded.missing, problems = excluded.problems, content_hash = excluded.content_hash,
         updated_seq = excluded.updated_seq, retired = 0,
         retraction_ack_at = CASE WHEN excluded.state = 'cancelled-after-submission' THEN consultations.retraction_ack_at ELSE NULL END,
         retraction_ack_by = CASE WHEN excluded.state = 'cancelled-after-submission' THEN consultations.retraction_ack_by ELSE NULL END`,
      [key, w.consultationKey, w.date, w.time, w.keyRank, w.fields, w.cancelled, w.exclusion, w.state, w.missing, w.problems, w.contentHash, seq],
    );
  }
  for (const r of plan.removals) {
    if (r.retract) {
      // the key NRDR holds it under is gone from the merge: the site removes it there by hand
      const to = checkRecordTransition(`${key} ${r.consultationKey}`, r.state, 'cancelled-after-submission');
      await later(
        q,
        `UPDATE consultations SET state = '${to}', retired = 1, missing = '[]', problems = '[]', updated_seq = ?
         WHERE encounter_key = ? AND consultation_key = ? AND retired = 0`,
        [seq, key, r.consultationKey],
      );
    } else {
      await later(q, 'DELETE FROM consultations WHERE encounter_key = ? AND consultation_key = ?', [key, r.consultationKey]);
    }
  }
  if (!enc && plan.removals.every((r) => !r.retract)) await later(q, 'DELETE FROM encounters WHERE encounter_key = ?', [key]);
}
