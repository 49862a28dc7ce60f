// field-limits.csv: a site's overrides of the field table's defaults (maximum length, numeric,
// required, format, most elements). Columns: field,max_length,numeric[,required,format,max_items,
// comment]; an empty cell keeps the default, "none" removes a limit.
import { readFileSync } from 'node:fs';
import { readCsvTable, tableProblem } from './csv-table.js';
import { CONSULTATION_RULES, ENCOUNTER_RULES, type FieldLimitOverride, type FieldRule } from './fields.js';
import type { Problem } from './problem.js';

const ALL_RULES: Readonly<Record<string, FieldRule>> = { ...ENCOUNTER_RULES, ...CONSULTATION_RULES };
const KNOWN = new Set(Object.keys(ALL_RULES));

export function parseFieldLimits(file: string, text: string): { overrides: FieldLimitOverride[]; problems: Problem[] } {
  const table = readCsvTable(file, text);
  if ('problem' in table) return { overrides: [], problems: [table.problem] };
  const problems: Problem[] = [];
  if (!table.header.includes('field')) problems.push(tableProblem(file, 1, 'the header must have a "field" column'));
  const overrides: FieldLimitOverride[] = [];
  const seen = new Map<string, number>();
  for (const { cells, line } of problems.length ? [] : table.rows) {
    const field = cells.field ?? '';
    if (!KNOWN.has(field)) {
      problems.push(tableProblem(file, line, `"${field}" is not an encounter or consultation field of CDSR 1.0`));
      continue;
    }
    const first = seen.get(field);
    let usable = first === undefined;
    if (first !== undefined) problems.push(tableProblem(file, line, `${field} is listed twice (first on line ${first})`));
    else seen.set(field, line);
    const o: { -readonly [K in keyof FieldLimitOverride]: FieldLimitOverride[K] } = { field };
    const base = ALL_RULES[field]!;
    const len = (cells.max_length ?? '').toLowerCase();
    if (len === 'none') o.maxLength = null;
    else if (/^[1-9]\d{0,5}$/.test(len)) o.maxLength = Number(len);
    else if (len !== '') {
      problems.push(tableProblem(file, line, `max_length must be a positive whole number or "none", not "${cells.max_length}"`));
      usable = false;
    }
    const numeric = (cells.numeric ?? '').toLowerCase();
    if (numeric === 'yes' || numeric === 'no') o.numeric = numeric === 'yes';
    else if (numeric !== '') {
      problems.push(tableProblem(file, line, `numeric must be yes, no or empty, not "${cells.numeric}"`));
      usable = false;
    }
    const required = (cells.required ?? '').toLowerCase();
    if (required === 'yes') o.required = true;
    else if (required === 'no' && base.required) {
      problems.push(tableProblem(file, line, `${field} is required by the CDSR spec; required cannot be "no"`));
      usable = false;
    } else if (required !== '' && required !== 'no') {
      problems.push(tableProblem(file, line, `required must be yes, no or empty, not "${cells.required}"`));
      usable = false;
    }
    const format = cells.format ?? '';
    if (format.toLowerCase() === 'none') o.format = null;
    else if (format !== '') {
      if (base.kind === 'date' || base.kind === 'time') {
        problems.push(tableProblem(file, line, `${field} is a ${base.kind}: its format is the spec's (CD3060/CD3061), not a site's`));
        usable = false;
      } else {
        try {
          o.format = new RegExp(`^(?:${format})$`, 'u');
        } catch (e) {
          problems.push(tableProblem(file, line, `format is not a regular expression: ${(e as Error).message}`));
          usable = false;
        }
      }
    }
    const items = (cells.max_items ?? '').toLowerCase();
    if (items === 'none') o.maxItems = null;
    else if (items !== '') {
      if (base.kind !== 'multi') {
        problems.push(tableProblem(file, line, `max_items applies to multi-select fields only; ${field} is not one`));
        usable = false;
      } else if (/^[1-9]\d{0,3}$/.test(items)) o.maxItems = Number(items);
      else {
        problems.push(tableProblem(file, line, `max_items must be a positive whole number or "none", not "${cells.max_items}"`));
        usable = false;
      }
    }
    if (usable) overrides.push(o);
  }
  return { overrides, problems };
}

/** Reads field-limits.csv; a missing file means no overrides. */
export function loadFieldLimits(file: string): { overrides: FieldLimitOverride[]; problems: Problem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { overrides: [], problems: [] };
    throw e;
  }
  return parseFieldLimits(file, text);
}
