// The fastify application: inbound HL7 v2 and FHIR, health, and the operations API. A thin shell
// over the stages; everything it needs is passed in (store, tables, clock).
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { ingestHl7 } from '../inbound/hl7.js';
import { safeReason } from '../inbound/outcome.js';
import type { AppOptions } from './deps.js';
import { registerFhirRoutes } from './fhir-routes.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerOrderRoutes } from './orders-routes.js';
import { registerResubmitRoutes } from './resubmit-routes.js';
import { registerWorkbenchRoutes } from './workbench-routes.js';
import { registerReprocessRoutes } from './reprocess-routes.js';
import { tablesLabel } from './use-cases/reprocess.js';
import { Reprocessor } from '../inbound/reprocessor.js';
import { consolePlugin } from './console/plugin.js';
import { AdapterError } from '../cdsr/errors.js';
import { answerError, edgeErrorAnswers } from './error-answer.js';
import { findKey, keyRing, needOf, requireRoles } from './roles.js';
import { originOf } from './origin.js';
import { OPENAPI_ANSWER, openApiDocument, recordRoutes } from './openapi.js';
import { healthErrorAnswer, int, obj, route, str, textAnswer } from './schema.js';
import { registerAuthRoutes } from './auth-routes.js';
import { KeyThrottle, recordWrongKey, tooManyFailures } from './key-throttle.js';
import { PAGE_HEADERS } from './page-headers.js';
import { SourceSlots } from './source-slots.js';
import { sharedValidators } from './validators.js';

/** The content types POST /hl7v2 takes (Mirth's HTTP Sender sends x-application/hl7-v2+er7; docs/mirth/ checks its channel against this). */
export const HL7_TYPES = ['application/hl7-v2', 'x-application/hl7-v2+er7', 'application/hl7-v2+er7', 'text/plain', 'application/edi-hl7'];
export const ACK_CONTENT_TYPE = 'x-application/hl7-v2+er7';

