// `cdsr-adapter import-valuesets WORKBOOK.xlsx`: value sets from ACR's CDSR_JSON_Mapping workbook
// into valuesets/<Name>.csv. Reports what it would write per file (codes, added, removed,
// relabelled); an existing file that would change is only overwritten with --force.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import ExcelJS from 'exceljs';
import { parseValueSet } from '../cdsr/valuesets.js';
import { errorMessage } from '../cdsr/errors.js';
import { compareSet, readValueSetWorkbook, valueSetCsv, type SetChange, type WorkbookLayout } from '../mapping/valueset-import.js';
import { renderTable } from './table.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, resolveMappingsDir, type CliIo } from './validate.js';

export interface ImportValueSetsOptions extends WorkbookLayout {
  /** Where the files go; default: <mappings>/valuesets. */
  readonly out?: string;
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
  if (reading.problems.length > 0) {
    for (const p of reading.problems) {
      const where = [`sheet "${p.sheet}"`, p.row !== undefined ? `row ${p.row}` : '', p.column !== undefined ? `column ${p.column}` : ''].filter((x) => x !== '').join(', ');
      io.err(`${workbook}: ${where}: ${p.message}\n`);
    }
    io.err(`${reading.problems.length} problem(s); nothing written\n`);
    return EXIT_PROBLEMS;
  }
  if (reading.sets.length === 0) {
    io.err(`${workbook}: sheet "${reading.sheet}" has no value-set rows; nothing written\n`);
    return EXIT_PROBLEMS;
  }
  const dir = opts.out ?? join(resolveMappingsDir(io.mappingsDir), 'valuesets');
  const source = `${basename(workbook)} sheet "${reading.sheet}"`;
  const planned = reading.sets.map((set) => {
    const file = join(dir, `${set.name}.csv`);
    const existingText = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    const existing = existingText === undefined ? undefined : parseValueSet(file, existingText).valueSet;
    const text = valueSetCsv(set, source, existing);
    return { file, text, change: compareSet(set, file, text, existingText) };
  });
  const blocked = planned.filter((p) => p.change.state === 'changed' && opts.force !== true);
  if (opts.json) io.out(JSON.stringify({ workbook, sheet: reading.sheet, dir, written: blocked.length === 0, files: planned.map((p) => ({ file: p.file, ...p.change })) }) + '\n');
  else io.out(report(planned.map((p) => p.change), dir));
  if (blocked.length > 0) {
    io.err(`${blocked.length} existing file(s) would change (${blocked.map((b) => basename(b.file)).join(', ')}); nothing written. Add --force to overwrite them, or --out DIR to write elsewhere.\n`);
    return EXIT_PROBLEMS;
  }
  mkdirSync(dir, { recursive: true });
  for (const p of planned) if (p.change.state !== 'unchanged') writeFileSync(p.file, p.text);
  if (!opts.json) io.out(`written to ${dir}\n`);
  return EXIT_OK;
}

const list = (codes: readonly string[]) => (codes.length === 0 ? '' : codes.length > 8 ? `${codes.slice(0, 8).join(',')} (+${codes.length - 8})` : codes.join(','));

function report(changes: readonly SetChange[], dir: string): string {
  const rows = changes.map((c) => [`${c.name}.csv`, c.fields.join(', '), String(c.codes), c.state, list(c.added), list(c.removed), list(c.relabelled)]);
  return `value sets for ${dir}:\n` + renderTable(['FILE', 'FIELDS', 'CODES', 'STATE', 'ADDED', 'REMOVED', 'RELABELLED'], rows);
}
