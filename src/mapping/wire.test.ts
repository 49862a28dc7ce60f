import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS, type Encounter } from '../cdsr/schema.js';
import { consultationValues, type ConsultationState, type EncounterState, type FieldMap } from './merge.js';
import { consultationWire } from './wire.js';
import { runs } from '../../test/runs.js';

// consultationWire as it was written before it read field by field: the encounter's values (its id,
// then its fields), the consultation's (consultationValues, then its key), each picked in the spec's
// order when not empty. The store hashes the JSON of what it gives, so the order of keys counts too.
function wireByMaps(enc: EncounterState, cons: ConsultationState): Encounter {
  const pick = (names: readonly string[], values: Readonly<Record<string, string>>) => {
    const out: Record<string, string> = {};
    for (const n of names) if (values[n] !== undefined && values[n] !== '') out[n] = values[n];
    return out;
  };
  const encounterValues: Record<string, string> = { Unique_Encounter_ID: enc.encounterId };
  for (const [k, v] of Object.entries(enc.fields)) encounterValues[k] = v.value;
  const values = { ...consultationValues(enc, cons), CDS_Consultation_Date: cons.date, CDS_Consultation_Time: cons.time };
  return {
    ...(pick(ENCOUNTER_FIELDS, encounterValues) as Omit<Encounter, 'Consultations'>),
    Consultations: [pick(CONSULTATION_FIELDS, values) as Encounter['Consultations'][number]],
  };
}

describe('consultationWire', () => {
  const encounterNames = [...ENCOUNTER_FIELDS, 'Not_A_Field'];
  const consultationNames = [...CONSULTATION_FIELDS, 'Not_A_Field'];
  const value = fc.record({
    value: fc.constantFrom('', 'A', '1', 'x y'),
    time: fc.constantFrom('', '20260101', '20260102'),
    seq: fc.nat({ max: 3 }),
    source: fc.constant('M1'),
  });
  // fields in any order, some empty, some not in the spec, the key fields among them
  const fieldMap = (names: readonly string[]): fc.Arbitrary<FieldMap> =>
    fc.uniqueArray(fc.tuple(fc.constantFrom(...names), value), { selector: ([n]) => n, maxLength: names.length }).map((e) => Object.fromEntries(e));

  it('gives what the maps gave, keys in the same order', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('', 'E1'),
        fieldMap(encounterNames),
        fieldMap(consultationNames),
        fieldMap(consultationNames),
        fc.constantFrom('', '01/02/2026'),
        fc.constantFrom('', '10:00:00'),
        (encounterId, fields, consultationDefaults, own, date, time) => {
          const cons: ConsultationState = { date, time, fields: own };
          const enc = { facilityId: 'F', encounterId, fields, consultationDefaults, consultations: new Map([['k', cons]]) } as unknown as EncounterState;
          assert.equal(JSON.stringify(consultationWire(enc, cons)), JSON.stringify(wireByMaps(enc, cons)));
        },
      ),
      { numRuns: runs(3000) },
    );
  });

  it('writes a consultation as the spec orders its fields, the newer of its own and the encounter-wide value', () => {
    const at = (value: string, time: string, seq: number) => ({ value, time, seq, source: 'M1' });
    const cons: ConsultationState = {
      date: '01/02/2026',
      time: '10:00:00',
      fields: { CDS_Consultation_Time: at('99:99:99', '20260101', 1), Modality: at('111', '20260101', 1) },
    };
    const enc = {
      facilityId: 'F',
      encounterId: 'E1',
      fields: { Patient_Sex: at('F', '20260101', 1), Clinical_Scenario_Codes: at('', '20260101', 1) },
      consultationDefaults: { Modality: at('222', '20260102', 2) },
      consultations: new Map([['k', cons]]),
    } as unknown as EncounterState;
    assert.deepEqual(consultationWire(enc, cons), {
      Unique_Encounter_ID: 'E1',
      Patient_Sex: 'F',
      Consultations: [{ CDS_Consultation_Date: '01/02/2026', CDS_Consultation_Time: '10:00:00', Modality: '222' }],
    });
  });
});
