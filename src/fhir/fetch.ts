// Reading resources from the EHR's FHIR server (id-only notifications, references the payload
// did not carry), with fhir-kit-client. Only references to the configured server are followed:
// a notification cannot make the adapter fetch an arbitrary URL.
import { Client } from 'fhir-kit-client';
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
  const client = new Client({ baseUrl: base, ...(opts.bearerToken !== undefined ? { bearerToken: opts.bearerToken } : {}) });
  const timeout = opts.timeoutMs ?? 10_000;
  return {
    async read(reference: string): Promise<FhirResource> {
      let rel = reference;
      if (/^https?:\/\//.test(reference)) {
        if (!reference.startsWith(`${base}/`)) throw new FhirFetchError(`${reference} is not on the configured FHIR server`);
        rel = reference.slice(base.length + 1);
      }
      const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/.exec(rel);
      if (!m) throw new FhirFetchError(`${reference} is not a Type/id reference`);
      const [, resourceType, id, version] = m;
      const request = version !== undefined ? client.vread({ resourceType: resourceType!, id: id!, version }) : client.read({ resourceType: resourceType!, id: id! });
      let timer: NodeJS.Timeout | undefined;
      const timed = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new FhirFetchError(`${reference}: no answer in ${timeout} ms`)), timeout);
      });
      try {
        const r = (await Promise.race([request, timed])) as unknown;
        if (typeof r !== 'object' || r === null || typeof (r as { resourceType?: unknown }).resourceType !== 'string') {
          throw new FhirFetchError(`${reference}: the server did not answer with a resource`);
        }
        return r as FhirResource;
      } catch (e) {
        throw e instanceof FhirFetchError ? e : new FhirFetchError(`${reference}: ${errorMessage(e)}`);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
