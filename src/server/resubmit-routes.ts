// Resubmission after a fix at ACR (a facility's registration, say): the rejected records of one
// encounter or of a facility go back to `ready` and are sent in the next round. Operator calls,
// access-audited; each record keeps the change in its history (GET /api/records/{f}/{e}).
import { AdapterError } from '../cdsr/errors.js';
import type { FastifyInstance } from 'fastify';
import type { AppOptions } from './deps.js';
import { BadRequestError } from './query.js';
import { reasonOf, resubmitEncounter } from './use-cases/resubmit.js';
import { arr, errorAnswer, int, nullable, obj, params, query, route, str } from './schema.js';

const ANSWER = obj(
  {
    resubmitted: int('records put back to ready'),
    records: arr(
      obj({ encounterKey: str('facility|encounter'), consultationKey: str('date time'), transactionId: nullable(str('the transaction NRDR rejected it in')) }),
    ),
  },
  'the records put back to ready (they go in the next submission round)',
);

export function registerResubmitRoutes(app: FastifyInstance, deps: AppOptions): void {
  app.post<{ Params: { facilityId: string; encounterId: string }; Querystring: { reason?: string } }>(
    '/api/records/:facilityId/:encounterId/resubmit',
    route('operate', {
      summary: "send an encounter's rejected records again (operator; access-audited)",
      tags: ['records'],
      params: params({ facilityId: 'Facility_ID', encounterId: 'Unique_Encounter_ID' }),
      querystring: query({ reason: 'why (kept in the record history), e.g. "facility registered at ACR"' }),
      response: { 200: ANSWER, 404: errorAnswer },
    }),
    async (req) => {
      const records = await resubmitEncounter(deps, req.params.facilityId, req.params.encounterId, req.authKey || 'open', req.query.reason);
      if (!records) throw new AdapterError('NOT_FOUND', 'no such encounter');
      // the encounter id is patient data: the access audit names the encounter, the log does not
      req.log.info({ event: 'resubmit', facilityId: req.params.facilityId, records: records.length }, 'rejected records put back to ready');
      return { resubmitted: records.length, records };
    },
  );

  app.post<{ Querystring: { state?: string; facility?: string; reason?: string } }>(
    '/api/resubmit',
    route('operate', {
      summary: 'send the rejected records (of one facility, or all) again (operator; access-audited)',
      tags: ['records'],
      querystring: query({
        state: 'rejected (required: the state sent again)',
        facility: 'Facility_ID (default: every facility)',
        reason: 'why (kept in the record history)',
      }),
      response: { 200: ANSWER, 400: errorAnswer },
    }),
    async (req) => {
      if (req.query.state !== 'rejected') throw new BadRequestError('state must be rejected (only rejected records are sent again)', 'state');
      const facility = req.query.facility?.trim() || undefined;
      const who = req.authKey || 'open';
      const at = deps.clock();
      const records = await deps.store.resubmit(facility !== undefined ? { facility } : {}, { who, at, why: reasonOf(req.query.reason) });
      await deps.store.audit({
        at,
        who,
        what: `resubmit rejected records of ${facility !== undefined ? `facility ${facility}` : 'every facility'}: ${records.length} consultation(s)`,
      });
      req.log.info({ event: 'resubmit', facility: facility ?? null, records: records.length }, 'rejected records put back to ready');
      return { resubmitted: records.length, records };
    },
  );
}
