// The one wire builder: a merged consultation as NRDR receives it (its encounter's fields, its
// own values over the encounter-wide ones, the spec's field order, empty values left out). The
// store hashes and validates this form, the batcher sends it, `map` prints it.
import type { Consultation, Encounter } from '../cdsr/schema.js';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS } from '../cdsr/schema.js';
import { consultationSortKey } from '../cdsr/batch.js';
import { consultationValues, type ConsultationState, type EncounterState } from './merge.js';

function pick(names: readonly string[], values: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (values[n] !== undefined && values[n] !== '') out[n] = values[n];
  return out;
}

/** The wire form of one consultation inside its encounter. */
export function consultationWire(enc: EncounterState, cons: ConsultationState): Encounter {
  const encounterValues: Record<string, string> = { Unique_Encounter_ID: enc.encounterId };
  for (const [k, v] of Object.entries(enc.fields)) encounterValues[k] = v.value;
  const values = { ...consultationValues(enc, cons), CDS_Consultation_Date: cons.date, CDS_Consultation_Time: cons.time };
  return {
    ...(pick(ENCOUNTER_FIELDS, encounterValues) as Omit<Encounter, 'Consultations'>),
    Consultations: [pick(CONSULTATION_FIELDS, values) as Consultation],
  };
}

/** The consultations of an encounter that are to be sent (cancelled ones left out), in time order. */
export function sendableConsultations(enc: EncounterState): { consultationKey: string; cons: ConsultationState }[] {
  return [...enc.consultations]
    .filter(([, cons]) => cons.cancelled?.value !== 'cancelled')
    .map(([consultationKey, cons]) => ({ consultationKey, cons }))
    .sort((a, b) => consultationSortKey(a.cons.date, a.cons.time).localeCompare(consultationSortKey(b.cons.date, b.cons.time)));
}
