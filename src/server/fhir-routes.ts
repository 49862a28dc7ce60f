// Inbound FHIR: resources, Bundles and subscription notifications (R4 backport, R4B, R5), answered
// with OperationOutcome (DESIGN §6). References are resolved from the payload, then from
// resources stored earlier, then (when FHIR_SERVER_URL is set) from the FHIR server; id-only
// notifications are fetched there, and kept as pending when the fetch fails.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Problem } from '../cdsr/problem.js';
import { FhirIntakeError, readIntake, ResourcePool, type FhirResource, type Intake } from '../fhir/intake.js';
import { isMappedResource, mapFhirResource } from '../mapping/map-fhir.js';
import { StoreUnavailableError, type Store } from '../store/store.js';
import type { IngestDeps, Origin } from './hl7-ingest.js';
import { originOf } from './origin.js';

/** Reads a resource from the EHR's FHIR server by (absolute or relative) reference. */
export interface FhirFetcher {
  read(reference: string): Promise<FhirResource>;
}

export interface FhirDeps extends IngestDeps {
  readonly fhirFetcher?: FhirFetcher;
}

type Json = Record<string, unknown>;

function outcome(issues: { severity: 'information' | 'warning' | 'error'; code: string; diagnostics: string }[]) {
  return { resourceType: 'OperationOutcome', issue: issues };
}

function issuesOf(problems: readonly Problem[]) {
  return problems.map((p) => ({
    severity: p.severity === 'warning' ? ('warning' as const) : ('error' as const),
    code: p.code.startsWith('MAP_') ? 'code-invalid' : 'processing',
    diagnostics: `${p.code}: ${p.message}`,
    ...(p.source ? { expression: [p.source] } : {}),
  }));
}

const refKey = (reference: string): string => reference.split('/_history/')[0]!.split('/').slice(-2).join('/');
const versionOf = (r: FhirResource): string => {
  const meta = (r as Json).meta as Json | undefined;
  const v = meta?.lastUpdated ?? meta?.versionId;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
};

/** A reference pool filled from the store (and the FHIR server) for what a resource refers to. */
export async function contextPool(resources: readonly FhirResource[], base: ResourcePool, store: Store, fetcher?: FhirFetcher): Promise<ResourcePool> {
  const refsOf = (r: FhirResource): string[] => {
    const j = r as Json;
    const ref = (v: unknown) => (typeof v === 'object' && v !== null && typeof (v as Json).reference === 'string' ? [(v as Json).reference as string] : []);
    return [
      ...ref(j.subject),
      ...ref(j.patient),
      ...ref(j.encounter),
      ...ref(Array.isArray(j.insurance) ? j.insurance[0] : undefined),
      ...ref(j.requester),
      ...ref(j.practitioner),
      ...ref(j.serviceProvider),
    ];
  };
  let frontier = [...resources];
  for (let round = 0; round < 3 && frontier.length > 0; round++) {
    const next: FhirResource[] = [];
    for (const r of frontier) {
      for (const ref of refsOf(r)) {
        if (base.resolve(ref)) continue;
        let found: FhirResource | undefined;
        const stored = await store.resource(refKey(ref));
        if (stored !== undefined) found = JSON.parse(stored) as FhirResource;
        else if (fetcher && !ref.startsWith('urn:')) found = await fetcher.read(ref).catch(() => undefined);
        if (found) {
          base.add(found, ref);
          next.push(found);
        }
      }
    }
    frontier = next;
  }
  return base;
}

