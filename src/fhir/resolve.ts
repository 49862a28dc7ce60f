// Reference resolution for a FHIR payload: what a resource refers to (patient, encounter,
// coverage, requester, organization) is found in the payload itself, then among resources kept
// earlier, then (when a FHIR server is configured) on that server, following references a few
// levels deep.
import type { Reference, ServiceRequest } from 'fhir/r4.js';
import type { ResourcePool, FhirResource } from './intake.js';

/** Reads a resource from the EHR's FHIR server by (absolute or relative) reference. */
export interface FhirFetcher {
  read(reference: string): Promise<FhirResource>;
}

/** Resources kept from earlier payloads, by `Type/id`. */
export type StoredResourceLookup = (key: string) => Promise<string | undefined>;

/** `Type/id` of a reference (relative, absolute or versioned). */
export const refKey = (reference: string): string => reference.split('/_history/')[0]!.split('/').slice(-2).join('/');

/** The version a resource carries (meta.lastUpdated, else meta.versionId), '' when none. */
export function versionOf(r: FhirResource): string {
  const meta: unknown = r.meta;
  if (typeof meta !== 'object' || meta === null) return '';
  const { lastUpdated, versionId } = meta as { lastUpdated?: unknown; versionId?: unknown };
  const v = lastUpdated ?? versionId;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}

/** A Reference's `reference`, when the element is one. */
function referenceOf(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const ref = (v as Reference).reference as unknown;
  return typeof ref === 'string' ? ref : undefined;
}

/** The elements that refer to what the rules read (ServiceRequest.subject/encounter/insurance/requester, Encounter.serviceProvider, PractitionerRole.practitioner, …). */
function referencesOf(r: FhirResource): string[] {
  const ref = (v: unknown): string[] => {
    const s = referenceOf(v);
    return s === undefined ? [] : [s];
  };
  return [
    ...ref(r.subject),
    ...ref(r.patient),
    ...ref(r.encounter),
    ...ref(Array.isArray(r.insurance) ? (r.insurance as unknown[])[0] : undefined),
    ...ref(r.requester),
    ...ref(r.practitioner),
    ...ref(r.serviceProvider),
  ];
}

/** The revoked form of a stored ServiceRequest (a DELETE is a cancellation), stamped `now`. */
export function revokedServiceRequest(stored: string, now: Date): ServiceRequest {
  const sr = JSON.parse(stored) as ServiceRequest;
  const meta = typeof sr.meta === 'object' && sr.meta !== null ? sr.meta : {};
  return { ...sr, status: 'revoked', meta: { ...meta, lastUpdated: now.toISOString() } };
}

/** Adds to `pool` what `resources` refer to and the pool lacks: stored first, then fetched. */
export async function resolveReferences(
  resources: readonly FhirResource[],
  pool: ResourcePool,
  stored: StoredResourceLookup,
  fetcher?: FhirFetcher,
): Promise<ResourcePool> {
  let frontier = [...resources];
  for (let round = 0; round < 3 && frontier.length > 0; round++) {
    const next: FhirResource[] = [];
    for (const r of frontier) {
      for (const ref of referencesOf(r)) {
        if (pool.resolve(ref)) continue;
        let found: FhirResource | undefined;
        const kept = await stored(refKey(ref));
        if (kept !== undefined) found = JSON.parse(kept) as FhirResource;
        else if (fetcher && !ref.startsWith('urn:')) found = await fetcher.read(ref).catch(() => undefined);
        if (found) {
          pool.add(found, ref);
          next.push(found);
        }
      }
    }
    frontier = next;
  }
  return pool;
}
