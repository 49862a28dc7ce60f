// The analyst's API: the unmapped-code worklist, the dry run of the error queue against the
// tables on disk, and one stored message with its raw text (operators only; every read audited).
import type { FastifyInstance } from 'fastify';
import { formatProblemLine } from '../cdsr/problem.js';
import { dryRunErrorQueue } from '../inbound/dry-run.js';
import { buildWorklist } from '../inbound/worklist.js';
import { loadMappings } from '../mapping/load.js';
import type { AppOptions } from './app.js';
import { onlyParams } from './query.js';

/** The dry run, or why the tables on disk cannot be loaded (file:line problems). */
export async function dryRunOnDisk(deps: AppOptions) {
  const loaded = loadMappings(deps.mappings.dir);
  if (!loaded.tables) return { tablesLoad: false as const, problems: loaded.problems.map(formatProblemLine) };
  return { tablesLoad: true as const, ...(await dryRunErrorQueue(deps.store, loaded.tables, deps.defaultFacilityId)) };
}

export function registerWorkbenchRoutes(app: FastifyInstance, deps: AppOptions): void {
  app.get('/api/worklist', async (req) => {
    onlyParams(req.query, []);
    return buildWorklist(deps.store, deps.mappings.dir);
  });

  app.post('/api/worklist/dry-run', async (req) => {
    onlyParams(req.query, []);
    return dryRunOnDisk(deps);
  });

  app.get<{ Params: { id: string } }>('/api/messages/:id', async (req, reply) => {
    onlyParams(req.query, []);
    const id = /^\d+$/.test(req.params.id) ? Number(req.params.id) : Number.NaN;
    const m = Number.isSafeInteger(id) ? await deps.store.message(id) : undefined;
    if (!m) return reply.code(404).send({ error: 'no such message' });
    await deps.store.audit({ at: deps.clock(), who: req.authKey || 'open', what: `message ${m.id}` });
    return m;
  });
}
