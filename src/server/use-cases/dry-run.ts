// The dry run of the error queue against the tables on disk (nothing stored). Called by the API
// (POST /api/worklist/dry-run) and the console's worklist page.
import { formatProblemLine } from '../../cdsr/problem.js';
import { dryRunErrorQueue } from '../../inbound/dry-run.js';
import { loadMappings } from '../../mapping/load.js';
import type { FastifyRequest } from 'fastify';
import type { AppOptions } from '../deps.js';

/**
 * The connection of a request whose work may take minutes (the dry run of a long error queue) is
 * not closed as idle while it is done: CDSR_HTTP_REQUEST_TIMEOUT_S bounds the time a request takes
 * to arrive, and the same idle timeout of the socket would otherwise cut the answer (at 30 s by
 * default; a dry run of 100,000 messages on a busy machine takes longer). Node sets the
 * keep-alive timeout on the connection again once the answer is sent.
 */
export function workTakesLong(req: FastifyRequest): void {
  // a request injected in-process (the tests' app.inject) has no real socket
  const socket = req.raw.socket as Partial<Pick<typeof req.raw.socket, 'setTimeout'>> | undefined;
  if (typeof socket?.setTimeout === 'function') socket.setTimeout(0);
}

/** The dry run, or why the tables on disk cannot be loaded (file:line problems). */
export async function dryRunOnDisk(deps: Pick<AppOptions, 'mappings' | 'store' | 'defaultFacilityId' | 'mapPool'>) {
  const loaded = loadMappings(deps.mappings.dir);
  if (!loaded.tables) return { tablesLoad: false as const, problems: loaded.problems.map(formatProblemLine) };
  return { tablesLoad: true as const, ...(await dryRunErrorQueue(deps.store, loaded.tables, deps.defaultFacilityId, deps.mapPool)) };
}
