// Merging partial records into CDSR records: one encounter per encounter key, one
// consultation per consultation key, an order index so that a result without the consultation's
// date and time still finds it. Field-wise, newer source time wins (arrival breaks ties), empty
// never erases, a result before its order waits and is joined when the order comes, the same
// message twice changes nothing, cancelled consultations are kept but marked.
import type { PartialRecord, TraceEntry } from './record.js';

export interface FieldValue {
  readonly value: string;
  /** Source time (sortable wall clock; '' when unknown). */
  readonly time: string;
  /** Arrival sequence number. */
  readonly seq: number;
  /** Source message or resource id. */
  readonly source: string;
  /** The table rule that gave the value (`hl7v2.yaml:31`). */
  readonly rule?: string;
  /** The crosswalk row(s) that translated it (`crosswalks/modality.csv:4`). */
  readonly crosswalk?: string;
}

/** Where each field's value came from, read off a record's trace: rule and crosswalk rows. */
export type Provenance = ReadonlyMap<string, { readonly rule: string; readonly crosswalk?: string }>;

export function provenanceOf(trace: readonly TraceEntry[]): Provenance {
  const out = new Map<string, { rule: string; crosswalks: string[] }>();
  for (const t of trace) {
    const p = out.get(t.field) ?? { rule: t.rule, crosswalks: [] };
    if (t.crosswalk !== undefined && !p.crosswalks.includes(t.crosswalk)) p.crosswalks.push(t.crosswalk);
    out.set(t.field, p);
  }
  return new Map([...out].map(([field, p]) => [field, { rule: p.rule, ...(p.crosswalks.length > 0 ? { crosswalk: p.crosswalks.join(', ') } : {}) }]));
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
export function mergeFields(
  target: FieldMap,
  values: Readonly<Record<string, string>>,
  stamp: Pick<FieldValue, 'time' | 'seq' | 'source'>,
  provenance: Provenance = new Map(),
): string[] {
  const changed: string[] = [];
  for (const [field, value] of Object.entries(values)) {
    if (value === '') continue;
    const current = target[field];
    if (!isNewer(stamp, current)) continue;
    if (current?.value !== value) changed.push(field);
    target[field] = { value, ...stamp, ...provenance.get(field) };
  }
  return changed;
}

// '|' cannot appear in a value NRDR takes (CD2091), so it separates the parts of a key.
export const encounterKey = (facilityId: string, encounterId: string): string => `${facilityId}|${encounterId}`;
export const consultationKey = (date: string, time: string): string => `${date} ${time}`;
export const orderKey = (facilityId: string, order: string): string => `${facilityId}|${order}`;

export interface ApplyResult {
  /** applied: merged; orphan: held until its order arrives. */
  readonly status: 'applied' | 'orphan';
  readonly encounterKey: string;
  readonly consultationKey?: string;
  readonly changed: readonly string[];
}

export interface OrderRef {
  readonly encounterKey: string;
  readonly consultationKey: string;
}

export interface OrphanEntry {
  readonly record: PartialRecord;
  readonly seq: number;
}

/**
 * Where merge state lives: memory for `map`, tables for the store. Keys are the composite keys
 * of encounterKey() and orderKey(). The merger mutates what `encounter` returns and hands it
 * back through `saveEncounter`.
 */
export interface MergeRepository {
  encounter(key: string): EncounterState | undefined;
  saveEncounter(key: string, enc: EncounterState): void;
  order(key: string): OrderRef | undefined;
  saveOrder(key: string, ref: OrderRef): void;
  orphans(key: string): readonly OrphanEntry[];
  addOrphan(key: string, entry: OrphanEntry): void;
  /** Returns and removes the orphans waiting for an order. */
  takeOrphans(key: string): OrphanEntry[];
}

/** The merge rules above over any repository. `seq` orders arrivals (larger = later). */
export function applyRecord(repo: MergeRepository, record: PartialRecord, seq: number): ApplyResult {
  const eKey = encounterKey(record.facilityId, record.encounterId);
  const enc: EncounterState = repo.encounter(eKey) ?? {
    facilityId: record.facilityId,
    encounterId: record.encounterId,
    fields: {},
    consultationDefaults: {},
    consultations: new Map(),
  };
  if (record.partnerId !== undefined) enc.partnerId = record.partnerId;
  const stamp = { time: record.sourceTime, seq, source: record.source.id };
  const prov = provenanceOf(record.trace);
  const changed = mergeFields(enc.fields, record.encounterFields, stamp, prov);

  let cKey: string | undefined;
  if (record.consultationDate !== undefined && record.consultationTime !== undefined) {
    cKey = consultationKey(record.consultationDate, record.consultationTime);
  } else if (record.orderKey !== undefined) {
    const known = repo.order(orderKey(record.facilityId, record.orderKey));
    if (known && known.encounterKey === eKey) cKey = known.consultationKey;
  }
  if (cKey === undefined) {
    if (record.source.role === 'encounter' || record.orderKey === undefined) {
      // Consultation fields without a consultation: they hold for the whole encounter.
      changed.push(...mergeFields(enc.consultationDefaults, record.consultationFields, stamp, prov));
      repo.saveEncounter(eKey, enc);
      return { status: 'applied', encounterKey: eKey, changed };
    }
    const k = orderKey(record.facilityId, record.orderKey);
    const twin = repo.orphans(k).some((o) => o.record.source.id === record.source.id && o.record.sourceTime === record.sourceTime);
    if (!twin) repo.addOrphan(k, { record, seq });
    repo.saveEncounter(eKey, enc);
    return { status: 'orphan', encounterKey: eKey, changed };
  }

  let cons = enc.consultations.get(cKey);
  if (!cons) {
    const [date = '', time = ''] = cKey.split(' ');
    cons = { date: record.consultationDate ?? date, time: record.consultationTime ?? time, fields: {} };
    enc.consultations.set(cKey, cons);
  }
  changed.push(...mergeFields(cons.fields, record.consultationFields, stamp, prov));
  if (record.source.role === 'order' && isNewer(stamp, cons.cancelled)) {
    const flag = { value: record.cancelled ? 'cancelled' : '', ...stamp };
    if ((cons.cancelled?.value ?? '') !== flag.value) changed.push('(cancelled)');
    cons.cancelled = flag;
  }
  repo.saveEncounter(eKey, enc);
  if (record.orderKey !== undefined) {
    const k = orderKey(record.facilityId, record.orderKey);
    repo.saveOrder(k, { encounterKey: eKey, consultationKey: cKey });
    for (const o of repo.takeOrphans(k).sort((a, b) => a.seq - b.seq)) changed.push(...applyRecord(repo, o.record, o.seq).changed);
  }
  return { status: 'applied', encounterKey: eKey, consultationKey: cKey, changed };
}

/** The in-memory merge state: what `map` uses; the store keeps the same state in tables. */
export class MergeState implements MergeRepository {
  readonly encounters = new Map<string, EncounterState>();
  private readonly orderIndex = new Map<string, OrderRef>();
  private readonly waiting = new Map<string, OrphanEntry[]>();
  private seq = 0;

  apply(record: PartialRecord): ApplyResult {
    return applyRecord(this, record, ++this.seq);
  }

  /** Results still waiting for their order. */
  pendingOrphans(): PartialRecord[] {
    return [...this.waiting.values()].flat().map((o) => o.record);
  }

  encounter(key: string): EncounterState | undefined {
    return this.encounters.get(key);
  }
  saveEncounter(key: string, enc: EncounterState): void {
    this.encounters.set(key, enc);
  }
  order(key: string): OrderRef | undefined {
    return this.orderIndex.get(key);
  }
  saveOrder(key: string, ref: OrderRef): void {
    this.orderIndex.set(key, ref);
  }
  orphans(key: string): readonly OrphanEntry[] {
    return this.waiting.get(key) ?? [];
  }
  addOrphan(key: string, entry: OrphanEntry): void {
    this.waiting.set(key, [...this.orphans(key), entry]);
  }
  takeOrphans(key: string): OrphanEntry[] {
    const list = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    return list;
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
