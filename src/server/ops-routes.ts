// The operations API: records with their state and field provenance, the message queue, replay.
import type { FastifyInstance } from 'fastify';
import { encounterKey } from '../mapping/merge.js';
import { RECORD_STATES, type RecordState } from '../store/evaluate.js';
import { MESSAGE_STATUSES, OUTBOUND_STATUSES as OUTBOUND, type MessageStatus, type OutboundStatus, type TransactionRow } from '../store/store.js';
import type { Submitter } from '../outbound/submitter.js';
import { replayAll, replayOne } from '../inbound/replay.js';
import type { AppOptions } from './app.js';
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
const limitOf = (q: { limit?: string }) => Math.min(Math.max(Number(q.limit ?? 100) || 100, 1), 1000);

export function registerOpsRoutes(app: FastifyInstance, deps: AppOptions & { submitter?: Submitter }): void {
  app.get<{ Querystring: { state?: string; limit?: string } }>('/api/records', async (req, reply) => {
    const state = req.query.state;
    if (state !== undefined && !(RECORD_STATES as readonly string[]).includes(state)) {
      return reply.code(400).send({ error: `state must be one of ${RECORD_STATES.join(', ')}` });
    }
    return { records: await deps.store.records({ ...(state ? { state: state as RecordState } : {}), limit: limitOf(req.query) }) };
  });

  app.get<{ Params: { facilityId: string; encounterId: string } }>('/api/records/:facilityId/:encounterId', async (req, reply) => {
    const r = await deps.store.record(encounterKey(req.params.facilityId, req.params.encounterId));
    return r ? r : reply.code(404).send({ error: 'no such encounter' });
  });

  app.get<{ Querystring: { status?: string; limit?: string; after?: string } }>('/api/messages', async (req, reply) => {
    const status = req.query.status;
    if (status !== undefined && !(MESSAGE_STATUSES as readonly string[]).includes(status)) {
      return reply.code(400).send({ error: `status must be one of ${MESSAGE_STATUSES.join(', ')}` });
    }
    return {
      messages: await deps.store.messages({ ...(status ? { status: status as MessageStatus } : {}), limit: limitOf(req.query), afterId: Number(req.query.after ?? 0) || 0 }),
    };
  });

  app.post<{ Params: { id: string } }>('/api/messages/:id/replay', async (req, reply) => {
    const id = Number(req.params.id);
    const m = Number.isSafeInteger(id) ? await deps.store.message(id) : undefined;
    if (!m) return reply.code(404).send({ error: 'no such message' });
    const status = await replayOne(deps, id);
    const after = await deps.store.message(id);
    return { id, status, problems: after?.problems ?? [] };
  });

  app.get<{ Querystring: { status?: string; limit?: string } }>('/api/transactions', async (req, reply) => {
    const status = req.query.status;
    if (status !== undefined && !(OUTBOUND as readonly string[]).includes(status)) return reply.code(400).send({ error: `status must be one of ${OUTBOUND.join(', ')}` });
    const rows = await deps.store.transactions({ ...(status ? { status: status as OutboundStatus } : {}), limit: limitOf(req.query) });
    return { transactions: rows.map(summary) };
  });

  app.get<{ Params: { id: string } }>('/api/transactions/:id', async (req, reply) => {
    const t = await deps.store.transaction(req.params.id);
    return t ? { ...summary(t), nrdr: t.nrdr ?? null, records: t.records } : reply.code(404).send({ error: 'no such transaction' });
  });

  app.post('/api/submit', async (_req, reply) => {
    if (!deps.submitter) return reply.code(409).send({ error: 'this process does not submit' });
    return deps.submitter.flush();
  });

  // Prometheus text format: gauges read from the store (counts, never content)
  app.get('/metrics', async (_req, reply) => {
    const c = await deps.store.counts();
    const lines: string[] = [];
    const gauge = (name: string, help: string, label: string, values: Record<string, number>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const [k, v] of Object.entries(values).sort()) lines.push(`${name}{${label}="${k}"} ${v}`);
    };
    gauge('cdsr_inbound_messages', 'Stored inbound messages by status.', 'status', c.messages);
    gauge('cdsr_records', 'Consultations by record state.', 'state', c.records);
    gauge('cdsr_transactions', 'NRDR transactions by outbound status.', 'status', c.transactions);
    lines.push('# HELP cdsr_mappings_generation Reloads of the mapping tables since start (1 = as started).', '# TYPE cdsr_mappings_generation gauge', `cdsr_mappings_generation ${deps.mappings.generation}`);
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });

  app.get('/api/subscriptions', async () => ({ subscriptions: await deps.store.subscriptions() }));

  app.post<{ Querystring: { status?: string } }>('/api/replay', async (req, reply) => {
    const status = (req.query.status ?? 'error') as MessageStatus;
    if (status !== 'error' && status !== 'pending') return reply.code(400).send({ error: 'status must be error or pending' });
    return replayAll(deps, status);
  });
}
