// site-rules.csv: a site's conditional requirements (the workbook rules NRDR reports as CD3002,
// CD3004–CD3007 and the public spec does not spell out): field X required when field Y is
// reported, is not reported, or has one of some values; or X only applicable when so; X required
// always (rule `required`: the workbook's "Required to submit" on a field the spec leaves optional);
// and checks of a value's form NRDR does not make (rule `npi`: a clinician id must be an NPI).
// Columns: field,rule,when,code[,comment]. Every problem of the file is reported as file:line.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { CdCode } from './codes.js';
import { readCsvTable, tableProblem } from './csv-table.js';
import { CONSULTATION_RULES, ENCOUNTER_RULES } from './fields.js';
import type { Problem } from './problem.js';

export type SiteCondition =
  | { readonly kind: 'reported'; readonly field: string }
  | { readonly kind: 'not_reported'; readonly field: string }
  | { readonly kind: 'in'; readonly field: string; readonly values: readonly string[] };

export interface ConditionalSiteRule {
  /** The field the rule is about (X). */
  readonly field: string;
  /** required_when: X must be filled when the condition holds; only_when: X must be blank unless it holds. */
  readonly rule: 'required_when' | 'only_when';
  readonly when: SiteCondition;
  readonly code: CdCode;
  /** Where the rule is written (file:line), for people. */
  readonly origin: string;
}

/** The problem code of a value that is not an NPI: NRDR has no code for it (it takes any id up to 50 characters). */
export const NOT_NPI_CODE = 'SITE_NOT_NPI';

/** `npi`: a filled X must be an NPI (a user mnemonic or a local id is held with a problem naming it). */
export interface NpiSiteRule {
  readonly field: string;
  readonly rule: 'npi';
  readonly code: typeof NOT_NPI_CODE;
  readonly origin: string;
}

/**
 * `required`: X must always be filled (CD3001, as for a field the spec requires). The same as
 * `required: yes` in field-limits.csv; here so that the workbook's requirement column imports
 * into one file. On a field already required it adds nothing (the validator reports CD3001 once).
 */
export interface RequiredSiteRule {
  readonly field: string;
  readonly rule: 'required';
  readonly code: 'CD3001';
  readonly origin: string;
}

export type SiteRule = ConditionalSiteRule | NpiSiteRule | RequiredSiteRule;

/** The codes a problem of a missing field carries: the record waits for data (incomplete), it is not wrong. */
export const MISSING_FIELD_CODES: ReadonlySet<string> = new Set(['CD3001', 'CD3005', 'CD3006', 'CD3007']);

const CODES_FOR: Readonly<Record<ConditionalSiteRule['rule'], readonly CdCode[]>> = {
  required_when: ['CD3005', 'CD3006', 'CD3007'],
  only_when: ['CD3002', 'CD3004'],
};

function defaultCode(rule: ConditionalSiteRule['rule'], when: SiteCondition): CdCode | undefined {
  if (rule === 'required_when') return when.kind === 'reported' ? 'CD3007' : when.kind === 'not_reported' ? 'CD3006' : 'CD3005';
  return when.kind === 'reported' ? 'CD3004' : when.kind === 'in' ? 'CD3002' : undefined;
}

const levelOf = (field: string): 'encounter' | 'consultation' | undefined =>
  field in ENCOUNTER_RULES ? 'encounter' : field in CONSULTATION_RULES ? 'consultation' : undefined;

const CONDITION = /^(\S+)\s+(?:(reported)|(not\s+reported)|(?:=|in)\s+(.+))$/i;

function parseCondition(text: string): SiteCondition | string {
  const m = CONDITION.exec(text.trim());
  if (!m) return `when must be "<field> reported", "<field> not reported", "<field> = <value>" or "<field> in <value>|<value>", not "${text}"`;
  const field = m[1]!;
  if (m[2] !== undefined) return { kind: 'reported', field };
  if (m[3] !== undefined) return { kind: 'not_reported', field };
  const values = m[4]!.split('|').map((v) => v.trim());
  if (values.some((v) => v === '')) return `an empty value in "${m[4]}"`;
  return { kind: 'in', field, values };
}

