// What the inbound stage needs to process a message, whatever the transport (HTTP, MLLP, replay).
import type { FhirFetcher } from '../fhir/resolve.js';
import type { MappingTables } from '../mapping/load.js';
import type { InboundLog, ResourceCache } from '../store/store.js';

/** The mapping tables in force (hot-reloaded by the holder). */
export interface MappingSource {
  readonly current: MappingTables;
}

export interface IngestDeps {
  readonly store: InboundLog & ResourceCache;
  readonly mappings: MappingSource;
  readonly clock: () => Date;
  readonly defaultFacilityId?: string;
  /** The EHR's FHIR server, when FHIR_SERVER_URL is set. */
  readonly fhirFetcher?: FhirFetcher;
}

/** How a message arrived: its content type and the credential or listener (for the audit). */
export interface Origin {
  readonly contentType: string;
  readonly auth: string;
}
