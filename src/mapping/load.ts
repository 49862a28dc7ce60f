// Loads a mappings directory (hl7v2.yaml, fhir.yaml, crosswalks/, valuesets/, facilities.csv,
// field-limits.csv) and reports every problem of every file at once.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { loadFieldLimits } from '../cdsr/field-limits.js';
import { loadSiteRules, type SiteRule } from '../cdsr/site-rules.js';
import type { FieldLimitOverride } from '../cdsr/fields.js';
import { tableProblem } from '../cdsr/csv-table.js';
import type { Problem } from '../cdsr/problem.js';
import { errorMessage } from '../cdsr/errors.js';
import { loadValueSets, type ValueSetCatalog } from '../cdsr/valuesets.js';
import type { Hl7Message } from '../hl7v2/message.js';
import { parseCrosswalk, type Crosswalk } from './crosswalk.js';
import { parseFacilities, type FacilityTable } from './facilities.js';
import { evaluateHl7Path, parseHl7Path } from './hl7-path.js';
import type { z } from 'zod';
import { compileTable, FhirTableSchema, Hl7TableSchema, type CompiledTable, type CompileInput, type PathFn, type PathItem } from './rules.js';
import { readYamlTable } from './yaml-table.js';
import { deepFreeze, TextMemo } from '../cdsr/text-memo.js';

/** What a FHIRPath rule runs over: the resource, and its references as %variables. */
export interface FhirContext {
  readonly resource: Readonly<Record<string, unknown>>;
  readonly vars: Readonly<Record<FhirVariable, unknown>>;
}
export const FHIR_VARIABLES = ['patient', 'encounter', 'coverage', 'requester', 'requesterRole', 'organization'] as const;
export type FhirVariable = (typeof FHIR_VARIABLES)[number];

export interface MappingTables {
  readonly dir: string;
  readonly hl7?: CompiledTable<Hl7Message> & { readonly messages: ReadonlyMap<string, 'order' | 'result'> };
  readonly fhir?: CompiledTable<FhirContext> & { readonly resources: ReadonlyMap<string, 'order' | 'encounter'> };
  readonly crosswalks: ReadonlyMap<string, Crosswalk>;
  readonly valueSets: ValueSetCatalog;
  readonly fieldLimits: readonly FieldLimitOverride[];
  /** site-rules.csv: conditional requirements (CD3002, CD3004–CD3007). */
  readonly siteRules: readonly SiteRule[];
  readonly facilities: FacilityTable;
}

const BUILTIN_VARS = new Set(['resource', 'rootResource', 'context', 'ucum', 'sct', 'loinc', 'factory', 'terminologies']);

// the parse of each path text, and each FHIRPath compiled, kept for the next reading (text-memo.ts)
const hl7Paths = new TextMemo<ReturnType<typeof parseHl7Path>>();
type CompiledFhirPath = (resource: unknown, vars: Record<string, unknown>) => unknown[];
const fhirPaths = new TextMemo<CompiledFhirPath>();

export function compileHl7Path(text: string): PathFn<Hl7Message> {
  const p = hl7Paths.get(text, (t) => deepFreeze(parseHl7Path(t)));
  return (m) => evaluateHl7Path(m, p).map((value) => ({ value }));
}

export function compileFhirPath(text: string): PathFn<FhirContext> {
  for (const m of text.matchAll(/%([A-Za-z][A-Za-z0-9]*)/g)) {
    const name = m[1]!;
    if (!BUILTIN_VARS.has(name) && !(FHIR_VARIABLES as readonly string[]).includes(name)) {
      throw new Error(`"${text}": unknown variable %${name} (known: ${FHIR_VARIABLES.map((v) => `%${v}`).join(', ')})`);
    }
  }
  let fn: CompiledFhirPath;
  try {
    fn = fhirPaths.get(text, (t) => fhirpath.compile(t, r4) as CompiledFhirPath);
  } catch (e) {
    throw new Error(`"${text}" is not a valid FHIRPath expression: ${errorMessage(e).split('\n')[0]}`);
  }
  return (ctx) => {
    const out: PathItem[] = [];
    for (const v of fn(ctx.resource, { ...ctx.vars })) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        const s = String(v);
        if (s.trim() !== '') out.push({ value: s });
      } else {
        // a Coding (or anything with a code): its code, with its system for the crosswalk
        const coding = codingOf(v);
        if (coding) out.push(coding);
      }
    }
    return out;
  };
}

