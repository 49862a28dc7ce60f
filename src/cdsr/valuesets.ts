// ACR value sets (valuesets/<name>.csv): the allowed codes of each coded CDSR field, read from
// files the site maintains from its copy of ACR's CDSR_JSON_Mapping workbook. Loading reports
// every problem of every file at once as `file:line: message`.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readCsvTable, tableProblem } from './csv-table.js';
import { codedValues, FIELD_RULES } from './fields.js';
import type { Problem, Severity } from './problem.js';

export type ValueFlag = 'other' | 'unknown';

export interface ValueSetEntry {
  readonly code: string;
  readonly label: string;
  readonly flag?: ValueFlag;
  /** true when a public source confirms the code; false when the site must check it. */
  readonly confirmed: boolean;
  readonly line: number;
}

export interface ValueSet {
  readonly name: string;
  readonly file: string;
  /** false (`# enforce: no`): a value outside the set is a warning, not an error. */
  readonly enforce: boolean;
  readonly entries: ReadonlyMap<string, ValueSetEntry>;
  readonly otherCode?: string;
  readonly unknownCode?: string;
}

export type ValueSetCatalog = ReadonlyMap<string, ValueSet>;

export const EMPTY_CATALOG: ValueSetCatalog = new Map();

/** Values of a field that its value set does not list. */
export interface OutsideValueSet {
  readonly set: ValueSet;
  /** The values the set lacks, in the order given. */
  readonly values: readonly string[];
  /** error, or warning while the set's file says `# enforce: no`. */
  readonly severity: Severity;
}

/**
 * The one reading of a value set: which of a field's values (each element of a multi-select) `set`
 * does not list, and how grave that is. The validator's CD3120, the mapping's MAP_NOT_IN_VALUESET
 * and check-mappings all ask this; undefined when every value is listed or there is no set.
 */
export function outsideValueSet(set: ValueSet | undefined, values: readonly string[]): OutsideValueSet | undefined {
  if (!set || values.every((v) => set.entries.has(v))) return undefined;
  return { set, values: values.filter((v) => !set.entries.has(v)), severity: set.enforce ? 'error' : 'warning' };
}

/** `outsideValueSet` for a value of a CDSR field as it is sent: undefined for a field with no value set, or whose set is not loaded. */
export function fieldOutsideValueSet(catalog: ValueSetCatalog, field: string, text: string): OutsideValueSet | undefined {
  const rule = FIELD_RULES[field];
  if (rule?.valueSet === undefined || (rule.kind !== 'code' && rule.kind !== 'multi')) return undefined;
  return outsideValueSet(catalog.get(rule.valueSet), codedValues(rule, text));
}

const DIRECTIVE = /^#\s*(enforce)\s*:\s*(\S+)\s*$/i;

/** Parses one value-set file's text; `file` names it in problems. */
export function parseValueSet(file: string, text: string): { valueSet?: ValueSet; problems: Problem[] } {
  const problems: Problem[] = [];
  const name = basename(file).replace(/\.csv$/i, '');
  let enforce = true;
  text.split(/\r?\n/).forEach((raw, i) => {
    const d = DIRECTIVE.exec(raw.trim());
    if (!d) return;
    const v = d[2]!.toLowerCase();
    if (v === 'yes' || v === 'no') enforce = v === 'yes';
    else problems.push(tableProblem(file, i + 1, `enforce must be yes or no, not "${d[2]}"`));
  });
  const table = readCsvTable(file, text);
  if ('problem' in table) return { problems: [...problems, table.problem] };
  if (!table.header.includes('code')) {
    return { problems: [...problems, tableProblem(file, 1, 'the header must have a "code" column')] };
  }
  const entries = new Map<string, ValueSetEntry>();
  let otherCode: string | undefined;
  let unknownCode: string | undefined;
  for (const { cells: record, line } of table.rows) {
    const code = record.code ?? '';
    if (code === '') {
      problems.push(tableProblem(file, line, 'empty code'));
      continue;
    }
    const flagText = (record.flag ?? '').toLowerCase();
    if (flagText !== '' && flagText !== 'other' && flagText !== 'unknown') {
      problems.push(tableProblem(file, line, `flag must be "other", "unknown" or empty, not "${record.flag}"`));
      continue;
    }
    const status = (record.status || 'confirmed').toLowerCase();
    if (status !== 'confirmed' && status !== 'check') {
      problems.push(tableProblem(file, line, `status must be "confirmed" or "check", not "${record.status}"`));
      continue;
    }
    const previous = entries.get(code);
    if (previous) {
      problems.push(tableProblem(file, line, `code "${code}" is listed twice (first on line ${previous.line})`));
      continue;
    }
    const flag = flagText === '' ? undefined : flagText;
    if (flag === 'other') {
      if (otherCode !== undefined) problems.push(tableProblem(file, line, 'more than one code is flagged "other"'));
      otherCode = code;
    }
    if (flag === 'unknown') {
      if (unknownCode !== undefined) problems.push(tableProblem(file, line, 'more than one code is flagged "unknown"'));
      unknownCode = code;
    }
    const entry: ValueSetEntry = { code, label: record.label ?? '', confirmed: status === 'confirmed', line };
    entries.set(code, flag ? { ...entry, flag } : entry);
  }
  const valueSet: ValueSet = {
    name,
    file,
    enforce,
    entries,
    ...(otherCode !== undefined ? { otherCode } : {}),
    ...(unknownCode !== undefined ? { unknownCode } : {}),
  };
  return { valueSet, problems };
}

/** Loads every `*.csv` of a directory; a missing directory is an empty catalogue. */
export function loadValueSets(dir: string): { catalog: ValueSetCatalog; problems: Problem[] } {
  const catalog = new Map<string, ValueSet>();
  const problems: Problem[] = [];
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.toLowerCase().endsWith('.csv'))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { catalog, problems };
    throw e;
  }
  for (const n of names) {
    const file = join(dir, n);
    const r = parseValueSet(file, readFileSync(file, 'utf8'));
    problems.push(...r.problems);
    if (r.valueSet && r.problems.length === 0) catalog.set(r.valueSet.name, r.valueSet);
  }
  return { catalog, problems };
}
