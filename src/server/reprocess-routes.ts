// Reprocessing through the API (operator; access-audited): a selection of stored messages mapped
// again through the tables in force and their encounters re-derived, as a preview (the default)
// or applied; runs go on in the background, GET follows their progress and lists the changes.
import { AdapterError } from '../cdsr/errors.js';
import type { FastifyInstance } from 'fastify';
import type { Reprocessor } from '../inbound/reprocessor.js';
import type { ReprocessSelection } from '../store/reprocess-runs.js';
import type { ReprocessRun } from '../store/store.js';
import type { AppOptions } from './deps.js';
import { BadRequestError, intParam, limitParam } from './query.js';
import { previewToApply, SELECTION_DOC, selectionOf, startReprocess } from './use-cases/reprocess.js';
import { anyValue, arr, bool, dict, errorAnswer, int, nullable, obj, params, query, route, str } from './schema.js';

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

export function registerReprocessRoutes(app: FastifyInstance, deps: AppOptions & { reprocessor: Reprocessor }): void {
  app.post<{ Body: string | undefined }>(
    '/api/reprocess',
    route('operate', {
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
      const run = await startReprocess(deps, selection, { apply, who });
      req.log.info({ event: 'reprocess_started', run: run.id, apply, units: run.total }, 'reprocessing run started');
      return reply.code(202).send({ run: view(run) });
    },
  );

  app.get<{ Querystring: { limit?: string } }>(
    '/api/reprocess',
    route('operate', {
      summary: 'reprocessing runs, newest first (operator)',
      tags: ['messages'],
      querystring: query({ limit: 'at most this many (default 50)' }),
      response: { 200: obj({ runs: arr(RUN) }), 400: errorAnswer },
    }),
    async (req) => ({ runs: (await deps.store.reprocessRuns({ limit: limitParam(req.query.limit) })).map(view) }),
  );

  app.get<{ Params: { id: string }; Querystring: { after?: string; limit?: string } }>(
    '/api/reprocess/:id',
    route('operate', {
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
