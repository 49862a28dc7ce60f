// Merging partial records into CDSR records: one encounter per encounter key, one
// consultation per consultation key, an order index so that a result without the consultation's
// date and time still finds it. Field-wise, newer source time wins (arrival breaks ties), empty
// never erases, a result before its order waits and is joined when the order comes, the same
// message twice changes nothing, cancelled consultations are kept but marked.
import type { OrderIdentity } from './outcome.js';
import type { Exclusion, PartialRecord, TraceEntry } from './record.js';

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
  /**
   * Set when the tables guessed the value, saying why (`fallback: ORC-9, the 5th of 5
   * candidates`, or the table's own `guess:` reason): the record view and the worklist show it.
   */
  readonly guess?: string;
}

/** Where each field's value came from, read off a record's trace: rule, crosswalk rows, and why it is a guess. */
export type Provenance = ReadonlyMap<string, { readonly rule: string; readonly crosswalk?: string; readonly guess?: string }>;

export function provenanceOf(trace: readonly TraceEntry[]): Provenance {
  const out = new Map<string, { rule: string; crosswalks: string[]; guesses: string[] }>();
  for (const t of trace) {
    const p = out.get(t.field) ?? { rule: t.rule, crosswalks: [], guesses: [] };
    if (t.crosswalk !== undefined && !p.crosswalks.includes(t.crosswalk)) p.crosswalks.push(t.crosswalk);
    // an entry that sent nothing (a "known, send nothing" row) guessed no value of the field
    if (t.guess !== undefined && t.value !== '' && !p.guesses.includes(t.guess)) p.guesses.push(t.guess);
    out.set(t.field, p);
  }
  return new Map(
    [...out].map(([field, p]) => [
      field,
      {
        rule: p.rule,
        ...(p.crosswalks.length > 0 ? { crosswalk: p.crosswalks.join(', ') } : {}),
        ...(p.guesses.length > 0 ? { guess: p.guesses.join('; ') } : {}),
      },
    ]),
  );
}

export type FieldMap = Record<string, FieldValue>;

export interface ConsultationState {
  readonly date: string;
  readonly time: string;
  /**
   * Where its key (date and time) came from among the sources of the consultation key rules
   * (PartialRecord.consultationKeyRank): 0 = the CDS data, larger = a fallback. Undefined =
   * unknown (a row stored before ranks were kept): taken as the best, so it is never re-keyed.
   */
  keyRank?: number;
  readonly fields: FieldMap;
  cancelled?: FieldValue;
  /**
   * Set while the order is withheld because a crosswalk row excludes it (not advanced imaging),
   * not because it was cancelled: the rule and row the ledger and the record view name.
   */
  exclusion?: Exclusion;
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
  /**
   * applied: merged; orphan: held until its order arrives (a result before its order, a cancel
   * that matched no order); collision: another order holds this consultation key (nothing
   * merged); unkeyed: an order with no consultation date and time and no known order (nothing
   * merged).
   */
  readonly status: 'applied' | 'orphan' | 'collision' | 'unkeyed';
  readonly encounterKey: string;
  readonly consultationKey?: string;
  readonly changed: readonly string[];
  /** For orphan: a result waiting for its order, or a cancel that matched no order. */
  readonly reason?: 'orphan' | 'cancel_unmatched';
  /** For collision: the numbers of the order that holds the consultation already. */
  readonly heldBy?: readonly string[];
  /** The order's consultation moved to the better key its record carries (consultationKey is `to`). */
  readonly rekeyed?: { readonly from: string; readonly to: string };
  /** The better key the record carries is another order's: the consultation kept its key (`from`). */
  readonly rekeyRefused?: { readonly from: string; readonly to: string; readonly heldBy: readonly string[] };
}

/** The two key fields: in a consultation's fields they say what its key says. */
const KEY_FIELDS = ['CDS_Consultation_Date', 'CDS_Consultation_Time'] as const;

/** The numbers an order is known by (placer, filler…), the first being its merge key. */
export function orderNumbersOf(record: PartialRecord): readonly string[] {
  return record.orderNumbers ?? (record.orderKey !== undefined ? [record.orderKey] : []);
}

/** The order-index keys of a record: facility and each of its numbers. */
export function orderKeysOf(record: PartialRecord): string[] {
  return orderNumbersOf(record).map((n) => orderKey(record.facilityId, n));
}

