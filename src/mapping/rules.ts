// The rule tables (hl7v2.yaml, fhir.yaml): their shape as zod schemas, and their compilation
// into rules ready to run. Both tables share one shape; only the path language differs (HL7
// terser paths or FHIRPath), so compilation takes the path compiler as a parameter.
import { z } from 'zod';
import { tableProblem } from '../cdsr/csv-table.js';
import type { Problem } from '../cdsr/problem.js';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS } from '../cdsr/schema.js';
import type { Crosswalk } from './crosswalk.js';
import { errorMessage } from '../cdsr/errors.js';
import { isConstantPath, parseCondition, type ParsedCondition } from './condition.js';

const text = z.union([z.string(), z.number()]).transform(String);
const paths = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((p) => (Array.isArray(p) ? p : [p]));

export const TRANSFORM_NAMES = ['trim', 'upper', 'lower', 'date', 'time', 'digits', 'first_word'] as const;
const Transform = z.union([
  z.enum(TRANSFORM_NAMES),
  z.strictObject({ replace: z.tuple([z.string(), z.string()]) }),
  z.strictObject({ max_length: z.number().int().positive() }),
]);
export type TransformSpec = z.infer<typeof Transform>;

const names = z.union([text, z.array(text).min(1)]).transform((p) => (Array.isArray(p) ? p : [p]));

// `when: ORC-1 = NW` or a list of conditions, all of which must hold (condition.ts parses each at compile time)
const Condition = z.string().trim().min(1, 'a condition may not be empty');
const Conditions = z.union([Condition, z.array(Condition).min(1, '"when" needs at least one condition')]).transform((c) => (Array.isArray(c) ? c : [c]));
/** One candidate of `from`: a path, or `{ path, when }` (read only when its conditions hold). */
export interface SourceSpec {
  readonly path: string;
  readonly when?: readonly string[];
}
const SourceObject = z.strictObject({ path: z.string().trim().min(1), when: Conditions.optional() });
// parsed by shape (not z.union) so that a problem of a { path, when } keeps its own key
const Source = z.unknown().transform((v, ctx): SourceSpec => {
  const r = typeof v === 'object' && v !== null && !Array.isArray(v) ? SourceObject.safeParse(v) : z.string().min(1).safeParse(v);
  if (r.success) return typeof r.data === 'string' ? { path: r.data } : r.data;
  for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: i.path });
  return z.NEVER;
});
const SourceList = z.array(Source).min(1);
const sources = z.unknown().transform((v, ctx): SourceSpec[] => {
  const r = Array.isArray(v) ? SourceList.safeParse(v) : Source.safeParse(v);
  if (r.success) return Array.isArray(r.data) ? r.data : [r.data];
  for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: i.path });
  return z.NEVER;
});

const RuleSchema = z
  .strictObject({
    from: sources.optional(),
    constant: text.optional(),
    crosswalk: z.string().min(1).optional(),
    /** Paths (candidates, first with a value wins) whose value selects crosswalk rows by their system column. */
    system: paths.optional(),
    /** Only for these ACR Facility_IDs (facilities.csv facility_id). */
    facilities: names.optional(),
    /**
     * Only for these senders: the value keys.facility reads (MSH-4.1, the Organization identifier),
     * or `APPLICATION@FACILITY` with the value keys.application reads (MSH-3.1, meta.source).
     */
    senders: names.optional(),
    /** Only when these conditions hold (all of them): `ORC-1 in [NW, XO]`. */
    when: Conditions.optional(),
    transform: z.union([Transform, z.array(Transform)]).optional(),
    for: z.union([z.string(), z.array(z.string())]).optional(),
    all: z.boolean().optional(),
    join: z.string().optional(),
    default: text.optional(),
    /**
     * A value the table knows to be a guess, with why: a text (any value of the rule is a guess)
     * or, per path of "from", a text for the values of that path only.
     */
    guess: z
      .union([z.string().trim().min(1, 'a guess needs its reason'), z.record(z.string(), z.string().trim().min(1, 'a guess needs its reason'))])
      .optional(),
  })
  .refine((r) => (r.from === undefined) !== (r.constant === undefined), { message: 'a rule needs "from" or "constant" (one of them)' });
