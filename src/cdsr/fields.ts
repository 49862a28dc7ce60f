// The per-field validation table for encounter and consultation fields: what each field holds
// and which offline NRDR rules apply to it. Limits the spec leaves open (maximum lengths, which codes
// are numeric: docs/cdsr-spec.md §3.2) are defaults chosen here and overridable per site with field-limits.csv.
import type { Consultation, Encounter } from './schema.js';

export type FieldKind =
  /** free text */
  | 'text'
  /** mm/dd/yyyy or m/d/yyyy */
  | 'date'
  /** hh:mi:ss, 24-hour */
  | 'time'
  /** one code of a value set */
  | 'code'
  /** comma-separated codes of a value set (multi-select) */
  | 'multi';

export interface FieldRule {
  readonly kind: FieldKind;
  readonly required: boolean;
  /** CD3110; undefined = no limit. */
  readonly maxLength?: number;
  /** CD3111: only the characters 0-9 (each element, for `multi`). */
  readonly numeric?: boolean;
  /** Value-set file (valuesets/<name>.csv) checked by CD3120. */
  readonly valueSet?: string;
  /** For `X_Other_Spec`: the coded field X it specifies (CD3002). */
  readonly otherSpecOf?: string;
  /**
   * For coded fields: the code meaning "Other" when the value-set file does not flag one.
   * Only where the spec's own example shows it (88 with a filled *_Other_Spec).
   */
  readonly defaultOtherCode?: string;
  /** CD3020: the whole value (each element, for `multi`) must match (a site's field-limits.csv). */
  readonly format?: RegExp;
  /** CD3031: at most this many elements (`multi` only; a site's field-limits.csv). */
  readonly maxItems?: number;
}

const CODE_LEN = 10;
const OTHER_SPEC_LEN = 100;

const code = (valueSet: string, extra: Partial<FieldRule> = {}): FieldRule => ({
  kind: 'code',
  required: false,
  maxLength: CODE_LEN,
  valueSet,
  ...extra,
});
const otherSpec = (of: string): FieldRule => ({
  kind: 'text',
  required: false,
  maxLength: OTHER_SPEC_LEN,
  otherSpecOf: of,
});
const text = (maxLength: number, required = false): FieldRule => ({ kind: 'text', required, maxLength });

type EncounterScalarField = Exclude<keyof Encounter, 'Consultations'>;

export const ENCOUNTER_RULES: Readonly<Record<EncounterScalarField, FieldRule>> = {
  Unique_Encounter_ID: text(100, true),
  Patient_Sex: code('Patient_Sex'),
  Health_Insurance: { kind: 'multi', required: false, maxLength: 100, numeric: true, valueSet: 'Health_Insurance' },
  Health_Insurance_Other_Spec: otherSpec('Health_Insurance'),
  Clinical_Scenario_Codes: text(1000),
  Clinical_Scenario_Descriptions: text(4000),
};

const clinician = (n: 1 | 2) =>
  ({
    [`Clinician${n}_Unique_ID`]: text(50),
    [`Clinician${n}_Role`]: code('Clinician_Role', { numeric: true, defaultOtherCode: '88' }),
    [`Clinician${n}_Role_Other_Spec`]: otherSpec(`Clinician${n}_Role`),
    [`Clinician${n}_First_Name`]: text(100),
    [`Clinician${n}_Last_Name`]: text(100),
    [`Clinician${n}_Training`]: code('Clinician_Training', { numeric: true, defaultOtherCode: '88' }),
    [`Clinician${n}_Training_Other_Spec`]: otherSpec(`Clinician${n}_Training`),
    [`Clinician${n}_Medical_Specialty_Code`]: code('Medical_Specialty'),
  }) as Record<string, FieldRule>;

export const CONSULTATION_RULES: Readonly<Record<keyof Consultation, FieldRule>> = {
  CDS_Consultation_Date: { kind: 'date', required: true },
  CDS_Consultation_Time: { kind: 'time', required: true },
  Place_of_Service: code('Place_of_Service', { required: true, numeric: true }),
  Guideline_Steward: code('Guideline_Steward', { numeric: true }),
  Guideline_Steward_Other_Spec: otherSpec('Guideline_Steward'),
  Modality: code('Modality', { required: true, numeric: true, defaultOtherCode: '88' }),
  Modality_Other_Spec: otherSpec('Modality'),
  Name_of_Exam_Ordered: text(255, true),
  Ordered_Exam_Completed: code('Ordered_Exam_Completed', { required: true, numeric: true }),
  Exam_Completion_Date: { kind: 'date', required: false },
  Appropriateness_Category: code('Appropriateness_Category', { numeric: true }),
  Appropriateness_Category_Other_Spec: otherSpec('Appropriateness_Category'),
  CDS_Vendor: code('CDS_Vendor', { required: true }),
  CDS_Vendor_Other_Spec: otherSpec('CDS_Vendor'),
  Medicare_Modifier: code('Medicare_Modifier'),
  ...clinician(1),
  ...clinician(2),
} as Record<keyof Consultation, FieldRule>;

/** Every encounter and consultation field's rule as the spec gives it (a site's field-limits.csv changes no kind or value set). */
export const FIELD_RULES: Readonly<Record<string, FieldRule>> = { ...ENCOUNTER_RULES, ...CONSULTATION_RULES };

/** A coded field's values as NRDR reads its text: each element of a multi-select, trimmed. */
export function codedValues(rule: Pick<FieldRule, 'kind'>, text: string): string[] {
  return rule.kind === 'multi' ? text.split(',').map((v) => v.trim()) : [text.trim()];
}

/** A site's override of one field's limits (field-limits.csv). */
export interface FieldLimitOverride {
  readonly field: string;
  readonly maxLength?: number | null;
  readonly numeric?: boolean;
  /** true: the site requires the field (CD3001); a field the spec requires stays required. */
  readonly required?: boolean;
  /** CD3020: a regular expression the whole value must match; null removes one. */
  readonly format?: RegExp | null;
  /** CD3031: most elements of a multi-select field; null removes the limit. */
  readonly maxItems?: number | null;
}

export type FieldRules = Readonly<Record<string, FieldRule>>;

/** Encounter + consultation rules with a site's overrides applied. */
export function effectiveRules(overrides: readonly FieldLimitOverride[] = []): {
  encounter: FieldRules;
  consultation: FieldRules;
} {
  const encounter: Record<string, FieldRule> = { ...ENCOUNTER_RULES };
  const consultation: Record<string, FieldRule> = { ...CONSULTATION_RULES };
  for (const o of overrides) {
    const table = o.field in encounter ? encounter : o.field in consultation ? consultation : undefined;
    const base = table?.[o.field];
    if (!table || !base) throw new Error(`field-limits: unknown CDSR field ${o.field}`);
    const next: { -readonly [K in keyof FieldRule]: FieldRule[K] } = { ...base };
    if (o.maxLength !== undefined) {
      if (o.maxLength === null) delete next.maxLength;
      else next.maxLength = o.maxLength;
    }
    if (o.numeric !== undefined) next.numeric = o.numeric;
    if (o.required === true) next.required = true;
    if (o.format !== undefined) {
      if (o.format === null) delete next.format;
      else next.format = o.format;
    }
    if (o.maxItems !== undefined) {
      if (o.maxItems === null) delete next.maxItems;
      else next.maxItems = o.maxItems;
    }
    table[o.field] = next;
  }
  return { encounter, consultation };
}