function codingOf(v: unknown): PathItem | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { code, system } = v as { code?: unknown; system?: unknown };
  if (typeof code !== 'string' || code.trim() === '') return undefined;
  return typeof system === 'string' && system.trim() !== '' ? { value: code, system } : { value: code };
}

interface RuleTableSpec {
  readonly keys: CompileInput['keys'];
  readonly fields: CompileInput['fields'];
}

/**
 * Reads and compiles one rule table (hl7v2.yaml or fhir.yaml): `listKey` names its list of
 * handled types (messages / resources), each with a kind. Undefined when the file is absent or
 * broken (its problems are added to `problems`).
 */
function loadRuleTable<C, S extends z.ZodType<RuleTableSpec & Record<L, { type: string; kind: string }[]>>, L extends string>(
  file: string,
  schema: S,
  listKey: L,
  kinds: readonly string[],
  compilePath: (path: string) => PathFn<C>,
  crosswalks: ReadonlyMap<string, Crosswalk>,
  problems: Problem[],
): { table: CompiledTable<C>; types: ReadonlyMap<string, string> } | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const y = readYamlTable(file, text, schema);
  problems.push(...y.problems);
  if (!y.value) return undefined;
  const spec = y.value as RuleTableSpec & Record<L, { type: string; kind: string }[]>;
  const types = new Map<string, string>();
  spec[listKey].forEach((m, i) => {
    if (types.has(m.type)) problems.push(tableProblem(file, y.lineOf([listKey, i]), `${m.type} is listed twice`));
    types.set(m.type, m.kind);
  });
  const c = compileTable({ file, keys: spec.keys, fields: spec.fields, kinds: new Set(kinds), lineOf: y.lineOf, crosswalks }, compilePath);
  problems.push(...c.problems);
  return c.table ? { table: c.table, types } : undefined;
}

function readText(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

export function loadMappings(dir: string): { tables?: MappingTables; problems: Problem[] } {
  const problems: Problem[] = [];
  if (!existsSync(dir)) return { problems: [tableProblem(dir, 1, 'mappings directory not found')] };

  const crosswalks = new Map<string, Crosswalk>();
  const cwDir = join(dir, 'crosswalks');
  const cwFiles = existsSync(cwDir)
    ? readdirSync(cwDir)
        .filter((n) => n.toLowerCase().endsWith('.csv'))
        .sort()
    : [];
  for (const n of cwFiles) {
    const file = join(cwDir, n);
    const r = parseCrosswalk(n.replace(/\.csv$/i, ''), file, readFileSync(file, 'utf8'));
    problems.push(...r.problems);
    if (r.crosswalk) crosswalks.set(r.crosswalk.name, r.crosswalk);
  }
  const vs = loadValueSets(join(dir, 'valuesets'));
  problems.push(...vs.problems);
  const limits = loadFieldLimits(join(dir, 'field-limits.csv'));
  problems.push(...limits.problems);
  const siteRules = loadSiteRules(join(dir, 'site-rules.csv'));
  problems.push(...siteRules.problems);
  const facFile = join(dir, 'facilities.csv');
  const facText = readText(facFile);
  const fac = facText === undefined ? { facilities: new Map(), problems: [] } : parseFacilities(facFile, facText);
  problems.push(...fac.problems);

  const hl7Loaded = loadRuleTable(join(dir, 'hl7v2.yaml'), Hl7TableSchema, 'messages', ['order', 'result'], compileHl7Path, crosswalks, problems);
  const fhirLoaded = loadRuleTable(join(dir, 'fhir.yaml'), FhirTableSchema, 'resources', ['order', 'encounter'], compileFhirPath, crosswalks, problems);
  const hl7: MappingTables['hl7'] = hl7Loaded && { ...hl7Loaded.table, messages: hl7Loaded.types as ReadonlyMap<string, 'order' | 'result'> };
  const fhir: MappingTables['fhir'] = fhirLoaded && { ...fhirLoaded.table, resources: fhirLoaded.types as ReadonlyMap<string, 'order' | 'encounter'> };
  if (!hl7 && !fhir && problems.length === 0) problems.push(tableProblem(dir, 1, 'neither hl7v2.yaml nor fhir.yaml found'));
  if (problems.length > 0) return { problems };
  return {
    tables: {
      dir,
      ...(hl7 ? { hl7 } : {}),
      ...(fhir ? { fhir } : {}),
      crosswalks,
      valueSets: vs.catalog,
      fieldLimits: limits.overrides,
      siteRules: siteRules.rules,
      facilities: fac.facilities,
    },
    problems,
  };
}
