// Building CDSR transactions from merged records: one facility per transaction, at most
// `maxEncounters` encounters each, cancelled consultations left out, fields in the spec's order.
import type { Consultation, Encounter, Transaction } from '../cdsr/schema.js';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS } from '../cdsr/schema.js';
import { consultationValues, type EncounterState } from '../mapping/merge.js';

export interface BatchOptions {
  readonly partnerId: string;
  readonly appId: string;
  readonly maxEncounters: number;
  /** Transaction_DateTime, e.g. 2026-11-23T05:50:00 */
  readonly now: Date;
  /** Transaction_ID for the n-th (0-based) transaction of a facility; at most 50 characters. */
  readonly transactionId: (facilityId: string, n: number) => string;
}

/** The wire form of one encounter, or undefined when no consultation of it is to be sent. */
export function encounterJson(enc: EncounterState): Encounter | undefined {
  const consultations: Consultation[] = [];
  for (const cons of [...enc.consultations.values()].sort((a, b) => sortKey(a).localeCompare(sortKey(b)))) {
    if (cons.cancelled?.value === 'cancelled') continue;
    const values = { ...consultationValues(enc, cons), CDS_Consultation_Date: cons.date, CDS_Consultation_Time: cons.time };
    consultations.push(ordered(CONSULTATION_FIELDS, values) as Consultation);
  }
  if (consultations.length === 0) return undefined;
  const fields: Record<string, string> = { Unique_Encounter_ID: enc.encounterId };
  for (const [k, v] of Object.entries(enc.fields)) fields[k] = v.value;
  return { ...(ordered(ENCOUNTER_FIELDS, fields) as Omit<Encounter, 'Consultations'>), Consultations: consultations };
}

// mm/dd/yyyy hh:mi:ss sorts by year, month, day, time
function sortKey(c: { date: string; time: string }): string {
  const [m = '', d = '', y = ''] = c.date.split('/');
  return `${y.padStart(4, '0')}${m.padStart(2, '0')}${d.padStart(2, '0')} ${c.time}`;
}

function ordered(names: readonly string[], values: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = values[n];
    if (v !== undefined && v !== '') out[n] = v;
  }
  return out;
}

export function formatTransactionDateTime(d: Date): string {
  return d.toISOString().slice(0, 19);
}

/** Transactions for the given encounters, grouped per facility (and PartnerID), in key order. */
export function buildTransactions(encounters: Iterable<EncounterState>, opts: BatchOptions): Transaction[] {
  const groups = new Map<string, { facilityId: string; partnerId: string; encounters: Encounter[] }>();
  const sorted = [...encounters].sort((a, b) => a.facilityId.localeCompare(b.facilityId) || a.encounterId.localeCompare(b.encounterId));
  for (const enc of sorted) {
    const json = encounterJson(enc);
    if (!json) continue;
    const partnerId = enc.partnerId ?? opts.partnerId;
    const key = `${enc.facilityId}\u0000${partnerId}`;
    const g = groups.get(key) ?? { facilityId: enc.facilityId, partnerId, encounters: [] };
    g.encounters.push(json);
    groups.set(key, g);
  }
  const out: Transaction[] = [];
  const perFacility = new Map<string, number>();
  for (const g of groups.values()) {
    for (let i = 0; i < g.encounters.length; i += opts.maxEncounters) {
      const chunk = g.encounters.slice(i, i + opts.maxEncounters);
      const n = perFacility.get(g.facilityId) ?? 0;
      perFacility.set(g.facilityId, n + 1);
      out.push({
        Transaction_ID: opts.transactionId(g.facilityId, n),
        Transaction_DateTime: formatTransactionDateTime(opts.now),
        Num_of_Encounters_Included: chunk.length,
        Facility_ID: g.facilityId,
        PartnerID: g.partnerId,
        AppID: opts.appId,
        CDSR_File_Version_Num: '1.0',
        Encounters: chunk,
      });
    }
  }
  return out;
}