export type RuleSpec = z.infer<typeof RuleSchema>;
/** A field takes one rule or a list of alternatives: the first alternative that gives a value wins. */
const Alternatives = z.array(RuleSchema).min(1);
export type FieldSpec = RuleSpec | RuleSpec[];
// parsed by shape (not z.union) so that a problem keeps the path of its key, and so its line
const FieldSchema = z.unknown().transform((v, ctx): FieldSpec => {
  const r = Array.isArray(v) ? Alternatives.safeParse(v) : RuleSchema.safeParse(v);
  if (r.success) return r.data;
  for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: i.path });
  return z.NEVER;
});

const KeysSchema = z.strictObject({
  facility: paths,
  /** The sending application (MSH-3.1; FHIR e.g. meta.source): rules may name it in `senders` as APP@FACILITY. */
  application: paths.optional(),
  encounter: paths,
  /** The placer order number (the merge key of an order); the first candidate with a value wins. */
  order: paths,
  /** The filler / accession number, by which results and updates also find their order. */
  filler: paths.optional(),
  time: paths,
  cancel: z.strictObject({ from: paths, values: z.array(text).min(1) }).optional(),
});

export const Hl7TableSchema = z.strictObject({
  messages: z
    .array(
      z.strictObject({
        type: z.string().regex(/^[A-Z0-9]{3}\^[A-Z0-9]{3}$/, 'type must be like ORM^O01'),
        kind: z.enum(['order', 'result']),
      }),
    )
    .min(1),
  keys: KeysSchema,
  fields: z.record(z.string(), FieldSchema),
});
export type Hl7TableSpec = z.infer<typeof Hl7TableSchema>;

export const FhirTableSchema = z.strictObject({
  resources: z
    .array(
      z.strictObject({
        type: z.string().regex(/^[A-Z][A-Za-z]+$/, 'type must be a FHIR resource type'),
        kind: z.enum(['order', 'encounter']),
      }),
    )
    .min(1),
  keys: KeysSchema,
  fields: z.record(z.string(), FieldSchema),
});
export type FhirTableSpec = z.infer<typeof FhirTableSchema>;

/** One value a path selects; a FHIR Coding gives its code with its system. */
export interface PathItem {
  readonly value: string;
  readonly system?: string;
}

/** A compiled path: every non-empty value it selects from a source. */
export type PathFn<C> = (ctx: C) => PathItem[];

export interface Candidate<C> {
  readonly text: string;
  readonly run: PathFn<C>;
  /** Read only when these hold (a `{ path, when }` of `from`). */
  readonly when?: readonly CompiledCondition<C>[];
}

/** A `when` condition with its path compiled by the table's path compiler. */
export interface CompiledCondition<C> {
  /** As written in the table. */
  readonly text: string;
  /** `file:line` of the condition. */
  readonly origin: string;
  readonly condition: ParsedCondition;
  readonly read: Candidate<C>;
}

export type Level = 'encounter' | 'consultation';

export interface CompiledRule<C> {
  readonly field: string;
  readonly level: Level;
  /** `file:line` of the rule, for traces. */
  readonly origin: string;
  readonly candidates: readonly Candidate<C>[];
  readonly constant?: string;
  readonly crosswalk?: Crosswalk;
  readonly system: readonly Candidate<C>[];
  /** Its position among the field's alternatives (0 = the only or first one). */
  readonly alternative: number;
  /** How many alternatives the field has (1 = a rule of its own). */
  readonly alternatives: number;
  /** The table's reason why any value of this rule is a guess (`guess: <text>`). */
  readonly guess?: string;
  /** The table's reason per path (`guess: { OBR-22: <text> }`): values of those paths are guesses. */
  readonly guesses?: ReadonlyMap<string, string>;
  /** Only for these Facility_IDs / senders (upper-cased); undefined = all. */
  readonly facilities?: ReadonlySet<string>;
  readonly senders?: ReadonlySet<string>;
  /** The rule applies only when these hold (`when:`). */
  readonly when?: readonly CompiledCondition<C>[];
  readonly transforms: readonly TransformSpec[];
  /** Kinds the rule applies to; undefined = all. */
  readonly for?: ReadonlySet<string>;
  readonly all: boolean;
  readonly join: string;
  readonly default?: string;
}

