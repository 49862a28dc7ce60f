// Messages whose one unmapped value is known: the worklist tests and the browser test fill an
// error queue with them (the sample order with its control id, encounter and order numbers made
// unique, and one of Modality, patient class or sex changed to a code no crosswalk has).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

export type UnmappedField = 'Modality' | 'Place_of_Service' | 'Patient_Sex';

/** Where each field's value lies in the sample, and the crosswalk that maps it. */
const AT: Record<UnmappedField, { from: string; to: (v: string) => string; table: string; code: string; also?: readonly [string, string] }> = {
  // OBR-4 becomes a local code too: with its CPT the modality would be found from the procedure
  Modality: { from: '|CT|SC', to: (v) => `|${v}|SC`, table: 'crosswalks/modality.csv', code: '1', also: ['^CPT|', '^L|'] },
  Place_of_Service: { from: 'PV1|1|E|', to: (v) => `PV1|1|${v}|`, table: 'crosswalks/patient_class.csv', code: '23' },
  Patient_Sex: { from: '|19700101|F|', to: (v) => `|19700101|${v}|`, table: 'crosswalks/patient_sex.csv', code: 'U' },
};

export interface UnmappedCase {
  readonly field: UnmappedField;
  readonly value: string;
  readonly count: number;
}

/** Seven values, 50 messages. */
export const SEVEN: readonly UnmappedCase[] = [
  { field: 'Modality', value: 'ZA', count: 12 },
  { field: 'Modality', value: 'ZB', count: 9 },
  { field: 'Modality', value: 'ZC', count: 8 },
  { field: 'Modality', value: 'ZD', count: 6 },
  { field: 'Place_of_Service', value: 'PA', count: 6 },
  { field: 'Place_of_Service', value: 'PB', count: 5 },
  { field: 'Patient_Sex', value: 'Q', count: 4 },
];

export const tableOf = (f: UnmappedField): string => AT[f].table;
/** A valid ACR code for the field (what the analyst would fill in). */
export const codeFor = (f: UnmappedField): string => AT[f].code;

/** The n-th message (1-based), with `value` in `field`. */
export function unmappedMessage(n: number, field: UnmappedField, value: string): string {
  const id = String(n).padStart(4, '0');
  return ORM.replace('MSG0001', `WL${id}`)
    .replace('V0001^', `WV${id}^`)
    .replaceAll('ORD1001', `WO${id}`)
    .replaceAll('ACC2001', `WA${id}`)
    .replace('urn:uuid:9a1c3e52-6f0d-4c7e-9a55-0c2f1b7d4e01', `urn:uuid:9a1c3e52-6f0d-4c7e-9a55-0c2f1b7d${id}`)
    .replace(AT[field].from, AT[field].to(value))
    .replace(AT[field].also?.[0] ?? '', AT[field].also?.[1] ?? '');
}

/** The messages of `cases` interleaved (round robin), so that each value's messages are spread over the queue. */
export function unmappedMessages(cases: readonly UnmappedCase[]): { raw: string; c: UnmappedCase }[] {
  const left = cases.map((c) => ({ c, n: c.count }));
  const out: { raw: string; c: UnmappedCase }[] = [];
  while (left.some((l) => l.n > 0)) {
    for (const l of left) {
      if (l.n === 0) continue;
      l.n--;
      out.push({ raw: unmappedMessage(out.length + 1, l.c.field, l.c.value), c: l.c });
    }
  }
  return out;
}
