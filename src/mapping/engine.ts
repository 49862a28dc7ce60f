// Runs a compiled table over one source (an HL7 message or a FHIR resource with its references)
// and builds the partial record, with a trace of every value and a problem for every value that
// is present but cannot be mapped.
import type { Problem } from '../cdsr/problem.js';
import { EXCLUDE, knowsSystem, lookup } from './crosswalk.js';
import { findFacility, type FacilityTable } from './facilities.js';
import type { OrderIdentity } from './outcome.js';
import type { PartialRecord, SourceKind, TraceEntry, TraceMiss, Exclusion } from './record.js';
import type { Candidate, CompiledCondition, CompiledRule, CompiledTable, PathItem } from './rules.js';
import { whyNot } from './condition.js';
import { applyTransform, sortableTime, TransformError } from './transforms.js';
import { errorMessage } from '../cdsr/errors.js';
import { fieldOutsideValueSet, type ValueSetCatalog } from '../cdsr/valuesets.js';

export interface EngineInput<C> {
  readonly ctx: C;
  readonly table: CompiledTable<C>;
  readonly facilities: FacilityTable;
  readonly defaultFacilityId?: string;
  readonly source: { readonly kind: SourceKind; readonly type: string; readonly role: string; readonly id: string };
  /**
   * The number an order is known by when no order path of the table has a value (a FHIR request's
   * own `ServiceRequest/<id>`); `what` names it in the problem when there is none either.
   */
  readonly fallbackOrder?: { readonly value?: string; readonly what: string };
  /** ACR's value sets: a mapped value outside its field's set is MAP_NOT_IN_VALUESET; none loaded, none checked. */
  readonly valueSets?: ValueSetCatalog;
}

/** A record, or the problems that kept it from being one with who the order is as far as known. */
export type EngineResult = { record: PartialRecord; problems: Problem[] } | { record?: undefined; problems: Problem[]; identity: OrderIdentity };

// A path that fails on a malformed input (a FHIRPath over a resource of the wrong shape) is a
// problem of that input, not a crash.
function runPath<C>(c: Candidate<C>, ctx: C, problems: Problem[]): PathItem[] {
  try {
    return c.run(ctx);
  } catch (e) {
    problems.push(problem('MAP_BAD_VALUE', `${c.text} cannot be read from this input: ${errorMessage(e)}`, { source: c.text }));
    return [];
  }
}

function first<C>(cands: readonly Candidate<C>[], ctx: C, problems: Problem[]): { value: string; path: string; index: number } | undefined {
  for (let index = 0; index < cands.length; index++) {
    const c = cands[index]!;
    const v = runPath(c, ctx, problems)[0];
    if (v !== undefined) return { value: v.value.trim(), path: c.text, index };
  }
  return undefined;
}

/** 1st, 2nd, 3rd, 4th … 11th, 12th, 13th, 21st. */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** Why a value read at candidate `index` of a list of `count` (of alternative `alternative` of `alternatives`) is a fallback; undefined for the first path of the first alternative. */
export function fallbackReason(path: string, index: number, count: number, alternative = 0, alternatives = 1): string | undefined {
  const parts: string[] = [];
  if (alternative > 0) parts.push(`alternative ${alternative + 1} of ${alternatives}`);
  if (index > 0) parts.push(`the ${ordinal(index + 1)} of ${count} candidates`);
  return parts.length > 0 ? `fallback: ${path}, ${parts.join(', ')}` : undefined;
}

/**
 * Is a value of `rule` read at `path` (candidate `index`; -1 for its constant or default) a guess,
 * and why: the table's own reason first (it knows why), else a later candidate or alternative,
 * else the rule's default, which stands in for a value the message did not carry.
 */
function guessOf<C>(rule: CompiledRule<C>, path: string, index: number): string | undefined {
  const told = rule.guesses?.get(path) ?? rule.guess;
  if (told !== undefined) return told;
  if (path === 'default') return `default: none of ${rule.candidates.map((c) => c.text).join(', ')} has a value`;
  if (index < 0) return undefined;
  return fallbackReason(path, index, rule.candidates.length, rule.alternative, rule.alternatives);
}