function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const k = req.headers['x-api-key'];
  return typeof k === 'string' ? k : undefined;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const c = opts.config;
  const requestMs = (c.CDSR_HTTP_REQUEST_TIMEOUT_S ?? 30) * 1000;
  // Node's own server options: the size of the headers, and how often it looks for requests past
  // their timeouts (30 s by default, which would let a slow sender hold a connection that long)
  const server = { maxHeaderSize: c.CDSR_HTTP_MAX_HEADER_BYTES ?? 16 * 1024, connectionsCheckingInterval: 1000 };
  const app = Fastify({
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key, ...server } } : { http: server }),
    bodyLimit: c.CDSR_BODY_LIMIT_BYTES,
    // a request must arrive whole within this time (a body sent slowly is not held for ever)
    requestTimeout: requestMs,
    connectionTimeout: requestMs,
    // an idle keep-alive connection is not held for fastify's default 72 s
    keepAliveTimeout: (c.CDSR_HTTP_KEEPALIVE_S ?? 5) * 1000,
    // X-Forwarded-For, -Proto and -Host are believed only from the proxies CDSR_TRUST_PROXY lists
    ...((c.CDSR_TRUST_PROXY ?? []).length > 0 ? { trustProxy: [...(c.CDSR_TRUST_PROXY ?? [])] } : {}),
    // a query parameter a route does not declare is refused (400 naming it), never dropped
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // each distinct schema compiled once per process (validators.ts)
    schemaController: { compilersFactory: { buildValidator: sharedValidators } },
    logger: {
      level: opts.config.LOG_LEVEL,
      ...(opts.logStream ? { stream: opts.logStream } : {}),
      // Ids only: the route pattern, never the URL (it may carry an encounter id) nor any body.
      serializers: {
        req: (req: FastifyRequest) => ({ method: req.method, route: req.routeOptions?.url ?? 'unknown', reqId: req.id }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  });

  app.server.maxConnections = c.CDSR_HTTP_MAX_CONNECTIONS ?? 1000;
  // one address may not hold every slot (sockets opened and left idle, reopened as they are closed):
  // past its cap a new connection from it is closed before a byte is read, the others still get in
  const slots = new SourceSlots(c.CDSR_HTTP_MAX_PER_SOURCE ?? 100, (r) =>
    app.log.warn(
      { event: 'http_refused', reason: 'CDSR_HTTP_MAX_PER_SOURCE', source: r.source, refused: r.refused, limit: r.limit },
      'HTTP connections past the cap of their address refused (logged once a minute per address)',
    ),
  );
  app.server.on('connection', (socket: Socket) => void slots.take(socket));
  // the headers, sent slowly, are cut sooner than the whole request
  app.server.headersTimeout = Math.min((c.CDSR_HTTP_HEADERS_TIMEOUT_S ?? 10) * 1000, requestMs);

  // every HTML page, whoever answers it (a route, the error handler, the console), may not be framed (page-headers.ts)
  // (a hook with a callback: an async one costs every answer a promise and a turn of the microtask queue)
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (String(reply.getHeader('content-type') ?? '').startsWith('text/html'))
      for (const [k, v] of Object.entries(PAGE_HEADERS)) if (!reply.hasHeader(k)) void reply.header(k, v);
    done(null, payload);
  });

  // answer schemas document the API; answers are written whole (a schema never cuts a field off)
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // every /api route takes only the query parameters it declares (none, when it declares none)
  app.addHook('onRoute', (r) => {
    if (!r.url.startsWith('/api/')) return;
    const schema = (r.schema ??= {}) as { querystring?: { additionalProperties?: unknown; type?: string; properties?: unknown } };
    if (schema.querystring === undefined) schema.querystring = { type: 'object', properties: {}, additionalProperties: false };
    else schema.querystring.additionalProperties ??= false;
  });
  // every route that documents its answers documents the errors of the edge too (error-answer.ts), its own declarations first
  app.addHook('onRoute', (r) => {
    const schema = r.schema as { response?: Record<number, unknown> } | undefined;
    if (schema?.response === undefined) return;
    for (const method of Array.isArray(r.method) ? r.method : [r.method])
      schema.response = { ...edgeErrorAnswers(method, r.url, r.config?.role), ...schema.response };
  });
  const routes = recordRoutes(app);
  // each route declares the role a key needs to call it (route(role, doc)); the start fails for one that does not
  requireRoles(app);

  for (const type of HL7_TYPES) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  }
  app.addContentTypeParser(['application/fhir+json', 'application/json'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  // every error, thrown anywhere, is answered by its code in the shape of the surface asked (error-answer.ts)
  const edge = {
    bodyLimit: opts.config.CDSR_BODY_LIMIT_BYTES,
    contentTypes: `HL7 v2: ${HL7_TYPES.join(', ')}; FHIR: application/fhir+json`,
    clock: opts.clock,
  };
  app.setErrorHandler((err, req, reply) => answerError(err, req, reply, edge));
  // the default 404 logs and echoes the URL, which may carry patient identifiers
  app.setNotFoundHandler((req, reply) =>
    answerError(new AdapterError('ROUTE_NOT_FOUND', `no such route: ${req.method} (see docs/operations.md for the API)`), req, reply, edge),
  );

  app.decorateRequest('authKey', '');
  const ring = keyRing(opts.config);
  // wrong keys per source address, shared with the console's sign-in (key-throttle.ts)
  const throttle = new KeyThrottle({ maxFailures: c.CDSR_AUTH_MAX_FAILURES ?? 10, windowMs: (c.CDSR_AUTH_FAILURE_WINDOW_S ?? 300) * 1000 }, () =>
    opts.clock().getTime(),
  );
  if (ring.length > 0) {
    app.addHook('onRequest', async (req) => {
      const need = needOf(req.routeOptions.config);
      if (need === 'open') return;
      const given = presentedKey(req);
      if (given === undefined) throw new AdapterError('UNAUTHENTICATED');
      // an address past its wrong keys is refused before its key is compared, the right one too
      const wait = throttle.retryAfter(req.ip);
      if (wait !== undefined) throw tooManyFailures(wait);
      const entry = findKey(ring, given);
      if (!entry) {
        const place = { method: req.method, route: req.routeOptions.url ?? 'no route' };
        await recordWrongKey(throttle, opts.store, opts.clock(), { source: req.ip, key: given, place });
        throw new AdapterError('UNAUTHENTICATED');
      }
      req.authKey = entry.label;
      if (!entry.roles.has(need))
        throw new AdapterError('FORBIDDEN', `this key (${entry.label}) may not do this: it needs the ${need} role`, { details: { role: need } });
    });
  }

  app.post(
    '/hl7v2',
    route('send', {
      summary: 'one HL7 v2 message (ER7) from Mirth or another engine; answered with an HL7 ACK',
      tags: ['inbound'],
      consumes: HL7_TYPES,
      produces: [ACK_CONTENT_TYPE],
      bodyDoc: textAnswer('the ER7 message'),
      response: {
        200: textAnswer('ACK (AA, AE or AR)'),
        400: textAnswer('AR: not HL7, or a line that is not a segment'),
        429: textAnswer('AR: this credential sends faster than CDSR_SEND_RATE / CDSR_SEND_BYTES_RATE; send again after Retry-After'),
        503: textAnswer('AR: cannot store now (or the store is at CDSR_MAX_STORE_BYTES); send again'),
      },
    }),
    async (req, reply) => {
      const raw = typeof req.body === 'string' ? req.body : '';
      const r = await ingestHl7(opts, raw, originOf(req));
      req.log.info({ event: 'hl7v2', messageId: r.messageId, status: r.status, ack: r.code }, 'hl7v2 message');
      if (r.retryAfterS !== undefined) void reply.header('retry-after', String(r.retryAfterS));
      return reply.code(r.httpStatus).type(ACK_CONTENT_TYPE).send(r.ack);
    },
  );

  registerFhirRoutes(app, opts);
  registerOpsRoutes(app, opts);
  registerOrderRoutes(app, opts);
  registerAuthRoutes(app, opts);
  registerResubmitRoutes(app, opts);
  registerWorkbenchRoutes(app, opts);
  const reprocessor = opts.reprocessor ?? new Reprocessor({ ...opts, tablesLabel: () => tablesLabel(opts) }, app.log);
  app.addHook('onClose', () => reprocessor.close());
  registerReprocessRoutes(app, { ...opts, reprocessor });
  // the console starts runs on the same lane as the API: one run at a time for the whole service
  await app.register(consolePlugin, { ...opts, reprocessor, keyThrottle: throttle });

  app.get(
    '/api/openapi.json',
    route('view', { summary: 'this document: the OpenAPI 3.0 description of every route', tags: ['operations'], response: { 200: OPENAPI_ANSWER } }),
    () => openApiDocument(routes, API_VERSION),
  );
  app.get('/healthz', route('open', { summary: 'alive (open)', tags: ['health'], response: { 200: obj({ status: str('ok') }) } }), () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    route('open', {
      summary: 'ready: the store answers a read and a write, the tables are loaded (open)',
      tags: ['health'],
      response: {
        200: obj({ status: str('ready'), mappings: str('the mappings directory'), generation: int('reloads of the tables since start, 1 = as started') }),
        503: healthErrorAnswer,
      },
    }),
    async (_req) => {
      try {
        await opts.store.ping();
        return { status: 'ready', mappings: opts.mappings.dir, generation: opts.mappings.generation };
      } catch (e) {
        // open to anyone: what failed is logged (by code), not answered
        _req.log.warn({ event: 'not_ready', error: safeReason(e) }, 'the store cannot be read or written');
        throw new AdapterError('STORE_UNAVAILABLE', undefined, { cause: e });
      }
    },
  );
  return app;
}

/** The version of the API the OpenAPI document describes. */
export const API_VERSION = '1';
