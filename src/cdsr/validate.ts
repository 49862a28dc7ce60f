// The local validator: checks a CDSR transaction against every NRDR rule that needs no registry
// data and reports each finding with NRDR's own code and message, per record. The same checks
// serve an in-memory transaction (validateTransaction) and a streamed file (validate-stream.ts).
import { cdMessage, type CdCode } from './codes.js';
import { codedValues, effectiveRules, type FieldLimitOverride, type FieldRule, type FieldRules } from './fields.js';
import { isCdsrTime, isDateInRange, isTransactionDateTimeFuture, parseCdsrDate, parseTransactionDateTime } from './formats.js';
import type { Problem, ProblemScope } from './problem.js';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS, TRANSACTION_FIELDS } from './schema.js';
import { isNpi, notNpiMessage, type SiteCondition, type SiteRule } from './site-rules.js';
import { EMPTY_CATALOG, outsideValueSet, type ValueSet, type ValueSetCatalog } from './valuesets.js';

export interface ValidatorOptions {
  /** The clock for "future" rules (CD2013, CD3130): a fixed time or a clock read at each check. */
  readonly now: Date | (() => Date);
  readonly valueSets?: ValueSetCatalog;
  readonly fieldLimits?: readonly FieldLimitOverride[];
  /** A site's conditional requirements (site-rules.csv): CD3002, CD3004–CD3007. */
  readonly siteRules?: readonly SiteRule[];
  /**
   * The IANA time zone in which "now" and "today" are read for values without an offset (CD2013,
   * CD3130). Without one (and without timeZoneOf for the facility), a value is only future when
   * it is future in every time zone (UTC+14).
   */
  readonly timeZone?: string;
  /** A facility's own time zone (facilities.csv), taking precedence over timeZone. */
  readonly timeZoneOf?: (facilityId: string) => string | undefined;
}

/** What the transaction's Encounters member turned out to be (known only at the end of a stream). */
export type EncountersShape = { readonly kind: 'absent' } | { readonly kind: 'invalid' } | { readonly kind: 'array'; readonly count: number };

export const MAX_TRANSACTION_ID_LENGTH = 50;
export const SUPPORTED_FILE_VERSION = '1.0';

const TRANSACTION_KNOWN = new Set<string>(TRANSACTION_FIELDS);
const ENCOUNTER_KNOWN = new Set<string>(ENCOUNTER_FIELDS);
const CONSULTATION_KNOWN = new Set<string>(CONSULTATION_FIELDS);

interface Where {
  readonly scope: ProblemScope;
  readonly path: string;
  readonly encounterId?: string;
  readonly consultationKey?: string;
}

/** A field value read as NRDR reads it: absent, a string, or of the wrong JSON type. */
type Read = { kind: 'absent' } | { kind: 'value'; text: string } | { kind: 'wrongType' };