/** Why the first of `conds` that does not hold fails (`ORC-1 = XO is not in [NW]`); undefined when all hold. */
function unmet<C>(conds: readonly CompiledCondition<C>[], ctx: C, problems: Problem[]): string | undefined {
  for (const c of conds) {
    const why = whyNot(
      c.condition,
      runPath(c.read, ctx, problems).map((i) => i.value),
    );
    if (why !== undefined) return why;
  }
  return undefined;
}

/**
 * Does a rule's `senders` name this message's sender: its facility (keys.facility), or its
 * application at that facility (`RIS1@GENHOSP`, keys.application)? The application is read once,
 * and only when a rule names one.
 */
function senderTest<C>(table: CompiledTable<C>, ctx: C, facility: string | undefined, problems: Problem[]): (senders: ReadonlySet<string>) => boolean {
  const fac = (facility ?? '').trim().toUpperCase();
  let app: string | undefined | null = null;
  return (senders) => {
    if (senders.has(fac)) return true;
    if (app === null) app = first(table.keys.application, ctx, problems)?.value.toUpperCase();
    return app !== undefined && senders.has(`${app}@${fac}`);
  };
}

/** The trace entries of a value, with the conditions that kept earlier sources of its field from giving it. */
function withSkips(trace: readonly TraceEntry[], skipped: readonly string[]): TraceEntry[] {
  return skipped.length === 0 ? [...trace] : trace.map((t) => ({ ...t, skipped: [...skipped] }));
}

function problem(code: Problem['code'], message: string, extra: Partial<Problem> = {}): Problem {
  return { code, message, severity: 'error', scope: 'consultation', path: '', ...extra };
}

