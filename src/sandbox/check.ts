// The sandbox's own validation of a posted transaction, written from the spec (its JSON schema,
// its POST example and its list of messages; the table in rules/) and from nothing of the
// adapter's, so that the sandbox can disagree with the adapter's validator. Where the spec leaves
// a reading open, the reading switches decide (switches.ts: todayZone, transactionDateTime);
// docs/sandbox-readings.md lists each reading and what the adapter does.
import { CONSULTATION_ELEMENTS, ENCOUNTER_ELEMENTS, MISSING_CODES, SPEC_FILE_VERSION, TRANSACTION_ELEMENTS, type SpecElement } from './rules/elements.js';
import { specMessage, type SpecCode } from './rules/messages.js';
import type { AnswerSwitches } from './switches.js';

/** One finding: a message of the spec about one place of the transaction. */
export interface Finding {
  readonly code: SpecCode;
  readonly message: string;
  /** `Encounters[0].Consultations[1].Modality`; the record's own path for a finding about the record; '' for the transaction. */
  readonly path: string;
  readonly field?: string;
  /** The encounter's index, for findings inside one (NRDR rejects that encounter). */
  readonly encounter?: number;
  readonly encounterId?: string;
  /** `CDS_Consultation_Date CDS_Consultation_Time` of the consultation concerned. */
  readonly consultationKey?: string;
}

/** A list of allowed codes (ACR's workbook; a site's copy), with its "Other" and "Unknown" codes. */
export interface ValueList {
  readonly codes: readonly string[];
  readonly other?: string;
  readonly unknown?: string;
}
export type ValueLists = Readonly<Record<string, ValueList>>;

export type Readings = Pick<AnswerSwitches, 'todayZone' | 'transactionDateTime'>;

export interface CheckOptions {
  readonly now: Date;
  readonly readings: Readings;
  readonly valueLists?: ValueLists;
}

/** A member as read: nothing (absent, null or blank, as the example's nulls), text, or a JSON type no element has. */
type Read = { readonly kind: 'none' } | { readonly kind: 'text'; readonly text: string } | { readonly kind: 'bad' };
const NONE: Read = { kind: 'none' };

// Numbers stand for their text: the spec's status example answers PartnerID 10000 for a string.
function readMember(v: unknown): Read {
  if (v === undefined || v === null) return NONE;
  if (typeof v === 'string') return v.trim() === '' ? NONE : { kind: 'text', text: v };
  if (typeof v === 'number' && Number.isFinite(v)) return { kind: 'text', text: String(v) };
  return { kind: 'bad' };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const INT32 = 2_147_483_647;

/** Num_of_Encounters_Included: the schema says number, the example sends "1"; either, if it is an integer. */
function readCount(v: unknown): number | 'none' | 'bad' {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return 'none';
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && Math.abs(n) <= INT32 ? n : 'bad';
}

// ---- dates and the clock

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** A calendar day as a sortable number (yyyymmdd), or undefined when there is no such day (years 1–9999). */
function day(year: number, month: number, d: number): number | undefined {
  if (year < 1 || month < 1 || month > 12 || d < 1 || d > daysIn(year, month)) return undefined;
  return year * 10_000 + month * 100 + d;
}

/** A wall-clock instant as a sortable number (yyyymmddhhmiss). */
const instant = (dayNumber: number, h: number, mi: number, s: number) => dayNumber * 1_000_000 + h * 10_000 + mi * 100 + s;

const CDS_DATE = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;
const CDS_TIME = /^(\d{2}):(\d{2}):(\d{2})$/;

/** CD3060: "mm/dd/yyyy or m/d/yyyy", a day that exists. */
function cdsDate(text: string): number | undefined {
  const m = CDS_DATE.exec(text.trim());
  return m ? day(Number(m[3]), Number(m[1]), Number(m[2])) : undefined;
}

function clock(h: string | undefined, mi: string | undefined, s: string | undefined): [number, number, number] | undefined {
  const t = [Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0)] as [number, number, number];
  return t[0] <= 23 && t[1] <= 59 && t[2] <= 59 ? t : undefined;
}

