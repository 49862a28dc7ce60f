// Runs a compiled table over one source (an HL7 message or a FHIR resource with its references)
// and builds the partial record, with a trace of every value and a problem for every value that
// is present but cannot be mapped.
import type { Problem } from '../cdsr/problem.js';
import { lookup } from './crosswalk.js';
import { findFacility, type FacilityTable } from './facilities.js';
import type { OrderIdentity } from './outcome.js';
import type { PartialRecord, SourceKind, TraceEntry, TraceMiss } from './record.js';
import type { Candidate, CompiledRule, CompiledTable } from './rules.js';
import { applyTransform, sortableTime, TransformError } from './transforms.js';
import { errorMessage } from '../cdsr/errors.js';

export interface EngineInput<C> {
  readonly ctx: C;
  readonly table: CompiledTable<C>;
  readonly facilities: FacilityTable;
  readonly defaultFacilityId?: string;
  readonly source: { readonly kind: SourceKind; readonly type: string; readonly role: string; readonly id: string };
}

/** A record, or the problems that kept it from being one with who the order is as far as known. */
export type EngineResult = { record: PartialRecord; problems: Problem[] } | { record?: undefined; problems: Problem[]; identity: OrderIdentity };

// A path that fails on a malformed input (a FHIRPath over a resource of the wrong shape) is a
// problem of that input, not a crash.
function runPath<C>(c: Candidate<C>, ctx: C, problems: Problem[]): string[] {
  try {
    return c.run(ctx);
  } catch (e) {
    problems.push(problem('MAP_BAD_VALUE', `${c.text} cannot be read from this input: ${errorMessage(e)}`, { source: c.text }));
    return [];
  }
}

function first<C>(cands: readonly Candidate<C>[], ctx: C, problems: Problem[]): { value: string; path: string } | undefined {
  for (const c of cands) {
    const v = runPath(c, ctx, problems)[0];
    if (v !== undefined) return { value: v.trim(), path: c.text };
  }
  return undefined;
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
    const named = facilitySource ? `"${facilitySource.value}" (${facilitySource.path})` : `(none of ${table.keys.facility.map((c) => c.text).join(', ')} is filled)`;
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
      problem('MAP_NO_ENCOUNTER', `no encounter id: ${table.keys.encounter.map((c) => c.text).join(', ')} ${table.keys.encounter.length > 1 ? 'are' : 'is'} empty`, {
        scope: 'encounter',
        field: 'Unique_Encounter_ID',
        source: table.keys.encounter.map((c) => c.text).join(' | '),
      }),
    );
  }
  const order = first(table.keys.order, ctx, problems);
  const filler = first(table.keys.filler, ctx, problems);
  const orderNumbers = [...new Set([order?.value, filler?.value].filter((v): v is string => v !== undefined && v !== ''))];
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
  for (const rule of table.rules) {
    if (rule.for && !rule.for.has(input.source.role)) continue;
    const out = runRule(rule, ctx, facilityId, problems);
    if (!out) {
      misses.push({ field: rule.field, rule: rule.origin, tried: rule.candidates.map((c) => c.text) });
      if (rule.field === 'CDS_Consultation_Date' || rule.field === 'CDS_Consultation_Time') {
        keyMisses.push(`${rule.field} (${rule.origin}) from ${rule.candidates.map((c) => c.text).join(', ') || 'a constant'}`);
      }
      continue;
    }
    (rule.level === 'encounter' ? encounterFields : consultationFields)[rule.field] = out.value;
    trace.push(...out.trace);
  }
  if (problems.length > 0 || facilityId === undefined || !encounter) return { problems, identity: { facilityId: facilityId ?? '', encounterId: encounter?.value ?? '', numbers: orderNumbers } };
  const record: PartialRecord = {
    source: input.source,
    facilityId,
    ...(row?.partnerId ? { partnerId: row.partnerId } : {}),
    encounterId: encounter.value,
    ...(orderNumbers.length > 0 ? { orderKey: orderNumbers[0]!, orderNumbers } : {}),
    ...(keyMisses.length > 0 ? { consultationKeyTried: `${keyMisses.join('; ')}: none has a value` } : {}),
    ...(consultationFields.CDS_Consultation_Date !== undefined ? { consultationDate: consultationFields.CDS_Consultation_Date } : {}),
    ...(consultationFields.CDS_Consultation_Time !== undefined ? { consultationTime: consultationFields.CDS_Consultation_Time } : {}),
    cancelled,
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
      { field: 'Unique_Encounter_ID', rule: `${table.file} keys.encounter`, path: encounter.path, raw: encounter.value, value: encounter.value },
      ...trace,
    ],
    ...(misses.length > 0 ? { misses } : {}),
  };
  return { record, problems };
}

function runRule<C>(rule: CompiledRule<C>, ctx: C, facilityId: string | undefined, problems: Problem[]): { value: string; trace: TraceEntry[] } | undefined {
  let raws: string[] = [];
  let path = 'constant';
  if (rule.constant !== undefined) raws = [rule.constant];
  else {
    for (const c of rule.candidates) {
      const vs = runPath(c, ctx, problems);
      if (vs.length > 0) {
        raws = rule.all ? vs : [vs[0]!];
        path = c.text;
        break;
      }
    }
  }
  if (raws.length === 0 && rule.default !== undefined) {
    raws = [rule.default];
    path = 'default';
  }
  const trace: TraceEntry[] = [];
  const values: string[] = [];
  const system = rule.system ? runPath(rule.system, ctx, problems)[0] : undefined;
  for (const raw of raws) {
    let v = raw;
    try {
      for (const t of rule.transforms) v = applyTransform(v, t);
    } catch (e) {
      if (!(e instanceof TransformError)) throw e;
      problems.push(problem('MAP_BAD_VALUE', `${rule.field}: ${e.message}`, { field: rule.field, source: path, file: rule.origin }));
      continue;
    }
    let crosswalkRow: string | undefined;
    if (rule.crosswalk && path !== 'default') {
      const hit = lookup(rule.crosswalk, v, { ...(facilityId !== undefined ? { facility: facilityId } : {}), ...(system !== undefined ? { system } : {}) });
      if (!hit) {
        const qual = system !== undefined ? ` (system "${system}")` : '';
        problems.push(
          problem(
            'MAP_UNMAPPED_CODE',
            `${rule.field}: no row for "${v}"${qual} in ${rule.crosswalk.file}; add a row: ${v},<ACR code>`,
            {
              field: rule.field,
              source: path,
              file: rule.crosswalk.file,
              value: v,
              ...(facilityId !== undefined ? { facilityId } : {}),
              ...(system !== undefined ? { system } : {}),
            },
          ),
        );
        continue;
      }
      crosswalkRow = `${rule.crosswalk.file}:${hit.line}`;
      v = hit.acrCode;
    }
    if (v.trim() === '') continue;
    if (rule.crosswalk && values.includes(v)) continue;
    values.push(v);
    trace.push({ field: rule.field, rule: rule.origin, path, raw, ...(crosswalkRow ? { crosswalk: crosswalkRow } : {}), value: v });
  }
  if (values.length === 0) return undefined;
  return { value: values.join(rule.join), trace };
}