export function runTable<C>(input: EngineInput<C>): EngineResult {
  const { ctx, table } = input;
  const problems: Problem[] = [];

  const facilitySource = first(table.keys.facility, ctx, problems);
  const row = facilitySource ? findFacility(input.facilities, facilitySource.value) : undefined;
  const facilityId = row?.facilityId ?? input.defaultFacilityId;
  if (facilityId === undefined) {
    const named = facilitySource
      ? `"${facilitySource.value}" (${facilitySource.path})`
      : `(none of ${table.keys.facility.map((c) => c.text).join(', ')} is filled)`;
    problems.push(
      problem('MAP_NO_FACILITY', `no facilities.csv row for sending facility ${named} and no default facility (CDSR_DEFAULT_FACILITY_ID or --facility-id)`, {
        scope: 'encounter',
        file: 'facilities.csv',
        ...(facilitySource ? { source: facilitySource.path, value: facilitySource.value } : {}),
      }),
    );
  }
  const encounter = first(table.keys.encounter, ctx, problems);
  if (!encounter) {
    problems.push(
      problem(
        'MAP_NO_ENCOUNTER',
        `no encounter id: ${table.keys.encounter.map((c) => c.text).join(', ')} ${table.keys.encounter.length > 1 ? 'are' : 'is'} empty`,
        {
          scope: 'encounter',
          field: 'Unique_Encounter_ID',
          source: table.keys.encounter.map((c) => c.text).join(' | '),
        },
      ),
    );
  }
  const order = first(table.keys.order, ctx, problems);
  const filler = first(table.keys.filler, ctx, problems);
  const orderNumbers = [...new Set([order?.value, filler?.value].filter((v): v is string => v !== undefined && v !== ''))];
  if (orderNumbers.length === 0 && input.fallbackOrder?.value) orderNumbers.push(input.fallbackOrder.value);
  // an order (or a result) is identified by its numbers before anything else is read: without one
  // it could never be updated, resulted or cancelled, and every such order would be the same one
  if (orderNumbers.length === 0 && input.source.role !== 'encounter') {
    const tried = [...table.keys.order, ...table.keys.filler].map((c) => c.text);
    const also = input.fallbackOrder ? ` and ${input.fallbackOrder.what}` : '';
    problems.push(
      problem(
        'MAP_NO_ORDER',
        `no order number: ${tried.join(', ')} ${tried.length > 1 ? 'are' : 'is'} empty${also}; an order needs a placer or filler number to be reported, updated or cancelled`,
        {
          source: tried.join(' | '),
        },
      ),
    );
  }
  const time = first(table.keys.time, ctx, problems);
  let sourceTime = '';
  if (time) {
    const t = sortableTime(time.value);
    if (t === undefined) problems.push(problem('MAP_BAD_VALUE', `"${time.value}" is not a timestamp`, { source: time.path }));
    else sourceTime = t;
  }
  let cancelled = false;
  if (table.keys.cancel) {
    const c = first(table.keys.cancel.candidates, ctx, problems);
    cancelled = c !== undefined && table.keys.cancel.values.has(c.value.toUpperCase());
  }

  const encounterFields: Record<string, string> = {};
  const consultationFields: Record<string, string> = {};
  const trace: TraceEntry[] = [];
  const keyMisses: string[] = [];
  const misses: TraceMiss[] = [];
  const done = new Set<string>();
  // problems of an alternative that gave nothing: errors unless a later alternative fills the field
  const pending = new Map<string, Problem[]>();
  // where each field's value stands among the sources its rules list (candidates, then a constant
  // or default), counted across its alternatives: 0 = the first source, larger = a fallback
  const passed = new Map<string, number>();
  const ranks = new Map<string, number>();
  let excluded: PartialRecord['excluded'];
  // what the field rules find from here on: not needed by an order that is cancelled or excluded
  const fieldProblemsFrom = problems.length;
  const sentBy = senderTest(table, ctx, facilitySource?.value, problems);
  // per field, the `when` conditions that kept a rule or candidate from giving its value, for the trace
  const skips = new Map<string, string[]>();
  for (const rule of table.rules) {
    if (rule.for && !rule.for.has(input.source.role)) continue;
    if (rule.facilities && !rule.facilities.has((facilityId ?? '').toUpperCase())) continue;
    if (rule.senders && !sentBy(rule.senders)) continue;
    if (done.has(rule.field)) continue;
    const own: Problem[] = [];
    const skipped = skips.get(rule.field) ?? [];
    skips.set(rule.field, skipped);
    const ruleUnmet = rule.when ? unmet(rule.when, ctx, own) : undefined;
    const before = passed.get(rule.field) ?? 0;
    passed.set(rule.field, before + sourcesOf(rule));
    if (ruleUnmet !== undefined) {
      skipped.push(`rule skipped: ${ruleUnmet}`);
      pending.set(rule.field, [...(pending.get(rule.field) ?? []), ...own]);
      misses.push({ field: rule.field, rule: rule.origin, tried: [], skipped: [`rule skipped: ${ruleUnmet}`] });
      continue;
    }
    const ownSkips: string[] = [];
    const out = runRule(rule, ctx, facilityId, own, ownSkips, input.valueSets);
    skipped.push(...ownSkips);
    if (!out) {
      pending.set(rule.field, [...(pending.get(rule.field) ?? []), ...own]);
      misses.push({ field: rule.field, rule: rule.origin, tried: rule.candidates.map((c) => c.text), ...(ownSkips.length > 0 ? { skipped: ownSkips } : {}) });
      continue;
    }
    if (out.value === '' && !out.excluded) {
      // a row that says "known, send nothing" (RAD: radiology, no modality of its own): the next alternative may say more
      trace.push(...withSkips(out.trace, skipped));
      problems.push(...own);
      continue;
    }
    done.add(rule.field);
    // passed-over values stay visible as warnings: the field was filled another way
    problems.push(...(pending.get(rule.field) ?? []).map((p) => ({ ...p, severity: 'warning' as const })), ...own);
    pending.delete(rule.field);
    if (out.excluded && !excluded) excluded = out.excluded;
    trace.push(...withSkips(out.trace, skipped));
    if (out.value === '') continue;
    ranks.set(rule.field, before + rankIn(rule, out.trace));
    (rule.level === 'encounter' ? encounterFields : consultationFields)[rule.field] = out.value;
  }
  for (const list of pending.values()) problems.push(...list);
  // identity, then cancellation, then exclusion, then the rest: a cancel needs only the order's
  // numbers, and an order a named rule excludes is never reported, so a field they do not need
  // cannot make the message an error (the problem stays visible, as a warning saying why)
  const withheld = cancelled ? 'the order is cancelled' : excluded ? `the order is excluded by ${excluded.crosswalk}` : undefined;
  if (withheld !== undefined) {
    for (let i = fieldProblemsFrom; i < problems.length; i++) {
      const p = problems[i]!;
      if (p.severity === 'error') problems[i] = { ...p, severity: 'warning', message: `${p.message} (not needed: ${withheld})` };
    }
  }
  for (const m of misses) {
    if (done.has(m.field)) continue;
    if (m.field === 'CDS_Consultation_Date' || m.field === 'CDS_Consultation_Time') {
      const from = m.tried.length > 0 ? ` from ${m.tried.join(', ')}` : m.skipped ? '' : ' from a constant';
      keyMisses.push(`${m.field} (${m.rule})${from}${m.skipped ? ` (${m.skipped.join('; ')})` : ''}`);
    }
  }
  if (problems.some((p) => p.severity === 'error') || facilityId === undefined || !encounter)
    return { problems, identity: { facilityId: facilityId ?? '', encounterId: encounter?.value ?? '', numbers: orderNumbers } };
  const record: PartialRecord = {
    source: input.source,
    facilityId,
    ...(row?.partnerId ? { partnerId: row.partnerId } : {}),
    encounterId: encounter.value,
    ...(orderNumbers.length > 0 ? { orderKey: orderNumbers[0]!, orderNumbers } : {}),
    ...(keyMisses.length > 0 ? { consultationKeyTried: `${keyMisses.join('; ')}: none has a value` } : {}),
    ...(consultationFields.CDS_Consultation_Date !== undefined ? { consultationDate: consultationFields.CDS_Consultation_Date } : {}),
    ...(consultationFields.CDS_Consultation_Time !== undefined ? { consultationTime: consultationFields.CDS_Consultation_Time } : {}),
    // the key is as good as the worse of its two parts
    ...(consultationFields.CDS_Consultation_Date !== undefined && consultationFields.CDS_Consultation_Time !== undefined
      ? { consultationKeyRank: Math.max(ranks.get('CDS_Consultation_Date') ?? 0, ranks.get('CDS_Consultation_Time') ?? 0) }
      : {}),
    cancelled,
    ...(excluded ? { excluded } : {}),
    sourceTime,
    encounterFields,
    consultationFields,
    trace: [
      {
        field: 'Facility_ID',
        rule: `${table.file} keys.facility`,
        path: row && facilitySource ? facilitySource.path : 'default',
        raw: facilitySource?.value ?? '',
        ...(row ? { crosswalk: `${row.file}:${row.line}` } : {}),
        value: facilityId,
      },
      {
        field: 'Unique_Encounter_ID',
        rule: `${table.file} keys.encounter`,
        path: encounter.path,
        raw: encounter.value,
        value: encounter.value,
        ...(encounter.index > 0 ? { guess: fallbackReason(encounter.path, encounter.index, table.keys.encounter.length) } : {}),
      },
      ...trace,
    ],
    ...(misses.some((m) => !done.has(m.field)) ? { misses: misses.filter((m) => !done.has(m.field)) } : {}),
  };
  return { record, problems };
}

