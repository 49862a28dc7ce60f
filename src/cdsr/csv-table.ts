// Reading of the analysts' CSV tables: a header row, `#` comment lines, and every row with its
// 1-based line number so that problems can say `file:line`.
import { parse } from 'csv-parse/sync';
import type { Problem } from './problem.js';
import { deepFreeze, TextMemo } from './text-memo.js';

export interface CsvRow {
  /** Cells by lower-cased header name. */
  readonly cells: Readonly<Record<string, string>>;
  readonly line: number;
}

export function tableProblem(file: string, line: number, message: string): Problem {
  return { code: 'TABLE_INVALID', message, severity: 'error', scope: 'file', path: '', file, line };
}

type CsvReading = { rows: readonly CsvRow[]; header: readonly string[] } | { problem: Problem };
const readings = new TextMemo<CsvReading>();

/** Parses CSV text; on a syntax error returns the problem instead of rows. The rows of a text read before are the same (frozen) rows. */
export function readCsvTable(file: string, text: string): CsvReading {
  return readings.get(
    text,
    () => parseCsvTable(file, text),
    (r) => !('problem' in r),
  );
}

function parseCsvTable(file: string, text: string): CsvReading {
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
    return deepFreeze({ header, rows: records.map(({ record, info }) => ({ cells: record, line: info.lines })) });
  } catch (e) {
    const err = e as { message?: string; lines?: number };
    return { problem: tableProblem(file, err.lines ?? 1, `not a valid CSV file: ${err.message ?? String(e)}`) };
  }
}
