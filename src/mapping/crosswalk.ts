// Crosswalks (crosswalks/<name>.csv): source code → ACR code, optionally qualified by facility
// and code system. A source may be one code or a range of codes (`70450-70498`). The most
// specific matching row wins (facility over system over neither); at equal qualifiers an exact
// row wins over a range. Codes match without regard to case or surrounding blanks.
import { readCsvTable, tableProblem } from '../cdsr/csv-table.js';
import type { Problem } from '../cdsr/problem.js';

/** The acr_code that marks a source as known but not reported: its order is excluded by this row. */
export const EXCLUDE = 'exclude';

export interface CrosswalkRow {
  readonly source: string;
  readonly acrCode: string;
  readonly facility: string;
  readonly system: string;
  readonly line: number;
  /** For a range row: its first and last code (normalised). */
  readonly range?: { readonly from: string; readonly to: string; readonly shape: string };
}

export interface Crosswalk {
  readonly name: string;
  readonly file: string;
  /** Exact rows by normalised source. */
  readonly rows: ReadonlyMap<string, readonly CrosswalkRow[]>;
  readonly ranges: readonly CrosswalkRow[];
  /** Every system a row names (normalised): a coding of another system is not this crosswalk's to map. */
  readonly systems: ReadonlySet<string>;
}

export interface CrosswalkContext {
  readonly facility?: string;
  readonly system?: string;
}

const norm = (s: string) => s.trim().toUpperCase();

// One code system goes by several names: the HL7 v2 table 0396 mnemonic (OBR-4.3), the FHIR URI
// and the OID. A crosswalk row may use any of them; they compare as one.
const SYSTEM_ALIASES: readonly (readonly string[])[] = [
  ['http://loinc.org', 'LN', 'LOINC', 'urn:oid:2.16.840.1.113883.6.1', '2.16.840.1.113883.6.1'],
  ['http://www.ama-assn.org/go/cpt', 'CPT', 'C4', 'CPT4', 'urn:oid:2.16.840.1.113883.6.12', '2.16.840.1.113883.6.12'],
  ['https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets', 'HCPCS', 'HCPT', 'urn:oid:2.16.840.1.113883.6.285', '2.16.840.1.113883.6.285'],
  ['http://dicom.nema.org/resources/ontology/DCM', 'DCM', 'DICOM', 'urn:oid:1.2.840.10008.2.16.4', '1.2.840.10008.2.16.4'],
  ['http://snomed.info/sct', 'SCT', 'SNM', 'SNOMED', 'urn:oid:2.16.840.1.113883.6.96', '2.16.840.1.113883.6.96'],
  ['http://terminology.hl7.org/CodeSystem/v3-ActCode', 'ActCode', 'urn:oid:2.16.840.1.113883.5.4', '2.16.840.1.113883.5.4'],
];
const SYSTEM_NAME = new Map(SYSTEM_ALIASES.flatMap((names) => names.map((n) => [norm(n), norm(names[0]!)] as const)));

/** The one name of a code system (its FHIR URI where known), upper-cased for comparison. */
export function canonicalSystem(system: string): string {
  return SYSTEM_NAME.get(norm(system)) ?? norm(system);
}

/** A code's shape: digits as 9, letters as A (0042T → 9999A), so that ranges compare like with like. */
export function codeShape(code: string): string {
  return code.replace(/[0-9]/g, '9').replace(/[A-Z]/gi, 'A');
}

/**
 * Reads `70450-70498` or `0042T-0045T` as a range: two codes of one shape (at least three
 * characters, digits and letters only). Anything else is one code (LOINC `30746-2` included).
 */
export function parseRange(source: string): { from: string; to: string; shape: string } | undefined {
  const m = /^([0-9A-Z]{3,})-([0-9A-Z]{3,})$/.exec(norm(source));
  if (!m) return undefined;
  const [, from = '', to = ''] = m;
  const shape = codeShape(from);
  if (shape !== codeShape(to) || !/9/.test(shape)) return undefined;
  return { from, to, shape };
}

const inRange = (r: NonNullable<CrosswalkRow['range']>, code: string) => codeShape(code) === r.shape && code >= r.from && code <= r.to;
const sameQualifiers = (a: CrosswalkRow, b: CrosswalkRow) => norm(a.facility) === norm(b.facility) && canonicalSystem(a.system) === canonicalSystem(b.system);