/** How many sources a rule lists: its candidate paths, then its constant or default. */
function sourcesOf<C>(rule: CompiledRule<C>): number {
  return rule.candidates.length + (rule.constant !== undefined || rule.default !== undefined ? 1 : 0);
}

/** Which of a rule's sources gave its value: the path of the first trace entry with a value. */
function rankIn<C>(rule: CompiledRule<C>, trace: readonly TraceEntry[]): number {
  const path = trace.find((t) => t.value !== '')?.path;
  const i = rule.candidates.findIndex((c) => c.text === path);
  // not a candidate: the constant or the default, after every path
  return i >= 0 ? i : rule.candidates.length;
}

/**
 * A trace entry with its optional members set only when given, in the order the record keeps them
 * (field, rule, path, raw, crosswalk, value, guess). Assigned, not spread into a literal: a spread
 * after the first member is a call into the runtime, made for every value of every message.
 */
function traceEntry<C>(rule: CompiledRule<C>, path: string, raw: string, crosswalk: string | undefined, value: string, guess: string | undefined): TraceEntry {
  const e: { -readonly [K in keyof TraceEntry]?: TraceEntry[K] } = { field: rule.field, rule: rule.origin, path, raw };
  if (crosswalk) e.crosswalk = crosswalk;
  e.value = value;
  if (guess !== undefined) e.guess = guess;
  return e as TraceEntry;
}

