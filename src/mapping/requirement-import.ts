// The requirement column of ACR's CDSR_JSON_Mapping workbook ("Required to submit", with the
// "Conditionally Required" rules written in words) read into site rules (site-rules.csv). The
// workbook's layout is not public: a sheet with a field column and a requirement column (and
// perhaps a separate condition column) is looked for by header; the words of a condition are
// read when they follow a known pattern ("Required if <Field> = <code>"), and every one that does
// not is listed with its cell for the analyst, never dropped. Imported rules live in one marked
// block of site-rules.csv, replaced by each import; rules written by hand outside it are kept.
import type { Workbook, Worksheet } from 'exceljs';
import { FIELD_RULES } from '../cdsr/fields.js';
import { readCsvTable } from '../cdsr/csv-table.js';
import { TRANSACTION_FIELDS } from '../cdsr/schema.js';
import { parseSiteRules, type SiteCondition, type SiteRule } from '../cdsr/site-rules.js';
import { cellText, columnLetter, csvCell, DEFAULT_HEADERS, pickSheet, type ImportProblem, type ImportedSet } from './valueset-import.js';

export interface RequirementLayout {
  /** The value-set sheet (searched first) and its header row. */
  readonly sheet?: string;
  readonly headerRow?: number;
  readonly fieldColumn?: string;
  /** The sheet of the requirement column; default: the first sheet whose header has one. */
  readonly requirementSheet?: string;
  /** A header name or a column letter. */
  readonly requiredColumn?: string;
  readonly conditionColumn?: string;
}

/** Headers compared after normHeader (case, spacing, "?", ":", "*" and a trailing "(Y/N)" ignored). */
export const REQUIREMENT_HEADERS = {
  required: [
    'required to submit',
    'required to submit / conditionally required',
    'required / conditionally required',
    'required or conditionally required',
    'required',
    'requirement',
    'required field',
    'usage',
    'optionality',
  ],
  condition: [
    'conditionally required',
    'conditionally required if',
    'condition',
    'conditions',
    'conditional requirement',
    'required if',
    'requirement condition',
    'business rule',
    'business rules',
  ],
} as const;

export function normHeader(text: string): string {
  return text
    .toLowerCase()
    .replace(/\s*\([^()]*\)\s*$/, '')
    .replace(/[?:*]+/g, ' ')
    .replace(/\s*\/\s*/g, ' / ')
    .replace(/\s+/g, ' ')
    .trim();
}

export type ImportedRuleKind = 'required' | 'required_when' | 'only_when';

export interface ImportedRule {
  readonly field: string;
  readonly rule: ImportedRuleKind;
  /** The site-rules.csv `when` ('' for required). */
  readonly when: string;
  /** Where the workbook says it: `Sheet!E7`. */
  readonly cell: string;
  /** The workbook's words. */
  readonly text: string;
}

/** A requirement the importer could not turn into a rule: listed, and written as a comment. */
export interface UnreadRequirement {
  readonly sheet: string;
  readonly row: number;
  /** Column letter. */
  readonly column: string;
  readonly field: string;
  readonly text: string;
  readonly reason: string;
}

export interface RequirementReading {
  readonly sheet: string;
  /** The requirement (or condition) column: `E "Required to submit?"`. */
  readonly columns: string;
  readonly rules: readonly ImportedRule[];
  readonly unread: readonly UnreadRequirement[];
  /** Fields the workbook marks required that the spec requires already (CD3001): no rule needed. */
  readonly specRequired: readonly string[];
  /** Transaction fields and the arrays listed (Transaction_ID…, Encounters, Consultations): the validator checks them itself. */
  readonly transactionFields: readonly string[];
}

const FIELD_NAMES = Object.keys(FIELD_RULES);
const canonicalField = (name: string): string | undefined => (FIELD_RULES[name] ? name : FIELD_NAMES.find((n) => n.toLowerCase() === name.toLowerCase()));
const TRANSACTION_NAMES: readonly string[] = [...TRANSACTION_FIELDS, 'Encounters', 'Consultations'];

function columnNumber(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n;
}

interface Found {
  readonly ws: Worksheet;
  readonly headerRow: number;
  readonly field: number;
  readonly required?: number;
  readonly condition?: number;
  readonly headers: ReadonlyMap<number, string>;
}