export function parseCrosswalk(name: string, file: string, text: string): { crosswalk?: Crosswalk; problems: Problem[] } {
  const table = readCsvTable(file, text);
  if ('problem' in table) return { problems: [table.problem] };
  const problems: Problem[] = [];
  for (const col of ['source', 'acr_code']) {
    if (!table.header.includes(col)) problems.push(tableProblem(file, 1, `the header must have a "${col}" column`));
  }
  if (problems.length > 0) return { problems };
  const rows = new Map<string, CrosswalkRow[]>();
  const ranges: CrosswalkRow[] = [];
  const systems = new Set<string>();
  for (const { cells, line } of table.rows) {
    const source = cells.source ?? '';
    if (source === '') {
      problems.push(tableProblem(file, line, 'empty source code'));
      continue;
    }
    const base = { source, acrCode: cells.acr_code ?? '', facility: cells.facility ?? '', system: cells.system ?? '', line };
    if (base.system !== '') systems.add(canonicalSystem(base.system));
    const range = parseRange(source);
    if (range) {
      if (range.from > range.to) {
        problems.push(tableProblem(file, line, `range "${source}" runs backwards (${range.from} comes after ${range.to})`));
        continue;
      }
      const row: CrosswalkRow = { ...base, range };
      const clash = ranges.find((r) => sameQualifiers(r, row) && r.range!.shape === range.shape && r.range!.from <= range.to && range.from <= r.range!.to);
      if (clash) {
        problems.push(tableProblem(file, line, `range "${source}" overlaps range "${clash.source}" on line ${clash.line}`));
        continue;
      }
      ranges.push(row);
      continue;
    }
    const row: CrosswalkRow = base;
    const list = rows.get(norm(source)) ?? [];
    const twin = list.find((r) => sameQualifiers(r, row));
    if (twin) {
      if (twin.acrCode !== row.acrCode) {
        problems.push(tableProblem(file, line, `"${source}" is already mapped to "${twin.acrCode}" on line ${twin.line}; this row says "${row.acrCode}"`));
      }
      continue;
    }
    list.push(row);
    rows.set(norm(source), list);
  }
  return { crosswalk: { name, file, rows, ranges, systems }, problems };
}

// facility 8; system named and equal 4, row without system 2, value without system 1; exact +0.5.
// So a facility's range beats a plain exact row, a value without a system prefers rows without
// one, and at equal qualifiers an exact row wins over a range.
function score(r: CrosswalkRow, ctx: CrosswalkContext): number {
  const f = r.facility === '' ? 0 : norm(r.facility) === norm(ctx.facility ?? '') ? 8 : -1;
  const given = (ctx.system ?? '').trim();
  const s = r.system === '' ? 2 : given === '' ? 1 : canonicalSystem(r.system) === canonicalSystem(given) ? 4 : -1;
  if (f < 0 || s < 0) return -1;
  return f + s + (r.range ? 0 : 0.5);
}

/** The row for `source`, preferring rows that name the facility and system, then exact rows over ranges. */
export function lookup(cw: Crosswalk, source: string, ctx: CrosswalkContext = {}): CrosswalkRow | undefined {
  const code = norm(source);
  const candidates = [...(cw.rows.get(code) ?? []), ...cw.ranges.filter((r) => inRange(r.range!, code))];
  let best: CrosswalkRow | undefined;
  let bestScore = -1;
  for (const r of candidates) {
    const sc = score(r, ctx);
    if (sc > bestScore) {
      best = r;
      bestScore = sc;
    }
  }
  return best;
}

/** Does the crosswalk map codes of this system? A blank system is everyone's; so is any system when no row names one. */
export function knowsSystem(cw: Crosswalk, system: string | undefined): boolean {
  return system === undefined || system.trim() === '' || cw.systems.size === 0 || cw.systems.has(canonicalSystem(system));
}

/** Every row of the crosswalk, in file order. */
export function allRows(cw: Crosswalk): CrosswalkRow[] {
  return [...[...cw.rows.values()].flat(), ...cw.ranges].sort((a, b) => a.line - b.line);
}
