// The operations API: records with their state and field provenance, the message queue, replay,
// transactions, metrics. Lists page with a cursor: each answer's `next` is the `after` of the next page.
import type { FastifyInstance } from 'fastify';
import { explainMissing } from '../mapping/explain.js';
import { encounterKey } from '../mapping/merge.js';
import { RECORD_STATES, type RecordState } from '../store/evaluate.js';
import { OUTBOUND_STATUSES as OUTBOUND, type MessageStatus, type OutboundStatus, type TransactionRow } from '../store/store.js';
import type { Submitter } from '../outbound/submitter.js';
import { replayAll, replayOne } from '../inbound/replay.js';
import type { AppOptions } from './app.js';
import { decodeCursor, encodeCursor, intParam, limitParam, oneOf, pageOf } from './query.js';
import { messageFilter } from './message-search.js';
function summary(t: TransactionRow) {
  const accepted = t.records.filter((r) => r.result === 'accepted').length;
  const rejected = t.records.filter((r) => r.result === 'rejected').length;
  return {
    transactionId: t.transactionId,
    facilityId: t.facilityId,
    status: t.status,
    nrdrStatus: t.nrdr?.Status ?? null,
    encounters: t.body.Encounters?.length ?? 0,
    consultations: t.records.length,
    accepted,
    rejected,
    attempts: t.attempts,
    lastError: t.lastError ?? null,
    errorMsg: t.nrdr?.Error_Msg ?? null,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

export function registerOpsRoutes(app: FastifyInstance, deps: AppOptions & { submitter?: Submitter }): void {
  app.get<{ Querystring: { state?: string; limit?: string; after?: string } }>('/api/records', async (req) => {
    const state = oneOf<RecordState>(req.query.state, 'state', RECORD_STATES);
    const limit = limitParam(req.query.limit);
    const after = decodeCursor(req.query.after, 2);
    const records = await deps.store.records({ ...(state ? { state } : {}), limit: limit + 1, ...(after ? { after: { encounterKey: after[0]!, consultationKey: after[1]! } } : {}) });
    const { items, next } = pageOf(records, limit, (last) => encodeCursor([last.encounterKey, last.consultationKey]));
    return { records: items, next };
  });

  app.get<{ Params: { facilityId: string; encounterId: string } }>('/api/records/:facilityId/:encounterId', async (req, reply) => {
    const r = await deps.store.record(encounterKey(req.params.facilityId, req.params.encounterId));
    if (!r) return reply.code(404).send({ error: 'no such encounter' });
    await deps.store.audit({ at: deps.clock(), who: req.authKey || 'open', what: `record ${r.encounterKey}` });
    // a required field nothing filled: where the tables look for it
    return { ...r, consultations: r.consultations.map((c) => ({ ...c, problems: explainMissing(c.problems, deps.mappings.current) })) };
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/messages', async (req) => {
    const messages = await deps.store.messages(messageFilter(req.query));
    const limit = limitParam(req.query.limit);
    const { items, next } = pageOf(messages, limit, (last) => String(last.id));
    return { messages: items, next };
  });

  app.post<{ Params: { id: string } }>('/api/messages/:id/replay', async (req, reply) => {
    const id = Number(req.params.id);
    const m = Number.isSafeInteger(id) ? await deps.store.message(id) : undefined;
    if (!m) return reply.code(404).send({ error: 'no such message' });
    const status = await replayOne(deps, id);
    const after = await deps.store.message(id);
    return { id, status, problems: after?.problems ?? [] };
  });

  app.get<{ Querystring: { status?: string; limit?: string; after?: string } }>('/api/transactions', async (req) => {
    const status = oneOf<OutboundStatus>(req.query.status, 'status', OUTBOUND);
    const limit = limitParam(req.query.limit);
    const rows = await deps.store.transactions({ ...(status ? { status } : {}), limit: limit + 1, ...(req.query.after ? { after: req.query.after } : {}) });
    const { items, next } = pageOf(rows, limit, (last) => last.transactionId);
    return { transactions: items.map(summary), next };
  });

  app.get<{ Params: { id: string } }>('/api/transactions/:id', async (req, reply) => {
    const t = await deps.store.transaction(req.params.id);
    if (!t) return reply.code(404).send({ error: 'no such transaction' });
    await deps.store.audit({ at: deps.clock(), who: req.authKey || 'open', what: `transaction ${t.transactionId}` });
    return { ...summary(t), nrdr: t.nrdr ?? null, records: t.records };
  });

  app.post('/api/submit', async (_req, reply) => {
    if (!deps.submitter) return reply.code(409).send({ error: 'this process does not submit' });
    return deps.submitter.flush();
  });

  // Prometheus text format: gauges read from the store (counts, never content)
  app.get('/metrics', async (_req, reply) => {
    const c = await deps.store.counts();
    const ledger = await deps.store.ledgerGauges();
    const now = deps.clock().getTime();
    const age = (iso: string | null) => (iso === null || iso === '' ? 0 : Math.max(0, Math.round((now - Date.parse(iso)) / 1000)));
    const lines: string[] = [];
    const gauge = (name: string, help: string, label: string, values: Record<string, number>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const [k, v] of Object.entries(values).sort()) lines.push(`${name}{${label}="${k}"} ${v}`);
    };
    gauge('cdsr_inbound_messages', 'Stored inbound messages by status.', 'status', c.messages);
    gauge('cdsr_records', 'Consultations by record state.', 'state', c.records);
    gauge('cdsr_transactions', 'NRDR transactions by outbound status.', 'status', c.transactions);
    lines.push('# HELP cdsr_store_bytes Size of the store on disk.', '# TYPE cdsr_store_bytes gauge', `cdsr_store_bytes ${await deps.store.sizeBytes()}`);
    gauge('cdsr_orders', 'Orders seen, by state (reported, held, excluded).', 'state', { reported: 0, held: 0, excluded: 0, ...ledger.byState });
    lines.push(
      '# HELP cdsr_oldest_orphan_age_seconds Age of the oldest order still waiting for its order message (0: none).',
      '# TYPE cdsr_oldest_orphan_age_seconds gauge',
      `cdsr_oldest_orphan_age_seconds ${age(ledger.oldestOrphan)}`,
      '# HELP cdsr_oldest_incomplete_age_seconds Age of the oldest order whose record is still incomplete (0: none).',
      '# TYPE cdsr_oldest_incomplete_age_seconds gauge',
      `cdsr_oldest_incomplete_age_seconds ${age(ledger.oldestIncomplete)}`,
    );
    lines.push('# HELP cdsr_mappings_generation Reloads of the mapping tables since start (1 = as started).', '# TYPE cdsr_mappings_generation gauge', `cdsr_mappings_generation ${deps.mappings.generation}`);
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });

  app.get<{ Querystring: { after?: string; limit?: string } }>('/api/audit', async (req) => {
    const limit = limitParam(req.query.limit);
    const entries = await deps.store.accessLog({ after: intParam(req.query.after, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 }), limit: limit + 1 });
    const { items, next } = pageOf(entries, limit, (last) => String(last.id));
    return { entries: items, next };
  });

  app.get('/api/subscriptions', async () => ({ subscriptions: await deps.store.subscriptions() }));

  app.post<{ Querystring: { status?: string } }>('/api/replay', async (req, reply) => {
    const status = (req.query.status ?? 'error') as MessageStatus;
    if (status !== 'error' && status !== 'pending') return reply.code(400).send({ error: 'status must be error or pending' });
    return replayAll(deps, status);
  });
}
