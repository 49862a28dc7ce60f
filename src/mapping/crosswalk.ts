// Crosswalks (crosswalks/<name>.csv): source code → ACR code, optionally qualified by facility
// and code system. The most specific matching row wins; codes match without regard to case or
// surrounding blanks.
import { readCsvTable, tableProblem } from '../cdsr/csv-table.js';
import type { Problem } from '../cdsr/problem.js';

export interface CrosswalkRow {
  readonly source: string;
  readonly acrCode: string;
  readonly facility: string;
  readonly system: string;
  readonly line: number;
}

export interface Crosswalk {
  readonly name: string;
  readonly file: string;
  readonly rows: ReadonlyMap<string, readonly CrosswalkRow[]>;
}

export interface CrosswalkContext {
  readonly facility?: string;
  readonly system?: string;
}

const norm = (s: string) => s.trim().toUpperCase();

export function parseCrosswalk(name: string, file: string, text: string): { crosswalk?: Crosswalk; problems: Problem[] } {
  const table = readCsvTable(file, text);
  if ('problem' in table) return { problems: [table.problem] };
  const problems: Problem[] = [];
  for (const col of ['source', 'acr_code']) {
    if (!table.header.includes(col)) problems.push(tableProblem(file, 1, `the header must have a "${col}" column`));
  }
  if (problems.length > 0) return { problems };
  const rows = new Map<string, CrosswalkRow[]>();
  for (const { cells, line } of table.rows) {
    const source = cells.source ?? '';
    if (source === '') {
      problems.push(tableProblem(file, line, 'empty source code'));
      continue;
    }
    const row: CrosswalkRow = {
      source,
      acrCode: cells.acr_code ?? '',
      facility: cells.facility ?? '',
      system: cells.system ?? '',
      line,
    };
    const list = rows.get(norm(source)) ?? [];
    const twin = list.find((r) => norm(r.facility) === norm(row.facility) && norm(r.system) === norm(row.system));
    if (twin) {
      if (twin.acrCode !== row.acrCode) {
        problems.push(
          tableProblem(file, line, `"${source}" is already mapped to "${twin.acrCode}" on line ${twin.line}; this row says "${row.acrCode}"`),
        );
      }
      continue;
    }
    list.push(row);
    rows.set(norm(source), list);
  }
  return { crosswalk: { name, file, rows }, problems };
}

/** The row for `source`, preferring rows that name the facility and system over blank ones. */
export function lookup(cw: Crosswalk, source: string, ctx: CrosswalkContext = {}): CrosswalkRow | undefined {
  const list = cw.rows.get(norm(source));
  if (!list) return undefined;
  let best: CrosswalkRow | undefined;
  let bestScore = -1;
  for (const r of list) {
    const f = r.facility === '' ? 0 : norm(r.facility) === norm(ctx.facility ?? '') ? 2 : -1;
    const s = r.system === '' ? 0 : norm(r.system) === norm(ctx.system ?? '') ? 1 : -1;
    if (f < 0 || s < 0) continue;
    if (f + s > bestScore) {
      best = r;
      bestScore = f + s;
    }
  }
  return best;
}
