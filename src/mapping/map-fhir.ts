// Maps one FHIR resource through fhir.yaml, with its references resolved from a pool of the
// resources at hand (the same Bundle, earlier deliveries, or a FHIR server fetch).
import type { FhirResource, ResourcePool } from '../fhir/intake.js';
import { runTable } from './engine.js';
import type { FhirContext, FhirVariable, MappingTables } from './load.js';
import type { MapOptions } from './map-hl7.js';
import type { MapOutcome } from './outcome.js';

type Json = Record<string, unknown>;
const ref = (v: unknown): string | undefined =>
  typeof v === 'object' && v !== null && typeof (v as Json).reference === 'string' ? ((v as Json).reference as string) : undefined;
const firstOf = (v: unknown): unknown => (Array.isArray(v) ? v[0] : v);

/** The %variables of a resource: its patient, encounter, coverage, requester and organization. */
export function fhirContext(resource: FhirResource, pool: ResourcePool): FhirContext {
  const r = resource as Json;
  const encounter = resource.resourceType === 'Encounter' ? resource : pool.resolve(ref(r.encounter));
  const requesterAny = pool.resolve(ref(r.requester));
  const requesterRole = requesterAny?.resourceType === 'PractitionerRole' ? requesterAny : undefined;
  const requester = requesterRole ? pool.resolve(ref((requesterRole as Json).practitioner)) : requesterAny;
  const vars: Record<FhirVariable, unknown> = {
    patient: pool.resolve(ref(r.subject) ?? ref(r.patient)) ?? null,
    encounter: encounter ?? null,
    coverage: pool.resolve(ref(firstOf(r.insurance))) ?? null,
    requester: requester ?? null,
    requesterRole: requesterRole ?? null,
    organization: pool.resolve(ref((encounter as Json | undefined)?.serviceProvider)) ?? null,
  };
  return { resource, vars };
}

/** Whether fhir.yaml maps this resource type (others only serve as references). */
export function isMappedResource(resource: FhirResource, tables: MappingTables): boolean {
  return tables.fhir?.resources.has(resource.resourceType) ?? false;
}

export function mapFhirResource(resource: FhirResource, pool: ResourcePool, tables: MappingTables, opts: MapOptions = {}): MapOutcome {
  const role = tables.fhir?.resources.get(resource.resourceType);
  if (!tables.fhir || role === undefined) {
    return {
      disposition: 'unsupported',
      problems: [
        {
          code: 'MAP_UNSUPPORTED',
          message: `resource type ${resource.resourceType} is not mapped by fhir.yaml`,
          severity: 'error',
          scope: 'file',
          path: '',
          source: 'resourceType',
        },
      ],
    };
  }
  const meta = (resource as Json).meta as Json | undefined;
  const version = typeof meta?.versionId === 'string' ? `/_history/${meta.versionId}` : '';
  const own = resource.id ? `${resource.resourceType}/${resource.id}` : undefined;
  const r = runTable({
    ctx: fhirContext(resource, pool),
    table: tables.fhir,
    facilities: tables.facilities,
    defaultFacilityId: opts.defaultFacilityId,
    source: { kind: 'fhir', type: resource.resourceType, role, id: `${resource.resourceType}/${resource.id ?? ''}${version}` },
    // an order with no identifier the table reads is known by its resource id, if it has one
    ...(role === 'order' ? { fallbackOrder: { ...(own !== undefined ? { value: own } : {}), what: `the ${resource.resourceType} has no id` } } : {}),
    valueSets: tables.valueSets,
  });
  if (!r.record) return { disposition: 'error', problems: r.problems, ...(role === 'order' ? { orders: [r.identity] } : {}) };
  return { disposition: 'mapped', records: [r.record], problems: r.problems };
}
