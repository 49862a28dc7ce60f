// The order ledger and the reconciliation: every order seen with its one state, and per facility
// and day, seen = reported + held (by reason) + excluded (by rule).
import { AdapterError } from '../cdsr/errors.js';
import type { FastifyInstance } from 'fastify';
import { encounterKey } from '../mapping/merge.js';
import { ORDER_REASONS, ORDER_STATES, RECONCILE_BY } from '../store/store.js';
import { reconciliationCsv } from '../store/ledger.js';
import { rulesFor } from '../mapping/explain.js';
import { zoneOf, type AppOptions } from './deps.js';
import { BadRequestError, dayParam, intParam, limitParam, oneOf } from './query.js';
import { SearchTooWideError } from '../store/patient-search.js';
import { arr, bool, cursorPage, dict, errorAnswer, int, obj, PAGING, params, query, route, str } from './schema.js';
import { ORDER_ROW, RECONCILIATION_ROW } from './answers.js';
import { auditListing } from './listing-audit.js';

export function registerOrderRoutes(app: FastifyInstance, deps: AppOptions): void {
  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/api/orders',
    route('view', {
      summary: 'the order ledger: every order seen, its one state and reason',
      tags: ['orders'],
      querystring: query({
        state: `one of ${ORDER_STATES.join(', ')}`,
        reason: `one of ${ORDER_REASONS.filter((r) => r !== '').join(', ')}`,
        facility: 'Facility_ID',
        encounter: 'Unique_Encounter_ID',
        order: 'any of its numbers (placer, filler/accession)',
        mrn: "the patient's MRN: the orders a message of the patient touched (HL7 PID-3.1; FHIR the identifier of the Patient it references); the search is audited, its value is not",
        from: "first day seen, YYYY-MM-DD: the facility's own day (its time zone in facilities.csv, else CDSR_TIMEZONE, else UTC), as the reconciliation counts days",
        to: "last day seen, YYYY-MM-DD (the facility's day)",
        ...PAGING,
      }),
      response: { 200: cursorPage('orders', ORDER_ROW), 400: errorAnswer },
    }),
    async (req) => {
      const q = req.query;
      const state = oneOf(q.state, 'state', ORDER_STATES);
      const reason = oneOf(q.reason, 'reason', ORDER_REASONS);
      const from = dayParam(q.from, 'from');
      const to = dayParam(q.to, 'to');
      const mrn = q.mrn?.trim();
      if (mrn) await deps.store.audit({ at: deps.clock(), who: req.authKey || 'open', what: 'orders searched by MRN' });
      const r = await deps.store
        .orders({
          ...(state ? { state } : {}),
          ...(reason !== undefined ? { reason } : {}),
          ...(q.facility ? { facility: q.facility } : {}),
          ...(q.encounter ? { encounter: q.encounter } : {}),
          ...(q.order ? { order: q.order } : {}),
          ...(mrn ? { mrn } : {}),
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          timeZoneOf: zoneOf(deps),
          after: intParam(q.after, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 }),
          limit: limitParam(q.limit),
        })
        .catch((e: unknown) => {
          // a patient with more messages than the search takes: 400 with the reason (which names no MRN)
          throw e instanceof SearchTooWideError ? new BadRequestError(e.message) : e;
        });
      // an incomplete order names where the tables look for each missing field
      const tables = deps.mappings.current;
      const orders = r.orders.map((o) => ({ ...o, missing: o.missing.map((field) => ({ field, tried: rulesFor(tables, field) })) }));
      await auditListing(deps.store, deps.clock(), req.authKey || 'open', 'orders', orders.length, q);
      return { orders, next: r.next === null ? null : String(r.next) };
    },
  );

  // an operator says the site retracted, at NRDR, a consultation cancelled after it was sent
  app.post<{ Params: { id: string } }>(
    '/api/orders/:id/acknowledge',
    route('operate', {
      summary: 'an operator says the site retracted at NRDR an order cancelled after submission (audited)',
      tags: ['orders'],
      params: params({ id: 'the order (its id in /api/orders)' }),
      response: {
        200: obj({
          order: int('the order'),
          acknowledged: obj({ by: str('the key that acknowledged'), at: str('when') }),
          already: bool('it had been acknowledged before'),
        }),
        404: errorAnswer,
        409: errorAnswer,
      },
    }),
    async (req) => {
      const id = Number(req.params.id);
      if (!/^[0-9]+$/.test(req.params.id) || !Number.isSafeInteger(id)) throw new AdapterError('NOT_FOUND', 'no such order');
      const r = await deps.store.acknowledgeRetraction(id, req.authKey || 'open', deps.clock());
      if (r.result === 'not-found') throw new AdapterError('NOT_FOUND', 'no such order');
      if (r.result === 'not-retraction')
        throw new AdapterError('NOTHING_TO_ACKNOWLEDGE', `order ${id} is not cancelled after submission (its record is ${r.state}): nothing to acknowledge`);
      return { order: id, acknowledged: { by: r.by, at: r.at }, already: r.result === 'already' };
    },
  );

  // a consultation whose key moved after NRDR had it: no order points at it any more, so it is named by its keys
  app.post<{ Params: { facilityId: string; encounterId: string }; Querystring: { consultation?: string } }>(
    '/api/records/:facilityId/:encounterId/acknowledge',
    route('operate', {
      summary: 'an operator says the site retracted at NRDR a consultation cancelled after submission, named by its key (audited)',
      tags: ['orders'],
      params: params({ facilityId: 'Facility_ID', encounterId: 'Unique_Encounter_ID' }),
      querystring: query({ consultation: 'the consultation key, "MM/DD/YYYY HH:MM:SS" (required)' }),
      response: {
        200: obj({
          consultation: str('the consultation key'),
          acknowledged: obj({ by: str('the key that acknowledged'), at: str('when') }),
          already: bool('it had been acknowledged before'),
        }),
        400: errorAnswer,
        404: errorAnswer,
        409: errorAnswer,
      },
    }),
    async (req) => {
      const ckey = req.query.consultation;
      if (ckey === undefined || ckey === '') throw new BadRequestError('consultation (its key, "MM/DD/YYYY HH:MM:SS") is required', 'consultation');
      const r = await deps.store.acknowledgeConsultationRetraction(
        encounterKey(req.params.facilityId, req.params.encounterId),
        ckey,
        req.authKey || 'open',
        deps.clock(),
      );
      if (r.result === 'not-found') throw new AdapterError('NOT_FOUND', 'no such consultation');
      if (r.result === 'not-retraction')
        throw new AdapterError('NOTHING_TO_ACKNOWLEDGE', `consultation ${ckey} is not cancelled after submission (it is ${r.state}): nothing to acknowledge`);
      return { consultation: ckey, acknowledged: { by: r.by, at: r.at }, already: r.result === 'already' };
    },
  );

  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/api/reconciliation',
    route('view', {
      summary: "per facility and day (the facility's time zone): orders seen = reported + held (by reason) + excluded (by rule)",
      tags: ['orders'],
      produces: ['application/json', 'text/csv'],
      querystring: query({
        from: "first day, YYYY-MM-DD (the facility's time zone)",
        to: 'last day, YYYY-MM-DD',
        facility: 'Facility_ID',
        by: 'received (default: the day the order arrived) or ordered (its CDS_Consultation_Date; orders in no record yet by arrival)',
        format: 'json (default) or csv',
      }),
      response: {
        200: obj({ by: str('how days were counted'), timeZones: dict(str('IANA zone'), 'the zone of each facility listed'), days: arr(RECONCILIATION_ROW) }),
        400: errorAnswer,
      },
    }),
    async (req, reply) => {
      const from = dayParam(req.query.from, 'from');
      const to = dayParam(req.query.to, 'to');
      const by = oneOf(req.query.by, 'by', RECONCILE_BY) ?? 'received';
      const format = oneOf(req.query.format, 'format', ['json', 'csv'] as const) ?? 'json';
      const facility = req.query.facility;
      const timeZoneOf = zoneOf(deps);
      const days = await deps.store.reconciliation({ ...(from ? { from } : {}), ...(to ? { to } : {}), ...(facility ? { facility } : {}), by, timeZoneOf });
      if (format === 'csv') {
        const name = `reconciliation-${by}${from ? `-${from}` : ''}${to ? `-${to}` : ''}.csv`;
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}"`)
          .send(reconciliationCsv(days, by, timeZoneOf));
      }
      return { by, timeZones: Object.fromEntries([...new Set(days.map((d) => d.facilityId))].map((f) => [f, timeZoneOf(f)])), days };
    },
  );
}