// null, "" and blanks count as absent (the spec's example sends null for unused fields). Numbers
// are taken as their JSON text, as .NET's JSON readers do for string properties; booleans, objects
// and arrays do not match the schema.
// (most fields of a record are absent: one answer for all of them, never changed by its readers)
const ABSENT: Read = Object.freeze({ kind: 'absent' });
const WRONG_TYPE: Read = Object.freeze({ kind: 'wrongType' });
function read(value: unknown): Read {
  if (value === undefined || value === null) return ABSENT;
  if (typeof value === 'string') return value.trim() === '' ? ABSENT : { kind: 'value', text: value };
  if (typeof value === 'number' && Number.isFinite(value)) return { kind: 'value', text: String(value) };
  return WRONG_TYPE;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The place of one field of a record (built only when a problem is reported). */
function at(where: Where, field: string): Where {
  return { ...where, path: join(where.path, field) };
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

export class CdsrValidator {
  private readonly clock: () => Date;
  private readonly valueSets: ValueSetCatalog;
  private readonly rules: { encounter: FieldRules; consultation: FieldRules };
  // Object.entries once, not per record: checkFields is the validator's hot loop.
  private readonly encounterRules: readonly (readonly [string, FieldRule])[];
  private readonly consultationRules: readonly (readonly [string, FieldRule])[];
  private readonly encounterSiteRules: readonly SiteRule[];
  private readonly consultationSiteRules: readonly SiteRule[];
  private readonly timeZone: string | undefined;
  private readonly timeZoneOf: ((facilityId: string) => string | undefined) | undefined;

  constructor(options: ValidatorOptions) {
    const now = options.now;
    this.clock = typeof now === 'function' ? now : () => now;
    this.valueSets = options.valueSets ?? EMPTY_CATALOG;
    this.rules = effectiveRules(options.fieldLimits);
    this.encounterRules = Object.entries(this.rules.encounter);
    this.consultationRules = Object.entries(this.rules.consultation);
    const site = options.siteRules ?? [];
    this.encounterSiteRules = site.filter((r) => r.field in this.rules.encounter);
    this.consultationSiteRules = site.filter((r) => r.field in this.rules.consultation);
    this.timeZone = options.timeZone;
    this.timeZoneOf = options.timeZoneOf;
  }

  /** The zone "now" is read in for a facility (its own, else the validator's; undefined = the UTC+14 grace). */
  zoneFor(facilityId: string | undefined): string | undefined {
    return (facilityId !== undefined ? this.timeZoneOf?.(facilityId) : undefined) ?? this.timeZone;
  }

  /** Validates a whole transaction held in memory. */
  validateTransaction(value: unknown): Problem[] {
    const root: Where = { scope: 'transaction', path: '' };
    if (value === undefined || value === null) return [this.problem('CD1004', root, [])];
    if (!isPlainObject(value)) return [this.problem('CD1003', root, [])];
    if (Object.keys(value).length === 0) return [this.problem('CD1004', root, [])];
    const encounters = value.Encounters;
    const shape: EncountersShape =
      encounters === undefined || encounters === null
        ? { kind: 'absent' }
        : Array.isArray(encounters)
          ? { kind: 'array', count: encounters.length }
          : { kind: 'invalid' };
    const problems = this.checkHeader(value, shape);
    if (Array.isArray(encounters)) {
      const facilityId = facilityOf(value);
      encounters.forEach((e: unknown, i) => problems.push(...this.validateEncounter(e, i, facilityId)));
    }
    return problems;
  }

  /**
   * Transaction-level rules. `header` holds the members other than Encounters (an Encounters
   * member in it is ignored); `encounters` says what Encounters was.
   */
  checkHeader(header: Readonly<Record<string, unknown>>, encounters: EncountersShape): Problem[] {
    const out: Problem[] = [];
    const at = (field: string): Where => ({ scope: 'transaction', path: field });
    const root: Where = { scope: 'transaction', path: '' };
    this.unknownMembers(header, TRANSACTION_KNOWN, root, out);

    const pipes: string[] = [];
    const text = (field: string, missing: CdCode): string | undefined => {
      const r = read(header[field]);
      if (r.kind === 'wrongType') out.push(this.problem('CD1003', at(field), [], field));
      else if (r.kind === 'absent') out.push(this.problem(missing, at(field), [], field));
      else {
        if (r.text.includes('|')) pipes.push(field);
        return r.text;
      }
      return undefined;
    };

    const id = text('Transaction_ID', 'CD2001');
    if (id !== undefined && id.length > MAX_TRANSACTION_ID_LENGTH) {
      out.push(this.problem('CD2002', at('Transaction_ID'), [], 'Transaction_ID'));
    }
    const dt = text('Transaction_DateTime', 'CD2011');
    if (dt !== undefined) {
      const parsed = parseTransactionDateTime(dt.trim());
      if (!parsed) out.push(this.problem('CD2012', at('Transaction_DateTime'), [], 'Transaction_DateTime'));
      else if (isTransactionDateTimeFuture(parsed, this.clock(), this.zoneFor(facilityOf(header)))) {
        out.push(this.problem('CD2013', at('Transaction_DateTime'), [], 'Transaction_DateTime'));
      }
    }
    const declared = this.encounterCount(header.Num_of_Encounters_Included, at('Num_of_Encounters_Included'), out);
    text('Facility_ID', 'CD2051');
    text('PartnerID', 'CD2031');
    text('AppID', 'CD2041');
    const version = text('CDSR_File_Version_Num', 'CD3042');
    if (version !== undefined) {
      if (!/^\d+(\.\d+)*$/.test(version.trim())) {
        out.push(this.problem('CD2102', at('CDSR_File_Version_Num'), [], 'CDSR_File_Version_Num'));
      } else if (version.trim() !== SUPPORTED_FILE_VERSION) {
        out.push(this.problem('CD3041', at('CDSR_File_Version_Num'), [], 'CDSR_File_Version_Num'));
      }
    }
    if (pipes.length > 0) out.push(this.problem('CD2091', root, [pipes.join(', ')]));

    if (encounters.kind === 'invalid') out.push(this.problem('CD1003', at('Encounters'), [], 'Encounters'));
    else if (encounters.kind === 'absent' || encounters.count === 0) {
      out.push(this.problem('CD2070', at('Encounters'), [], 'Encounters'));
    } else if (declared !== undefined && declared !== encounters.count) {
      out.push(this.problem('CD2074', at('Num_of_Encounters_Included'), [String(declared), String(encounters.count)], 'Num_of_Encounters_Included'));
    }
    return out;
  }

  // The spec's schema says number while its own example sends "1": both are taken, as NRDR's
  // reader evidently does (CD2024 "is not an integer" presupposes reading text).
  private encounterCount(value: unknown, where: Where, out: Problem[]): number | undefined {
    const field = 'Num_of_Encounters_Included';
    if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) {
      out.push(this.problem('CD2023', where, [], field));
      return undefined;
    }
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
    if (typeof value === 'string' && /^\d{1,9}$/.test(value.trim())) return Number(value.trim());
    out.push(this.problem('CD2024', where, [], field));
    return undefined;
  }

  /**
   * Encounter-level rules and the rules of its consultations. `facilityId` (the transaction's
   * Facility_ID) selects the time zone of the date rules.
   */
  validateEncounter(value: unknown, index: number, facilityId?: string): Problem[] {
    const path = join('Encounters', index);
    if (!isPlainObject(value)) return [this.problem('CD1003', { scope: 'encounter', path }, [])];
    const id = read(value.Unique_Encounter_ID);
    const where: Where = {
      scope: 'encounter',
      path,
      ...(id.kind === 'value' ? { encounterId: id.text } : {}),
    };
    const out: Problem[] = [];
    this.unknownMembers(value, ENCOUNTER_KNOWN, where, out);
    const zone = this.zoneFor(facilityId);
    this.checkFields(value, this.encounterRules, this.rules.encounter, where, zone, out);
    this.checkSiteRules(this.encounterSiteRules, value, value, where, out);
    const codes = read(value.Clinical_Scenario_Codes);
    const descriptions = read(value.Clinical_Scenario_Descriptions);
    if (codes.kind === 'value' && descriptions.kind === 'value' && commas(codes.text) !== commas(descriptions.text)) {
      out.push(this.problem('CD3300', { ...where, path: join(path, 'Clinical_Scenario_Codes') }, []));
    }
    const consultations = value.Consultations;
    const cPath = join(path, 'Consultations');
    if (consultations === undefined || consultations === null || (Array.isArray(consultations) && consultations.length === 0)) {
      out.push(this.problem('CD2075', { ...where, path: cPath }, [], 'Consultations'));
    } else if (!Array.isArray(consultations)) {
      out.push(this.problem('CD1003', { ...where, path: cPath }, [], 'Consultations'));
    } else {
      consultations.forEach((c: unknown, i) => this.validateConsultation(c, value, join(cPath, i), where.encounterId, zone, out));
    }
    return out;
  }

  private validateConsultation(
    value: unknown,
    encounter: Readonly<Record<string, unknown>>,
    path: string,
    encounterId: string | undefined,
    zone: string | undefined,
    out: Problem[],
  ): void {
    const base = { scope: 'consultation' as const, path, ...(encounterId !== undefined ? { encounterId } : {}) };
    if (!isPlainObject(value)) {
      out.push(this.problem('CD1003', base, []));
      return;
    }
    const date = read(value.CDS_Consultation_Date);
    const time = read(value.CDS_Consultation_Time);
    const where: Where = date.kind === 'value' && time.kind === 'value' ? { ...base, consultationKey: `${date.text} ${time.text}` } : base;
    this.unknownMembers(value, CONSULTATION_KNOWN, where, out);
    this.checkFields(value, this.consultationRules, this.rules.consultation, where, zone, out);
    this.checkSiteRules(this.consultationSiteRules, value, encounter, where, out);
  }

  // A site's conditional rules, in the order of its table. `obj` holds the rule's field; the
  // condition's field is read from it, else (an encounter field) from `encounter`.
  private checkSiteRules(
    rules: readonly SiteRule[],
    obj: Readonly<Record<string, unknown>>,
    encounter: Readonly<Record<string, unknown>>,
    where: Where,
    out: Problem[],
  ): void {
    for (const rule of rules) {
      const target = read(obj[rule.field]);
      if (target.kind === 'wrongType') continue; // already CD1003
      if (rule.rule === 'npi') {
        const value = target.kind === 'value' ? target.text.trim() : '';
        if (value === '' || isNpi(value)) continue;
        const w = at(where, rule.field);
        out.push({
          code: rule.code,
          message: notNpiMessage(rule.field, value, rule.origin),
          severity: 'error',
          scope: w.scope,
          path: w.path,
          field: rule.field,
          value,
          ...(w.encounterId !== undefined ? { encounterId: w.encounterId } : {}),
          ...(w.consultationKey !== undefined ? { consultationKey: w.consultationKey } : {}),
        });
        continue;
      }
      if (rule.rule === 'required') {
        // a field the spec (or field-limits.csv) requires already has its CD3001 from checkFields
        const base = this.rules.encounter[rule.field] ?? this.rules.consultation[rule.field];
        if (target.kind === 'absent' && base?.required !== true) out.push(this.problem('CD3001', at(where, rule.field), [rule.field], rule.field));
        continue;
      }
      const holds = this.conditionHolds(rule.when, rule.when.field in obj ? obj : encounter);
      if (holds === undefined) continue;
      const violated = rule.rule === 'required_when' ? holds && target.kind === 'absent' : !holds && target.kind === 'value';
      if (!violated) continue;
      const args = [rule.field, rule.when.field, rule.when.kind === 'in' ? rule.when.values.join(',') : ''];
      out.push(this.problem(rule.code, at(where, rule.field), args, rule.field));
    }
  }

  // undefined: the condition's field is of the wrong JSON type (CD1003 says so), nothing to decide.
  private conditionHolds(when: SiteCondition, obj: Readonly<Record<string, unknown>>): boolean | undefined {
    const r = read(obj[when.field]);
    if (r.kind === 'wrongType') return undefined;
    if (when.kind === 'reported') return r.kind === 'value';
    if (when.kind === 'not_reported') return r.kind === 'absent';
    if (r.kind === 'absent') return false;
    const multi = (this.rules.encounter[when.field] ?? this.rules.consultation[when.field])?.kind === 'multi';
    const values = multi ? r.text.split(',').map((v) => v.trim()) : [r.text.trim()];
    return values.some((v) => when.values.includes(v));
  }

  private unknownMembers(obj: Readonly<Record<string, unknown>>, known: ReadonlySet<string>, where: Where, out: Problem[]): void {
    const unknown = Object.keys(obj).filter((k) => !known.has(k));
    if (unknown.length > 0) out.push(this.problem('CD2090', where, [unknown.join(', ')]));
  }

  private checkFields(
    obj: Readonly<Record<string, unknown>>,
    entries: readonly (readonly [string, FieldRule])[],
    rules: FieldRules,
    where: Where,
    zone: string | undefined,
    out: Problem[],
  ): void {
    let pipes: string[] | undefined;
    for (const [field, rule] of entries) {
      const r = read(obj[field]);
      if (r.kind === 'wrongType') out.push(this.problem('CD1003', at(where, field), [], field));
      else if (r.kind === 'absent') {
        if (rule.required) out.push(this.problem('CD3001', at(where, field), [field], field));
      } else {
        if (r.text.includes('|')) (pipes ??= []).push(field);
        this.checkValue(field, rule, r.text, where, zone, out);
        if (rule.otherSpecOf !== undefined) this.checkOtherSpec(field, rule.otherSpecOf, rules, obj, where, out);
      }
    }
    if (pipes) out.push(this.problem('CD2091', where, [pipes.join(', ')]));
  }

  private checkValue(field: string, rule: FieldRule, text: string, where: Where, zone: string | undefined, out: Problem[]): void {
    if (rule.maxLength !== undefined && text.length > rule.maxLength) {
      out.push(this.problem('CD3110', at(where, field), [field, String(rule.maxLength)], field));
    }
    if (rule.format !== undefined) {
      const format = rule.format;
      if (codedValues(rule, text).some((v) => !format.test(v))) out.push(this.problem('CD3020', at(where, field), [field], field));
    }
    switch (rule.kind) {
      case 'text':
        return;
      case 'date': {
        const d = parseCdsrDate(text.trim());
        if (!d) out.push(this.problem('CD3060', at(where, field), [field], field));
        else if (!isDateInRange(d, this.clock(), zone)) out.push(this.problem('CD3130', at(where, field), [field], field));
        return;
      }
      case 'time':
        if (!isCdsrTime(text.trim())) out.push(this.problem('CD3061', at(where, field), [field], field));
        return;
      case 'code':
      case 'multi': {
        const values = codedValues(rule, text);
        if (rule.maxItems !== undefined && values.length > rule.maxItems) {
          out.push(this.problem('CD3031', at(where, field), [field, String(rule.maxItems)], field));
        }
        if (rule.numeric && values.some((v) => !/^[0-9]+$/.test(v))) {
          out.push(this.problem('CD3111', at(where, field), [field], field));
          return;
        }
        if (rule.kind === 'multi' && new Set(values).size !== values.length) {
          out.push(this.problem('CD3030', at(where, field), [field], field));
        }
        const set = rule.valueSet !== undefined ? this.valueSets.get(rule.valueSet) : undefined;
        if (!set) return;
        if (rule.kind === 'multi' && set.unknownCode !== undefined && values.length > 1 && values.includes(set.unknownCode)) {
          out.push(this.problem('CD3240', at(where, field), [field], field));
        }
        const outside = outsideValueSet(set, values);
        if (outside) {
          const p = this.problem('CD3120', at(where, field), [field, [...set.entries.keys()].join(',')], field);
          out.push(outside.severity === 'error' ? p : { ...p, severity: 'warning' });
        }
        return;
      }
    }
  }

  // CD3002: X_Other_Spec only when X is the value set's "Other" code. Where neither the value-set
  // file nor the field table knows that code, the rule cannot be checked and is left to NRDR.
  private checkOtherSpec(field: string, baseField: string, rules: FieldRules, obj: Readonly<Record<string, unknown>>, where: Where, out: Problem[]): void {
    const baseRule = rules[baseField];
    if (!baseRule) return;
    const set: ValueSet | undefined = baseRule.valueSet !== undefined ? this.valueSets.get(baseRule.valueSet) : undefined;
    const otherCode = set?.otherCode ?? baseRule.defaultOtherCode;
    if (otherCode === undefined) return;
    const base = read(obj[baseField]);
    const chosen = base.kind !== 'value' ? [] : codedValues(baseRule, base.text);
    if (!chosen.includes(otherCode)) out.push(this.problem('CD3002', at(where, field), [field, baseField, otherCode], field));
  }

  private problem(code: CdCode, where: Where, args: string[], field?: string): Problem {
    return {
      code,
      message: cdMessage(code, ...args),
      severity: 'error',
      scope: where.scope,
      path: where.path,
      ...(field !== undefined ? { field } : {}),
      ...(where.encounterId !== undefined ? { encounterId: where.encounterId } : {}),
      ...(where.consultationKey !== undefined ? { consultationKey: where.consultationKey } : {}),
    };
  }
}

function facilityOf(header: Readonly<Record<string, unknown>>): string | undefined {
  const r = read(header.Facility_ID);
  return r.kind === 'value' ? r.text.trim() : undefined;
}

function commas(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === ',') n++;
  return n;
}

/** Convenience: validate one transaction with a fresh validator. */
export function validateTransaction(value: unknown, options: ValidatorOptions): Problem[] {
  return new CdsrValidator(options).validateTransaction(value);
}
