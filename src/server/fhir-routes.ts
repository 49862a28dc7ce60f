// The FHIR routes: resources, Bundles and notifications (POST/PUT), DELETE of a ServiceRequest as
// a cancellation. The processing is the inbound stage's (inbound/fhir.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AdapterError } from '../cdsr/errors.js';
import type { IngestDeps } from '../inbound/context.js';
import { revokedServiceRequest } from '../fhir/resolve.js';
import { ingestFhir } from '../inbound/fhir.js';
import { originOf } from './origin.js';
import { anyValue, obj, params, route, arr } from './schema.js';

const FHIR_TYPES = ['application/fhir+json', 'application/json'];
const OUTCOME = obj({ resourceType: { type: 'string', enum: ['OperationOutcome'] }, issue: arr(obj({})) }, 'an OperationOutcome');

export function registerFhirRoutes(app: FastifyInstance, deps: IngestDeps): void {
  const handle = async (body: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const r = await ingestFhir(deps, typeof body === 'string' ? body : '', originOf(req));
    if (r.retryAfterS !== undefined) void reply.header('retry-after', String(r.retryAfterS));
    return reply.code(r.status).type('application/fhir+json').send(r.body);
  };
  // every FHIR endpoint takes what a sender posts: the send role
  const doc = (summary: string, ps?: Record<string, string>) =>
    route('send', {
      summary,
      tags: ['inbound'],
      consumes: FHIR_TYPES,
      produces: ['application/fhir+json'],
      ...(ps ? { params: params(ps) } : {}),
      bodyDoc: anyValue('a FHIR resource, Bundle or subscription notification'),
      response: { 200: OUTCOME, 400: OUTCOME, 422: OUTCOME, 429: OUTCOME, 503: OUTCOME },
    });
  app.post('/fhir', doc('a FHIR resource, Bundle or subscription notification (R4 backport, R4B, R5)'), async (req, reply) => handle(req.body, req, reply));
  app.post('/fhir/:type', doc('a FHIR resource of this type', { type: 'resource type' }), async (req, reply) => handle(req.body, req, reply));
  app.put('/fhir/:type/:id', doc('a FHIR resource, created or updated', { type: 'resource type', id: 'resource id' }), async (req, reply) =>
    handle(req.body, req, reply),
  );
  app.post('/fhir/:type/:id', doc('a FHIR resource, created or updated', { type: 'resource type', id: 'resource id' }), async (req, reply) =>
    handle(req.body, req, reply),
  );
  app.delete<{ Params: { id: string } }>(
    '/fhir/ServiceRequest/:id',
    route('send', {
      summary: 'cancel the order of a ServiceRequest',
      tags: ['inbound'],
      produces: ['application/fhir+json'],
      params: params({ id: 'ServiceRequest id' }),
      response: { 200: OUTCOME, 404: OUTCOME },
    }),
    async (req, reply) => {
      const stored = await deps.store.resource(`ServiceRequest/${req.params.id}`);
      if (stored === undefined) throw new AdapterError('NOT_FOUND', 'no such ServiceRequest here', { details: { field: 'id' } });
      return handle(JSON.stringify(revokedServiceRequest(stored, deps.clock())), req, reply);
    },
  );
}