/** CD3061: "hh:mi:ss in military format". */
function isCdsTime(text: string): boolean {
  const m = CDS_TIME.exec(text.trim());
  return m !== null && clock(m[1], m[2], m[3]) !== undefined;
}

// The two forms the spec shows for Transaction_DateTime: the POST example's "03/04/2022" and the
// status example's "2023-02-02T00:00:00"; each with or without its time of day.
const US_DATETIME = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?: (\d{2}):(\d{2}):(\d{2}))?$/;
const ISO_DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}))?$/;

/** Transaction_DateTime as a wall-clock instant, in the forms the reading allows (CD2012 when none). */
export function transactionDateTime(text: string, form: Readings['transactionDateTime']): number | undefined {
  const t = text.trim();
  const us = form !== 'iso' ? US_DATETIME.exec(t) : null;
  const iso = form !== 'us' && !us ? ISO_DATETIME.exec(t) : null;
  const [y, mo, d, h, mi, s] = us ? [us[3], us[1], us[2], us[4], us[5], us[6]] : iso ? iso.slice(1) : [];
  if (y === undefined) return undefined;
  const dn = day(Number(y), Number(mo), Number(d));
  const c = clock(h, mi, s);
  return dn !== undefined && c ? instant(dn, ...c) : undefined;
}

const OFFSET_ZONE = /^UTC(?:([+-])(\d{1,2})(?::?(\d{2}))?)?$/;

