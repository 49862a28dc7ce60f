// The analyst's API: the unmapped-code worklist, the dry run of the error queue against the
// tables on disk, and one stored message with its raw text (operators only; every read audited).
import { AdapterError } from '../cdsr/errors.js';
import type { FastifyInstance } from 'fastify';
import { buildWorklist } from '../inbound/worklist.js';
import type { AppOptions } from './deps.js';
import { onlyParams } from './query.js';
import { dryRunOnDisk } from './use-cases/dry-run.js';
import { workTakesLong } from './long-request.js';
import { MESSAGE_ROW } from './answers.js';
import { arr, bool, dict, errorAnswer, int, nullable, obj, params, route, str, type JsonSchema } from './schema.js';

const WORKLIST_ROW = obj({
  field: str('the CDSR field'),
  table: str('the crosswalk that needs a row (relative to the mappings directory); for a value outside a value set, the row or rule that gave it (file:line)'),
  value: str('the source value no row maps'),
  facilityId: nullable(str('the facility it was read for')),
  system: nullable(str('its code system, when the rule names one')),
  count: int('messages in the error queue waiting for it'),
  firstSeen: str('first received'),
  lastSeen: str('last received'),
  examples: arr(int('a message id')),
  stub: str('a CSV row to paste into the table (fill in the ACR code); empty when `fix` says what to do instead'),
  fix: str(
    "for a mapped value outside ACR's value set (MAP_NOT_IN_VALUESET): the crosswalk row or rule to change; for a sending facility facilities.csv has now: nothing to add, replay; absent otherwise",
  ),
  folded: str(
    'messages read while their sending facility was unknown, counted in this row of the facility facilities.csv gives them now: how many and why; absent when none',
  ),
});
const GUESS_ROW = obj({
  field: str('the CDSR field'),
  rule: str('the table rule that guessed (file:line, relative to the mappings directory)'),
  guess: str('why the value is a guess: a later candidate or alternative, a default, or the reason the table gives'),
  count: int('values held in records now'),
  examples: arr(str('a source message control id or FHIR resource id')),
});
const WORKLIST_PROPS = {
  rows: arr(WORKLIST_ROW),
  messages: int('messages in the error queue'),
  otherProblems: dict(int('messages'), 'error-queue messages no table row would fix, by problem code'),
};
const WORKLIST = obj(WORKLIST_PROPS);
/** The worklist proper adds where the tables guessed (the dry run's remaining part has no records to read). */
const WORKLIST_WITH_GUESSES = obj({ ...WORKLIST_PROPS, guesses: arr(GUESS_ROW, 'values of the records the tables guessed, by field, rule and reason') });

export function registerWorkbenchRoutes(app: FastifyInstance, deps: AppOptions): void {
  app.get(
    '/api/worklist',
    route('operate', {
      summary: 'the unmapped values of the error queue, grouped by field, table and value, with a CSV stub each (operator)',
      tags: ['worklist'],
      response: { 200: WORKLIST_WITH_GUESSES },
    }),
    async (req) => {
      onlyParams(req.query, []);
      return buildWorklist(deps.store, deps.mappings.dir, deps.mappings.current.facilities);
    },
  );

  app.post(
    '/api/worklist/dry-run',
    route('operate', {
      summary: 'map the error queue again through the tables on disk and count what would resolve; nothing is stored (operator)',
      tags: ['worklist'],
      response: {
        200: obj({
          tablesLoad: bool('the tables on disk load'),
          problems: arr(str('file:line: message')),
          messages: int('messages tried'),
          wouldResolve: int('would be applied'),
          stillError: int('would stay in the error queue'),
          waitingForFetch: int('would wait for a FHIR fetch'),
          remaining: WORKLIST,
        }),
      },
    }),
    async (req) => {
      onlyParams(req.query, []);
      workTakesLong(req);
      return dryRunOnDisk(deps);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/messages/:id',
    route('operate', {
      summary: 'one stored message with its raw text (operator; the read is written to the access audit)',
      tags: ['messages'],
      params: params({ id: 'the message id' }),
      response: {
        200: obj({ ...(MESSAGE_ROW.properties as Record<string, JsonSchema>), raw: nullable(str('the message as received (null once purged by retention)')) }),
        404: errorAnswer,
      },
    }),
    async (req) => {
      onlyParams(req.query, []);
      const id = /^\d+$/.test(req.params.id) ? Number(req.params.id) : Number.NaN;
      const m = Number.isSafeInteger(id) ? await deps.store.message(id) : undefined;
      if (!m) throw new AdapterError('NOT_FOUND', 'no such message');
      await deps.store.audit({ at: deps.clock(), who: req.authKey || 'open', what: `message ${m.id}` });
      return m;
    },
  );
}