/** Who a record's order is, for the order ledger. */
export function orderIdentity(record: PartialRecord): OrderIdentity {
  return { facilityId: record.facilityId, encounterId: record.encounterId, numbers: orderNumbersOf(record) };
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
 * Who an orphan is: its message (arrival sequence and source id) and its order's first number.
 * One message may name several orders (an ORU with two OBRs): each of its records waits, and is
 * adopted and forgotten, on its own; the message alone would make them one.
 */
export function orphanId(o: OrphanEntry): string {
  return `${o.seq}|${o.record.source.id}|${orderNumbersOf(o.record)[0] ?? ''}`;
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
  /** The order keys that point at a consultation. */
  ordersAt(encounterKey: string, consultationKey: string): readonly string[];
  orphans(key: string): readonly OrphanEntry[];
  addOrphan(key: string, entry: OrphanEntry): void;
  /** Returns and removes the orphans waiting for an order. */
  takeOrphans(key: string): OrphanEntry[];
  /** Forgets an adopted orphan (orphanId: not the other orders of its message) under every key it waited under. */
  removeOrphan(entry: OrphanEntry): void;
}

/**
 * The merge rules above over any repository. `seq` orders arrivals (larger = later). An order is
 * found by any of its numbers: a result, update or cancel lands on the consultation its order
 * made, whatever its own timing fields say. Two different orders never share a consultation: the
 * later one is a collision and nothing of it is merged.
 */
export function applyRecord(repo: MergeRepository, record: PartialRecord, seq: number): ApplyResult {
  const eKey = encounterKey(record.facilityId, record.encounterId);
  const keys = orderKeysOf(record);
  const role = record.source.role;

  let cKey: string | undefined;
  // found by its order: the consultation may yet move to a better key this record carries
  let byOrder = false;
  for (const k of keys) {
    const known = repo.order(k);
    if (known && known.encounterKey === eKey) {
      cKey = known.consultationKey;
      byOrder = true;
      break;
    }
  }
  // a cancel never makes a consultation of its own (its times may be the cancel's): it waits for its order
  const cancelOnly = role === 'order' && record.cancelled && record.excluded === undefined;
  if (cKey === undefined && !cancelOnly && record.consultationDate !== undefined && record.consultationTime !== undefined) {
    cKey = consultationKey(record.consultationDate, record.consultationTime);
    if (role === 'order' && keys.length > 0) {
      const heldBy = repo.ordersAt(eKey, cKey);
      if (heldBy.length > 0)
        return {
          status: 'collision',
          encounterKey: eKey,
          consultationKey: cKey,
          changed: [],
          heldBy: heldBy.map((k) => k.slice(record.facilityId.length + 1)),
        };
    }
  }
  if (cKey === undefined && role === 'order' && (!cancelOnly || keys.length === 0)) return { status: 'unkeyed', encounterKey: eKey, changed: [] };

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

  if (cKey === undefined) {
    if (role === 'encounter' || keys.length === 0) {
      // Consultation fields without a consultation: they hold for the whole encounter.
      changed.push(...mergeFields(enc.consultationDefaults, record.consultationFields, stamp, prov));
      repo.saveEncounter(eKey, enc);
      return { status: 'applied', encounterKey: eKey, changed };
    }
    // a result before its order, or a cancel of an order not seen: it waits under each number
    // the same message sent again waits once; another order of the same message is no twin
    const first = orderNumbersOf(record)[0];
    const twin = keys.some((k) =>
      repo
        .orphans(k)
        .some((o) => o.record.source.id === record.source.id && o.record.sourceTime === record.sourceTime && orderNumbersOf(o.record)[0] === first),
    );
    if (!twin) for (const k of keys) repo.addOrphan(k, { record, seq });
    repo.saveEncounter(eKey, enc);
    return { status: 'orphan', encounterKey: eKey, changed, reason: role === 'order' ? 'cancel_unmatched' : 'orphan' };
  }

  let rekeyed: ApplyResult['rekeyed'];
  let rekeyRefused: ApplyResult['rekeyRefused'];
  const own =
    record.consultationDate !== undefined && record.consultationTime !== undefined
      ? consultationKey(record.consultationDate, record.consultationTime)
      : undefined;
  const rank = own !== undefined ? record.consultationKeyRank : undefined;
  const held = enc.consultations.get(cKey);
  // the first message of an order may have given its key from a fallback (a status message's ORC-9):
  // an order record with a strictly better key moves the consultation there (a cancel never does:
  // its times may be the cancel's)
  if (
    byOrder &&
    role === 'order' &&
    !cancelOnly &&
    held &&
    own !== undefined &&
    own !== cKey &&
    rank !== undefined &&
    held.keyRank !== undefined &&
    rank < held.keyRank
  ) {
    const others = repo.ordersAt(eKey, own).filter((k) => !keys.includes(k));
    if (others.length > 0 || enc.consultations.has(own)) {
      rekeyRefused = { from: cKey, to: own, heldBy: others.map((k) => k.slice(record.facilityId.length + 1)) };
    } else {
      enc.consultations.delete(cKey);
      enc.consultations.set(own, { ...held, date: record.consultationDate ?? '', time: record.consultationTime ?? '', keyRank: rank });
      for (const k of repo.ordersAt(eKey, cKey)) repo.saveOrder(k, { encounterKey: eKey, consultationKey: own });
      rekeyed = { from: cKey, to: own };
      cKey = own;
    }
  }
  let cons = enc.consultations.get(cKey);
  if (!cons) {
    const [date = '', time = ''] = cKey.split(' ');
    cons = {
      date: record.consultationDate ?? date,
      time: record.consultationTime ?? time,
      ...(rank !== undefined && own === cKey ? { keyRank: rank } : {}),
      fields: {},
    };
    enc.consultations.set(cKey, cons);
  }
  // the key fields of a record whose key is not the consultation's stay out: they would contradict the key
  const values =
    own === cKey
      ? record.consultationFields
      : Object.fromEntries(Object.entries(record.consultationFields).filter(([f]) => !(KEY_FIELDS as readonly string[]).includes(f)));
  changed.push(...mergeFields(cons.fields, values, stamp, prov));
  if (rekeyed) {
    // moved: the key fields say the new key whatever their stamps said
    for (const [f, v] of [
      [KEY_FIELDS[0], cons.date],
      [KEY_FIELDS[1], cons.time],
    ] as const) {
      if (cons.fields[f]?.value !== v && !changed.includes(f)) changed.push(f);
      cons.fields[f] = { value: v, ...stamp, ...prov.get(f) };
    }
  }
  if (role === 'order' && isNewer(stamp, cons.cancelled)) {
    // an excluded order is withheld as a cancelled one is; the flag says which rule and row withheld it
    const withheld = record.cancelled || record.excluded !== undefined;
    const why =
      record.excluded && !record.cancelled ? { rule: `${record.excluded.rule} excluded "${record.excluded.raw}"`, crosswalk: record.excluded.crosswalk } : {};
    const flag = { value: withheld ? 'cancelled' : '', ...stamp, ...why };
    if ((cons.cancelled?.value ?? '') !== flag.value) changed.push('(cancelled)');
    cons.cancelled = flag;
    // a real cancel wins over an exclusion: the order is gone at its source, whatever it was
    if (record.excluded !== undefined && !record.cancelled) cons.exclusion = record.excluded;
    else delete cons.exclusion;
  }
  repo.saveEncounter(eKey, enc);
  const adopted = new Map<string, OrphanEntry>();
  for (const k of keys) {
    repo.saveOrder(k, { encounterKey: eKey, consultationKey: cKey });
    for (const o of repo.takeOrphans(k)) adopted.set(orphanId(o), o);
  }
  for (const o of [...adopted.values()].sort((a, b) => a.seq - b.seq)) {
    repo.removeOrphan(o);
    changed.push(...applyRecord(repo, o.record, o.seq).changed);
  }
  return { status: 'applied', encounterKey: eKey, consultationKey: cKey, changed, ...(rekeyed ? { rekeyed } : {}), ...(rekeyRefused ? { rekeyRefused } : {}) };
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

  /** A deep copy: a message the merge refuses is folded into a copy, and the copy dropped. */
  clone(): MergeState {
    const copy = new MergeState();
    for (const [k, e] of this.encounters) copy.encounters.set(k, structuredClone(e));
    for (const [k, r] of this.orderIndex) copy.orderIndex.set(k, r);
    for (const [k, list] of this.waiting) copy.waiting.set(k, [...list]);
    copy.seq = this.seq;
    return copy;
  }

  /** The order index: order key → the consultation it made. */
  orderEntries(): [string, OrderRef][] {
    return [...this.orderIndex];
  }

  /** What waits for its order, under each order key. */
  orphanEntries(): [string, readonly OrphanEntry[]][] {
    return [...this.waiting];
  }

  /** Results (and cancels) still waiting for their order, each once. */
  pendingOrphans(): PartialRecord[] {
    const seen = new Map<string, PartialRecord>();
    for (const o of [...this.waiting.values()].flat()) seen.set(orphanId(o), o.record);
    return [...seen.values()];
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
  ordersAt(encounterKey: string, consultationKey: string): readonly string[] {
    return [...this.orderIndex].filter(([, r]) => r.encounterKey === encounterKey && r.consultationKey === consultationKey).map(([k]) => k);
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
  removeOrphan(entry: OrphanEntry): void {
    for (const [k, list] of this.waiting) {
      const rest = list.filter((o) => orphanId(o) !== orphanId(entry));
      if (rest.length === 0) this.waiting.delete(k);
      else this.waiting.set(k, rest);
    }
  }
}

/** A consultation's values: its own, or the encounter-wide ones where those are newer. */
export function consultationValues(enc: EncounterState, cons: ConsultationState): Record<string, string> {
  const out: Record<string, string> = {};
  const names = new Set([...Object.keys(enc.consultationDefaults), ...Object.keys(cons.fields)]);
  for (const name of names) {
    const pick = consultationValue(enc, cons, name);
    if (pick) out[name] = pick.value;
  }
  return out;
}

/** One field of `consultationValues`: the consultation's own value or its encounter-wide one, the newer. */
export function consultationValue(enc: EncounterState, cons: ConsultationState, name: string): FieldValue | undefined {
  const own = cons.fields[name];
  const wide = enc.consultationDefaults[name];
  return own && wide ? (isNewer(wide, own) ? wide : own) : (own ?? wide);
}
