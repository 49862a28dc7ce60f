// facilities.csv: the sending facility as a message names it (MSH-4, a FHIR Organization or
// Location identifier) → ACR Facility_ID, and the PartnerID to report it under when a site
// reports for several partners.
import { readCsvTable, tableProblem } from '../cdsr/csv-table.js';
import type { Problem } from '../cdsr/problem.js';
import { isTimeZone } from '../cdsr/batch.js';

export interface FacilityRow {
  readonly source: string;
  readonly facilityId: string;
  readonly partnerId: string;
  /** The IANA time zone of the facility ('' = CDSR_TIMEZONE): NRDR reads its times as local. */
  readonly timezone: string;
  /** Where the row is: the table file and its 1-based line. */
  readonly file: string;
  readonly line: number;
}

export type FacilityTable = ReadonlyMap<string, FacilityRow>;

const norm = (s: string) => s.trim().toUpperCase();

export function parseFacilities(file: string, text: string): { facilities: FacilityTable; problems: Problem[] } {
  const facilities = new Map<string, FacilityRow>();
  const table = readCsvTable(file, text);
  if ('problem' in table) return { facilities, problems: [table.problem] };
  const problems: Problem[] = [];
  for (const col of ['source', 'facility_id']) {
    if (!table.header.includes(col)) problems.push(tableProblem(file, 1, `the header must have a "${col}" column`));
  }
  if (problems.length > 0) return { facilities, problems };
  for (const { cells, line } of table.rows) {
    const row: FacilityRow = {
      source: cells.source ?? '',
      facilityId: cells.facility_id ?? '',
      partnerId: cells.partner_id ?? '',
      timezone: (cells.timezone ?? '').trim(),
      file,
      line,
    };
    if (row.source === '' || row.facilityId === '') {
      problems.push(tableProblem(file, line, 'source and facility_id must both be filled'));
      continue;
    }
    if (row.timezone !== '' && !isTimeZone(row.timezone)) {
      problems.push(tableProblem(file, line, `timezone "${row.timezone}" is not an IANA time zone such as America/Chicago`));
      continue;
    }
    const twin = facilities.get(norm(row.source));
    if (twin && (twin.facilityId !== row.facilityId || twin.partnerId !== row.partnerId)) {
      problems.push(tableProblem(file, line, `"${row.source}" is already mapped to facility ${twin.facilityId} on line ${twin.line}`));
      continue;
    }
    facilities.set(norm(row.source), row);
  }
  return { facilities, problems };
}

export function findFacility(table: FacilityTable, source: string): FacilityRow | undefined {
  return table.get(norm(source));
}

/** The time zone of each Facility_ID: its facilities.csv row's, else `fallback`. */
export function facilityTimeZones(table: FacilityTable, fallback: string): (facilityId: string) => string {
  const zones = new Map<string, string>();
  for (const row of table.values()) if (row.timezone !== '' && !zones.has(row.facilityId)) zones.set(row.facilityId, row.timezone);
  return (facilityId) => zones.get(facilityId) ?? fallback;
}
