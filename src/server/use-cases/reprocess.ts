// Reprocessing, as the API (/api/reprocess) and the console's Reprocess pages both do it: the
// selection read from a request, a finished preview applied as it was, a run started on the
// service's one lane and written to the access audit.
import type { Reprocessor } from '../../inbound/reprocessor.js';
import { ReprocessSelectionSchema, type ReprocessSelection } from '../../store/reprocess-runs.js';
import type { ReprocessRun } from '../../store/store.js';
import type { AppOptions } from '../deps.js';
import { BadRequestError } from '../query.js';

export const SELECTION_DOC =
  'facility, encounter (Unique_Encounter_ID), order (any number), sender, channel, status (any, applied included), from / to (received, ISO), held (incomplete or invalid records, results waiting for their order, the error queue), messageIds, or all: true';

/** A selection from a request body: every filter checked (a misspelt one is refused, naming it), at least one given. */
export function selectionOf(body: unknown): ReprocessSelection {
  const raw = typeof body === 'object' && body !== null ? { ...(body as Record<string, unknown>) } : {};
  delete raw['apply'];
  delete raw['preview'];
  const r = ReprocessSelectionSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    const where = i?.path.join('.') || (i && 'keys' in i ? i.keys.join(', ') : '');
    throw new BadRequestError(`selection: ${where ? `${where}: ` : ''}${i?.message ?? 'not understood'} (one of ${SELECTION_DOC})`, where || undefined);
  }
  const s = r.data;
  const { keepSent: _keep, ...filters } = s;
  if (Object.keys(filters).length === 0 || (s.all === false && Object.keys(filters).length === 1))
    throw new BadRequestError(`selection: say what to reprocess (${SELECTION_DOC})`);
  return s;
}

/**
 * The selection of a finished preview, to apply as it is: refused (with why) when the run is not a
 * finished preview or the tables changed since (the preview would no longer say what happens).
 * Shared by the API and the console's "Apply this preview".
 */
export async function previewToApply(
  deps: Pick<AppOptions, 'store' | 'mappings'>,
  id: number,
  asked = String(id),
): Promise<{ selection: ReprocessSelection } | { code: 400 | 404; error: string }> {
  const earlier = Number.isSafeInteger(id) ? await deps.store.reprocessRun(id) : undefined;
  if (!earlier) return { code: 404, error: `no reprocessing run ${asked}` };
  if (earlier.apply || earlier.status !== 'done') return { code: 400, error: `run ${earlier.id} is not a finished preview` };
  if (earlier.tables !== tablesLabel(deps))
    return { code: 400, error: `the tables changed since preview ${earlier.id} (now generation ${deps.mappings.generation}): preview again` };
  return { selection: earlier.selection };
}

/** A run started on the service's one lane and written to the access audit (the caller logs it). */
export async function startReprocess(
  deps: Pick<AppOptions, 'store' | 'clock'> & { readonly reprocessor: Reprocessor },
  selection: ReprocessSelection,
  opts: { apply: boolean; who: string },
): Promise<ReprocessRun> {
  const run = await deps.reprocessor.start(selection, opts);
  await deps.store.audit({
    at: deps.clock(),
    who: opts.who,
    what: `reprocess run ${run.id} (${opts.apply ? 'apply' : 'preview'}): ${JSON.stringify(selection)}`,
  });
  return run;
}

/** What names the tables in force in a run: a preview is applied only while they are the same. */
export function tablesLabel(deps: Pick<AppOptions, 'mappings'>): string {
  return `${deps.mappings.dir} generation ${deps.mappings.generation}`;
}
