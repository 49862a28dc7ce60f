// The operations API: records with their state and field provenance, the message queue, replay,
// transactions, metrics. Lists page with a cursor: each answer's `next` is the `after` of the next page.
import { AdapterError } from '../cdsr/errors.js';
import type { FastifyInstance } from 'fastify';
import { explainMissing } from '../mapping/explain.js';
import { encounterKey } from '../mapping/merge.js';
import { RECORD_STATES, type RecordState } from '../store/evaluate.js';
import { MESSAGE_STATUSES, OUTBOUND_STATUSES as OUTBOUND, type MessageStatus, type OutboundStatus, type TransactionRow } from '../store/store.js';
import type { Submitter } from '../outbound/submitter.js';
import { replayAll, replayOne } from '../inbound/replay.js';
import type { AppOptions } from './deps.js';
import { signInMetrics } from './use-cases/sign-in.js';
import { BadRequestError, decodeCursor, encodeCursor, intParam, limitParam, oneOf, pageOf } from './query.js';
import { anyValue, arr, bool, cursorPage, dict, errorAnswer, int, nullable, obj, PAGING, params, query, route, str, textAnswer } from './schema.js';
import { MESSAGE_ROW, PROBLEM, RECORD_SUMMARY, RECORD_VIEW, TX_SUMMARY, TX_SUMMARY_PROPS } from './answers.js';
import { contentQuery, messageFilter, searchMessages } from './message-search.js';
import { lastSentOf } from './last-sent.js';
import { auditListing } from './listing-audit.js';
import { workTakesLong } from './long-request.js';

/** The statuses a replay takes (a duplicate's first delivery is replayed instead; a rejected body was never HL7 or FHIR). */
const REPLAYABLE: readonly MessageStatus[] = ['error', 'applied', 'ignored', 'pending'];