/** Whether the reading's zone is one the sandbox can read: `UTC`, `UTC+14`, `UTC-05:00`, or an IANA name. */
export function isReadableZone(zone: string): boolean {
  const m = OFFSET_ZONE.exec(zone);
  if (m) return Number(m[2] ?? 0) <= 14 && Number(m[3] ?? 0) <= 59;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

// a formatter is slow to make: one per zone
const FORMATS = new Map<string, Intl.DateTimeFormat>();

/** The wall clock of `now` in `zone`, as a sortable number (yyyymmddhhmiss). */
export function wallClock(now: Date, zone: string): number {
  const m = OFFSET_ZONE.exec(zone);
  if (m) {
    const offsetMs = (m[1] === '-' ? -1 : 1) * (Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 60_000;
    const t = new Date(now.getTime() + offsetMs);
    return instant(t.getUTCFullYear() * 10_000 + (t.getUTCMonth() + 1) * 100 + t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds());
  }
  const parts: Record<string, number> = {};
  let f = FORMATS.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    FORMATS.set(zone, f);
  }
  for (const p of f.formatToParts(now)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return instant((parts.year ?? 0) * 10_000 + (parts.month ?? 0) * 100 + (parts.day ?? 0), parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
}

const JAN_1_2000 = 2000_01_01;
const ID_MAX = TRANSACTION_ELEMENTS.find((e) => e.name === 'Transaction_ID')?.maxLength ?? Infinity;

// ---- the checks

interface Place {
  readonly path: string;
  readonly encounter?: number;
  readonly encounterId?: string;
  readonly consultationKey?: string;
}

const join = (path: string, field: string) => (path === '' ? field : `${path}.${field}`);

class Checker {
  readonly out: Finding[] = [];
  private readonly now: number;

  constructor(private readonly o: CheckOptions) {
    this.now = wallClock(o.now, o.readings.todayZone);
  }

  add(code: SpecCode, place: Place, field: string | undefined, ...args: string[]): void {
    this.out.push({
      code,
      message: specMessage(code, ...args),
      path: field === undefined ? place.path : join(place.path, field),
      ...(field !== undefined ? { field } : {}),
      ...(place.encounter !== undefined ? { encounter: place.encounter } : {}),
      ...(place.encounterId !== undefined ? { encounterId: place.encounterId } : {}),
      ...(place.consultationKey !== undefined ? { consultationKey: place.consultationKey } : {}),
    });
  }

  /** CD2090: members the schema does not have at this level. */
  unknown(obj: Record<string, unknown>, elements: readonly SpecElement[], place: Place): void {
    const names = Object.keys(obj).filter((k) => !elements.some((e) => e.name === k));
    if (names.length > 0) this.add('CD2090', place, undefined, names.join(', '));
  }

  transaction(body: unknown): void {
    const root: Place = { path: '' };
    if (body === undefined || body === null || (isRecord(body) && Object.keys(body).length === 0)) return this.add('CD1004', root, undefined);
    if (!isRecord(body)) return this.add('CD1003', root, undefined);
    this.unknown(body, TRANSACTION_ELEMENTS, root);
    const pipes: string[] = [];
    const text = (name: keyof typeof MISSING_CODES): string | undefined => {
      const r = readMember(body[name]);
      if (r.kind === 'bad') this.add('CD1003', root, name);
      else if (r.kind === 'none') this.add(MISSING_CODES[name], root, name);
      else {
        if (r.text.includes('|')) pipes.push(name);
        return r.text;
      }
      return undefined;
    };
    const id = text('Transaction_ID');
    if (id !== undefined && id.length > ID_MAX) this.add('CD2002', root, 'Transaction_ID');
    const when = text('Transaction_DateTime');
    if (when !== undefined) {
      const t = transactionDateTime(when, this.o.readings.transactionDateTime);
      if (t === undefined) this.add('CD2012', root, 'Transaction_DateTime');
      else if (t > this.now) this.add('CD2013', root, 'Transaction_DateTime');
    }
    const count = readCount(body.Num_of_Encounters_Included);
    if (count === 'none') this.add(MISSING_CODES.Num_of_Encounters_Included, root, 'Num_of_Encounters_Included');
    else if (count === 'bad') this.add('CD2024', root, 'Num_of_Encounters_Included');
    text('Facility_ID');
    text('PartnerID');
    text('AppID');
    const version = text('CDSR_File_Version_Num');
    if (version !== undefined) {
      if (!/^\d+(\.\d+)*$/.test(version.trim())) this.add('CD2102', root, 'CDSR_File_Version_Num');
      else if (version.trim() !== SPEC_FILE_VERSION) this.add('CD3041', root, 'CDSR_File_Version_Num');
    }
    if (pipes.length > 0) this.add('CD2091', root, undefined, pipes.join(', '));
    const encounters = body.Encounters;
    if (encounters === undefined || encounters === null || (Array.isArray(encounters) && encounters.length === 0))
      this.add(MISSING_CODES.Encounters, root, 'Encounters');
    else if (!Array.isArray(encounters)) this.add('CD1003', root, 'Encounters');
    else {
      if (typeof count === 'number' && count !== encounters.length)
        this.add('CD2074', root, 'Num_of_Encounters_Included', String(count), String(encounters.length));
      encounters.forEach((e: unknown, i) => this.encounter(e, i));
    }
  }

  private encounter(value: unknown, index: number): void {
    const path = `Encounters[${index}]`;
    if (!isRecord(value)) return this.add('CD1003', { path, encounter: index }, undefined);
    const id = readMember(value.Unique_Encounter_ID);
    const place: Place = { path, encounter: index, ...(id.kind === 'text' ? { encounterId: id.text } : {}) };
    this.unknown(value, ENCOUNTER_ELEMENTS, place);
    this.fields(value, ENCOUNTER_ELEMENTS, place);
    const codes = readMember(value.Clinical_Scenario_Codes);
    const descriptions = readMember(value.Clinical_Scenario_Descriptions);
    if (codes.kind === 'text' && descriptions.kind === 'text' && codes.text.split(',').length !== descriptions.text.split(',').length) {
      this.add('CD3300', place, 'Clinical_Scenario_Codes');
    }
    const consultations = value.Consultations;
    if (consultations === undefined || consultations === null || (Array.isArray(consultations) && consultations.length === 0))
      this.add('CD2075', place, 'Consultations');
    else if (!Array.isArray(consultations)) this.add('CD1003', place, 'Consultations');
    else consultations.forEach((c: unknown, j) => this.consultation(c, join(path, `Consultations[${j}]`), place));
  }

  private consultation(value: unknown, path: string, encounter: Place): void {
    const base: Place = { ...encounter, path };
    if (!isRecord(value)) return this.add('CD1003', base, undefined);
    const date = readMember(value.CDS_Consultation_Date);
    const time = readMember(value.CDS_Consultation_Time);
    const place: Place = date.kind === 'text' && time.kind === 'text' ? { ...base, consultationKey: `${date.text} ${time.text}` } : base;
    this.unknown(value, CONSULTATION_ELEMENTS, place);
    this.fields(value, CONSULTATION_ELEMENTS, place);
  }

  private fields(obj: Record<string, unknown>, elements: readonly SpecElement[], place: Place): void {
    const pipes: string[] = [];
    for (const e of elements) {
      if (e.type === 'array') continue;
      const r = readMember(obj[e.name]);
      if (r.kind === 'bad') this.add('CD1003', place, e.name);
      else if (r.kind === 'none') {
        if (e.required) this.add('CD3001', place, e.name, e.name);
      } else {
        if (r.text.includes('|')) pipes.push(e.name);
        this.value(e, r.text, obj, elements, place);
      }
    }
    if (pipes.length > 0) this.add('CD2091', place, undefined, pipes.join(', '));
  }

  private value(e: SpecElement, text: string, obj: Record<string, unknown>, elements: readonly SpecElement[], place: Place): void {
    if (e.form === 'date') {
      const d = cdsDate(text);
      if (d === undefined) this.add('CD3060', place, e.name, e.name);
      else if (d <= JAN_1_2000 || d > Math.floor(this.now / 1_000_000)) this.add('CD3130', place, e.name, e.name);
      return;
    }
    if (e.form === 'time') {
      if (!isCdsTime(text)) this.add('CD3061', place, e.name, e.name);
      return;
    }
    if (e.form === 'code' || e.form === 'codes') {
      const values = codesOf(e, text);
      if (e.numeric && values.some((v) => !/^[0-9]+$/.test(v))) return this.add('CD3111', place, e.name, e.name);
      if (e.form === 'codes' && new Set(values).size !== values.length) this.add('CD3030', place, e.name, e.name);
      const list = e.list !== undefined ? this.o.valueLists?.[e.list] : undefined;
      if (!list) return;
      if (e.form === 'codes' && list.unknown !== undefined && values.length > 1 && values.includes(list.unknown)) this.add('CD3240', place, e.name, e.name);
      if (values.some((v) => !list.codes.includes(v))) this.add('CD3120', place, e.name, e.name, list.codes.join(','));
      return;
    }
    if (e.otherOf !== undefined) {
      // CD3002: an *_Other_Spec only with its element's "Other" code (the list's, else the example's 88)
      const of = elements.find((x) => x.name === e.otherOf);
      const otherCode = (of?.list !== undefined ? this.o.valueLists?.[of.list]?.other : undefined) ?? of?.otherCode;
      if (!of || otherCode === undefined) return;
      const chosen = readMember(obj[of.name]);
      if (chosen.kind !== 'text' || !codesOf(of, chosen.text).includes(otherCode)) this.add('CD3002', place, e.name, e.name, of.name, otherCode);
    }
  }
}

/** A coded element's values: the comma list's items, or the one code; each trimmed. */
function codesOf(e: SpecElement, text: string): string[] {
  return e.form === 'codes' ? text.split(',').map((v) => v.trim()) : [text.trim()];
}

/** Every finding of the sandbox's checks on a posted transaction, transaction first, then encounter by encounter. */
export function checkTransaction(body: unknown, o: CheckOptions): Finding[] {
  const c = new Checker(o);
  c.transaction(body);
  return c.out;
}
