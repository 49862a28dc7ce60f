// The web console at /ui: server-rendered pages over the same store and tables as the API, behind
// the same keys (a sign-in form, then a session cookie; operate role), forms protected by a CSRF
// token, every read of patient data written to the access audit.
import { join, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AdapterError, errorMessage } from '../../cdsr/errors.js';
import { remapStored } from '../../inbound/dry-run.js';
import { replayAll, replayOne } from '../../inbound/replay.js';
import { buildWorklist } from '../../inbound/worklist.js';
import { encounterKey } from '../../mapping/merge.js';
import type { TraceEntry } from '../../mapping/record.js';
import { explainMissing } from '../../mapping/explain.js';
import { RECORD_STATES, type RecordState } from '../../store/evaluate.js';
import { ORDER_REASONS, ORDER_STATES, type MessageRow, type RecordSummary } from '../../store/store.js';
import { SearchTooWideError } from '../../store/patient-search.js';
import type { Reprocessor } from '../../inbound/reprocessor.js';
import { zoneOf, type AppOptions } from '../deps.js';
import { previewToApply, selectionOf, startReprocess } from '../use-cases/reprocess.js';
import { lastSentOf } from '../last-sent.js';
import { contentQuery, messageFilter, searchMessages } from '../message-search.js';
import { resubmitEncounter } from '../use-cases/resubmit.js';
import { dryRunOnDisk } from '../use-cases/dry-run.js';
import { workTakesLong } from '../long-request.js';
import { BadRequestError, dayParam, decodeCursor, encodeCursor, oneOf, pageOf } from '../query.js';
import { findKey, keyRing } from '../roles.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import { PAGE_HEADERS } from '../page-headers.js';
import { benchPage, loadDraft, runBench, siteTestInputs } from './bench-page.js';
import { saveSiteTest, TESTS_DIR, type SaveSiteTest } from '../../mapping/site-tests.js';
import { editableText, editPage, editResult, editsNote, processCopy, sameText } from './edit-page.js';
import { esc, html, Html, layout, type PageContext } from './html.js';
import { messagePage, messagesPage, type SearchQuery } from './messages-page.js';
import { overviewPage } from './overview-page.js';
import { orderPage, ordersPage, type OrderQuery, type Submission } from './orders-page.js';
import { listingKey, recordPage, recordsPage, transactionPage, transactionsPage, type AcknowledgedBanner, type RecordListing } from './records-page.js';
import { cookieMaxAgeS, csrfMatches, readCookie, SESSION_COOKIE, SESSION_IDLE_MS, SESSION_MAX_MS, sessionCookie, Sessions, type Session } from './session.js';
import { recordWrongKey, type KeyThrottle } from '../key-throttle.js';
import { auditListing } from '../listing-audit.js';
import { replayResultPage, worklistPage } from './worklist-page.js';
import { reprocessPage, runPage, SELECTION_INPUTS, selectionInput, type SelectionForm } from './reprocess-page.js';
import type { ReprocessSelection } from '../../store/reprocess-runs.js';

type Form = Record<string, string | string[]>;
const PAGE_SIZE = 50;

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession?: Session;
  }
}

function parseForm(body: string): Form {
  const out: Form = {};
  for (const [k, v] of new URLSearchParams(body)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

const one = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));

function loginPage(message?: string): string {
  return `<!doctype html>\n${
    html`<html lang="en"><head><meta charset="utf-8"><title>Sign in · cdsr-adapter</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/assets/console.css"></head>
<body><main id="main"><form class="login" method="post" action="/ui/login"><h1>cdsr-adapter console</h1>
<p>Sign in with an API key that has the operate role (CDSR_OPERATE_API_KEYS).</p>
${message !== undefined ? html`<p class="bad" role="alert">${message}</p>` : ''}
<label for="key">API key</label><input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<p><button type="submit">Sign in</button></p></form></main></body></html>`.text
  }\n`;
}

/** Locations inside a draft folder shown relative to it (`crosswalks/modality.csv:4`), as for the tables in force. */
function draftRelative(body: Html, draft: string): Html {
  return draft === '' ? body : new Html(body.text.replaceAll(esc(`${draft.replace(/[/\\]+$/, '')}${sep}`), ''));
}

export type ConsoleDeps = AppOptions & {
  /** The service's one reprocessing lane (made in app.ts): runs from the console queue behind the API's. */
  readonly reprocessor: Reprocessor;
  /** The count of wrong keys per address the API's key check keeps too (made in app.ts): the sign-in form adds to it. */
  readonly keyThrottle: KeyThrottle;
};

