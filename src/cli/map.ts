// `cdsr-adapter map FILE...`.
import { formatProblemLine, hasErrors, type Problem } from '../cdsr/problem.js';
import { loadMappings } from '../mapping/load.js';
import { mapFiles } from '../mapping/map-files.js';
import type { CliIo } from './validate.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, resolveMappingsDir } from './validate.js';

export interface MapCliOptions {
  readonly mappings?: string;
  readonly trace?: boolean;
  readonly facilityId?: string;
  readonly now?: Date;
}

export interface MapDefaults {
  readonly defaultFacilityId?: string;
  readonly partnerId: string;
  readonly appId: string;
  readonly maxEncounters: number;
  readonly timeZone?: string;
}

function tableLines(problems: readonly Problem[]): string {
  return problems.map((p) => `${formatProblemLine(p)}\n`).join('');
}

export function runMap(files: readonly string[], opts: MapCliOptions, defaults: MapDefaults, io: CliIo): number {
  const dir = opts.mappings ?? resolveMappingsDir(io.mappingsDir);
  const loaded = loadMappings(dir);
  if (!loaded.tables) {
    io.err(`cdsr-adapter: the mapping tables in ${dir} are not usable:\n${tableLines(loaded.problems)}`);
    return EXIT_UNREADABLE;
  }
  const facilityId = opts.facilityId ?? defaults.defaultFacilityId;
  const result = mapFiles(files, {
    tables: loaded.tables,
    defaultFacilityId: facilityId,
    partnerId: defaults.partnerId,
    appId: defaults.appId,
    maxEncounters: defaults.maxEncounters,
    now: opts.now ?? new Date(),
    ...(defaults.timeZone !== undefined ? { timeZone: defaults.timeZone } : {}),
  });
  const out: Record<string, unknown> = { transactions: result.transactions, problems: result.problems };
  if (opts.trace) out.trace = result.inputs;
  io.out(JSON.stringify(out, null, 2) + '\n');
  return hasErrors(result.problems) ? EXIT_PROBLEMS : EXIT_OK;
}
