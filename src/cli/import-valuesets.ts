// `cdsr-adapter import-valuesets WORKBOOK.xlsx`: value sets from ACR's CDSR_JSON_Mapping workbook
// into valuesets/<Name>.csv, and its requirement column ("Required to submit", conditions in
// words) into the imported block of site-rules.csv. Reports what it would write per file (codes
// added, removed, relabelled; rules added, changed, removed; conditions it could not read); an
// existing file that would change is only overwritten with --force.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import ExcelJS from 'exceljs';
import { parseValueSet } from '../cdsr/valuesets.js';
import { errorMessage } from '../cdsr/errors.js';
import { compareSet, readValueSetWorkbook, valueSetCsv, type ImportProblem, type SetChange, type WorkbookLayout } from '../mapping/valueset-import.js';
import { planSiteRules, readRequirements, type RequirementLayout, type RequirementReading, type SiteRulesPlan } from '../mapping/requirement-import.js';
import { renderTable } from './table.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, resolveMappingsDir, type CliIo } from './validate.js';

export interface ImportValueSetsOptions extends WorkbookLayout, RequirementLayout {
  /** Where the files go; default: <mappings>/valuesets. */
  readonly out?: string;
  /** The site rules file to update; default <mappings>/site-rules.csv (with --out: none, a preview only). */
  readonly siteRules?: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

export async function runImportValueSets(workbook: string, opts: ImportValueSetsOptions, io: CliIo): Promise<number> {
  const wb = new ExcelJS.Workbook();
  try {
    await wb.xlsx.readFile(workbook);
  } catch (e) {
    io.err(`${workbook}: not a readable .xlsx workbook: ${errorMessage(e)}\n`);
    return EXIT_UNREADABLE;
  }
  const reading = readValueSetWorkbook(wb, opts);
  const requirements = reading.problems.length === 0 ? readRequirements(wb, opts, reading.sets) : undefined;
  const problems: ImportProblem[] = [...reading.problems, ...(requirements !== undefined && 'problem' in requirements ? [requirements.problem] : [])];
  if (problems.length > 0) {
    for (const p of problems) {
      const where = [`sheet "${p.sheet}"`, p.row !== undefined ? `row ${p.row}` : '', p.column !== undefined ? `column ${p.column}` : '']
        .filter((x) => x !== '')
        .join(', ');
      io.err(`${workbook}: ${where}: ${p.message}\n`);
    }
    io.err(`${problems.length} problem(s); nothing written\n`);
    return EXIT_PROBLEMS;
  }
  if (reading.sets.length === 0) {
    io.err(`${workbook}: sheet "${reading.sheet}" has no value-set rows; nothing written\n`);
    return EXIT_PROBLEMS;
  }
  const mappings = resolveMappingsDir(io.mappingsDir);
  const dir = opts.out ?? join(mappings, 'valuesets');
  const source = `${basename(workbook)} sheet "${reading.sheet}"`;
  const planned = reading.sets.map((set) => {
    const file = join(dir, `${set.name}.csv`);
    const existingText = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    const existing = existingText === undefined ? undefined : parseValueSet(file, existingText).valueSet;
    const text = valueSetCsv(set, source, existing);
    return { file, text, change: compareSet(set, file, text, existingText) };
  });

  // site rules: with --out and no --site-rules the tables in force are not touched (a preview)
  const rulesIn = opts.siteRules ?? join(mappings, 'site-rules.csv');
  const rulesOut = opts.siteRules ?? (opts.out === undefined ? rulesIn : undefined);
  let rules: { reading: RequirementReading; plan: SiteRulesPlan } | undefined;
  if (requirements !== undefined && !('problem' in requirements)) {
    const existing = existsSync(rulesIn) ? readFileSync(rulesIn, 'utf8') : undefined;
    const plan = planSiteRules(basename(rulesIn), existing, requirements, `${basename(workbook)} sheet "${requirements.sheet}"`);
    if ('problem' in plan) {
      io.err(`${plan.problem}; nothing written\n`);
      return EXIT_PROBLEMS;
    }
    rules = { reading: requirements, plan };
  }
  const rulesChanged = rules !== undefined && rulesOut !== undefined && rules.plan.state === 'changed';
  const blocked = [
    ...planned.filter((p) => p.change.state === 'changed').map((p) => p.file),
    ...(rulesChanged && rulesOut !== undefined ? [rulesOut] : []),
  ].filter(() => opts.force !== true);
  if (opts.json) {
    const siteRules =
      rules === undefined
        ? null
        : {
            file: rulesOut ?? null,
            sheet: rules.reading.sheet,
            columns: rules.reading.columns,
            state: rules.plan.state,
            rules: rules.plan.changes,
            unread: rules.reading.unread,
            specRequired: rules.reading.specRequired,
            transactionFields: rules.reading.transactionFields,
          };
    io.out(
      JSON.stringify({
        workbook,
        sheet: reading.sheet,
        dir,
        written: blocked.length === 0,
        files: planned.map((p) => ({ file: p.file, ...p.change })),
        siteRules,
      }) + '\n',
    );
  } else
    io.out(
      report(
        planned.map((p) => p.change),
        dir,
      ) + rulesReport(rules, rulesIn, rulesOut),
    );
  if (rules !== undefined && rules.reading.unread.length > 0) {
    const inFile = rulesOut !== undefined && blocked.length === 0 ? ` and in ${basename(rulesOut)}` : '';
    io.err(`${rules.reading.unread.length} requirement(s) of the workbook not imported: write them by hand (listed above${inFile})\n`);
  }
  if (blocked.length > 0) {
    io.err(
      `${blocked.length} existing file(s) would change (${blocked.map((b) => basename(b)).join(', ')}); nothing written. Add --force to overwrite them, or --out DIR to write elsewhere.\n`,
    );
    return EXIT_PROBLEMS;
  }
  mkdirSync(dir, { recursive: true });
  for (const p of planned) if (p.change.state !== 'unchanged') writeFileSync(p.file, p.text);
  if (rules !== undefined && rulesOut !== undefined && (rules.plan.state === 'new' || rules.plan.state === 'changed')) writeFileSync(rulesOut, rules.plan.text);
  if (!opts.json)
    io.out(
      `written to ${dir}${rulesOut !== undefined && rules !== undefined && rules.plan.state !== 'unchanged' && rules.plan.state !== 'none' ? ` and ${rulesOut}` : ''}\n`,
    );
  return EXIT_OK;
}

const list = (codes: readonly string[]) =>
  codes.length === 0 ? '' : codes.length > 8 ? `${codes.slice(0, 8).join(',')} (+${codes.length - 8})` : codes.join(',');

function report(changes: readonly SetChange[], dir: string): string {
  const rows = changes.map((c) => [`${c.name}.csv`, c.fields.join(', '), String(c.codes), c.state, list(c.added), list(c.removed), list(c.relabelled)]);
  return `value sets for ${dir}:\n` + renderTable(['FILE', 'FIELDS', 'CODES', 'STATE', 'ADDED', 'REMOVED', 'RELABELLED'], rows);
}

function rulesReport(rules: { reading: RequirementReading; plan: SiteRulesPlan } | undefined, rulesIn: string, rulesOut: string | undefined): string {
  if (rules === undefined)
    return 'site rules: the workbook has no requirement column ("Required to submit", "Conditionally Required"); site rules left as they are\n';
  const { reading, plan } = rules;
  const target =
    rulesOut !== undefined ? `site rules for ${rulesOut}` : `site rules (a preview: --out leaves ${rulesIn} alone; give --site-rules FILE to write them)`;
  let out = `${target}, from sheet "${reading.sheet}" column ${reading.columns}:\n`;
  const note = (c: SiteRulesPlan['changes'][number]) =>
    c.state === 'changed' ? `was ${c.before ?? ''}` : c.state === 'by hand' ? `kept: ${c.before ?? ''}` : '';
  if (plan.changes.length > 0) {
    out += renderTable(
      ['FIELD', 'RULE', 'WHEN', 'STATE', 'CELL', 'NOTE'],
      plan.changes.map((c) => [c.field, c.rule, c.when, c.state, c.cell ?? '', note(c)]),
    );
  }
  const count = (state: string) => plan.changes.filter((c) => c.state === state).length;
  const counts = ['added', 'changed', 'removed', 'unchanged', 'by hand'].map((s) => `${count(s)} ${s}`).join(', ');
  out += `${counts}; file ${plan.state === 'none' ? 'not created (nothing to write)' : plan.state}\n`;
  if (reading.specRequired.length > 0) out += `required by the CDSR spec already (CD3001), no rule needed: ${reading.specRequired.join(', ')}\n`;
  if (reading.transactionFields.length > 0) out += `transaction fields and arrays, checked by the validator itself: ${reading.transactionFields.join(', ')}\n`;
  if (reading.unread.length > 0) {
    out += 'not imported, write by hand (outside the imported block):\n';
    out += renderTable(
      ['CELL', 'FIELD', 'WORKBOOK TEXT', 'WHY'],
      reading.unread.map((u) => [`${u.sheet}!${u.column}${u.row}`, u.field, u.text, u.reason]),
    );
  }
  return out;
}
