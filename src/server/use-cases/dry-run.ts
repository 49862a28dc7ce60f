// The dry run of the error queue against the tables on disk (nothing stored). Called by the API
// (POST /api/worklist/dry-run) and the console's worklist page.
import { formatProblemLine } from '../../cdsr/problem.js';
import { dryRunErrorQueue } from '../../inbound/dry-run.js';
import { loadMappings } from '../../mapping/load.js';
import type { AppOptions } from '../deps.js';

/** The dry run, or why the tables on disk cannot be loaded (file:line problems). */
export async function dryRunOnDisk(deps: Pick<AppOptions, 'mappings' | 'store' | 'defaultFacilityId' | 'mapPool'>) {
  const loaded = loadMappings(deps.mappings.dir);
  if (!loaded.tables) return { tablesLoad: false as const, problems: loaded.problems.map(formatProblemLine) };
  return { tablesLoad: true as const, ...(await dryRunErrorQueue(deps.store, loaded.tables, deps.defaultFacilityId, deps.mapPool)) };
}