/**
 * Why a POST is refused as sent by a page of another site (a form there posting into the console,
 * the victim's browser carrying it: login CSRF, and the rest), or undefined. Browsers say where a
 * request comes from: Sec-Fetch-Site when they send it (same-origin, or none for what the user did
 * themselves), else Origin, held against the Host the request was sent to. A request with neither
 * is not a browser's, so nothing a site could forge (the rule of Go's CrossOriginProtection).
 */
export function crossSiteReason(headers: FastifyRequest['headers'], host: string): string | undefined {
  const site = headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== '') return site === 'same-origin' || site === 'none' ? undefined : `Sec-Fetch-Site: ${site}`;
  const origin = headers.origin;
  if (typeof origin !== 'string' || origin === '') return undefined;
  const from = URL.canParse(origin) ? new URL(origin).host : undefined;
  return from !== undefined && from !== '' && from === host ? undefined : `Origin: ${origin}`;
}

export function consolePlugin(app: FastifyInstance, deps: ConsoleDeps, done: (err?: Error) => void): void {
  const ring = keyRing(deps.config);
  const limits = {
    idleMs: (deps.config.CDSR_SESSION_IDLE_MINUTES ?? SESSION_IDLE_MS / 60_000) * 60_000,
    maxMs: (deps.config.CDSR_SESSION_MAX_HOURS ?? SESSION_MAX_MS / 3_600_000) * 3_600_000,
  };
  const sessions = new Sessions(() => deps.clock().getTime(), limits);
  // the cookie is Secure when the request came over TLS: to this listener, or to a proxy
  // CDSR_TRUST_PROXY names (its X-Forwarded-Proto believed only from it)
  const secure = (req: FastifyRequest) => req.protocol === 'https';
  const cookie = (req: FastifyRequest, id: string) => sessionCookie(id, secure(req), cookieMaxAgeS(limits));
  // with no keys configured the API is open, and so is the console (a session still carries the CSRF token)
  const open = ring.length === 0;

  // every page of the console is open to the API-key check: the console asks for a key itself (the
  // sign-in form, then a session cookie) and needs the operate role
  app.addHook('onRoute', (r) => {
    r.config = { role: 'open', ...r.config };
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, parseForm(typeof body === 'string' ? body : body.toString('utf8'))),
  );

  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [k, v] of Object.entries(PAGE_HEADERS)) reply.header(k, v);
    return payload;
  });

  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url ?? '';
    // no form of the console is taken from another site's page, the sign-in's included
    if (req.method === 'POST') {
      const reason = crossSiteReason(req.headers, req.host);
      if (reason !== undefined) {
        req.log.warn({ event: 'console_cross_site_refused', route, reason }, 'a form sent from another site refused');
        throw new AdapterError('CROSS_SITE');
      }
    }
    if (route === '/ui/login' || route.startsWith('/ui/assets/')) return;
    let s = sessions.find(readCookie(req.headers.cookie, SESSION_COOKIE));
    if (!s && open) {
      s = sessions.create('open');
      void reply.header('set-cookie', cookie(req, s.id));
    }
    if (!s) {
      if (req.method === 'GET') return reply.code(303).header('location', '/ui/login').send();
      throw new AdapterError('SESSION_REQUIRED');
    }
    req.consoleSession = s;
  });

  // onRequest runs before the body is parsed: the CSRF check for posts runs once it is
  app.addHook('preHandler', (req, _reply, done) => {
    const s = req.consoleSession;
    done(req.method === 'POST' && s && !csrfMatches(s, (req.body as Form | undefined)?.csrf) ? new AdapterError('CSRF') : undefined);
  });

  // times in each facility's zone of the tables in force (read per page: a reload may change it)
  const ctxOf = (req: FastifyRequest): PageContext => ({
    csrf: req.consoleSession?.csrf ?? '',
    who: open ? '' : (req.consoleSession?.who ?? ''),
    zoneOf: zoneOf(deps),
    ...(deps.profile ? { profile: { name: deps.profile.name, deidentified: deps.profile.deidentified } } : {}),
  });
  const who = (req: FastifyRequest) => req.consoleSession?.who ?? 'open';
  // rule, crosswalk and problem locations are absolute paths inside the mappings directory: shown
  // relative to it (`crosswalks/modality.csv:4`), as analysts name the files
  const send = (req: FastifyRequest, reply: FastifyReply, title: string, current: string, body: Html, status = 200) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(layout(title, current, ctxOf(req), body).replaceAll(esc(`${deps.mappings.dir}${sep}`), ''));

  app.get('/ui/assets/console.css', (_req, reply) => reply.type('text/css; charset=utf-8').send(CONSOLE_CSS));
  app.get('/ui/assets/console.js', (_req, reply) => reply.type('text/javascript; charset=utf-8').send(CONSOLE_JS));

  app.get('/ui/login', (_req, reply) => (open ? reply.code(303).header('location', '/ui').send() : reply.type('text/html; charset=utf-8').send(loginPage())));
  app.post<{ Body: Form }>('/ui/login', async (req, reply) => {
    // an address past its wrong keys (here or at the API) is refused before the key is compared
    const wait = deps.keyThrottle.retryAfter(req.ip);
    if (wait !== undefined)
      return reply
        .code(429)
        .header('retry-after', String(wait))
        .type('text/html; charset=utf-8')
        .send(loginPage(`Too many wrong keys from this address: try again in ${wait} s.`));
    const key = one(req.body?.key);
    const entry = key === '' ? undefined : findKey(ring, key);
    if (!entry) {
      await recordWrongKey(deps.keyThrottle, deps.store, deps.clock(), { source: req.ip, key, place: { console: true } });
      return reply.code(401).type('text/html; charset=utf-8').send(loginPage('That key is not one of this adapter’s keys.'));
    }
    if (!entry.roles.has('operate'))
      return reply
        .code(403)
        .type('text/html; charset=utf-8')
        .send(loginPage(`This key (${entry.label}) has no operate role; the console needs one.`));
    const s = sessions.create(entry.label);
    await deps.store.audit({ at: deps.clock(), who: entry.label, what: 'console sign-in' });
    return reply.code(303).header('set-cookie', cookie(req, s.id)).header('location', '/ui').send();
  });
  app.post('/ui/logout', (req, reply) => {
    if (req.consoleSession) sessions.end(req.consoleSession.id);
    return reply
      .code(303)
      .header('set-cookie', sessionCookie('', secure(req), 0))
      .header('location', open ? '/ui' : '/ui/login')
      .send();
  });

  app.get('/ui', async (req, reply) => send(req, reply, 'Overview', '/ui', await overviewPage(deps)));

  app.get('/ui/worklist', async (req, reply) =>
    send(
      req,
      reply,
      'Worklist',
      '/ui/worklist',
      worklistPage(await buildWorklist(deps.store, deps.mappings.dir, deps.mappings.current.facilities), ctxOf(req)),
    ),
  );
  app.post('/ui/worklist/dry-run', async (req, reply) => {
    workTakesLong(req);
    const dry = await dryRunOnDisk(deps);
    return send(
      req,
      reply,
      'Worklist',
      '/ui/worklist',
      worklistPage(await buildWorklist(deps.store, deps.mappings.dir, deps.mappings.current.facilities), ctxOf(req), dry),
    );
  });
  app.post('/ui/worklist/replay', async (req, reply) => {
    workTakesLong(req);
    return send(req, reply, 'Replay of the error queue', '/ui/worklist', replayResultPage(await replayAll(deps, 'error')));
  });

  app.get<{ Querystring: SearchQuery }>('/ui/messages', async (req, reply) => {
    const q = req.query;
    try {
      // the console asks newest first; every other parameter as the API takes it
      const limit = PAGE_SIZE;
      const rows = await searchMessages(deps.store, messageFilter({ ...q, order: 'newest', limit: String(limit) }), contentQuery(q.q));
      const { items, next } = pageOf(rows, limit, (last) => String(last.id));
      const details = await deps.store.messageDetails(items.map((m) => m.id));
      await auditListing(deps.store, deps.clock(), who(req), 'messages', items.length, q);
      return await send(req, reply, 'Messages', '/ui/messages', messagesPage(q, items, details, next, ctxOf(req)));
    } catch (e) {
      if (!(e instanceof BadRequestError)) throw e;
      return send(req, reply, 'Messages', '/ui/messages', messagesPage(q, [], [], null, ctxOf(req), e.message), 400);
    }
  });

  const showMessage = async (req: FastifyRequest, reply: FastifyReply, id: number, replayed?: string, edited?: Html) => {
    const m = Number.isSafeInteger(id) ? await deps.store.message(id) : undefined;
    if (!m) return send(req, reply, 'No such message', '/ui/messages', html`<p>No message ${String(id)}.</p>`, 404);
    await deps.store.audit({ at: deps.clock(), who: who(req), what: `message ${m.id}` });
    // the records it feeds and the trace of its values, as the tables in force map it now (nothing stored)
    let records: { facilityId: string; encounterId: string }[] = [];
    let trace: TraceEntry[] = [];
    if (m.raw !== '') {
      const outcome = await remapStored(m, deps.mappings.current, deps.store, deps.defaultFacilityId).catch(() => undefined);
      if (outcome !== undefined && outcome !== 'waiting' && outcome.disposition === 'mapped') {
        const keys = new Map(outcome.records.map((r) => [encounterKey(r.facilityId, r.encounterId), { facilityId: r.facilityId, encounterId: r.encounterId }]));
        records = [...keys.values()];
        trace = outcome.records.flatMap((r) => r.trace);
      }
    }
    const edits = editsNote(await deps.store.messageEdits(m.id));
    return send(req, reply, `Message #${m.id}`, '/ui/messages', html`${edited ?? ''}${edits}${messagePage(m, { records, trace }, ctxOf(req), replayed)}`);
  };
  // edit and reprocess: a copy of the text goes through the normal ingest path as a new message; the original stays as it is
  const editable = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const id = /^\d+$/.test(req.params.id) ? Number(req.params.id) : Number.NaN;
    const m = Number.isSafeInteger(id) ? await deps.store.message(id) : undefined;
    if (!m) {
      await send(req, reply, 'No such message', '/ui/messages', html`<p>No message ${req.params.id}.</p>`, 404);
      return undefined;
    }
    if (m.raw === '') {
      await send(
        req,
        reply,
        `Message #${m.id}`,
        '/ui/messages',
        html`<p class="bad" role="alert">Message #${m.id} has no text to edit (${m.status === 'duplicate' ? 'a resend keeps no copy of its text' : 'purged by retention'}).</p>`,
        409,
      );
      return undefined;
    }
    return m;
  };
  app.get<{ Params: { id: string } }>('/ui/messages/:id/edit', async (req, reply) => {
    const m = await editable(req, reply);
    if (!m) return reply;
    await deps.store.audit({ at: deps.clock(), who: who(req), what: `message ${m.id}` });
    return send(req, reply, `Edit a copy of message #${m.id}`, '/ui/messages', editPage(m, ctxOf(req), { text: editableText(m) }));
  });
  app.post<{ Params: { id: string }; Body: Form }>('/ui/messages/:id/edit', async (req, reply) => {
    const m = await editable(req, reply);
    if (!m) return reply;
    const text = one(req.body?.text);
    const refuse = (error: string) => send(req, reply, `Edit a copy of message #${m.id}`, '/ui/messages', editPage(m, ctxOf(req), { text, error }), 422);
    if (text.trim() === '') return refuse('The copy is empty: nothing to process.');
    if (sameText(m.channel, m.raw, text))
      return refuse('The copy is the same as the original: nothing to process (to map the original again through the tables in force, replay it).');
    const done = await processCopy(deps, m, text, who(req));
    const as =
      done.messageIds.length > 0 ? ` as message(s) ${done.messageIds.join(', ')} (${done.status ?? ''}, ${done.answer})` : `: nothing stored (${done.answer})`;
    await deps.store.audit({ at: deps.clock(), who: who(req), what: `edited message ${m.id}${as}` });
    req.log.info({ event: 'message_edited', from: m.id, messageIds: done.messageIds, answer: done.answer }, 'an edited copy of a message processed (console)');
    if (done.messageIds.length === 0) return refuse(`The copy was refused and nothing was stored (${done.answer}): ${done.refusal ?? ''}`);
    return showMessage(req, reply, done.messageIds[0]!, undefined, editResult(m.id, done));
  });
  app.get<{ Params: { id: string } }>('/ui/messages/:id', async (req, reply) =>
    showMessage(req, reply, /^\d+$/.test(req.params.id) ? Number(req.params.id) : Number.NaN),
  );
  app.post<{ Params: { id: string } }>('/ui/messages/:id/replay', async (req, reply) => {
    const id = /^\d+$/.test(req.params.id) ? Number(req.params.id) : Number.NaN;
    const m = Number.isSafeInteger(id) ? await deps.store.message(id) : undefined;
    if (!m) return send(req, reply, 'No such message', '/ui/messages', html`<p>No message ${req.params.id}.</p>`, 404);
    // who asked goes into the record history of what the replay changes
    const status = await replayOne(deps, id, who(req));
    return showMessage(req, reply, id, status);
  });
  app.post<{ Body: Form }>('/ui/messages/replay', async (req, reply) => {
    const raw = req.body?.id;
    const ids = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((x) => /^\d+$/.test(x)).map(Number);
    const byStatus: Record<string, number> = {};
    const missing: number[] = [];
    for (const id of ids) {
      try {
        const s = await replayOne(deps, id, who(req));
        byStatus[s] = (byStatus[s] ?? 0) + 1;
      } catch (e) {
        if (errorMessage(e).startsWith('no message')) missing.push(id);
        else throw e;
      }
    }
    return send(
      req,
      reply,
      'Replay of the selected messages',
      '/ui/messages',
      html`${replayResultPage({ replayed: ids.length - missing.length, byStatus })}${missing.length > 0 ? html`<p class="bad">No such message: ${missing.join(', ')}</p>` : ''}`,
    );
  });

  // reprocessing: the same operations as /api/reprocess, on the service's one lane, audited alike
  const startRun = async (req: FastifyRequest, reply: FastifyReply, selection: ReprocessSelection, apply: boolean) => {
    const run = await startReprocess(deps, selection, { apply, who: who(req) });
    req.log.info({ event: 'reprocess_started', run: run.id, apply, units: run.total }, 'reprocessing run started (console)');
    return reply.code(303).header('location', `/ui/reprocess/${run.id}`).send();
  };
  const runsList = () => deps.store.reprocessRuns({ limit: PAGE_SIZE });
  app.get('/ui/reprocess', async (req, reply) => send(req, reply, 'Reprocess', '/ui/reprocess', reprocessPage(await runsList(), ctxOf(req))));
  app.post<{ Body: Form }>('/ui/reprocess', async (req, reply) => {
    const f: SelectionForm = {};
    for (const k of [...SELECTION_INPUTS, 'held', 'all'] as const) if (req.body?.[k] !== undefined) f[k] = one(req.body[k]);
    try {
      return await startRun(req, reply, selectionOf(selectionInput(f)), one(req.body?.action) === 'apply');
    } catch (e) {
      if (!(e instanceof BadRequestError)) throw e;
      return send(req, reply, 'Reprocess', '/ui/reprocess', reprocessPage(await runsList(), ctxOf(req), f, e.message), 400);
    }
  });
  const showRun = async (req: FastifyRequest<{ Params: { id: string }; Querystring: { after?: string } }>, reply: FastifyReply, error?: string) => {
    const id = /^\d+$/.test(req.params.id) ? Number(req.params.id) : Number.NaN;
    const run = Number.isSafeInteger(id) ? await deps.store.reprocessRun(id) : undefined;
    if (!run) return send(req, reply, 'No such run', '/ui/reprocess', html`<p>No reprocessing run ${req.params.id}.</p>`, 404);
    const after = /^\d+$/.test(req.query.after ?? '') ? Number(req.query.after) : 0;
    const page = await deps.store.reprocessChanges(run.id, { after, limit: PAGE_SIZE + 1 });
    const items = page.slice(0, PAGE_SIZE);
    // the changes carry encounter ids and field values: a read of patient data, as in the API
    await deps.store.audit({ at: deps.clock(), who: who(req), what: `reprocess run ${run.id} changes` });
    const next = page.length > PAGE_SIZE ? String(items[items.length - 1]!.id) : null;
    const title = `Reprocessing run #${run.id} (${run.apply ? 'applied' : 'preview'})`;
    return send(
      req,
      reply,
      title,
      '/ui/reprocess',
      runPage(run, { changes: items.map((c) => c.change), next, after, ...(error !== undefined ? { error } : {}) }, ctxOf(req)),
      error !== undefined ? 400 : 200,
    );
  };
  app.get<{ Params: { id: string }; Querystring: { after?: string } }>('/ui/reprocess/:id', async (req, reply) => showRun(req, reply));
  app.post<{ Params: { id: string }; Querystring: { after?: string }; Body: Form }>('/ui/reprocess/:id/apply', async (req, reply) => {
    const id = /^\d+$/.test(req.params.id) ? Number(req.params.id) : Number.NaN;
    const earlier = await previewToApply(deps, id, req.params.id);
    if ('error' in earlier) {
      if (earlier.code === 404) return send(req, reply, 'No such run', '/ui/reprocess', html`<p>No reprocessing run ${req.params.id}.</p>`, 404);
      return showRun(req, reply, `Not applied: ${earlier.error}.`);
    }
    return startRun(req, reply, earlier.selection, true);
  });

  app.get<{ Querystring: OrderQuery }>('/ui/orders', async (req, reply) => {
    const q = req.query;
    try {
      const state = oneOf(q.state || undefined, 'state', ORDER_STATES);
      const reason = oneOf(q.reason || undefined, 'reason', ORDER_REASONS);
      const after = q.after === undefined || q.after === '' ? 0 : /^\d+$/.test(q.after) ? Number(q.after) : Number.NaN;
      if (!Number.isSafeInteger(after)) throw new BadRequestError('after: not a cursor of this list');
      const day = dayParam(q.day || undefined, 'day');
      const filter = {
        ...(state ? { state } : {}),
        ...(reason !== undefined ? { reason } : {}),
        ...(q.facility ? { facility: q.facility.trim() } : {}),
        ...(q.encounter ? { encounter: q.encounter.trim() } : {}),
        ...(q.order ? { order: q.order.trim() } : {}),
        ...(q.mrn?.trim() ? { mrn: q.mrn.trim() } : {}),
      };
      // the MRN is PHI: the audit says a search by it was made, not its value
      if (filter.mrn !== undefined) await deps.store.audit({ at: deps.clock(), who: who(req), what: 'orders searched by MRN' });
      // a day is the facility's own, as the Overview counts it
      const days = day !== undefined ? { from: day, to: day, timeZoneOf: zoneOf(deps) } : {};
      const r = await deps.store.orders({ ...filter, ...days, after, limit: PAGE_SIZE });
      await auditListing(deps.store, deps.clock(), who(req), 'orders', r.orders.length, q);
      return await send(req, reply, 'Orders', '/ui/orders', ordersPage(q, r.orders, r.next === null ? null : String(r.next), ctxOf(req)));
    } catch (e) {
      if (!(e instanceof BadRequestError) && !(e instanceof SearchTooWideError)) throw e;
      return send(req, reply, 'Orders', '/ui/orders', ordersPage(q, [], null, ctxOf(req), e.message), 400);
    }
  });
  app.get<{ Params: { id: string } }>('/ui/orders/:id', async (req, reply) => {
    const id = /^\d+$/.test(req.params.id) ? Number(req.params.id) : Number.NaN;
    // the ledger is read by id range: the first order after id - 1 is this one when it exists
    const o = Number.isSafeInteger(id) && id > 0 ? (await deps.store.orders({ after: id - 1, limit: 1 })).orders.find((x) => x.id === id) : undefined;
    if (!o) return send(req, reply, 'No such order', '/ui/orders', html`<p>No order ${req.params.id}.</p>`, 404);
    await deps.store.audit({ at: deps.clock(), who: who(req), what: `order ${o.id}` });
    const messages = (await Promise.all(o.messageIds.map((m) => deps.store.message(m)))).filter((m): m is MessageRow & { raw: string } => m !== undefined);
    const answerStatus = new Map(
      (await deps.store.messageDetails(o.messageIds)).flatMap((d) => (d.answerStatus !== undefined ? [[d.id, d.answerStatus] as const] : [])),
    );
    const key = encounterKey(o.facilityId, o.encounterId);
    const record = o.consultationKey !== null ? await deps.store.record(key) : undefined;
    const consultation = record?.consultations.find((c) => c.consultationKey === o.consultationKey);
    // the transactions that carried it: the one it was last sent in, and those named in its history
    const txIds = [
      ...new Set([...(consultation?.history ?? []).map((h) => h.transactionId), consultation?.transactionId].filter((t): t is string => t !== undefined)),
    ];
    const submissions: Submission[] = [];
    for (const t of (await Promise.all(txIds.map((t) => deps.store.transaction(t))))
      .filter((t) => t !== undefined)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
      const mine = t.records.find((x) => x.encounterKey === key && x.consultationKey === o.consultationKey);
      submissions.push({
        transaction: t,
        ...(mine ? { verdict: { ...(mine.result !== undefined ? { result: mine.result } : {}), problems: mine.problems } } : {}),
      });
    }
    return send(
      req,
      reply,
      `Order ${o.orderNumbers.join(' / ') || `#${o.id}`}`,
      '/ui/orders',
      orderPage(o, { messages, ...(consultation ? { consultation } : {}), submissions, answerStatus }, ctxOf(req)),
    );
  });

  // per encounter of the page, its orders in the ledger and its records' exams (two reads each, at most a page of them)
  const listingsOf = async (rows: readonly RecordSummary[]): Promise<Map<string, RecordListing>> => {
    const out = new Map<string, RecordListing>();
    const encounters = new Map(rows.map((r) => [r.encounterKey, r]));
    await Promise.all(
      [...encounters.values()].map(async (r) => {
        const [orders, record] = await Promise.all([
          deps.store.orders({ facility: r.facilityId, encounter: r.encounterId, limit: 1000 }),
          deps.store.record(r.encounterKey),
        ]);
        for (const c of record?.consultations ?? []) {
          const exam = c.fields.Name_of_Exam_Ordered?.value ?? record?.consultationDefaults.Name_of_Exam_Ordered?.value ?? '';
          out.set(listingKey({ encounterKey: r.encounterKey, consultationKey: c.consultationKey }), {
            orders: orders.orders.filter((o) => o.consultationKey === c.consultationKey),
            exam,
            excluded: c.exclusion !== undefined,
          });
        }
      }),
    );
    return out;
  };
  app.get<{ Querystring: { state?: string; after?: string } }>('/ui/records', async (req, reply) => {
    try {
      const state = oneOf<RecordState>(req.query.state || undefined, 'state', RECORD_STATES);
      const after = decodeCursor(req.query.after, 2);
      const rows = await deps.store.records({
        ...(state ? { state } : {}),
        limit: PAGE_SIZE + 1,
        ...(after ? { after: { encounterKey: after[0]!, consultationKey: after[1]! } } : {}),
      });
      const { items, next } = pageOf(rows, PAGE_SIZE, (last) => encodeCursor([last.encounterKey, last.consultationKey]));
      await auditListing(deps.store, deps.clock(), who(req), 'records', items.length, req.query);
      return await send(req, reply, 'Records', '/ui/records', recordsPage(state, items, next, await listingsOf(items)));
    } catch (e) {
      if (!(e instanceof BadRequestError)) throw e;
      return send(req, reply, 'Records', '/ui/records', html`<p class="bad" role="alert">${e.message}</p>`, 400);
    }
  });
  type RecordParams = { facilityId: string; encounterId: string };
  const showRecord = async (req: FastifyRequest<{ Params: RecordParams }>, reply: FastifyReply, resubmitted?: number, acknowledged?: AcknowledgedBanner) => {
    const r = await deps.store.record(encounterKey(req.params.facilityId, req.params.encounterId));
    if (!r)
      return send(req, reply, 'No such record', '/ui/records', html`<p>No encounter ${req.params.encounterId} at facility ${req.params.facilityId}.</p>`, 404);
    await deps.store.audit({ at: deps.clock(), who: who(req), what: `record ${r.encounterKey}` });
    const view = { ...r, consultations: r.consultations.map((c) => ({ ...c, problems: explainMissing(c.problems, deps.mappings.current) })) };
    const status = acknowledged === undefined ? 200 : acknowledged.result === 'not-found' ? 404 : acknowledged.result === 'not-retraction' ? 409 : 200;
    return send(
      req,
      reply,
      `Record ${r.facilityId} / ${r.encounterId}`,
      '/ui/records',
      recordPage(view, ctxOf(req), resubmitted, await lastSentOf(deps.store, r, deps.sentEncounterId), acknowledged),
      status,
    );
  };
  app.get<{ Params: RecordParams }>('/ui/records/:facilityId/:encounterId', async (req, reply) => showRecord(req, reply));
  app.post<{ Params: RecordParams; Body: Form }>('/ui/records/:facilityId/:encounterId/resubmit', async (req, reply) => {
    const records = await resubmitEncounter(deps, req.params.facilityId, req.params.encounterId, who(req), one(req.body?.reason));
    if (!records)
      return send(req, reply, 'No such record', '/ui/records', html`<p>No encounter ${req.params.encounterId} at facility ${req.params.facilityId}.</p>`, 404);
    // the encounter id is patient data: the access audit names the encounter, the log does not
    req.log.info({ event: 'resubmit', facilityId: req.params.facilityId, records: records.length }, 'rejected records put back to ready (console)');
    return showRecord(req, reply, records.length);
  });

  // the site retracted a consultation at NRDR: the same operation as POST /api/records/{f}/{e}/acknowledge (the store writes the audit entry)
  app.post<{ Params: RecordParams; Body: Form }>('/ui/records/:facilityId/:encounterId/acknowledge', async (req, reply) => {
    const consultation = one(req.body?.consultation);
    const r = await deps.store.acknowledgeConsultationRetraction(
      encounterKey(req.params.facilityId, req.params.encounterId),
      consultation,
      who(req),
      deps.clock(),
    );
    if (r.result === 'acknowledged') req.log.info({ event: 'retraction_acknowledged', facilityId: req.params.facilityId }, 'retraction acknowledged (console)');
    return showRecord(req, reply, undefined, { consultation, ...r });
  });

  app.get<{ Querystring: { after?: string } }>('/ui/transactions', async (req, reply) => {
    const rows = await deps.store.transactions({ newestFirst: true, limit: PAGE_SIZE + 1, ...(req.query.after ? { after: req.query.after } : {}) });
    const { items, next } = pageOf(rows, PAGE_SIZE, (last) => last.transactionId);
    return send(req, reply, 'Transactions', '/ui/transactions', transactionsPage(items, next, ctxOf(req)));
  });
  app.get<{ Params: { id: string } }>('/ui/transactions/:id', async (req, reply) => {
    const t = await deps.store.transaction(req.params.id);
    if (!t) return send(req, reply, 'No such transaction', '/ui/transactions', html`<p>No transaction ${req.params.id}.</p>`, 404);
    await deps.store.audit({ at: deps.clock(), who: who(req), what: `transaction ${t.transactionId}` });
    return send(req, reply, `Transaction ${t.transactionId}`, '/ui/transactions', transactionPage(t, ctxOf(req)));
  });

  const draftsRoot = deps.config.CDSR_BENCH_DRAFTS_DIR;
  app.get('/ui/bench', (req, reply) => send(req, reply, 'Test bench', '/ui/bench', benchPage(ctxOf(req), { text: '', draft: '' })));
  app.post<{ Body: Form }>('/ui/bench', (req, reply) => {
    const text = one(req.body?.text);
    const draft = one(req.body?.draft).trim();
    const loaded = draft === '' ? { tables: deps.mappings.current, dir: '' } : loadDraft(draftsRoot, draft);
    if (!('tables' in loaded)) return send(req, reply, 'Test bench', '/ui/bench', benchPage(ctxOf(req), { text, draft, draftRefused: loaded }), 422);
    const result = runBench(text, loaded.tables, {
      now: deps.clock(),
      ...(deps.defaultFacilityId !== undefined ? { defaultFacilityId: deps.defaultFacilityId } : {}),
    });
    return send(req, reply, 'Test bench', '/ui/bench', draftRelative(benchPage(ctxOf(req), { text, draft, result }), loaded.dir));
  });
  // the bench's messages with what the draft's tables give them, as a site test of the draft folder
  app.post<{ Body: Form }>('/ui/bench/save-test', async (req, reply) => {
    const text = one(req.body?.text);
    const draft = one(req.body?.draft).trim();
    const name = one(req.body?.name).trim();
    if (draft === '')
      return send(
        req,
        reply,
        'Test bench',
        '/ui/bench',
        benchPage(ctxOf(req), { text, draft, testName: name, saved: { refused: 'a site test is saved into a draft folder: give its path' } }),
        422,
      );
    const loaded = loadDraft(draftsRoot, draft);
    if (!('tables' in loaded)) return send(req, reply, 'Test bench', '/ui/bench', benchPage(ctxOf(req), { text, draft, draftRefused: loaded }), 422);
    const dir = join(loaded.dir, TESTS_DIR);
    let r: SaveSiteTest;
    try {
      r = saveSiteTest(loaded.dir, name, siteTestInputs(text), loaded.tables, { replace: one(req.body?.replace) === 'yes' });
    } catch (e) {
      r = { refused: `${dir} cannot be written: ${errorMessage(e)}` };
    }
    if ('saved' in r) {
      await deps.store.audit({ at: deps.clock(), who: who(req), what: `site test ${name} saved in ${dir}: ${r.saved.join(', ')}` });
      req.log.info({ event: 'site_test_saved', files: r.saved.length }, 'site test saved from the test bench (console)');
    }
    const result = runBench(text, loaded.tables, {
      now: deps.clock(),
      ...(deps.defaultFacilityId !== undefined ? { defaultFacilityId: deps.defaultFacilityId } : {}),
    });
    return send(
      req,
      reply,
      'Test bench',
      '/ui/bench',
      draftRelative(benchPage(ctxOf(req), { text, draft, result, testName: name, saved: r }), loaded.dir),
      'saved' in r ? 200 : 'exists' in r ? 409 : 422,
    );
  });
  done();
}
