// Reading of the analysts' CSV tables: a header row, `#` comment lines, and every row with its
// 1-based line number so that problems can say `file:line`.
import { parse } from 'csv-parse/sync';
import type { Problem } from './problem.js';

export interface CsvRow {
  /** Cells by lower-cased header name. */
  readonly cells: Readonly<Record<string, string>>;
  readonly line: number;
}

export function tableProblem(file: string, line: number, message: string): Problem {
  return { code: 'TABLE_INVALID', message, severity: 'error', scope: 'file', path: '', file, line };
}

/** Parses CSV text; on a syntax error returns the problem instead of rows. */
export function readCsvTable(file: string, text: string): { rows: CsvRow[]; header: string[] } | { problem: Problem } {
  let header: string[] = [];
  try {
    const raw: unknown = parse(text, {
      columns: (h: string[]) => (header = h.map((c) => c.trim().toLowerCase())),
      comment: '#',
      comment_no_infix: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      info: true,
    });
    // with `info: true` csv-parse returns { record, info } pairs, which its types do not model
    const records = raw as { record: Record<string, string>; info: { lines: number } }[];
    return { header, rows: records.map(({ record, info }) => ({ cells: record, line: info.lines })) };
  } catch (e) {
    const err = e as { message?: string; lines?: number };
    return { problem: tableProblem(file, err.lines ?? 1, `not a valid CSV file: ${err.message ?? String(e)}`) };
  }
}