interface RuleOutput {
  readonly value: string;
  readonly trace: TraceEntry[];
  readonly excluded?: Exclusion;
}

/** Where a mapped value came from, for the problem that names what to fix. */
interface ValueOrigin {
  readonly path: string;
  /** The crosswalk row that gave it, with the code (after transforms) it looked up. */
  readonly row?: { readonly file: string; readonly line: number; readonly code: string };
}

/**
 * A mapped value its field's value set does not list (the validator's CD3120 check, before the
 * order is stored): the table to fix is the crosswalk row that gave it, else the rule.
 */
function notInValueSet<C>(rule: CompiledRule<C>, catalog: ValueSetCatalog, value: string, from: ValueOrigin, facilityId: string | undefined): Problem[] {
  const outside = fieldOutsideValueSet(catalog, rule.field, value);
  if (!outside) return [];
  const { set, severity } = outside;
  const ruleAt = rule.origin.lastIndexOf(':');
  const where = from.row ? { file: from.row.file, line: from.row.line } : { file: rule.origin.slice(0, ruleAt), line: Number(rule.origin.slice(ruleAt + 1)) };
  const note = severity === 'warning' ? '; a warning while that file says "enforce: no"' : '';
  return outside.values.map((v) => {
    const fix = from.row
      ? `the crosswalk row ${from.row.file}:${from.row.line} maps "${from.row.code}" to it: change that row's ACR code to a code of the set`
      : from.path === 'constant' || from.path === 'default'
        ? `it is the ${from.path} of the rule at ${rule.origin}: change it to a code of the set`
        : `fix the rule at ${rule.origin} or add a crosswalk to it with a row ${v},<ACR code>`;
    const read = from.row || from.path === 'constant' || from.path === 'default' ? '' : ` from ${from.path}`;
    return problem('MAP_NOT_IN_VALUESET', `${rule.field}: "${v}"${read} is not in ACR's value set (${set.file}); ${fix}${note}`, {
      severity,
      scope: rule.level,
      field: rule.field,
      source: from.path,
      value: v,
      file: where.file,
      line: where.line,
      ...(facilityId !== undefined ? { facilityId } : {}),
    });
  });
}

