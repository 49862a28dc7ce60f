// Reading resources from the EHR's FHIR server (id-only notifications, references the payload
// did not carry), with fhir-kit-client. Only references to the configured server are followed:
// a notification cannot make the adapter fetch an arbitrary URL.
import type { Client } from 'fhir-kit-client';
import type { FhirResource } from './intake.js';
import { AdapterError, errorMessage } from '../cdsr/errors.js';

export class FhirFetchError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FHIR_FETCH', message, options);
  }
}

export interface FetcherOptions {
  readonly baseUrl: string;
  readonly bearerToken?: string;
  readonly timeoutMs?: number;
}

export function createFhirFetcher(opts: FetcherOptions): { read(reference: string): Promise<FhirResource> } {
  const base = opts.baseUrl.replace(/\/+$/, '');
  // the client (fhir-kit-client and its HTTP agents, about 0.1 s of CPU to load) is made at the
  // first read, not when the service starts
  let made: Promise<Client> | undefined;
  const clientOf = () =>
    (made ??= import('fhir-kit-client').then(
      ({ Client }) => new Client({ baseUrl: base, ...(opts.bearerToken !== undefined ? { bearerToken: opts.bearerToken } : {}) }),
    ));
  const timeout = opts.timeoutMs ?? 10_000;
  const reader = {
    async read(reference: string): Promise<FhirResource> {
      let rel = reference;
      if (/^https?:\/\//.test(reference)) {
        if (!reference.startsWith(`${base}/`)) throw new FhirFetchError(`${reference} is not on the configured FHIR server`);
        rel = reference.slice(base.length + 1);
      }
      // a focus given by identifier only: searched, and exactly one match is taken
      const search = /^([A-Z][A-Za-z]+)\?identifier=(.{1,512})$/.exec(rel);
      const client = await clientOf().catch((e: unknown) => {
        throw new FhirFetchError(`${reference}: ${errorMessage(e)}`, { cause: e });
      });
      if (search) return one(reference, await timed(reference, client.search({ resourceType: search[1]!, searchParams: { identifier: search[2]! } })));
      const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/.exec(rel);
      if (!m) throw new FhirFetchError(`${reference} is not a Type/id reference`);
      const [, resourceType, id, version] = m;
      const request =
        version !== undefined ? client.vread({ resourceType: resourceType!, id: id!, version }) : client.read({ resourceType: resourceType!, id: id! });
      const r = await timed(reference, request);
      if (typeof r !== 'object' || r === null || typeof (r as { resourceType?: unknown }).resourceType !== 'string') {
        throw new FhirFetchError(`${reference}: the server did not answer with a resource`);
      }
      return r as FhirResource;
    },
  };
  return reader;

  async function timed(reference: string, request: Promise<unknown>): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FhirFetchError(`${reference}: no answer in ${timeout} ms`)), timeout);
    });
    try {
      return await Promise.race([request, late]);
    } catch (e) {
      throw e instanceof FhirFetchError ? e : new FhirFetchError(`${reference}: ${errorMessage(e)}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The one resource a search Bundle holds; none or several is an error naming the search. */
function one(search: string, bundle: unknown): FhirResource {
  const entries =
    typeof bundle === 'object' && bundle !== null && Array.isArray((bundle as { entry?: unknown }).entry)
      ? ((bundle as { entry: unknown[] }).entry as { resource?: unknown }[])
      : [];
  const found = entries
    .map((e) => e.resource)
    .filter(
      (r): r is FhirResource =>
        typeof r === 'object' &&
        r !== null &&
        typeof (r as { resourceType?: unknown }).resourceType === 'string' &&
        (r as { resourceType: string }).resourceType !== 'OperationOutcome',
    );
  if (found.length === 1) return found[0]!;
  throw new FhirFetchError(`${search}: the FHIR server found ${found.length === 0 ? 'no' : found.length} resource${found.length === 1 ? '' : 's'}`);
}