export function parseSiteRules(file: string, text: string): { rules: SiteRule[]; problems: Problem[] } {
  const table = readCsvTable(file, text);
  if ('problem' in table) return { rules: [], problems: [table.problem] };
  const problems: Problem[] = [];
  for (const col of ['field', 'rule', 'when']) {
    if (!table.header.includes(col)) problems.push(tableProblem(file, 1, `the header must have a "${col}" column`));
  }
  if (problems.length > 0) return { rules: [], problems };
  const rules: SiteRule[] = [];
  for (const { cells, line } of table.rows) {
    const bad = (message: string) => problems.push(tableProblem(file, line, message));
    const field = cells.field ?? '';
    const level = levelOf(field);
    if (level === undefined) {
      bad(`"${field}" is not an encounter or consultation field of CDSR 1.0`);
      continue;
    }
    const rule = (cells.rule ?? '').toLowerCase();
    if (rule === 'npi') {
      const codeText = (cells.code ?? '').toUpperCase();
      if ((cells.when ?? '') !== '') bad(`an npi rule checks every ${field} filled: its when must be empty, not "${cells.when ?? ''}"`);
      else if (codeText !== '' && codeText !== NOT_NPI_CODE) bad(`code for npi must be ${NOT_NPI_CODE} (or empty), not "${cells.code ?? ''}"`);
      else rules.push({ field, rule, code: NOT_NPI_CODE, origin: `${file}:${line}` });
      continue;
    }
    if (rule === 'required') {
      const codeText = (cells.code ?? '').toUpperCase();
      if ((cells.when ?? '') !== '')
        bad(`a required rule applies always: its when must be empty, not "${cells.when ?? ''}" (for a condition use required_when)`);
      else if (codeText !== '' && codeText !== 'CD3001') bad(`code for required must be CD3001 (or empty), not "${cells.code ?? ''}"`);
      else rules.push({ field, rule, code: 'CD3001', origin: `${file}:${line}` });
      continue;
    }
    if (rule !== 'required_when' && rule !== 'only_when') {
      bad(`rule must be required_when, only_when, required or npi, not "${cells.rule ?? ''}"`);
      continue;
    }
    const when = parseCondition(cells.when ?? '');
    if (typeof when === 'string') {
      bad(when);
      continue;
    }
    const whenLevel = levelOf(when.field);
    if (whenLevel === undefined) {
      bad(`"${when.field}" (in when) is not an encounter or consultation field of CDSR 1.0`);
      continue;
    }
    if (when.field === field) {
      bad(`${field} cannot depend on itself`);
      continue;
    }
    if (level === 'encounter' && whenLevel === 'consultation') {
      bad(`${field} is an encounter field; its condition must be on an encounter field, not the consultation field ${when.field}`);
      continue;
    }
    const codeText = (cells.code ?? '').toUpperCase();
    const code = codeText === '' ? defaultCode(rule, when) : CODES_FOR[rule].find((c) => c === codeText);
    if (code === undefined) {
      bad(
        codeText === ''
          ? `only_when needs a condition "<field> reported" or "<field> = <value>" (NRDR has no code for "not reported" here)`
          : `code for ${rule} must be one of ${CODES_FOR[rule].join(', ')}, not "${cells.code ?? ''}"`,
      );
      continue;
    }
    rules.push({ field, rule, when, code, origin: `${file}:${line}` });
  }
  return { rules, problems };
}

/**
 * Is `id` a National Provider Identifier: 10 digits, the last the Luhn check digit of the prefix
 * 80840 followed by the first nine (CMS, "Requirements for Check Digit Algorithm for the NPI")?
 */
export function isNpi(id: string): boolean {
  if (!/^[0-9]{10}$/.test(id)) return false;
  return npiCheckDigit(id.slice(0, 9)) === Number(id[9]);
}

/** The check digit of nine NPI digits: Luhn over 80840 + the nine, every second digit from the right doubled. */
export function npiCheckDigit(nine: string): number {
  const digits = `80840${nine}`;
  let sum = 0;
  for (let i = digits.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = Number(digits[i]);
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

/** The message of a value an npi rule refuses: the field, the value (a clinician id, not patient data), why, and the rule to remove if the site sends other ids. */
export function notNpiMessage(field: string, value: string, origin: string): string {
  const why = /^[0-9]{10}$/.test(value)
    ? `its last digit should be ${npiCheckDigit(value.slice(0, 9))} (the NPI check digit): a mistyped NPI?`
    : /^[0-9]+$/.test(value)
      ? `an NPI has 10 digits, this has ${value.length}: a local number?`
      : 'an NPI has 10 digits: a user mnemonic or a local id?';
  const at = origin.lastIndexOf(':');
  const rule = at > 0 ? `${basename(origin.slice(0, at))}${origin.slice(at)}` : origin;
  return `${field} "${value}" is not an NPI; ${why} (site rule ${rule}; remove that line if your site sends other clinician ids)`;
}

/** Reads site-rules.csv; a missing file means no site rules. */
export function loadSiteRules(file: string): { rules: SiteRule[]; problems: Problem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { rules: [], problems: [] };
    throw e;
  }
  return parseSiteRules(file, text);
}
