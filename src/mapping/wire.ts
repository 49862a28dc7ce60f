// The one wire builder: a merged consultation as NRDR receives it (its encounter's fields, its
// own values over the encounter-wide ones, the spec's field order, empty values left out). The
// store hashes and validates this form, the batcher sends it, `map` prints it.
import type { Consultation, Encounter } from '../cdsr/schema.js';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS } from '../cdsr/schema.js';
import { consultationSortKey } from '../cdsr/batch.js';
import { consultationValue, type ConsultationState, type EncounterState } from './merge.js';

const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * The wire form of one consultation inside its encounter. Read field by field in the spec's order
 * (no intermediate maps: the store builds it for every consultation it evaluates); the same as
 * taking the encounter's values (its id, then its fields) and the consultation's (`consultationValues`,
 * then its key) and keeping, in that order, each field of the spec with a value that is not empty.
 */
export function consultationWire(enc: EncounterState, cons: ConsultationState): Encounter {
  const encounter: Record<string, unknown> = {};
  for (const n of ENCOUNTER_FIELDS) {
    const v = has(enc.fields, n) ? enc.fields[n]!.value : n === 'Unique_Encounter_ID' ? enc.encounterId : undefined;
    if (v !== undefined && v !== '') encounter[n] = v;
  }
  const consultation: Record<string, string> = {};
  for (const n of CONSULTATION_FIELDS) {
    const v =
      n === 'CDS_Consultation_Date'
        ? cons.date
        : n === 'CDS_Consultation_Time'
          ? cons.time
          : has(cons.fields, n) || has(enc.consultationDefaults, n)
            ? consultationValue(enc, cons, n)?.value
            : undefined;
    if (v !== undefined && v !== '') consultation[n] = v;
  }
  encounter.Consultations = [consultation as unknown as Consultation];
  return encounter as unknown as Encounter;
}

/** The consultations of an encounter that are to be sent (cancelled ones left out), in time order. */
export function sendableConsultations(enc: EncounterState): { consultationKey: string; cons: ConsultationState }[] {
  return [...enc.consultations]
    .filter(([, cons]) => cons.cancelled?.value !== 'cancelled')
    .map(([consultationKey, cons]) => ({ consultationKey, cons }))
    .sort((a, b) => consultationSortKey(a.cons.date, a.cons.time).localeCompare(consultationSortKey(b.cons.date, b.cons.time)));
}
