// Merging partial records into CDSR records (DESIGN §4): one encounter per encounter key, one
// consultation per consultation key, an order index so that a result without the consultation's
// date and time still finds it. Field-wise, newer source time wins (arrival breaks ties), empty
// never erases, a result before its order waits and is joined when the order comes, the same
// message twice changes nothing, cancelled consultations are kept but marked.
import type { PartialRecord } from './record.js';

export interface FieldValue {
  readonly value: string;
  /** Source time (sortable wall clock; '' when unknown). */
  readonly time: string;
  /** Arrival sequence number. */
  readonly seq: number;
  /** Source message or resource id. */
  readonly source: string;
}

export type FieldMap = Record<string, FieldValue>;

export interface ConsultationState {
  readonly date: string;
  readonly time: string;
  readonly fields: FieldMap;
  cancelled?: FieldValue;
}

export interface EncounterState {
  readonly facilityId: string;
  readonly encounterId: string;
  partnerId?: string;
  readonly fields: FieldMap;
  /** Consultation fields given for the whole encounter (e.g. from a FHIR Encounter). */
  readonly consultationDefaults: FieldMap;
  readonly consultations: Map<string, ConsultationState>;
}

/** Is `incoming` newer than `current`? Newer source time wins; equal times: later arrival. */
export function isNewer(incoming: { time: string; seq: number }, current: { time: string; seq: number } | undefined): boolean {
  if (!current) return true;
  if (incoming.time !== current.time && incoming.time !== '' && current.time !== '') return incoming.time > current.time;
  return incoming.seq >= current.seq;
}

/** Merges values into a field map; returns the names of the fields whose value changed. */
export function mergeFields(target: FieldMap, values: Readonly<Record<string, string>>, stamp: Omit<FieldValue, 'value'>): string[] {
  const changed: string[] = [];
  for (const [field, value] of Object.entries(values)) {
    if (value === '') continue;
    const current = target[field];
    if (!isNewer(stamp, current)) continue;
    if (current?.value !== value) changed.push(field);
    target[field] = { value, ...stamp };
  }
  return changed;
}

export const encounterKey = (facilityId: string, encounterId: string): string => `${facilityId}\u0000${encounterId}`;
export const consultationKey = (date: string, time: string): string => `${date} ${time}`;
const orderIndexKey = (facilityId: string, orderKey: string): string => `${facilityId}\u0000${orderKey}`;

export interface ApplyResult {
  /** applied: merged; orphan: held until its order arrives. */
  readonly status: 'applied' | 'orphan';
  readonly encounterKey: string;
  readonly consultationKey?: string;
  readonly changed: readonly string[];
}

/** The in-memory merge state: what `map` uses and what the store keeps in tables. */
export class MergeState {
  readonly encounters = new Map<string, EncounterState>();
  private readonly orderIndex = new Map<string, { encounterKey: string; consultationKey: string }>();
  private readonly orphans = new Map<string, { record: PartialRecord; seq: number }[]>();
  private seq = 0;

  apply(record: PartialRecord): ApplyResult {
    return this.applyAt(record, ++this.seq);
  }

  /** Results still waiting for their order. */
  pendingOrphans(): PartialRecord[] {
    return [...this.orphans.values()].flat().map((o) => o.record);
  }

  private applyAt(record: PartialRecord, seq: number): ApplyResult {
    const eKey = encounterKey(record.facilityId, record.encounterId);
    let enc = this.encounters.get(eKey);
    if (!enc) {
      enc = { facilityId: record.facilityId, encounterId: record.encounterId, fields: {}, consultationDefaults: {}, consultations: new Map() };
      this.encounters.set(eKey, enc);
    }
    if (record.partnerId !== undefined) enc.partnerId = record.partnerId;
    const stamp = { time: record.sourceTime, seq, source: record.source.id };
    const changed = mergeFields(enc.fields, record.encounterFields, stamp);

    let cKey: string | undefined;
    if (record.consultationDate !== undefined && record.consultationTime !== undefined) {
      cKey = consultationKey(record.consultationDate, record.consultationTime);
    } else if (record.orderKey !== undefined) {
      const known = this.orderIndex.get(orderIndexKey(record.facilityId, record.orderKey));
      if (known && known.encounterKey === eKey) cKey = known.consultationKey;
    }
    if (cKey === undefined) {
      if (record.source.role === 'encounter' || record.orderKey === undefined) {
        // Consultation fields without a consultation: they hold for the whole encounter.
        changed.push(...mergeFields(enc.consultationDefaults, record.consultationFields, stamp));
        return { status: 'applied', encounterKey: eKey, changed };
      }
      const k = orderIndexKey(record.facilityId, record.orderKey);
      const list = this.orphans.get(k) ?? [];
      if (!list.some((o) => o.record.source.id === record.source.id && o.record.sourceTime === record.sourceTime)) list.push({ record, seq });
      this.orphans.set(k, list);
      return { status: 'orphan', encounterKey: eKey, changed };
    }

    let cons = enc.consultations.get(cKey);
    if (!cons) {
      cons = { date: record.consultationDate ?? cKey.split(' ')[0]!, time: record.consultationTime ?? cKey.split(' ')[1]!, fields: {} };
      enc.consultations.set(cKey, cons);
    }
    changed.push(...mergeFields(cons.fields, record.consultationFields, stamp));
    if (record.source.role === 'order') {
      const flag = { value: record.cancelled ? 'cancelled' : '', ...stamp };
      if (isNewer(stamp, cons.cancelled)) {
        if ((cons.cancelled?.value ?? '') !== flag.value) changed.push('(cancelled)');
        cons.cancelled = flag;
      }
    }
    if (record.orderKey !== undefined) {
      const k = orderIndexKey(record.facilityId, record.orderKey);
      this.orderIndex.set(k, { encounterKey: eKey, consultationKey: cKey });
      const waiting = this.orphans.get(k);
      if (waiting) {
        this.orphans.delete(k);
        for (const o of waiting.sort((a, b) => a.seq - b.seq)) changed.push(...this.applyAt(o.record, o.seq).changed);
      }
    }
    return { status: 'applied', encounterKey: eKey, consultationKey: cKey, changed };
  }
}

/** A consultation's values: its own, or the encounter-wide ones where those are newer. */
export function consultationValues(enc: EncounterState, cons: ConsultationState): Record<string, string> {
  const out: Record<string, string> = {};
  const names = new Set([...Object.keys(enc.consultationDefaults), ...Object.keys(cons.fields)]);
  for (const name of names) {
    const own = cons.fields[name];
    const wide = enc.consultationDefaults[name];
    const pick = own && wide ? (isNewer(wide, own) ? wide : own) : (own ?? wide);
    if (pick) out[name] = pick.value;
  }
  return out;
}