export async function ingestFhir(deps: FhirDeps, body: string, origin: Origin): Promise<{ status: number; body: object }> {
  const { contentType, auth } = origin;
  const now = deps.clock();
  if (body.trim() === '') return { status: 200, body: outcome([{ severity: 'information', code: 'informational', diagnostics: 'empty notification (ping) received' }]) };
  let intake: Intake;
  try {
    intake = readIntake(JSON.parse(body) as unknown);
  } catch (e) {
    const why = e instanceof FhirIntakeError ? e.message : `not JSON: ${(e as Error).message}`;
    return { status: 400, body: outcome([{ severity: 'error', code: 'structure', diagnostics: why }]) };
  }
  const isNotification = intake.notification !== undefined;
  if (intake.notification && intake.notification.subscription !== '') {
    const numbers = intake.notification.events.map((e) => Number(e.eventNumber)).filter((n) => Number.isSafeInteger(n) && n > 0);
    const since = Number(intake.notification.eventsSinceStart);
    try {
      await deps.store.recordEvents(intake.notification.subscription, numbers, Number.isSafeInteger(since) ? since : undefined, now);
    } catch (e) {
      if (!(e instanceof StoreUnavailableError)) throw e;
      return { status: 503, body: outcome([{ severity: 'error', code: 'transient', diagnostics: 'the adapter cannot store this now; send it again' }]) };
    }
  }
  const sender = intake.notification?.subscription ?? 'fhir';
  const resources = [...intake.resources];
  const problems: Problem[] = [];
  const pending: string[] = [];
  for (const focus of intake.missingFocus) {
    const fetched = deps.fhirFetcher ? await deps.fhirFetcher.read(focus).catch((e: unknown) => e as Error) : new Error('FHIR_SERVER_URL is not set');
    if (fetched instanceof Error) pending.push(focus);
    else resources.push(fetched);
  }
  const pool = new ResourcePool();
  pool.addIntake(intake);
  for (const r of resources) pool.add(r);
  let applied = 0;
  let failed = 0;
  try {
    for (const focus of pending) {
      const meta = { channel: 'fhir' as const, sender, controlId: `pending:${refKey(focus)}`, contentType, auth, raw: JSON.stringify({ pendingFocus: focus }), receivedAt: now };
      await deps.store.ingest(meta, {
        disposition: 'error',
        problems: [{ code: 'FHIR_FETCH', message: `${focus} could not be fetched from the FHIR server; kept for retry`, severity: 'error', scope: 'file', path: '' }],
      });
      problems.push({ code: 'FHIR_FETCH', message: `${focus} could not be fetched; kept for retry (replay pending)`, severity: 'warning', scope: 'file', path: '' });
    }
    await contextPool(resources, pool, deps.store, deps.fhirFetcher);
    for (const r of resources) {
      const key = `${r.resourceType}/${r.id ?? ''}`;
      const raw = JSON.stringify(r);
      if (!isMappedResource(r, deps.mappings.current)) {
        if (r.id !== undefined) await deps.store.saveResources([{ key, version: versionOf(r), body: raw }], 0);
        continue;
      }
      let out = mapFhirResource(r, pool, deps.mappings.current, deps);
      const meta = { channel: 'fhir' as const, sender, controlId: `${key}/_history/${versionOf(r)}`, contentType, auth, raw, receivedAt: now };
      const result = await deps.store.ingest(meta, out).catch((e: unknown) => {
        if (e instanceof StoreUnavailableError) throw e;
        // a failure of ours on this resource: kept in the error queue, replayable
        out = {
          disposition: 'error',
          problems: [{ code: 'INTERNAL_ERROR', message: `the adapter failed on ${key} (${e instanceof Error ? e.message : String(e)}); it is kept for replay`, severity: 'error', scope: 'file', path: '' }],
        };
        return deps.store.ingest(meta, out);
      });
      if (r.id !== undefined) await deps.store.saveResources([{ key, version: versionOf(r), body: raw }], result.messageId);
      problems.push(...out.problems);
      if (out.disposition === 'mapped' || result.status === 'duplicate') applied++;
      else failed++;
    }
  } catch (e) {
    if (!(e instanceof StoreUnavailableError)) throw e;
    return { status: 503, body: outcome([{ severity: 'error', code: 'transient', diagnostics: 'the adapter cannot store this now; send it again' }]) };
  }
  const summary = { severity: 'information' as const, code: 'informational', diagnostics: `${applied} resource(s) applied, ${failed} kept in the error queue, ${pending.length} pending fetch` };
  const body2 = outcome([summary, ...issuesOf(problems)]);
  if (isNotification) return { status: 200, body: body2 };
  return { status: failed > 0 ? 422 : 200, body: body2 };
}

export function registerFhirRoutes(app: FastifyInstance, deps: FhirDeps): void {
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
    if (stored === undefined) return reply.code(404).type('application/fhir+json').send(outcome([{ severity: 'error', code: 'not-found', diagnostics: 'no such ServiceRequest here' }]));
    const sr = JSON.parse(stored) as Json;
    const now = deps.clock().toISOString();
    const revoked = { ...sr, status: 'revoked', meta: { ...((sr.meta as Json | undefined) ?? {}), lastUpdated: now } };
    return handle(JSON.stringify(revoked), req, reply);
  });
}
