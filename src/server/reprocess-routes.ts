// Reprocessing through the API (operator; access-audited): a selection of stored messages mapped
// again through the tables in force and their encounters re-derived, as a preview (the default)
// or applied; runs go on in the background, GET follows their progress and lists the changes.
import { AdapterError } from '../cdsr/errors.js';
import type { FastifyInstance } from 'fastify';
import type { Reprocessor } from '../inbound/reprocessor.js';
import { ReprocessSelectionSchema, type ReprocessSelection } from '../store/reprocess-runs.js';
import type { ReprocessRun } from '../store/store.js';
import type { AppOptions } from './app.js';
import { BadRequestError, intParam, limitParam } from './query.js';
import { anyValue, arr, bool, dict, errorAnswer, int, nullable, obj, params, query, route, str } from './schema.js';

const SELECTION_DOC =
  'facility, encounter (Unique_Encounter_ID), order (any number), sender, channel, status (any, applied included), from / to (received, ISO), held (incomplete or invalid records, results waiting for their order, the error queue), messageIds, or all: true';

const RUN = obj({
  id: int('the run'),
  apply: bool('false: a preview (dry run) that changed nothing'),
  status: str('running, done or failed'),
  who: str('the key that asked'),
  selection: anyValue('the selection'),
  total: int('units (encounters, or lone messages) selected'),
  done: int('units done'),
  summary: obj({
    units: int('units done'),
    unchanged: int('consultations unchanged'),
    byChange: dict(int('count')),
    resend: int('sent before, sent again'),
    retractions: int('to retract at NRDR'),
    messages: dict(int('count')),
    skipped: arr(str('unit: why')),
  }),
  tables: str('the tables in force when it started'),
  error: nullable(str('why it failed')),
  createdAt: str('ISO'),
  updatedAt: str('ISO'),
});
const CHANGE = obj({
  encounterKey: str('facility|encounter'),
  consultationKey: str('date time'),
  change: str('added, removed, retracted or changed'),
  stateBefore: str('record state before'),
  stateAfter: str('record state after'),
  fields: arr(obj({ field: str('CDSR field'), before: str('value sent before (absent: none)'), after: str('value after (absent: none)') })),
  resend: bool('it was sent to NRDR and will be sent again'),
  retraction: bool('NRDR may hold it under a key or content no longer right: the site retracts it there'),
});

const view = (r: ReprocessRun) => ({ ...r, error: r.error ?? null });

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

export function registerReprocessRoutes(app: FastifyInstance, deps: AppOptions & { reprocessor: Reprocessor }): void {
  app.post<{ Body: string | undefined }>(
    '/api/reprocess',
    route({
      summary:
        'map stored messages again through the tables in force and re-derive their records: a preview by default, applied with "apply": true (operator; access-audited)',
      tags: ['messages'],
      bodyDoc: obj(
        { apply: bool('apply the change (default: a preview that writes nothing but the run)'), preview: int('apply the selection of this earlier preview') },
        SELECTION_DOC,
      ),
      response: { 202: obj({ run: RUN }), 400: errorAnswer, 404: errorAnswer },
    }),
    async (req, reply) => {
      const body = jsonBody(req.body);
      let selection: ReprocessSelection;
      let apply = body['apply'] === true;
      if (body['preview'] !== undefined) {
        const id = typeof body['preview'] === 'number' ? body['preview'] : NaN;
        const earlier = await previewToApply(deps, id, JSON.stringify(body['preview']));
        if ('error' in earlier) throw new AdapterError(earlier.code === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', earlier.error, { details: { field: 'preview' } });
        selection = earlier.selection;
        apply = true;
      } else selection = selectionOf(body);
      const who = req.authKey || 'open';
      const run = await deps.reprocessor.start(selection, { apply, who });
      await deps.store.audit({ at: deps.clock(), who, what: `reprocess run ${run.id} (${apply ? 'apply' : 'preview'}): ${JSON.stringify(selection)}` });
      req.log.info({ event: 'reprocess_started', run: run.id, apply, units: run.total }, 'reprocessing run started');
      return reply.code(202).send({ run: view(run) });
    },
  );

  app.get<{ Querystring: { limit?: string } }>(
    '/api/reprocess',
    route({
      summary: 'reprocessing runs, newest first (operator)',
      tags: ['messages'],
      querystring: query({ limit: 'at most this many (default 50)' }),
      response: { 200: obj({ runs: arr(RUN) }), 400: errorAnswer },
    }),
    async (req) => ({ runs: (await deps.store.reprocessRuns({ limit: limitParam(req.query.limit) })).map(view) }),
  );

  app.get<{ Params: { id: string }; Querystring: { after?: string; limit?: string } }>(
    '/api/reprocess/:id',
    route({
      summary: 'one reprocessing run: its progress and the consultations it changed or would change, field by field (operator; access-audited)',
      tags: ['messages'],
      params: params({ id: 'the run' }),
      querystring: query({ after: 'the `next` of the previous page of changes', limit: 'changes per page (default 100)' }),
      response: { 200: obj({ run: RUN, changes: arr(CHANGE), next: nullable(str('cursor of the next page of changes')) }), 400: errorAnswer, 404: errorAnswer },
    }),
    async (req) => {
      const id = intParam(req.params.id, 'id', { min: 1, max: Number.MAX_SAFE_INTEGER, fallback: 0 });
      const run = id > 0 ? await deps.store.reprocessRun(id) : undefined;
      if (!run) throw new AdapterError('NOT_FOUND', 'no such reprocessing run');
      const limit = limitParam(req.query.limit);
      const after = intParam(req.query.after, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 });
      const page = await deps.store.reprocessChanges(run.id, { after, limit: limit + 1 });
      const items = page.slice(0, limit);
      await deps.store.audit({ at: deps.clock(), who: req.authKey || 'open', what: `reprocess run ${run.id} changes` });
      return { run: view(run), changes: items.map((c) => c.change), next: page.length > limit ? String(items[items.length - 1]!.id) : null };
    },
  );
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

/** The body as a JSON object (JSON bodies reach routes as text: the FHIR routes read their own). */
function jsonBody(text: string | undefined): Record<string, unknown> {
  if (text === undefined || text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch {
    throw new AdapterError('JSON_SYNTAX', 'the body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequestError('the body must be a JSON object (the selection)');
  return v as Record<string, unknown>;
}

/** What names the tables in force in a run: a preview is applied only while they are the same. */
export function tablesLabel(deps: Pick<AppOptions, 'mappings'>): string {
  return `${deps.mappings.dir} generation ${deps.mappings.generation}`;
}