function summary(t: TransactionRow) {
  const accepted = t.records.filter((r) => r.result === 'accepted').length;
  const rejected = t.records.filter((r) => r.result === 'rejected').length;
  return {
    transactionId: t.transactionId,
    profile: t.profile,
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
  app.get<{ Querystring: { state?: string; limit?: string; after?: string } }>(
    '/api/records',
    route('view', {
      summary: 'records (consultations) by state',
      tags: ['records'],
      querystring: query({ state: `one of ${RECORD_STATES.join(', ')}`, ...PAGING }),
      response: { 200: cursorPage('records', RECORD_SUMMARY), 400: errorAnswer },
    }),
    async (req) => {
      const state = oneOf<RecordState>(req.query.state, 'state', RECORD_STATES);
      const limit = limitParam(req.query.limit);
      const after = decodeCursor(req.query.after, 2);
      const records = await deps.store.records({
        ...(state ? { state } : {}),
        limit: limit + 1,
        ...(after ? { after: { encounterKey: after[0]!, consultationKey: after[1]! } } : {}),
      });
      const { items, next } = pageOf(records, limit, (last) => encodeCursor([last.encounterKey, last.consultationKey]));
      await auditListing(deps.store, deps.clock(), req.authKey || 'open', 'records', items.length, req.query);
      return { records: items, next };
    },
  );

  app.get<{ Params: { facilityId: string; encounterId: string } }>(
    '/api/records/:facilityId/:encounterId',
    route('operate', {
      summary: 'one encounter with every field and its provenance (operator; access-audited)',
      tags: ['records'],
      params: params({ facilityId: 'Facility_ID', encounterId: 'Unique_Encounter_ID' }),
      response: { 200: RECORD_VIEW, 404: errorAnswer },
    }),
    async (req) => {
      const r = await deps.store.record(encounterKey(req.params.facilityId, req.params.encounterId));
      if (!r) throw new AdapterError('NOT_FOUND', 'no such encounter');
      await deps.store.audit({ at: deps.clock(), who: req.authKey || 'open', what: `record ${r.encounterKey}` });
      // a required field nothing filled: where the tables look for it; what NRDR was last sent, beside today's values
      const sent = await lastSentOf(deps.store, r, deps.sentEncounterId);
      return {
        ...r,
        consultations: r.consultations.map((c) => ({
          ...c,
          problems: explainMissing(c.problems, deps.mappings.current),
          ...(sent.has(c.consultationKey) ? { lastSent: sent.get(c.consultationKey) } : {}),
        })),
      };
    },
  );

  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/api/messages',
    route('view', {
      summary: 'stored inbound messages (the error queue: status=error) with their problems, searched by control id, sender, status, channel and time',
      tags: ['messages'],
      querystring: query({
        status: `one of ${MESSAGE_STATUSES.join(', ')}`,
        channel: 'hl7v2 or fhir',
        controlId: 'MSH-10, or the FHIR resource type/id/version, exactly',
        sender: 'MSH-3^MSH-4 or the subscription, exactly',
        from: 'received at or after: a day (YYYY-MM-DD, UTC) or an ISO date-time',
        to: 'received before: a day or an ISO date-time',
        q: 'in the content: an HL7 path = value (PID-3.1=MRN123; every repetition and segment of the path) or a text, exactly (case-sensitive); a text purged by retention is not searched',
        order: 'oldest (default) or newest first',
        ...PAGING,
      }),
      response: { 200: cursorPage('messages', MESSAGE_ROW), 400: errorAnswer },
    }),
    async (req) => {
      const messages = await searchMessages(deps.store, messageFilter(req.query), contentQuery(req.query.q));
      const limit = limitParam(req.query.limit);
      const { items, next } = pageOf(messages, limit, (last) => String(last.id));
      await auditListing(deps.store, deps.clock(), req.authKey || 'open', 'messages', items.length, req.query);
      return { messages: items, next };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/messages/:id/replay',
    route('operate', {
      summary:
        'run one stored message again through the tables in force: its encounter re-derived from all its messages, applied at once (operator; POST /api/reprocess previews first)',
      tags: ['messages'],
      params: params({ id: 'the message id' }),
      response: { 200: obj({ id: int('message id'), status: str('its status after the replay'), problems: arr(PROBLEM) }), 404: errorAnswer },
    }),
    async (req) => {
      const id = Number(req.params.id);
      const m = Number.isSafeInteger(id) ? await deps.store.message(id) : undefined;
      if (!m) throw new AdapterError('NOT_FOUND', 'no such message');
      const status = await replayOne(deps, id, req.authKey || 'open');
      const after = await deps.store.message(id);
      return { id, status, problems: after?.problems ?? [] };
    },
  );

  app.get<{ Querystring: { status?: string; limit?: string; after?: string } }>(
    '/api/transactions',
    route('view', {
      summary: 'transactions sent to NRDR',
      tags: ['transactions'],
      querystring: query({ status: `one of ${OUTBOUND.join(', ')}`, limit: PAGING.limit, after: 'the `next` of the previous page (a Transaction_ID)' }),
      response: { 200: cursorPage('transactions', TX_SUMMARY), 400: errorAnswer },
    }),
    async (req) => {
      const status = oneOf<OutboundStatus>(req.query.status, 'status', OUTBOUND);
      const limit = limitParam(req.query.limit);
      const rows = await deps.store.transactions({ ...(status ? { status } : {}), limit: limit + 1, ...(req.query.after ? { after: req.query.after } : {}) });
      const { items, next } = pageOf(rows, limit, (last) => last.transactionId);
      return { transactions: items.map(summary), next };
    },
  );

  const NRDR_HISTORY_ENTRY = obj(
    {
      at: str('when the answer came (ISO)'),
      status: str("NRDR's Status"),
      errorMsg: nullable(str("NRDR's Error_Msg")),
      examErrors: int('how many Exam_Errors the answer listed'),
      summary: str("the exam errors in short (`V0001: message; …`), '' when none"),
    },
    'one status answer of NRDR that said something new',
    ['at', 'status', 'errorMsg', 'examErrors', 'summary'],
  );
  app.get<{ Params: { id: string } }>(
    '/api/transactions/:id',
    route('operate', {
      summary: 'one transaction: NRDR status, its status history and the verdict on each record (operator; access-audited)',
      tags: ['transactions'],
      params: params({ id: 'Transaction_ID' }),
      response: {
        200: obj({
          ...TX_SUMMARY_PROPS,
          nrdr: nullable(anyValue("NRDR's last status answer")),
          nrdrHistory: arr(NRDR_HISTORY_ENTRY, "NRDR's status answers, oldest first: the POST's answer and each poll that differed from the one before"),
          records: arr(
            obj({
              encounterKey: str('facility|encounter'),
              consultationKey: str('date time'),
              result: str('accepted, rejected or needs-review'),
              problems: arr(PROBLEM),
            }),
          ),
        }),
        404: errorAnswer,
      },
    }),
    async (req) => {
      const t = await deps.store.transaction(req.params.id);
      if (!t) throw new AdapterError('NOT_FOUND', 'no such transaction');
      await deps.store.audit({ at: deps.clock(), who: req.authKey || 'open', what: `transaction ${t.transactionId}` });
      return { ...summary(t), nrdr: t.nrdr ?? null, nrdrHistory: t.nrdrHistory, records: t.records };
    },
  );

  const SUBMIT_RESULT = obj({
    created: int('transactions created'),
    posted: int('transactions NRDR took'),
    final: int("transactions with NRDR's final answer"),
    accepted: int('records accepted'),
    rejected: int('records rejected'),
    review: int('records that need review'),
    unanswered: int('POSTs without an answer (asked about by id, never sent blind)'),
    pending: int("transactions still without NRDR's final word (still polling)"),
    oldestPendingSeconds: int('age of the oldest of them'),
    stale: int('batches left for the next round (a record changed while batched)'),
    held: int('transactions the test profile refused to POST (not de-identified): held, the reason on each'),
    leader: bool('false: another instance is the submitter; nothing was done here'),
    holder: obj({ instance: str('the instance that holds the submitter lease'), until: str('when its lease runs out unless renewed (ISO)') }),
  });
  const SUBMIT_PROGRESS = obj({
    running: bool('a submission is under way'),
    startedAt: nullable(str('when it started (ISO)')),
    posted: int('transactions NRDR took so far'),
    polled: int('status requests so far'),
    final: int('final answers so far'),
    last: nullable(SUBMIT_RESULT),
  });
  app.post<{ Querystring: { wait?: string } }>(
    '/api/submit',
    route('operate', {
      summary:
        "submit ready records now and wait for NRDR's answers (operator): 200 with the result, or 202 with the progress when it takes longer than `wait` seconds (then GET /api/submit)",
      tags: ['transactions'],
      querystring: query({ wait: 'seconds to wait for the result before answering 202 (0–60, default 10)' }),
      response: { 200: SUBMIT_RESULT, 202: SUBMIT_PROGRESS, 400: errorAnswer, 409: errorAnswer },
    }),
    async (req, reply) => {
      const submitter = deps.submitter;
      if (!submitter) throw new AdapterError('NOT_SUBMITTER');
      const wait = intParam(req.query.wait, 'wait', { min: 0, max: 60, fallback: 10 });
      const run = submitter.submitNow();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), wait * 1000)));
      try {
        const r = await Promise.race([run, late]);
        return r ?? reply.code(202).send(submitter.status());
      } finally {
        clearTimeout(timer);
      }
    },
  );

  app.get(
    '/api/submit',
    route('operate', {
      summary: "the submission under way (POST /api/submit answered 202), or the last one's result",
      tags: ['transactions'],
      response: { 200: SUBMIT_PROGRESS, 409: errorAnswer },
    }),
    () => {
      if (!deps.submitter) throw new AdapterError('NOT_SUBMITTER');
      return deps.submitter.status();
    },
  );

  // Prometheus text format: gauges read from the store (counts, never content)
  app.get(
    '/metrics',
    route('metrics', {
      summary: 'Prometheus gauges (metrics role)',
      tags: ['health'],
      produces: ['text/plain; version=0.0.4'],
      response: { 200: textAnswer('Prometheus text format') },
    }),
    async (_req, reply) => {
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
      // the profile in force's: another profile's open transactions are not asked about under this
      // one (a switch), and would hold the oldest age up for ever
      const flight = await deps.store.inFlight(deps.profile?.name);
      lines.push(
        "# HELP cdsr_transactions_in_flight NRDR transactions without NRDR's final word (created, sent, posted).",
        '# TYPE cdsr_transactions_in_flight gauge',
        `cdsr_transactions_in_flight ${flight.count}`,
        '# HELP cdsr_oldest_in_flight_age_seconds Age of the oldest transaction in flight (0: none).',
        '# TYPE cdsr_oldest_in_flight_age_seconds gauge',
        `cdsr_oldest_in_flight_age_seconds ${age(flight.oldestCreatedAt)}`,
      );
      lines.push('# HELP cdsr_store_bytes Size of the store on disk.', '# TYPE cdsr_store_bytes gauge', `cdsr_store_bytes ${await deps.store.sizeBytes()}`);
      if (deps.admission) {
        const a = deps.admission.gauges();
        lines.push(
          '# HELP cdsr_store_max_bytes The ceiling past which no message is taken (CDSR_MAX_STORE_BYTES; 0: none).',
          '# TYPE cdsr_store_max_bytes gauge',
          `cdsr_store_max_bytes ${a.maxStoreBytes}`,
          "# HELP cdsr_messages_refused_total Messages refused before they were read: by a credential's rate, or at the store's ceiling.",
          '# TYPE cdsr_messages_refused_total counter',
          `cdsr_messages_refused_total{reason="rate"} ${a.refused.rate}`,
          `cdsr_messages_refused_total{reason="store_full"} ${a.refused.store_full}`,
        );
      }
      gauge('cdsr_orders', 'Orders seen, by state (reported, held, excluded).', 'state', { reported: 0, held: 0, excluded: 0, ...ledger.byState });
      lines.push(
        '# HELP cdsr_oldest_orphan_age_seconds Age of the oldest order still waiting for its order message (0: none).',
        '# TYPE cdsr_oldest_orphan_age_seconds gauge',
        `cdsr_oldest_orphan_age_seconds ${age(ledger.oldestOrphan)}`,
        '# HELP cdsr_oldest_incomplete_age_seconds Age of the oldest order whose record is still incomplete (0: none).',
        '# TYPE cdsr_oldest_incomplete_age_seconds gauge',
        `cdsr_oldest_incomplete_age_seconds ${age(ledger.oldestIncomplete)}`,
      );
      lines.push(
        '# HELP cdsr_retractions_unacknowledged Consultations cancelled after NRDR got them whose retraction at NRDR no operator has acknowledged.',
        '# TYPE cdsr_retractions_unacknowledged gauge',
        `cdsr_retractions_unacknowledged ${ledger.unacknowledgedRetractions}`,
      );
      lines.push(
        '# HELP cdsr_mappings_generation Reloads of the mapping tables since start (1 = as started).',
        '# TYPE cdsr_mappings_generation gauge',
        `cdsr_mappings_generation ${deps.mappings.generation}`,
      );
      if (deps.signIn) lines.push(...signInMetrics(await deps.signIn.status(), now));
      return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
    },
  );

  app.get<{ Querystring: { after?: string; limit?: string } }>(
    '/api/audit',
    route('operate', {
      summary: 'the access audit: every read of patient data (operator)',
      tags: ['operations'],
      querystring: query({ ...PAGING }),
      response: {
        200: cursorPage('entries', obj({ id: int('entry id'), at: str('ISO time'), who: str('the key by role and position'), what: str('what was read') })),
        400: errorAnswer,
      },
    }),
    async (req) => {
      const limit = limitParam(req.query.limit);
      const entries = await deps.store.accessLog({
        after: intParam(req.query.after, 'after', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 }),
        limit: limit + 1,
      });
      const { items, next } = pageOf(entries, limit, (last) => String(last.id));
      return { entries: items, next };
    },
  );

  app.get(
    '/api/mappings',
    route('operate', {
      summary: 'the tables in force and the last reload: refused edits with their file:line problems or the site tests they break (operator)',
      tags: ['operations'],
      response: {
        200: obj({
          dir: str('CDSR_MAPPINGS_DIR'),
          generation: int('reloads since start, 1 = as started'),
          lastReload: nullable(
            obj({
              at: str('ISO time'),
              ok: bool('the edit took effect'),
              generation: int('generation after it'),
              problems: arr(str('file:line: message')),
              failingTests: arr(obj({ name: str('site test'), diff: str('- expected / + actual') })),
            }),
          ),
        }),
      },
    }),
    () => ({ dir: deps.mappings.dir, generation: deps.mappings.generation, lastReload: deps.mappings.lastReload ?? null }),
  );

  app.get(
    '/api/subscriptions',
    route('view', {
      summary: 'FHIR subscriptions: events received and the event numbers that never arrived',
      tags: ['messages'],
      response: {
        200: obj({
          subscriptions: arr(
            obj({
              subscription: str('subscription'),
              received: int('events received'),
              reportedSince: int('latest event number the server reported'),
              missing: arr(int('event number')),
              lastSeenAt: str('ISO time'),
            }),
          ),
        }),
      },
    }),
    async () => ({ subscriptions: await deps.store.subscriptions() }),
  );

  app.post<{ Querystring: { status?: string } }>(
    '/api/replay',
    route('operate', {
      summary:
        'replay every stored message in a status (default: the error queue), each a re-derivation of its encounter applied at once (operator; POST /api/reprocess previews first)',
      tags: ['messages'],
      querystring: query({ status: 'error (default), applied, ignored or pending' }),
      response: { 200: obj({ replayed: int('messages replayed'), byStatus: dict(int('count'), 'their statuses after the replay') }), 400: errorAnswer },
    }),
    async (req) => {
      const status = (req.query.status ?? 'error') as MessageStatus;
      // a resend and a body that was not HL7 or FHIR stand for nothing in a record
      if (!REPLAYABLE.includes(status)) throw new BadRequestError(`status must be one of ${REPLAYABLE.join(', ')}`, 'status');
      workTakesLong(req);
      return replayAll(deps, status);
    },
  );
}
