// What NRDR was last sent for each consultation of a record, read back from the JSON of its last
// transaction, so that the record view (API and console) can show it beside the current values.
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS } from '../cdsr/schema.js';
import { consultationKey } from '../mapping/merge.js';
import type { Problem } from '../cdsr/problem.js';
import type { RecordVerdict, RecordView, TransactionRow } from '../store/store.js';

export interface LastSent {
  readonly transactionId: string;
  /** The key it was sent under (CDS_Consultation_Date and _Time then): differs from today's when the record was re-keyed. */
  readonly consultationKey: string;
  /** The encounter's and the consultation's values as sent (the wire form, flat). */
  readonly values: Readonly<Record<string, string>>;
  /** NRDR's verdict on what was sent (with its codes), once it gave one: a record cancelled since keeps it here only. */
  readonly verdict?: { readonly result: RecordVerdict; readonly problems: readonly Problem[] };
}

/** The wire fields NRDR receives, in the spec's order (Consultations itself left out: it is the nesting). */
export const WIRE_FIELDS: readonly string[] = [...ENCOUNTER_FIELDS.filter((f) => f !== 'Consultations'), ...CONSULTATION_FIELDS];

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);

function flat(o: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof o !== 'object' || o === null) return out;
  for (const [k, v] of Object.entries(o)) {
    const t = text(v);
    if (t !== undefined && k !== 'Consultations') out[k] = t;
  }
  return out;
}

/**
 * Per consultation key of `r`, what its last transaction carried. Found by its key; a record
 * re-keyed since is found as the one consultation of its encounter in that transaction whose key
 * no consultation of the record has now. A transaction gone (retention) leaves it out.
 */
export async function lastSentOf(
  store: { transaction(id: string): Promise<TransactionRow | undefined> },
  r: RecordView,
  /** The encounter id a transaction of the test profile carried (its pseudonym): found by it there. */
  sentAs?: (facilityId: string, encounterId: string) => string,
): Promise<Map<string, LastSent>> {
  const out = new Map<string, LastSent>();
  const read = new Map<string, TransactionRow | undefined>();
  const keysNow = new Set(r.consultations.map((c) => c.consultationKey));
  for (const c of r.consultations) {
    const id = c.transactionId;
    if (id === undefined) continue;
    if (!read.has(id)) read.set(id, await store.transaction(id));
    const t = read.get(id);
    // de-identified (the test profile): the encounter went under its pseudonym, or is not found
    const asSent = t?.profile === 'test' ? sentAs?.(r.facilityId, r.encounterId) : r.encounterId;
    const encounter = asSent === undefined ? undefined : t?.body.Encounters?.find((e) => flat(e)['Unique_Encounter_ID'] === asSent);
    if (!t || !encounter) continue;
    const sent = (encounter.Consultations ?? []).map((x) => {
      const v = flat(x);
      return { key: consultationKey(v['CDS_Consultation_Date'] ?? '', v['CDS_Consultation_Time'] ?? ''), values: v };
    });
    const own = sent.find((x) => x.key === c.consultationKey);
    const elsewhere = sent.filter((x) => !keysNow.has(x.key));
    const hit = own ?? (elsewhere.length === 1 ? elsewhere[0] : undefined);
    if (!hit) continue;
    const answered = t.records.find((x) => x.encounterKey === r.encounterKey && x.consultationKey === hit.key);
    const verdict = answered?.result !== undefined ? { verdict: { result: answered.result, problems: answered.problems } } : {};
    out.set(c.consultationKey, { transactionId: id, consultationKey: hit.key, values: { ...flat(encounter), ...hit.values }, ...verdict });
  }
  return out;
}
