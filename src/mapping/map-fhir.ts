// Maps one FHIR resource through fhir.yaml, with its references resolved from a pool of the
// resources at hand (the same Bundle, earlier deliveries, or a FHIR server fetch).
import type { FhirResource, ResourcePool } from '../fhir/intake.js';
import { runTable } from './engine.js';
import type { FhirContext, FhirVariable, MappingTables } from './load.js';
import type { MapOptions } from './map-hl7.js';
import type { MapOutcome } from './outcome.js';
import { orderIdentity } from './merge.js';

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

/**
 * The place of each order resource (a ServiceRequest) among those of one delivery, when it carries
 * several (1 = the first): each one's problems then say whose they are, as those of a message of
 * several OBRs do. Empty for one order or none.
 */
export function orderPlaces(resources: readonly FhirResource[], tables: MappingTables): Map<FhirResource, number> {
  const orders = resources.filter((r) => tables.fhir?.resources.get(r.resourceType) === 'order');
  return new Map(orders.length > 1 ? orders.map((r, i) => [r, i + 1]) : []);
}

/**
 * Maps one resource. `place`: its place among the orders of its delivery when there are several
 * (orderPlaces): every problem then carries `order: {place, numbers}`. A stored message mapped
 * again (a replay) is one resource: its problems name no place.
 */
export function mapFhirResource(resource: FhirResource, pool: ResourcePool, tables: MappingTables, opts: MapOptions = {}, place?: number): MapOutcome {
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
  const identity = r.record ? orderIdentity(r.record) : r.identity;
  const problems = place !== undefined ? r.problems.map((p) => ({ ...p, order: { place, numbers: [...identity.numbers] } })) : r.problems;
  if (!r.record) return { disposition: 'error', problems, ...(role === 'order' ? { orders: [r.identity] } : {}) };
  return { disposition: 'mapped', records: [r.record], problems };
}