export interface CompiledKeys<C> {
  readonly facility: readonly Candidate<C>[];
  /** The sending application (MSH-3.1), for `senders: [APP@FACILITY]`; empty when the table names none. */
  readonly application: readonly Candidate<C>[];
  readonly encounter: readonly Candidate<C>[];
  readonly order: readonly Candidate<C>[];
  readonly filler: readonly Candidate<C>[];
  readonly time: readonly Candidate<C>[];
  readonly cancel?: { readonly candidates: readonly Candidate<C>[]; readonly values: ReadonlySet<string> };
}

export interface CompiledTable<C> {
  readonly file: string;
  readonly keys: CompiledKeys<C>;
  readonly rules: readonly CompiledRule<C>[];
}

const LEVEL = new Map<string, Level>([
  ...ENCOUNTER_FIELDS.filter((f) => f !== 'Consultations' && f !== 'Unique_Encounter_ID').map((f) => [f, 'encounter'] as const),
  ...CONSULTATION_FIELDS.map((f) => [f, 'consultation'] as const),
]);

export interface CompileInput {
  readonly file: string;
  readonly keys: z.infer<typeof KeysSchema>;
  readonly fields: Record<string, FieldSpec>;
  readonly kinds: ReadonlySet<string>;
  readonly lineOf: (path: readonly (string | number)[]) => number;
  readonly crosswalks: ReadonlyMap<string, Crosswalk>;
}

