// Value sets read from a workbook (ACR's CDSR_JSON_Mapping_<version>.xlsx, whose exact layout is
// not public): one sheet, a header row, and per row a CDSR field, a code and a label. The columns
// are found by header name or given as letters. Every problem names sheet, row and column; the
// result is the valuesets/<Name>.csv text of each coded field's file, and a comparison with the
// files already there.
import type { Workbook, Worksheet, CellValue } from 'exceljs';
import { CONSULTATION_RULES, ENCOUNTER_RULES, type FieldRule } from '../cdsr/fields.js';
import { parseValueSet, type ValueFlag, type ValueSet, type ValueSetEntry } from '../cdsr/valuesets.js';

export interface WorkbookLayout {
  /** Sheet name or 1-based position; default: the first sheet. */
  readonly sheet?: string;
  /** 1-based row of the column headers; default 1. */
  readonly headerRow?: number;
  /** A header name or a column letter, for each column read. */
  readonly fieldColumn?: string;
  readonly codeColumn?: string;
  readonly labelColumn?: string;
}

export const DEFAULT_HEADERS = {
  field: ['field', 'cdsr field', 'field name', 'element', 'json element', 'data element'],
  code: ['code', 'value', 'acr code', 'json value'],
  label: ['label', 'description', 'display', 'meaning', 'value description'],
} as const;

export interface ImportProblem {
  readonly sheet: string;
  readonly row?: number;
  /** Column letter. */
  readonly column?: string;
  readonly message: string;
}

export interface ImportedEntry {
  readonly code: string;
  readonly label: string;
  readonly flag?: ValueFlag;
  /** Where it was read: `Sheet!C12`. */
  readonly cell: string;
}

export interface ImportedSet {
  /** The value-set file (valuesets/<name>.csv). */
  readonly name: string;
  /** The CDSR fields the workbook listed for it. */
  readonly fields: readonly string[];
  readonly entries: readonly ImportedEntry[];
}

export interface WorkbookReading {
  readonly sheet: string;
  readonly sets: readonly ImportedSet[];
  readonly problems: readonly ImportProblem[];
}

const RULES: Readonly<Record<string, FieldRule>> = { ...ENCOUNTER_RULES, ...CONSULTATION_RULES };

export function columnLetter(n: number): string {
  let s = '';
  for (let x = n; x > 0; x = Math.floor((x - 1) / 26)) s = String.fromCharCode(65 + ((x - 1) % 26)) + s;
  return s;
}

function columnNumber(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n;
}

/** A cell's value as text (numbers as written, rich text joined, a formula's result); undefined for an error value. */
export function cellText(value: CellValue): string | undefined {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString().slice(0, 10);
  if ('error' in value) return undefined;
  if ('richText' in value) return value.richText.map((r) => r.text).join('');
  if ('formula' in value || 'sharedFormula' in value) {
    const result = (value as { result?: unknown }).result;
    return result === undefined ? '' : cellText(result as CellValue);
  }
  if ('text' in value) return typeof value.text === 'string' ? value.text : cellText(value.text);
  return undefined;
}

export function pickSheet(wb: Workbook, sheet: string | undefined): Worksheet | string {
  const sheets = wb.worksheets;
  if (sheets.length === 0) return 'the workbook has no sheet';
  if (sheet === undefined) return sheets[0]!;
  const byName = sheets.find((s) => s.name === sheet) ?? sheets.find((s) => s.name.toLowerCase() === sheet.toLowerCase());
  if (byName) return byName;
  if (/^\d+$/.test(sheet) && Number(sheet) >= 1 && Number(sheet) <= sheets.length) return sheets[Number(sheet) - 1]!;
  return `no sheet "${sheet}"; the workbook has ${sheets.map((s) => `"${s.name}"`).join(', ')}`;
}

function findColumn(headers: ReadonlyMap<string, number>, given: string | undefined, defaults: readonly string[]): number | string {
  if (given !== undefined) {
    const named = headers.get(given.trim().toLowerCase());
    if (named !== undefined) return named;
    if (/^[A-Za-z]{1,3}$/.test(given.trim())) return columnNumber(given.trim());
    return `no column "${given}" in the header row`;
  }
  for (const d of defaults) {
    const n = headers.get(d);
    if (n !== undefined) return n;
  }
  return `no column headed ${defaults.map((d) => `"${d}"`).join(', ')}`;
}

