// What the inbound stage needs to process a message, whatever the transport (HTTP, MLLP, replay).
import type { FhirFetcher } from '../fhir/resolve.js';
import type { MappingTables } from '../mapping/load.js';
import type { InboundLog, ResourceCache } from '../store/store.js';
import type { Admission } from './admission.js';
import type { Hl7Mapped } from './hl7-map.js';

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
  /** Mapping workers for large HL7 texts (map-pool.ts); without it everything maps in this thread. */
  readonly mapPool?: Hl7MapWorkers;
  /** Rates per credential and the store's ceiling (admission.ts); without it every message is taken. */
  readonly admission?: Admission;
}

/** Maps an ER7 text off the main thread (undefined: map it here after all). */
export interface Hl7MapWorkers {
  readonly minBytes: number;
  /** With `onDisk` (a number from `diskSnapshot`): mapped with the tables as they are on disk now, not those in force (the dry run). */
  map(raw: string, onDisk?: number): Promise<Hl7Mapped | undefined>;
  /** A new reading of the tables on disk: each worker loads them once for the jobs that name it. */
  diskSnapshot?(): number;
  /** Several texts mapped with the tables on disk in one job (the dry run): per text null when it maps, else its problems as JSON text. */
  mapBatch?(raws: readonly string[], onDisk: number): Promise<(string | null)[] | undefined>;
}

/** How a message arrived: its content type and the credential or listener (for the audit). */
export interface Origin {
  readonly contentType: string;
  readonly auth: string;
  /**
   * A copy an operator edited from a stored message (the console): stored with a link to it. FHIR
   * keeps the original's sender (a subscription is named by the notification, which the copy of
   * one resource no longer is); HL7 reads its sender from MSH as always.
   */
  readonly edit?: { readonly messageId: number; readonly by: string; readonly sender: string };
}
