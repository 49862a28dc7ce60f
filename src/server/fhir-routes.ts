// The FHIR routes: resources, Bundles and notifications (POST/PUT), DELETE of a ServiceRequest as
// a cancellation. The processing is the inbound stage's (inbound/fhir.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IngestDeps } from '../inbound/context.js';
import { revokedServiceRequest } from '../fhir/resolve.js';
import { ingestFhir } from '../inbound/fhir.js';
import { operationOutcome } from '../inbound/outcome.js';
import { originOf } from './origin.js';

export function registerFhirRoutes(app: FastifyInstance, deps: IngestDeps): void {
  const handle = async (body: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const r = await ingestFhir(deps, typeof body === 'string' ? body : '', originOf(req));
    return reply.code(r.status).type('application/fhir+json').send(r.body);
  };
  app.post('/fhir', async (req, reply) => handle(req.body, req, reply));
  app.post('/fhir/:type', async (req, reply) => handle(req.body, req, reply));
  app.put('/fhir/:type/:id', async (req, reply) => handle(req.body, req, reply));
  app.post('/fhir/:type/:id', async (req, reply) => handle(req.body, req, reply));
  app.delete<{ Params: { id: string } }>('/fhir/ServiceRequest/:id', async (req, reply) => {
    const stored = await deps.store.resource(`ServiceRequest/${req.params.id}`);
    if (stored === undefined) return reply.code(404).type('application/fhir+json').send(operationOutcome([{ severity: 'error', code: 'not-found', diagnostics: 'no such ServiceRequest here' }]));
    return handle(JSON.stringify(revokedServiceRequest(stored, deps.clock())), req, reply);
  });
}