function columnIn(headers: ReadonlyMap<string, number>, given: string | undefined, defaults: readonly string[]): number | undefined {
  if (given !== undefined) {
    const named = headers.get(normHeader(given));
    if (named !== undefined) return named;
    return /^[A-Za-z]{1,3}$/.test(given.trim()) ? columnNumber(given.trim()) : undefined;
  }
  for (const d of defaults) {
    const n = headers.get(d);
    if (n !== undefined) return n;
  }
  return undefined;
}

function findIn(ws: Worksheet, layout: RequirementLayout, rows: readonly number[]): Found | undefined {
  for (const r of rows) {
    const byName = new Map<string, number>();
    const byColumn = new Map<number, string>();
    ws.getRow(r).eachCell({ includeEmpty: false }, (cell, col) => {
      const raw = cellText(cell.value)?.replace(/\s+/g, ' ').trim() ?? '';
      const t = normHeader(raw);
      if (t !== '' && !byName.has(t)) byName.set(t, col);
      if (raw !== '') byColumn.set(col, raw);
    });
    const field = columnIn(byName, layout.fieldColumn, DEFAULT_HEADERS.field);
    const required = columnIn(byName, layout.requiredColumn, REQUIREMENT_HEADERS.required);
    const found = columnIn(byName, layout.conditionColumn, REQUIREMENT_HEADERS.condition);
    const condition = found === required ? undefined : found;
    // a column asked for by name must be there (no quiet fall-back to the other one)
    const missing = (layout.requiredColumn !== undefined && required === undefined) || (layout.conditionColumn !== undefined && found === undefined);
    if (field !== undefined && !missing && (required !== undefined || condition !== undefined)) {
      return { ws, headerRow: r, field, headers: byColumn, ...(required !== undefined ? { required } : {}), ...(condition !== undefined ? { condition } : {}) };
    }
  }
  return undefined;
}

/** The sheet and header row holding the requirement column; undefined when the workbook has none. */
function locate(wb: Workbook, layout: RequirementLayout): Found | ImportProblem | undefined {
  const first = pickSheet(wb, layout.sheet);
  // --header-row is the value-set sheet's; on another sheet the header is looked for in rows 1-10
  const scan = (ws: Worksheet) =>
    layout.headerRow !== undefined && ws === first ? [layout.headerRow] : Array.from({ length: Math.min(10, ws.rowCount) }, (_, i) => i + 1);
  const explicit = layout.requiredColumn !== undefined || layout.conditionColumn !== undefined;
  if (layout.requirementSheet !== undefined) {
    const ws = pickSheet(wb, layout.requirementSheet);
    if (typeof ws === 'string') return { sheet: layout.requirementSheet, message: ws };
    return (
      findIn(ws, layout, scan(ws)) ?? { sheet: ws.name, message: `no field column and requirement column in the header rows (${describeHeaders(layout)})` }
    );
  }
  const sheets = [...(typeof first === 'string' ? [] : [first]), ...wb.worksheets.filter((w) => w !== first)];
  for (const ws of sheets) {
    const found = findIn(ws, layout, scan(ws));
    if (found) return found;
  }
  return explicit
    ? {
        sheet: typeof first === 'string' ? '' : first.name,
        message: `no sheet has a field column and the requirement column asked for (${describeHeaders(layout)})`,
      }
    : undefined;
}

function describeHeaders(layout: RequirementLayout): string {
  const req = layout.requiredColumn ?? REQUIREMENT_HEADERS.required.join('", "');
  const cond = layout.conditionColumn ?? REQUIREMENT_HEADERS.condition.join('", "');
  return `requirement "${req}"; condition "${cond}"`;
}

const flat = (s: string) => s.replace(/\s+/g, ' ').trim();