/** Compiles a parsed table; every problem (bad path, unknown field or crosswalk) is reported. */
export function compileTable<C>(input: CompileInput, compilePath: (path: string) => PathFn<C>): { table?: CompiledTable<C>; problems: Problem[] } {
  const problems: Problem[] = [];
  const { file, lineOf } = input;
  const candidates = (list: readonly string[], at: (string | number)[]): Candidate<C>[] =>
    list.flatMap((text, i) => {
      try {
        return [{ text, run: compilePath(text) }];
      } catch (e) {
        const where = list.length > 1 ? [...at, i] : at;
        problems.push(tableProblem(file, lineOf(where), `${errorMessage(e)}`));
        return [];
      }
    });
  // each condition of a `when` (a text or a list) at its own line; its path compiled as a candidate's
  const conditions = (list: readonly string[], at: (string | number)[]): CompiledCondition<C>[] =>
    list.flatMap((text, i) => {
      const line = lineOf([...at, i]);
      const parsed = parseCondition(text);
      if (typeof parsed === 'string') {
        problems.push(tableProblem(file, line, parsed));
        return [];
      }
      if (isConstantPath(parsed.path)) {
        problems.push(
          tableProblem(file, line, `when "${text}": ${parsed.path} is a constant, not a path of the message: the condition would always give the same answer`),
        );
        return [];
      }
      try {
        return [{ text, origin: `${file}:${line}`, condition: parsed, read: { text: parsed.path, run: compilePath(parsed.path) } }];
      } catch (e) {
        problems.push(tableProblem(file, line, `when "${text}": ${errorMessage(e)}`));
        return [];
      }
    });
  const sourceCandidates = (list: readonly SourceSpec[], at: (string | number)[]): Candidate<C>[] =>
    list.flatMap((s, i) => {
      const when = s.when ? conditions(s.when, [...at, i, 'when']) : undefined;
      try {
        return [{ text: s.path, run: compilePath(s.path), ...(when ? { when } : {}) }];
      } catch (e) {
        const where = s.when ? [...at, i, 'path'] : list.length > 1 ? [...at, i] : at;
        problems.push(tableProblem(file, lineOf(where), `${errorMessage(e)}`));
        return [];
      }
    });
  const keys: CompiledKeys<C> = {
    facility: candidates(input.keys.facility, ['keys', 'facility']),
    application: input.keys.application ? candidates(input.keys.application, ['keys', 'application']) : [],
    encounter: candidates(input.keys.encounter, ['keys', 'encounter']),
    order: candidates(input.keys.order, ['keys', 'order']),
    filler: input.keys.filler ? candidates(input.keys.filler, ['keys', 'filler']) : [],
    time: candidates(input.keys.time, ['keys', 'time']),
    ...(input.keys.cancel
      ? {
          cancel: {
            candidates: candidates(input.keys.cancel.from, ['keys', 'cancel', 'from']),
            values: new Set(input.keys.cancel.values.map((v) => v.toUpperCase())),
          },
        }
      : {}),
  };
  const rules: CompiledRule<C>[] = [];
  for (const [field, fieldSpec] of Object.entries(input.fields)) {
    const line = lineOf(['fields', field]);
    const level = LEVEL.get(field);
    if (!level) {
      const hint = field === 'Unique_Encounter_ID' ? ' (it comes from keys.encounter)' : '';
      problems.push(tableProblem(file, line, `"${field}" is not a CDSR encounter or consultation field${hint}`));
      continue;
    }
    const alternatives = Array.isArray(fieldSpec) ? fieldSpec : [fieldSpec];
    alternatives.forEach((spec, alternative) => {
      const at = (...rest: (string | number)[]) => (Array.isArray(fieldSpec) ? ['fields', field, alternative, ...rest] : ['fields', field, ...rest]);
      let crosswalk: Crosswalk | undefined;
      if (spec.crosswalk !== undefined) {
        crosswalk = input.crosswalks.get(spec.crosswalk);
        if (!crosswalk) {
          problems.push(tableProblem(file, lineOf(at('crosswalk')), `unknown crosswalk "${spec.crosswalk}" (no crosswalks/${spec.crosswalk}.csv)`));
        }
      }
      if (spec.system !== undefined && spec.crosswalk === undefined) {
        problems.push(tableProblem(file, lineOf(at('system')), '"system" selects crosswalk rows: it needs a "crosswalk"'));
      }
      const forKinds = spec.for === undefined ? undefined : new Set(Array.isArray(spec.for) ? spec.for : [spec.for]);
      for (const k of forKinds ?? []) {
        if (!input.kinds.has(k)) {
          problems.push(tableProblem(file, lineOf(at('for')), `"${k}" is not a kind of this table (${[...input.kinds].join(', ')})`));
        }
      }
      const upper = (list: readonly string[] | undefined) => (list === undefined ? undefined : new Set(list.map((v) => v.trim().toUpperCase())));
      let guesses: Map<string, string> | undefined;
      if (spec.guess !== undefined && typeof spec.guess !== 'string') {
        guesses = new Map(Object.entries(spec.guess));
        for (const path of guesses.keys()) {
          if (!(spec.from ?? []).some((s) => s.path === path)) {
            const where = spec.from ? `not a path of its "from" (${spec.from.map((s) => s.path).join(', ')})` : 'the rule has no "from"';
            problems.push(tableProblem(file, lineOf(at('guess', path)), `guess names "${path}": ${where}`));
          }
        }
      }
      const facilities = upper(spec.facilities);
      const senders = upper(spec.senders);
      for (const s of senders ?? []) {
        const sep = s.lastIndexOf('@');
        if (sep < 0) continue;
        if (sep === 0 || sep === s.length - 1) {
          problems.push(tableProblem(file, lineOf(at('senders')), `sender "${s}": write APPLICATION@FACILITY (e.g. RIS1@GENHOSP), both parts filled`));
        } else if (input.keys.application === undefined) {
          problems.push(
            tableProblem(
              file,
              lineOf(at('senders')),
              `sender "${s}" names an application: the table needs keys.application (the path of the sending application, e.g. MSH-3.1)`,
            ),
          );
        }
      }
      const when = spec.when ? conditions(spec.when, at('when')) : undefined;
      rules.push({
        field,
        level,
        origin: `${file}:${lineOf(Array.isArray(fieldSpec) ? at() : ['fields', field])}`,
        candidates: spec.from ? sourceCandidates(spec.from, at('from')) : [],
        transforms: spec.transform === undefined ? [] : Array.isArray(spec.transform) ? spec.transform : [spec.transform],
        all: spec.all ?? false,
        join: spec.join ?? ',',
        system: spec.system ? candidates(spec.system, at('system')) : [],
        alternative,
        alternatives: alternatives.length,
        ...(typeof spec.guess === 'string' ? { guess: spec.guess } : {}),
        ...(guesses ? { guesses } : {}),
        ...(spec.constant !== undefined ? { constant: spec.constant } : {}),
        ...(crosswalk ? { crosswalk } : {}),
        ...(forKinds ? { for: forKinds } : {}),
        ...(facilities ? { facilities } : {}),
        ...(senders ? { senders } : {}),
        ...(when ? { when } : {}),
        ...(spec.default !== undefined ? { default: spec.default } : {}),
      });
    });
  }
  return problems.length > 0 ? { problems } : { table: { file, keys, rules }, problems };
}
