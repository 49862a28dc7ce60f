// The order ledger and the reconciliation: every order seen with its one state, and per facility
// and day, seen = reported + held (by reason) + excluded (by rule).
import type { FastifyInstance } from 'fastify';
import { ORDER_REASONS, ORDER_STATES } from '../store/store.js';
import { rulesFor } from '../mapping/explain.js';
import type { AppOptions } from './app.js';
import { dayParam, intParam, limitParam, oneOf } from './query.js';
import { cursorPage, errorAnswer, obj, arr, PAGING, query, route } from './schema.js';
import { ORDER_ROW, RECONCILIATION_ROW } from './answers.js';

export function registerOrderRoutes(app: FastifyInstance, deps: AppOptions): void {
  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/api/orders',
    route({
      summary: 'the order ledger: every order seen, its one state and reason',
      tags: ['orders'],
      querystring: query({
        state: `one of ${ORDER_STATES.join(', ')}`,
        reason: `one of ${ORDER_REASONS.filter((r) => r !== '').join(', ')}`,
        facility: 'Facility_ID',
        encounter: 'Unique_Encounter_ID',
        order: 'any of its numbers (placer, filler/accession)',
        from: 'first day seen, YYYY-MM-DD (UTC)',
        to: 'last day seen, YYYY-MM-DD (UTC)',
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
    const r = await deps.store.orders({
      ...(state ? { state } : {}),
      ...(reason !== undefined ? { reason } : {}),
      ...(q.facility ? { facility: q.facility } : {}),
      ...(q.encounter ? { encounter: q.encounter } : {}),
      ...(q.order ? { order: q.order } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      after: intParam(q.after, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 }),
      limit: limitParam(q.limit),
    });
    // an incomplete order names where the tables look for each missing field
    const tables = deps.mappings.current;
    const orders = r.orders.map((o) => ({ ...o, missing: o.missing.map((field) => ({ field, tried: rulesFor(tables, field) })) }));
    return { orders, next: r.next === null ? null : String(r.next) };
    },
  );

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/reconciliation', route({ summary: 'per facility and day: orders seen = reported + held (by reason) + excluded (by rule)', tags: ['orders'], querystring: query({ from: 'first day, YYYY-MM-DD (UTC)', to: 'last day, YYYY-MM-DD (UTC)', facility: 'Facility_ID' }), response: { 200: obj({ days: arr(RECONCILIATION_ROW) }), 400: errorAnswer } }), async (req) => {
    const from = dayParam(req.query.from, 'from');
    const to = dayParam(req.query.to, 'to');
    const facility = req.query.facility;
    return { days: await deps.store.reconciliation({ ...(from ? { from } : {}), ...(to ? { to } : {}), ...(facility ? { facility } : {}) }) };
  });
}
