// FHIR payloads written for the tests from the shipped samples: a transaction Bundle of two
// ServiceRequests of one patient and encounter, the second with a procedure code no crosswalk
// row maps (CPT 99999), so that one of the two is kept in the error queue and the request is 422.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers.js';

type Json = Record<string, unknown>;

/** The sample transaction Bundle (Patient MRN0001, encounter V0001, ServiceRequest ORD1001/ACC2001) with a second ServiceRequest ORD1002/ACC2002 of code 99999. */
export function bundleOfTwoServiceRequests(): string {
  const bundle = JSON.parse(readFileSync(join(REPO_ROOT, 'samples', 'fhir', '03-bundle-transaction.json'), 'utf8')) as { entry: Json[] };
  const first = bundle.entry.find((e) => (e.resource as Json).resourceType === 'ServiceRequest')!;
  const second = JSON.parse(
    JSON.stringify(first)
      .replaceAll('sr-1001', 'sr-1002')
      .replaceAll('ORD1001', 'ORD1002')
      .replaceAll('ACC2001', 'ACC2002')
      .replaceAll('"70450"', '"99999"')
      .replaceAll('2b0f7d0e-0001-4000-8000-000000000006', '2b0f7d0e-0001-4000-8000-000000000007'),
  ) as Json;
  bundle.entry.push(second);
  return JSON.stringify(bundle);
}
