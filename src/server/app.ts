// The fastify application: inbound HL7 v2 and FHIR, health, and the operations API. A thin shell
// over the stages; everything it needs is passed in (store, tables, clock).
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { IngestDeps, MappingSource } from '../inbound/context.js';
import { ingestHl7 } from '../inbound/hl7.js';
import { safeReason } from '../inbound/outcome.js';
import { StoreUnavailableError, type Store } from '../store/store.js';
import { registerFhirRoutes } from './fhir-routes.js';
import { registerOpsRoutes } from './ops-routes.js';
import { registerOrderRoutes } from './orders-routes.js';
import { registerWorkbenchRoutes } from './workbench-routes.js';
import { consolePlugin } from './console/plugin.js';
import { BadRequestError } from './query.js';
import { findKey, keyRing, needFor, type RoleConfig } from './roles.js';
import { originOf } from './origin.js';
import type { Submitter } from '../outbound/submitter.js';
import type { MappingHolder } from '../mapping/holder.js';

export interface AppOptions extends IngestDeps {
  readonly store: Store;
  readonly mappings: MappingSource & { readonly dir: string; readonly generation: number; readonly lastReload?: MappingHolder['lastReload'] };
  readonly config: Pick<Config, 'CDSR_BODY_LIMIT_BYTES' | 'LOG_LEVEL'> & Partial<Pick<Config, 'CDSR_HTTP_REQUEST_TIMEOUT_S' | 'CDSR_HTTP_MAX_CONNECTIONS'>> & RoleConfig;
  /** PEM certificate and key: the listener speaks HTTPS. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** Where pino writes (default stdout). */
  readonly logStream?: NodeJS.WritableStream;
  /** The outbound stage, when this process submits (not in every test). */
  readonly submitter?: Submitter;
}

const HL7_TYPES = ['application/hl7-v2', 'x-application/hl7-v2+er7', 'application/hl7-v2+er7', 'text/plain', 'application/edi-hl7'];
export const ACK_CONTENT_TYPE = 'x-application/hl7-v2+er7';

function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const k = req.headers['x-api-key'];
  return typeof k === 'string' ? k : undefined;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    bodyLimit: opts.config.CDSR_BODY_LIMIT_BYTES,
    // a request must arrive whole within this time (a body sent slowly is not held for ever)
    requestTimeout: (opts.config.CDSR_HTTP_REQUEST_TIMEOUT_S ?? 30) * 1000,
    connectionTimeout: (opts.config.CDSR_HTTP_REQUEST_TIMEOUT_S ?? 30) * 1000,
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

  app.server.maxConnections = opts.config.CDSR_HTTP_MAX_CONNECTIONS ?? 1000;

  for (const type of HL7_TYPES) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  }
  app.addContentTypeParser(['application/fhir+json', 'application/json'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: { statusCode?: number; message: string; code?: string }, req, reply) => {
    if (err instanceof BadRequestError) return reply.code(400).send({ error: err.message });
    // the store unavailable now: the sender retries (503); a failure of ours: 500, named
    const status = err instanceof StoreUnavailableError ? 503 : (err.statusCode ?? 500);
    if (status === 413) {
      return reply.code(413).type('text/plain').send(`request body larger than the limit of ${opts.config.CDSR_BODY_LIMIT_BYTES} bytes (CDSR_BODY_LIMIT_BYTES)\n`);
    }
    if (status === 415) {
      return reply.code(415).type('text/plain').send(`unsupported content type; HL7 v2: ${HL7_TYPES.join(', ')}; FHIR: application/fhir+json\n`);
    }
    // codes only: a framework or driver message may quote the URL or a value
    req.log.error({ err: { code: err.code ?? 'INTERNAL', status } }, 'request failed');
    if (status === 503) return reply.code(503).type('text/plain').send('the adapter cannot take this request now; send it again\n');
    if (status >= 500) return reply.code(status).type('text/plain').send(`the adapter failed on this request (${err.code ?? 'INTERNAL'}); see its log\n`);
    return reply.code(status).type('text/plain').send(`the request cannot be read (${err.code ?? `HTTP ${status}`})\n`);
  });

  // the default 404 logs and echoes the URL, which may carry patient identifiers
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no such route: ${req.method} (see README for the API)` }));

  app.decorateRequest('authKey', '');
  const ring = keyRing(opts.config);
  if (ring.length > 0) {
    app.addHook('onRequest', async (req, reply) => {
      const need = needFor(req.method, req.routeOptions.url);
      if (need === 'open') return;
      const given = presentedKey(req);
      const entry = given === undefined ? undefined : findKey(ring, given);
      if (!entry) {
        await reply.code(401).header('www-authenticate', 'Bearer').type('text/plain').send('missing or wrong credentials (Authorization: Bearer <key> or X-API-Key)\n');
        return;
      }
      req.authKey = entry.label;
      if (!entry.roles.has(need)) {
        await reply.code(403).type('text/plain').send(`this key (${entry.label}) may not do this: it needs the ${need} role\n`);
        return;
      }
    });
  }

  app.post('/hl7v2', async (req, reply) => {
    const raw = typeof req.body === 'string' ? req.body : '';
    const r = await ingestHl7(opts, raw, originOf(req));
    req.log.info({ event: 'hl7v2', messageId: r.messageId, status: r.status, ack: r.code }, 'hl7v2 message');
    return reply.code(r.httpStatus).type(ACK_CONTENT_TYPE).send(r.ack);
  });

  registerFhirRoutes(app, opts);
  registerOpsRoutes(app, opts);
  registerOrderRoutes(app, opts);
  registerWorkbenchRoutes(app, opts);
  await app.register(consolePlugin, opts);

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await opts.store.ping();
      return { status: 'ready', mappings: opts.mappings.dir, generation: opts.mappings.generation };
    } catch (e) {
      // open to anyone: what failed is logged (by code), not answered
      _req.log.warn({ event: 'not_ready', error: safeReason(e) }, 'the store cannot be read or written');
      return reply.code(503).send({ status: 'unavailable' });
    }
  });
  return app;
}