/** Infers a flag from a label: "Other…" is the Other code, "Unknown" the Unknown code. */
export function flagFromLabel(label: string): ValueFlag | undefined {
  if (/^other\b/i.test(label.trim())) return 'other';
  if (/^unknown\b/i.test(label.trim())) return 'unknown';
  return undefined;
}

export function readValueSetWorkbook(wb: Workbook, layout: WorkbookLayout = {}): WorkbookReading {
  const ws = pickSheet(wb, layout.sheet);
  if (typeof ws === 'string') return { sheet: layout.sheet ?? '', sets: [], problems: [{ sheet: layout.sheet ?? '', message: ws }] };
  const sheet = ws.name;
  const problems: ImportProblem[] = [];
  const headerRow = layout.headerRow ?? 1;
  const headers = new Map<string, number>();
  ws.getRow(headerRow).eachCell({ includeEmpty: false }, (cell, col) => {
    const t = cellText(cell.value)?.trim().toLowerCase() ?? '';
    if (t !== '' && !headers.has(t)) headers.set(t, col);
  });
  const cols = {
    field: findColumn(headers, layout.fieldColumn, DEFAULT_HEADERS.field),
    code: findColumn(headers, layout.codeColumn, DEFAULT_HEADERS.code),
    label: findColumn(headers, layout.labelColumn, DEFAULT_HEADERS.label),
  };
  for (const [which, c] of Object.entries(cols)) {
    if (typeof c === 'string') problems.push({ sheet, row: headerRow, message: `${which} column: ${c} (give --${which}-column NAME or a letter)` });
  }
  if (typeof cols.field === 'string' || typeof cols.code === 'string' || typeof cols.label === 'string') return { sheet, sets: [], problems };
  const { field: fieldCol, code: codeCol, label: labelCol } = cols;

  interface Building {
    fields: string[];
    entries: Map<string, ImportedEntry>;
    byField: Map<string, Map<string, number>>;
  }
  const sets = new Map<string, Building>();
  let carried = '';
  const last = ws.rowCount;
  for (let r = headerRow + 1; r <= last; r++) {
    const row = ws.getRow(r);
    const read = (col: number): string | undefined => cellText(row.getCell(col).value);
    const rawField = read(fieldCol);
    const rawCode = read(codeCol);
    const rawLabel = read(labelCol);
    const at = (col: number, message: string) => problems.push({ sheet, row: r, column: columnLetter(col), message });
    if (rawField === undefined) at(fieldCol, 'the field cell holds an error value');
    if (rawCode === undefined) at(codeCol, 'the code cell holds an error value');
    if (rawLabel === undefined) at(labelCol, 'the label cell holds an error value');
    if (rawField === undefined || rawCode === undefined || rawLabel === undefined) continue;
    const fieldText = rawField.trim();
    const code = rawCode.trim();
    const label = rawLabel.replace(/\s+/g, ' ').trim();
    if (fieldText === '' && code === '' && label === '') continue; // a blank row
    // a field written once above its codes (a merged or blank cell) applies to the rows below
    const field = fieldText !== '' ? fieldText : carried;
    if (fieldText !== '') carried = fieldText;
    if (field === '') {
      at(fieldCol, 'no field named on this row or above it');
      continue;
    }
    const rule = RULES[field] ?? Object.entries(RULES).find(([name]) => name.toLowerCase() === field.toLowerCase())?.[1];
    const fieldName = RULES[field] ? field : Object.keys(RULES).find((name) => name.toLowerCase() === field.toLowerCase());
    if (!rule || fieldName === undefined) {
      at(fieldCol, `"${field}" is not an encounter or consultation field of CDSR 1.0`);
      continue;
    }
    if (rule.valueSet === undefined) {
      at(fieldCol, `${fieldName} is not a coded field (it has no value set)`);
      continue;
    }
    if (code === '') {
      at(codeCol, `empty code for ${fieldName}`);
      continue;
    }
    if (code.includes('|')) {
      at(codeCol, `code "${code}" contains "|", which NRDR refuses (CD2091)`);
      continue;
    }
    if (rule.kind === 'multi' && code.includes(',')) {
      at(codeCol, `code "${code}" contains a comma, which separates the codes of the multi-select ${fieldName}`);
      continue;
    }
    const set: Building = sets.get(rule.valueSet) ?? { fields: [], entries: new Map(), byField: new Map() };
    sets.set(rule.valueSet, set);
    if (!set.fields.includes(fieldName)) set.fields.push(fieldName);
    const seen = set.byField.get(fieldName) ?? new Map<string, number>();
    set.byField.set(fieldName, seen);
    const first = seen.get(code);
    if (first !== undefined) {
      at(codeCol, `code "${code}" of ${fieldName} is listed twice (first on row ${first})`);
      continue;
    }
    seen.set(code, r);
    if (set.entries.has(code)) continue; // the same code of another field sharing the file
    const flag = flagFromLabel(label);
    set.entries.set(code, { code, label, ...(flag ? { flag } : {}), cell: `${sheet}!${columnLetter(codeCol)}${r}` });
  }
  const out: ImportedSet[] = [...sets].map(([name, s]) => ({ name, fields: s.fields, entries: [...s.entries.values()] }));
  for (const s of out) {
    for (const flag of ['other', 'unknown'] as const) {
      const flagged = s.entries.filter((e) => e.flag === flag);
      if (flagged.length > 1) {
        problems.push({
          sheet,
          message: `${s.name}: ${flagged.length} codes read as "${flag}" (${flagged.map((e) => `${e.code} at ${e.cell}`).join(', ')}); at most one may be`,
        });
      }
    }
  }
  return { sheet, sets: out.sort((a, b) => a.name.localeCompare(b.name)), problems };
}

