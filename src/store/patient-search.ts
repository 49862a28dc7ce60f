// The messages of one patient, by MRN, for the order ledger's search (the ledger keeps no patient
// identifiers; the messages that touched an order do). HL7 v2: the messages whose PID-3.1 (any
// repetition) is the MRN, by the content search. FHIR: a mapped message is one resource (a
// ServiceRequest, an Encounter) that names its patient by reference; the Patient resources kept
// for references (fhir_resources) whose identifier value is the MRN give the references, and the
// FHIR messages that named one of them on arrival (inbound_messages.patient_key: a Bundle's
// urn:uuid reference resolved) or whose subject (or patient) reference is one of them are the
// patient's; a message that carries its Patient as a contained resource is found by that one's
// identifier. A Patient without an id (a Bundle entry known only by its urn:uuid) is not kept, so
// its messages are not found. A message whose
// text was purged by retention, or a Patient never received, finds nothing. The MRN is PHI: it
// is never put in an error or a log line.
import { AdapterError } from '../cdsr/errors.js';
import { parseHl7Path } from '../mapping/hl7-path.js';
import { messagesWithValue } from './content-search.js';
import { row } from './rows.js';
import { chunks, marks, type Dialect, type Queryable } from './sql.js';
import type { InboundLog, MessageFilter } from './store.js';

/** At most this many messages of one patient are searched for orders; more is refused (narrowed by nothing else: the MRN is the search). */
export const PATIENT_MESSAGE_CAP = 5000;

/** A patient with more messages than the search takes: refused (400), never answered from a part of them. */
export class SearchTooWideError extends AdapterError {
  readonly statusCode = 400;
  constructor(cap: number) {
    super('BAD_REQUEST', `mrn: the patient has more than ${cap} messages; the search takes at most that many`);
  }
}

const PID_3_1 = parseHl7Path('PID-3.1');

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Whether a FHIR Patient has an identifier whose value is `mrn`. */
const patientHas = (r: unknown, mrn: string): boolean =>
  isObject(r) && r.resourceType === 'Patient' && list(r.identifier).some((i) => isObject(i) && i.value === mrn);

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** The reference a resource names its patient by (`subject`, or `patient`), as written. */
function patientReference(r: Json): string | undefined {
  for (const k of ['subject', 'patient']) {
    const v = r[k];
    if (isObject(v) && typeof v.reference === 'string') return v.reference;
  }
  return undefined;
}

/** Whether `reference` (relative, absolute or with its version) names the resource `key` (`Patient/p1`). */
function names(reference: string, key: string): boolean {
  const bare = reference.replace(/\/_history\/[^/]*$/, '');
  return bare === key || bare.endsWith(`/${key}`);
}

/** The ids of the messages of the patient whose MRN is `mrn`, ascending; refused past `cap`. */
export async function patientMessageIds(
  log: Pick<InboundLog, 'messages' | 'messageDetails'>,
  q: Queryable,
  dialect: Dialect,
  mrn: string,
  cap = PATIENT_MESSAGE_CAP,
): Promise<number[]> {
  const ids = new Set<number>();
  const add = (id: number) => {
    ids.add(id);
    if (ids.size > cap) throw new SearchTooWideError(cap);
  };
  for (const m of await messagesWithValue(log, { limit: cap + 1 }, PID_3_1, mrn)) add(m.id);
  // every FHIR message whose text holds `needle`, a round at a time, each tested by `keep`
  const fhirScan = async (needle: string, keep: (resource: Json) => boolean) => {
    let cursor: MessageFilter = { channel: 'fhir', contains: needle, limit: 200 };
    for (;;) {
      const batch = await log.messages(cursor);
      for (const d of await log.messageDetails(batch.map((m) => m.id))) {
        const r = parse(d.raw);
        if (isObject(r) && keep(r)) add(d.id);
      }
      const last = batch.at(-1);
      if (last === undefined || batch.length < (cursor.limit ?? 0)) return;
      cursor = { ...cursor, afterId: last.id };
    }
  };
  // the Patients kept for references that carry the MRN
  const patients: string[] = [];
  const found = await q.all(
    `SELECT resource_key, body FROM fhir_resources WHERE resource_key LIKE 'Patient/%' AND ${dialect === 'postgres' ? 'strpos(body, ?) > 0' : 'instr(body, ?) > 0'}`,
    [mrn],
  );
  for (const r of found) {
    const x = row('fhir_resources', r);
    if (patientHas(parse(x.text('body')), mrn)) patients.push(x.text('resource_key'));
  }
  // the messages that named one of them on arrival (patient_key), then those stored before it was kept, by their reference
  for (const part of chunks(patients)) {
    for (const r of await q.all(`SELECT id FROM inbound_messages WHERE patient_key IN (${marks(part.length)})`, part))
      add(row('inbound_messages', r).int('id'));
  }
  for (const key of patients) {
    await fhirScan(key, (r) => {
      const ref = patientReference(r);
      return ref !== undefined && names(ref, key);
    });
  }
  // a Patient contained in the message itself
  await fhirScan(mrn, (r) => {
    const ref = patientReference(r);
    return ref !== undefined && ref.startsWith('#') && list(r.contained).some((c) => isObject(c) && `#${String(c.id)}` === ref && patientHas(c, mrn));
  });
  return [...ids].sort((a, b) => a - b);
}