const REQUIRED_WORD = /^(?:yes|y|x|required|req|r|mandatory|m|true|required to submit|always)$/i;
const OPTIONAL_WORD = /^(?:no|n|optional|opt|o|not required|false|n\/a|na|none|-|\u2013|\u2014)$/i;
const CONDITIONAL_WORD = /^(?:conditional|conditionally|conditionally required|conditionally required to submit|c|cr|cond)$/i;
const CONDITIONAL_PREFIX = /^(?:conditional(?:ly)?(?: required)?|yes|required to submit)\s*[:;,.(\u2013\u2014-]\s*/i;

const NOT_READ = 'not in a form the importer reads (see mappings/README.md, "Requirements")';
const SUBJECT = '(?:(this field|the field|it|[A-Za-z][A-Za-z0-9_]*) (?:is|are)\\s+)?';
const REQUIRED_LEAD = new RegExp(
  `^${SUBJECT}(?:(?:required|mandatory|must be (?:reported|provided|submitted|populated|filled(?: in)?|sent))\\s*,?\\s+)?(?:if|when|where)\\s+`,
  'i',
);
const ONLY_LEAD = new RegExp(
  `^${SUBJECT}(?:(?:only applicable|applicable only|only (?:reported|allowed|submitted|sent|used)|reported only|allowed only)\\s*,?\\s+(?:if|when|where)|(?:should|must) be (?:left )?(?:blank|empty) unless)\\s+`,
  'i',
);
const OTHERWISE = /^(.*?)[.;,]?\s+otherwise\s*,?\s+(.*)$/i;
const BLANK =
  /^(?:(?:it|this field|the field) )?(?:should|must|shall) be (?:left )?(?:blank|empty|null|omitted|not reported)$|^(?:leave (?:it )?)?blank$|^not applicable$/i;
const REPORTED = /^(?:is\s+)?(?:reported|populated|provided|present|filled(?: in)?|entered|given|not (?:blank|empty|null|missing))$/i;
const NOT_REPORTED = /^(?:is\s+)?(?:not (?:reported|populated|provided|present|filled(?: in)?|entered|given)|blank|empty|null|missing|absent)$/i;
const EQUALS = /^(?:==?|is equal to|equals|is one of|is any of|is in|in\b|is\b)\s*(.+)$/i;
const QUOTES = /^["'\u2018\u2019\u201c\u201d](.*)["'\u2018\u2019\u201c\u201d]$/;

/** The codes of a coded field, and its codes by label (for "Modality is Other"). */
export interface KnownCodes {
  readonly codes: ReadonlySet<string>;
  readonly byLabel: ReadonlyMap<string, string>;
}

const labelKey = (label: string) =>
  label
    .replace(/\s*\([^()]*\)/g, '')
    .trim()
    .toLowerCase();

/** Codes per field from the value sets read (the same workbook). */
export function knownCodes(sets: readonly ImportedSet[]): Map<string, KnownCodes> {
  const out = new Map<string, KnownCodes>();
  for (const s of sets) {
    const byLabel = new Map<string, string>();
    const twice = new Set<string>();
    for (const e of s.entries) {
      const k = labelKey(e.label);
      if (byLabel.has(k)) twice.add(k);
      byLabel.set(k, e.code);
    }
    for (const k of twice) byLabel.delete(k);
    const known = { codes: new Set(s.entries.map((e) => e.code)), byLabel };
    for (const f of s.fields) out.set(f, known);
  }
  return out;
}

export function conditionText(c: SiteCondition): string {
  if (c.kind === 'reported') return `${c.field} reported`;
  if (c.kind === 'not_reported') return `${c.field} not reported`;
  return c.values.length === 1 ? `${c.field} = ${c.values[0]!}` : `${c.field} in ${c.values.join('|')}`;
}

function parseValues(field: string, text: string, known: KnownCodes | undefined): string[] | string {
  let t = text.trim();
  const wrapped = /^[([{](.*)[)\]}]$/.exec(t);
  if (wrapped) t = wrapped[1]!.trim();
  t = t.replace(/\s*\([^()]*\)/g, '');
  const out: string[] = [];
  for (const part of t.split(/\s*[,|]\s*(?:or\s+)?|\s+or\s+/i)) {
    const v = part
      .trim()
      .replace(QUOTES, '$1')
      .replace(/^(\S+)\s+[-\u2013\u2014:]\s+.*$/, '$1')
      .trim();
    if (v === '') return `an empty value in "${text}"`;
    let code = v;
    if (known !== undefined && !known.codes.has(v)) {
      const matches = [...known.codes].filter((c) => c.toLowerCase() === v.toLowerCase());
      const byLabel = known.byLabel.get(labelKey(v));
      if (matches.length === 1) code = matches[0]!;
      else if (byLabel !== undefined) code = byLabel;
      else return `"${v}" is not a code of ${field} in the workbook's value set (${[...known.codes].join(', ')})`;
    }
    if (!/^[^\s|,"']+$/.test(code)) return NOT_READ;
    if (!out.includes(code)) out.push(code);
  }
  return out;
}

function parseCondition(text: string, codes: ReadonlyMap<string, KnownCodes>): SiteCondition | string {
  const m = /^["'\u2018\u2019\u201c\u201d]?([A-Za-z][A-Za-z0-9_]*)["'\u2018\u2019\u201c\u201d]?\s+(.+)$/.exec(text.trim());
  if (!m) return NOT_READ;
  const field = canonicalField(m[1]!);
  // "Required when the category…": a plain word is prose, a name with "_" a field misspelt
  if (field === undefined) return m[1]!.includes('_') ? `"${m[1]!}" is not an encounter or consultation field of CDSR 1.0` : NOT_READ;
  const rest = m[2]!.trim();
  if (REPORTED.test(rest)) return { kind: 'reported', field };
  if (NOT_REPORTED.test(rest)) return { kind: 'not_reported', field };
  const eq = EQUALS.exec(rest);
  if (!eq) return NOT_READ;
  const values = parseValues(field, eq[1]!, codes.get(field));
  return typeof values === 'string' ? values : { kind: 'in', field, values };
}

interface ParsedRule {
  readonly rule: 'required_when' | 'only_when';
  readonly when: SiteCondition;
}

/** The words of one conditional requirement of `field`, as rules; a string says why not. */
export function parseRequirementWords(field: string, words: string, codes: ReadonlyMap<string, KnownCodes> = new Map()): ParsedRule[] | string {
  let t = flat(words)
    .replace(/[.;]+$/, '')
    .trim();
  let blankOtherwise = false;
  const other = OTHERWISE.exec(t);
  if (other) {
    const tail = other[2]!.replace(/[.;]+$/, '').trim();
    if (!BLANK.test(tail)) return `"otherwise, ${tail}" is not read (only "otherwise, should be blank")`;
    t = other[1]!.trim();
    blankOtherwise = true;
  }
  const required = REQUIRED_LEAD.exec(t);
  const only = required ? undefined : ONLY_LEAD.exec(t);
  const lead = required ?? only;
  if (!lead) return NOT_READ;
  const subject = lead[1] !== undefined ? canonicalField(lead[1]) : undefined;
  if (subject !== undefined && subject !== field) return `the words are about ${subject}, not ${field} (the row's field)`;
  const when = parseCondition(t.slice(lead[0].length), codes);
  if (typeof when === 'string') return when;
  const rule = required ? 'required_when' : 'only_when';
  return rule === 'required_when' && blankOtherwise
    ? [
        { rule, when },
        { rule: 'only_when', when },
      ]
    : [{ rule, when }];
}

/**
 * Reads the requirement column. Undefined: the workbook has no such column (nothing to import).
 * `sets` are the value sets read from the same workbook: a condition's code is checked against
 * them, and a label ("Modality is Other") read as its code.
 */
export function readRequirements(
  wb: Workbook,
  layout: RequirementLayout,
  sets: readonly ImportedSet[] = [],
): RequirementReading | { problem: ImportProblem } | undefined {
  const found = locate(wb, layout);
  if (found === undefined) return undefined;
  if ('message' in found) return { problem: found };
  const { ws, headerRow } = found;
  const sheet = ws.name;
  const codes = knownCodes(sets);
  const rules: ImportedRule[] = [];
  const unread: UnreadRequirement[] = [];
  const specRequired: string[] = [];
  const transactionFields: string[] = [];
  const seen = new Set<string>();
  const keys = new Set<string>();
  let carried = '';
  for (let r = headerRow + 1; r <= ws.rowCount; r++) {
    const row = ws.getRow(r);
    const read = (col: number | undefined) => (col === undefined ? '' : cellText(row.getCell(col).value));
    const rawField = read(found.field);
    const rawReq = read(found.required);
    const rawCond = read(found.condition);
    const fieldText = flat(rawField ?? '');
    if (fieldText !== '') carried = fieldText;
    const field = fieldText !== '' ? fieldText : carried;
    const reqCol = found.required ?? found.condition!;
    const skip = (column: number, text: string, reason: string) => unread.push({ sheet, row: r, column: columnLetter(column), field, text, reason });
    if (rawReq === undefined || rawCond === undefined) {
      skip(rawReq === undefined ? reqCol : found.condition!, '', 'the cell holds an error value');
      continue;
    }
    const req = flat(rawReq);
    const cond = flat(rawCond);
    if (req === '' && cond === '') continue;
    // a field written once over its rows (the value-set layout) may repeat its requirement
    const key = `${field}\u0000${req}\u0000${cond}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const both = req !== '' && cond !== '' ? `${req} / ${cond}` : req || cond;
    if (field === '') {
      skip(reqCol, both, 'no field named on this row or above it');
      continue;
    }
    const name = canonicalField(field);
    if (name === undefined) {
      const tx = TRANSACTION_NAMES.find((n) => n.toLowerCase() === field.toLowerCase());
      if (tx !== undefined) {
        if (!transactionFields.includes(tx)) transactionFields.push(tx);
      } else skip(reqCol, both, `"${field}" is not an encounter or consultation field of CDSR 1.0`);
      continue;
    }
    // which column holds the words of the condition, if any
    let words: { text: string; column: number } | undefined;
    if (REQUIRED_WORD.test(req)) {
      if (cond !== '') {
        skip(found.condition!, both, 'marked required and given a condition: which applies? (write the rule by hand)');
        continue;
      }
      if (FIELD_RULES[name]!.required) {
        if (!specRequired.includes(name)) specRequired.push(name);
        continue;
      }
      const rule: ImportedRule = { field: name, rule: 'required', when: '', cell: `${sheet}!${columnLetter(reqCol)}${r}`, text: req };
      if (!keys.has(`${name},required,`)) rules.push(rule);
      keys.add(`${name},required,`);
      continue;
    }
    if (req === '' || OPTIONAL_WORD.test(req) || CONDITIONAL_WORD.test(req)) {
      if (cond !== '') words = { text: cond, column: found.condition! };
      else if (CONDITIONAL_WORD.test(req)) {
        skip(reqCol, req, `conditionally required, but the workbook states no condition${found.condition === undefined ? ' (no condition column found)' : ''}`);
        continue;
      } else continue; // optional
    } else if (cond !== '') {
      skip(reqCol, both, 'a condition in both columns (write the rule by hand)');
      continue;
    } else words = { text: req.replace(CONDITIONAL_PREFIX, '').replace(/^\((.*)\)$/, '$1'), column: reqCol };
    const cell = `${sheet}!${columnLetter(words.column)}${r}`;
    const parsed = parseRequirementWords(name, words.text, codes);
    if (typeof parsed === 'string') {
      skip(words.column, words.text, parsed);
      continue;
    }
    for (const p of parsed) {
      const when = conditionText(p.when);
      // the same checks as site-rules.csv (levels, a field depending on itself, a code for the rule)
      const check = parseSiteRules('workbook', `field,rule,when\n${name},${p.rule},${csvCell(when)}\n`);
      if (check.problems.length > 0) {
        skip(words.column, words.text, check.problems.map((x) => x.message).join('; '));
        continue;
      }
      const k = `${name},${p.rule},${when}`;
      if (!keys.has(k)) rules.push({ field: name, rule: p.rule, when, cell, text: words.text });
      keys.add(k);
    }
  }
  const columns = [found.required, found.condition]
    .filter((c): c is number => c !== undefined)
    .map((c) => `${columnLetter(c)} "${found.headers.get(c) ?? ''}"`)
    .join(', ');
  return { sheet, columns, rules, unread, specRequired, transactionFields };
}

// ---- site-rules.csv: the imported block ----

export const BLOCK_START = '# import-valuesets:start';
export const BLOCK_END = '# import-valuesets:end';

export interface RuleChange {
  readonly field: string;
  readonly rule: string;
  readonly when: string;
  /** by hand: a rule written outside the block covers it; the workbook's is not written. */
  readonly state: 'added' | 'changed' | 'unchanged' | 'removed' | 'by hand';
  /** The workbook cell (not for removed). */
  readonly cell?: string;
  /** changed: the `when` it had; by hand: the hand-written rule's place and `when`. */
  readonly before?: string;
}

export interface SiteRulesPlan {
  /** new: no file yet; none: no file and nothing to write. */
  readonly state: 'new' | 'changed' | 'unchanged' | 'none';
  readonly text: string;
  readonly changes: readonly RuleChange[];
}

const ruleWhen = (r: SiteRule): string => (r.rule === 'required_when' || r.rule === 'only_when' ? conditionText(r.when) : '');
const whenField = (when: string) => when.split(' ')[0] ?? '';

/**
 * The new site-rules.csv text: the imported block replaced (or appended), everything else as it
 * was. `name` is the file's name in the report's places (`site-rules.csv:12`).
 */
export function planSiteRules(name: string, existing: string | undefined, reading: RequirementReading, source: string): SiteRulesPlan | { problem: string } {
  const eol = existing?.includes('\r\n') ? '\r\n' : '\n';
  const lines = existing === undefined ? [] : existing.split(/\r?\n/);
  const starts = lines.flatMap((l, i) => (l.trim().startsWith(BLOCK_START) ? [i] : []));
  const ends = lines.flatMap((l, i) => (l.trim().startsWith(BLOCK_END) ? [i] : []));
  if (starts.length > 1 || ends.length > 1 || starts.length !== ends.length || (starts[0] ?? 0) > (ends[0] ?? 0)) {
    const at = [...starts, ...ends].map((i) => `line ${i + 1}`).join(', ');
    return { problem: `${name}: the imported block's marker lines "${BLOCK_START}" … "${BLOCK_END}" are not one pair (${at}); put them right by hand` };
  }
  const block = starts.length === 1 ? { from: starts[0]!, to: ends[0]! } : undefined;
  let header: readonly string[] = ['field', 'rule', 'when', 'code', 'comment'];
  let old: SiteRule[] = [];
  let hand: SiteRule[] = [];
  if (existing !== undefined) {
    const table = readCsvTable(name, existing);
    if ('problem' in table) return { problem: `${name}:${table.problem.line ?? 1}: ${table.problem.message}; put it right first` };
    if (!['field', 'rule', 'when'].every((c) => table.header.includes(c)))
      return { problem: `${name}: no header row with field, rule and when; put it right first` };
    header = table.header;
    const lineOf = (r: SiteRule) => Number(r.origin.slice(r.origin.lastIndexOf(':') + 1)) - 1;
    const parsed = parseSiteRules(name, existing).rules.filter((r) => r.rule !== 'npi');
    const inBlock = (r: SiteRule) => block !== undefined && lineOf(r) > block.from && lineOf(r) < block.to;
    old = parsed.filter(inBlock);
    hand = parsed.filter((r) => !inBlock(r));
  }

  const changes: RuleChange[] = [];
  const written: ImportedRule[] = [];
  const oldLeft = [...old];
  for (const r of reading.rules) {
    const byHand = hand.find((h) => h.field === r.field && h.rule === r.rule && whenField(ruleWhen(h)) === whenField(r.when));
    if (byHand) {
      const same = ruleWhen(byHand) === r.when;
      changes.push({
        field: r.field,
        rule: r.rule,
        when: r.when,
        state: 'by hand',
        cell: r.cell,
        before: same ? byHand.origin : `${byHand.origin}: ${ruleWhen(byHand) || r.rule}`,
      });
      continue;
    }
    written.push(r);
    const exact = oldLeft.findIndex((o) => o.field === r.field && o.rule === r.rule && ruleWhen(o) === r.when);
    const family = exact >= 0 ? exact : oldLeft.findIndex((o) => o.field === r.field && o.rule === r.rule && whenField(ruleWhen(o)) === whenField(r.when));
    const matched = family >= 0 ? oldLeft.splice(family, 1)[0] : undefined;
    if (matched === undefined) changes.push({ field: r.field, rule: r.rule, when: r.when, state: 'added', cell: r.cell });
    else if (exact >= 0) changes.push({ field: r.field, rule: r.rule, when: r.when, state: 'unchanged', cell: r.cell });
    else changes.push({ field: r.field, rule: r.rule, when: r.when, state: 'changed', cell: r.cell, before: ruleWhen(matched) });
  }
  for (const o of oldLeft) changes.push({ field: o.field, rule: o.rule, when: ruleWhen(o), state: 'removed' });

  const row = (r: ImportedRule) => {
    const cells: Record<string, string> = { field: r.field, rule: r.rule, when: r.when, comment: `${r.cell}: ${flat(r.text)}` };
    return header.map((h) => csvCell(cells[h] ?? '')).join(',');
  };
  const blockLines =
    written.length === 0 && reading.unread.length === 0
      ? []
      : [
          `${BLOCK_START}: rules read from ${source} by import-valuesets; each import replaces this block (write your own rules outside it)`,
          ...written.map(row),
          ...reading.unread.map(
            (u) => `# not imported, write by hand above this block: ${u.sheet}!${u.column}${u.row} ${u.field || '(no field)'}: "${flat(u.text)}": ${u.reason}`,
          ),
          BLOCK_END,
        ];
  let out: string[];
  if (existing === undefined) out = blockLines.length === 0 ? [] : [header.join(','), ...blockLines, ''];
  else if (block !== undefined) out = [...lines.slice(0, block.from), ...blockLines, ...lines.slice(block.to + 1)];
  else if (blockLines.length === 0) out = lines;
  else {
    const body = lines[lines.length - 1] === '' ? lines.slice(0, -1) : lines;
    out = [...body, ...blockLines, ''];
  }
  const text = out.join(eol);
  const state = existing === undefined ? (text === '' ? 'none' : 'new') : text === existing ? 'unchanged' : 'changed';
  return { state, text, changes };
}