/** `skipped` receives why a candidate with a value was not read (its `when` did not hold). */
function runRule<C>(
  rule: CompiledRule<C>,
  ctx: C,
  facilityId: string | undefined,
  problems: Problem[],
  skipped: string[],
  valueSets: ValueSetCatalog | undefined,
): RuleOutput | undefined {
  // a crosswalked single-value rule reads on past values it cannot map (the next coding, the next path)
  const searching = rule.crosswalk !== undefined && !rule.all;
  let raws: PathItem[] = [];
  let path = 'constant';
  let guess: string | undefined;
  const tried: { items: PathItem[]; path: string; index: number }[] = [];
  if (rule.constant !== undefined) tried.push({ items: [{ value: rule.constant }], path, index: -1 });
  else {
    for (let index = 0; index < rule.candidates.length; index++) {
      const c = rule.candidates[index]!;
      const vs = runPath(c, ctx, problems);
      if (vs.length === 0) continue;
      // the condition is read only for a candidate that has a value: a skip is said only where it mattered
      const why = c.when ? unmet(c.when, ctx, problems) : undefined;
      if (why !== undefined) {
        skipped.push(`${c.text} skipped: ${why}`);
        continue;
      }
      tried.push({ items: rule.all || searching ? vs : [vs[0]!], path: c.text, index });
      if (!searching) break;
    }
  }
  if (tried.length === 0 && rule.default !== undefined) tried.push({ items: [{ value: rule.default }], path: 'default', index: -1 });
  const system = first(rule.system, ctx, problems)?.value;
  const trace: TraceEntry[] = [];
  const values: string[] = [];
  const unmapped: Problem[] = [];
  for (const attempt of tried) {
    ({ items: raws, path } = attempt);
    guess = guessOf(rule, path, attempt.index);
    for (const item of raws) {
      const raw = item.value;
      let v = raw;
      try {
        for (const t of rule.transforms) v = applyTransform(v, t);
      } catch (e) {
        if (!(e instanceof TransformError)) throw e;
        problems.push(problem('MAP_BAD_VALUE', `${rule.field}: ${e.message}`, { field: rule.field, source: path, file: rule.origin }));
        continue;
      }
      let crosswalkRow: string | undefined;
      let row: ValueOrigin['row'];
      if (rule.crosswalk && path !== 'default') {
        const sys = item.system ?? system;
        // (read with `?? ''`: an undefined facility or system is no facility or system)
        const hit = lookup(rule.crosswalk, v, { facility: facilityId, system: sys });
        if (!hit) {
          // a coding of a system this crosswalk does not map is not its problem (a chargemaster code beside the CPT)
          if (!knowsSystem(rule.crosswalk, sys)) continue;
          const qual = sys !== undefined ? ` (system "${sys}")` : '';
          unmapped.push(
            problem('MAP_UNMAPPED_CODE', `${rule.field}: no row for "${v}"${qual} in ${rule.crosswalk.file}; add a row: ${v},<ACR code>`, {
              field: rule.field,
              source: path,
              file: rule.crosswalk.file,
              value: v,
              ...(facilityId !== undefined ? { facilityId } : {}),
              ...(sys !== undefined ? { system: sys } : {}),
            }),
          );
          continue;
        }
        crosswalkRow = `${rule.crosswalk.file}:${hit.line}${hit.range ? ` (range ${hit.source})` : ''}`;
        row = { file: rule.crosswalk.file, line: hit.line, code: v };
        if (hit.acrCode.trim().toLowerCase() === EXCLUDE) {
          trace.push({ field: rule.field, rule: rule.origin, path, raw, crosswalk: crosswalkRow, value: '' });
          problems.push(...unmapped.map((p) => ({ ...p, severity: 'warning' as const })));
          problems.push({
            ...problem('MAP_EXCLUDED', `${rule.field}: "${raw}" is known and not reported (${crosswalkRow} says exclude): the order is kept as excluded`, {
              field: rule.field,
              source: path,
              file: rule.crosswalk.file,
            }),
            severity: 'warning',
          });
          return { value: '', trace, excluded: { rule: rule.origin, crosswalk: crosswalkRow, raw } };
        }
        v = hit.acrCode;
      }
      if (v.trim() === '') {
        if (crosswalkRow) trace.push({ field: rule.field, rule: rule.origin, path, raw, crosswalk: crosswalkRow, value: '' });
        if (searching && crosswalkRow) break;
        continue;
      }
      if (rule.crosswalk && values.includes(v)) continue;
      if (valueSets) for (const p of notInValueSet(rule, valueSets, v, { path, ...(row ? { row } : {}) }, facilityId)) problems.push(p);
      values.push(v);
      trace.push(traceEntry(rule, path, raw, crosswalkRow, v, guess));
      if (searching) break;
    }
    if (searching && trace.length > 0) break;
  }
  if (values.length === 0) {
    problems.push(...unmapped);
    // a row that says "known, send nothing" fills the field with nothing: no alternative is tried
    return trace.length > 0 ? { value: '', trace } : undefined;
  }
  problems.push(...unmapped.map((p) => ({ ...p, severity: searching ? ('warning' as const) : p.severity })));
  return { value: values.join(rule.join), trace };
}