export function csvCell(s: string): string {
  return /[",\r\n]/.test(s) || s.startsWith('#') || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The file text for one imported set. A code already in the existing file keeps its flag; a new
 * one takes the flag its label suggests. Everything imported is `confirmed` and enforced.
 */
export function valueSetCsv(set: ImportedSet, source: string, existing?: ValueSet): string {
  const lines = [`# ${set.name}: ACR CDSR value set (${set.fields.join(', ')}), imported from ${source}.`, '# enforce: yes', 'code,label,flag,status'];
  const hasExistingFlag = (flag: ValueFlag) =>
    existing !== undefined && [...existing.entries.values()].some((e) => e.flag === flag && set.entries.some((s) => s.code === e.code));
  for (const e of set.entries) {
    const kept = existing?.entries.get(e.code)?.flag;
    const inferred = e.flag !== undefined && !hasExistingFlag(e.flag) ? e.flag : undefined;
    const flag = existing?.entries.has(e.code) ? kept : inferred;
    lines.push([csvCell(e.code), csvCell(e.label), flag ?? '', 'confirmed'].join(','));
  }
  return lines.join('\n') + '\n';
}

export interface SetChange {
  readonly name: string;
  readonly fields: readonly string[];
  readonly codes: number;
  readonly state: 'new' | 'changed' | 'unchanged';
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Codes whose label or flag changed. */
  readonly relabelled: readonly string[];
}

/** What writing `text` over `existingText` changes (codes added, removed, relabelled). */
export function compareSet(set: ImportedSet, file: string, text: string, existingText: string | undefined): SetChange {
  const now = parseValueSet(file, text).valueSet;
  const before = existingText === undefined ? undefined : parseValueSet(file, existingText).valueSet;
  const nowCodes = [...(now?.entries.keys() ?? [])];
  const beforeEntries: ReadonlyMap<string, ValueSetEntry> = before?.entries ?? new Map<string, ValueSetEntry>();
  const added = nowCodes.filter((c) => !beforeEntries.has(c));
  const removed = [...beforeEntries.keys()].filter((c) => !now?.entries.has(c));
  const relabelled = nowCodes.filter((c) => {
    const b = beforeEntries.get(c);
    const n = now?.entries.get(c);
    return b !== undefined && n !== undefined && (b.label !== n.label || b.flag !== n.flag || b.confirmed !== n.confirmed);
  });
  const same = added.length === 0 && removed.length === 0 && relabelled.length === 0 && before?.enforce === true;
  const state = existingText === undefined ? 'new' : same ? 'unchanged' : 'changed';
  return { name: set.name, fields: set.fields, codes: nowCodes.length, state, added, removed, relabelled };
}
