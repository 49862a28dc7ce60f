// `cdsr-adapter validate FILE.json`: the local NRDR validator on a transaction file, streamed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadFieldLimits } from '../cdsr/field-limits.js';
import { formatLocation, hasErrors, type Problem } from '../cdsr/problem.js';
import { validateTransactionFile, type StreamValidationResult } from '../cdsr/validate-stream.js';
import { loadValueSets } from '../cdsr/valuesets.js';
import { loadSiteRules } from '../cdsr/site-rules.js';
import { facilityTimeZones, parseFacilities } from '../mapping/facilities.js';
import { SHIPPED_MAPPINGS_DIR } from '../paths.js';
import { renderTable } from './table.js';

export interface ValidateCliOptions {
  readonly valuesets?: string;
  readonly limits?: string;
  readonly rules?: string;
  readonly timezone?: string;
  readonly json?: boolean;
  readonly maxProblems?: number;
  readonly now?: Date;
}

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly mappingsDir: string;
  readonly progress: boolean;
}

export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_UNREADABLE = 2;

/** The mappings directory to read tables from: the configured one if present, else the shipped one. */
export function resolveMappingsDir(configured: string): string {
  return existsSync(configured) ? configured : SHIPPED_MAPPINGS_DIR;
}

export async function runValidate(file: string, opts: ValidateCliOptions, io: CliIo): Promise<number> {
  const mappings = resolveMappingsDir(io.mappingsDir);
  const valueSetDir = opts.valuesets ?? join(mappings, 'valuesets');
  const limitsFile = opts.limits ?? join(mappings, 'field-limits.csv');
  const rulesFile = opts.rules ?? join(mappings, 'site-rules.csv');
  const facilitiesFile = join(mappings, 'facilities.csv');
  const vs = loadValueSets(valueSetDir);
  const limits = loadFieldLimits(limitsFile);
  const siteRules = loadSiteRules(rulesFile);
  const tableProblems = [...vs.problems, ...limits.problems, ...siteRules.problems];
  // "now" for values without an offset: --timezone, else the facility's facilities.csv zone, else
  // the UTC+14 grace (the file does not say in which zone it was written)
  let zones: { timeZone: string } | { timeZoneOf: (facilityId: string) => string | undefined } | Record<string, never> = {};
  if (opts.timezone !== undefined) zones = { timeZone: opts.timezone };
  else if (existsSync(facilitiesFile)) {
    const fac = parseFacilities(facilitiesFile, readFileSync(facilitiesFile, 'utf8'));
    tableProblems.push(...fac.problems);
    const zoneOf = facilityTimeZones(fac.facilities, '');
    zones = { timeZoneOf: (facilityId: string) => zoneOf(facilityId) || undefined };
  }
  if (tableProblems.length > 0) {
    report({ problems: tableProblems, omitted: 0, encounters: 0, consultations: 0, notJson: false }, file, opts, io);
    return EXIT_UNREADABLE;
  }
  if (!existsSync(file) || !statSync(file).isFile()) {
    const p: Problem = { code: 'FILE_READ', message: 'no such file', severity: 'error', scope: 'file', path: '', file };
    report({ problems: [p], omitted: 0, encounters: 0, consultations: 0, notJson: true }, file, opts, io);
    return EXIT_UNREADABLE;
  }
  const started = Date.now();
  let lastShown = 0;
  const result = await validateTransactionFile(file, {
    now: opts.now ?? new Date(),
    valueSets: vs.catalog,
    fieldLimits: limits.overrides,
    siteRules: siteRules.rules,
    ...zones,
    ...(opts.maxProblems !== undefined ? { maxProblems: opts.maxProblems } : {}),
    ...(io.progress
      ? {
          onProgress: (n: number) => {
            const t = Date.now();
            if (t - lastShown > 500) {
              lastShown = t;
              io.err(`\r${n} encounters checked (${((t - started) / 1000).toFixed(1)} s)`);
            }
          },
        }
      : {}),
  });
  if (io.progress && lastShown > 0) io.err('\n');
  if (!opts.json) {
    io.out(
      `${file}: ${result.encounters} encounter(s), ${result.consultations} consultation(s); ` + `value sets from ${valueSetDir} (${vs.catalog.size} file(s))\n`,
    );
  }
  report(result, file, opts, io);
  if (result.notJson) return EXIT_UNREADABLE;
  return hasErrors(result.problems) ? EXIT_PROBLEMS : EXIT_OK;
}

function report(result: StreamValidationResult, file: string, opts: ValidateCliOptions, io: CliIo): void {
  if (opts.json) {
    io.out(
      JSON.stringify({
        file,
        encounters: result.encounters,
        consultations: result.consultations,
        problems: result.problems,
        omitted: result.omitted,
      }) + '\n',
    );
    return;
  }
  const { problems } = result;
  if (problems.length > 0) {
    const rows = problems.map((p) => [
      p.code,
      p.severity,
      formatLocation(p) || p.path || '(transaction)',
      p.encounterId ?? '',
      p.consultationKey ?? '',
      p.message,
    ]);
    io.out(renderTable(['CODE', 'SEVERITY', 'WHERE', 'ENCOUNTER', 'CONSULTATION', 'MESSAGE'], rows));
  }
  const errors = problems.filter((p) => p.severity === 'error').length;
  const more = result.omitted > 0 ? ` (+${result.omitted} more not shown)` : '';
  io.out(problems.length === 0 ? 'no problems\n' : `${errors} error(s), ${problems.length - errors} warning(s)${more}\n`);
}
