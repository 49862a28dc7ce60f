// What `check-mappings` finds beyond loading: crosswalk targets and rule constants or defaults
// outside their field's value set (a DICOM code where an ACR code belongs), crosswalk and rule
// qualifiers that name no facility of facilities.csv, and system qualifiers that are neither a
// URI, an OID nor a short code-system name. Each problem names the crosswalk or rule file and line; a value set marked
// `# enforce: no` makes its findings warnings.
import type { Problem } from '../cdsr/problem.js';
import { FIELD_RULES } from '../cdsr/fields.js';
import { fieldOutsideValueSet, outsideValueSet } from '../cdsr/valuesets.js';
import { allRows, EXCLUDE, type Crosswalk } from './crosswalk.js';
import type { MappingTables } from './load.js';
import type { CompiledCondition, CompiledRule } from './rules.js';
import { applyTransform, TransformError } from './transforms.js';

/** A URI (`http://loinc.org`, `urn:oid:2.16.840.1.113883.6.12`), a bare OID, or an HL7 table 0396 name (`CPT`, `C4`, `LN`, `DCM`). */
export function systemProblem(system: string): string | undefined {
  const s = system.trim();
  if (/^urn:oid:/i.test(s)) return isOid(s.slice(8)) ? undefined : `"${s}" is not a valid OID (digits separated by dots, no leading zeros)`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(s)) {
    if (/\s/.test(s)) return `"${s}" is not a valid URI: it holds a blank`;
    if (/^https?:/i.test(s) && !/^https?:\/\/[^/\s]+/i.test(s)) return `"${s}" is not a valid URI: http(s) needs //host`;
    return undefined;
  }
  if (/^[0-9.]+$/.test(s)) return isOid(s) ? undefined : `"${s}" is not a valid OID (digits separated by dots, no leading zeros)`;
  if (/^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$/.test(s)) return undefined;
  return `"${s}" is not a code system: use a URI (http://loinc.org), an OID (urn:oid:2.16.840.1.113883.6.12) or a short name such as CPT`;
}

function isOid(s: string): boolean {
  return /^[0-2](\.(0|[1-9][0-9]*))+$/.test(s);
}

const at = (origin: string): { file: string; line: number } => {
  const i = origin.lastIndexOf(':');
  return { file: origin.slice(0, i), line: Number(origin.slice(i + 1)) };
};

function problem(file: string, line: number, message: string, severity: Problem['severity'] = 'error'): Problem {
  return { code: 'TABLE_INVALID', message, severity, scope: 'file', path: '', file, line };
}

/** A constant or default as the rule sends it; undefined when a transform refuses it (the mapping reports that). */
function transformed(rule: CompiledRule<unknown>, value: string): string | undefined {
  try {
    return rule.transforms.reduce((v, t) => applyTransform(v, t), value);
  } catch (e) {
    if (e instanceof TransformError) return undefined;
    throw e;
  }
}

const enforceNote = (severity: Problem['severity']): string => (severity === 'warning' ? '; a warning while that file says "enforce: no"' : '');

/** Every finding of the checks above, in file and line order. */
export function checkMappings(tables: MappingTables): Problem[] {
  const problems: Problem[] = [];
  const facilityIds = new Set([...tables.facilities.values()].map((r) => r.facilityId.trim().toUpperCase()));
  const senders = new Set([...tables.facilities.keys()]);
  const rules: CompiledRule<unknown>[] = [...(tables.hl7?.rules ?? []), ...(tables.fhir?.rules ?? [])] as CompiledRule<unknown>[];

  // a crosswalk is checked against the value set of every field that reads it, once per pair
  const pairs = new Map<string, { cw: Crosswalk; field: string }>();
  for (const r of rules) {
    if (r.crosswalk) pairs.set(`${r.crosswalk.name}|${FIELD_RULES[r.field]?.valueSet ?? r.field}`, { cw: r.crosswalk, field: r.field });
  }
  for (const { cw, field } of pairs.values()) {
    const setName = FIELD_RULES[field]?.valueSet;
    const set = setName !== undefined ? tables.valueSets.get(setName) : undefined;
    if (!set) continue;
    for (const row of allRows(cw)) {
      const code = row.acrCode.trim();
      if (code === '' || code.toLowerCase() === EXCLUDE) continue;
      const outside = outsideValueSet(set, [code]);
      if (!outside) continue;
      const known = [...set.entries.keys()].join(', ');
      problems.push(
        problem(
          cw.file,
          row.line,
          `${field}: "${code}" (for "${row.source}") is not in ${set.file} (codes: ${known})${enforceNote(outside.severity)}`,
          outside.severity,
        ),
      );
    }
  }

  // a rule's default, and its constant when no crosswalk reads it, is sent as its transforms leave it: it must be an ACR code
  for (const r of rules) {
    for (const [what, given] of [
      ['constant', r.crosswalk ? undefined : r.constant],
      ['default', r.default],
    ] as const) {
      const value = given === undefined ? undefined : transformed(r, given);
      if (value === undefined || value.trim() === '') continue;
      const outside = fieldOutsideValueSet(tables.valueSets, r.field, value);
      if (!outside) continue;
      const { file, line } = at(r.origin);
      problems.push(
        problem(
          file,
          line,
          `${r.field}: the ${what} "${outside.values.join(', ')}" is not in ${outside.set.file}${enforceNote(outside.severity)}`,
          outside.severity,
        ),
      );
    }
  }

  for (const cw of tables.crosswalks.values()) {
    for (const row of allRows(cw)) {
      if (row.facility.trim() !== '' && !facilityIds.has(row.facility.trim().toUpperCase())) {
        problems.push(problem(cw.file, row.line, `facility "${row.facility}" is no facility_id of facilities.csv`));
      }
      const bad = row.system.trim() === '' ? undefined : systemProblem(row.system);
      if (bad !== undefined) problems.push(problem(cw.file, row.line, `system ${bad}`));
    }
  }

  for (const r of rules) {
    const { file, line } = at(r.origin);
    for (const f of r.facilities ?? []) {
      if (!facilityIds.has(f)) problems.push(problem(file, line, `${r.field}: facility "${f}" is no facility_id of facilities.csv`));
    }
    // a sender without a row may still come in under the default facility: worth a look, not a refusal
    for (const s of r.senders ?? []) {
      // APPLICATION@FACILITY: the facility part is what facilities.csv knows
      const facility = s.slice(s.lastIndexOf('@') + 1);
      if (!senders.has(facility))
        problems.push(
          problem(file, line, `${r.field}: sender "${s}" has no row in facilities.csv${facility !== s ? ` (for facility "${facility}")` : ''}`, 'warning'),
        );
    }
  }
  for (const r of rules) {
    problems.push(...conditionFindings(r.field, r.when ?? []));
    for (const c of r.candidates) problems.push(...conditionFindings(`${r.field} ${c.text}`, c.when ?? []));
  }
  return problems.sort((a, b) => (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? 0) - (b.line ?? 0));
}

/**
 * What a `when` says that cannot be what was meant: a value listed twice (a warning), and two
 * conditions on one path that want different values (`ORC-1 = NW` and `ORC-1 = XO`): all
 * conditions must hold, so such a `when` holds only for a field that repeats with both values;
 * either value is `ORC-1 in [NW, XO]`.
 */
function conditionFindings(what: string, conds: readonly CompiledCondition<unknown>[]): Problem[] {
  const out: Problem[] = [];
  const wanted = new Map<string, { c: CompiledCondition<unknown>; values: Set<string> }>();
  for (const c of conds) {
    const { file, line } = at(c.origin);
    const { op, values, path } = c.condition;
    const seen = new Set<string>();
    for (const v of values.map((x) => x.trim().toUpperCase())) {
      if (seen.has(v)) out.push(problem(file, line, `${what}: when "${c.text}" lists ${v} twice`, 'warning'));
      seen.add(v);
    }
    if (op !== '=' && op !== 'in') continue;
    const earlier = wanted.get(path);
    if (earlier && ![...seen].some((v) => earlier.values.has(v))) {
      const all = [...earlier.c.condition.values, ...values];
      out.push(
        problem(
          file,
          line,
          `${what}: when "${earlier.c.text}" and "${c.text}" must both hold, which they do only if ${path} repeats with both; for either, write "${path} in [${all.join(', ')}]"`,
          'warning',
        ),
      );
    }
    wanted.set(path, { c, values: seen });
  }
  return out;
}
