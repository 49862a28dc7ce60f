// Fuzz: random bytes and random mutations of the samples through the HL7 and FHIR mappers never
// throw, map the same input the same way twice, and keep what the merge and the store rely on:
// a mapped record has its keys, names only CDSR fields, and merging it again changes nothing;
// anything not mapped says why (unsupported and invalid with their own codes).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadMappings, type MappingTables } from './load.js';
import { mapHl7Text } from './map-hl7.js';
import { mapFhirResource } from './map-fhir.js';
import { FhirIntakeError, readIntake, ResourcePool } from '../fhir/intake.js';
import { MergeState } from './merge.js';
import type { MapOutcome } from './outcome.js';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS } from '../cdsr/schema.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { runs } from '../../test/runs.js';

let tables: MappingTables;
const read = (sub: string) => readdirSync(join(REPO_ROOT, 'samples', sub)).map((f) => readFileSync(join(REPO_ROOT, 'samples', sub, f), 'utf8'));

const mutate = (samples: string[], alphabet: string[]) =>
  fc
    .tuple(fc.constantFrom(...samples), fc.nat(), fc.nat({ max: 40 }), fc.string({ maxLength: 10, unit: fc.constantFrom(...alphabet) }))
    .map(([s, at, del, ins]) => s.slice(0, at % s.length) + ins + s.slice((at % s.length) + del));

const FIELDS = new Set<string>(['Facility_ID', ...ENCOUNTER_FIELDS, ...CONSULTATION_FIELDS]);

/** What every outcome of a mapper must keep, whatever the input. */
function checkOutcome(out: MapOutcome): void {
  if (out.disposition === 'mapped') {
    assert.ok(out.records.length > 0);
    for (const r of out.records) {
      assert.ok(r.facilityId !== '' && r.encounterId !== '', 'a mapped record without its keys');
      for (const name of [...Object.keys(r.encounterFields), ...Object.keys(r.consultationFields), ...r.trace.map((t) => t.field)]) {
        assert.ok(FIELDS.has(name), `${name} is not a CDSR field`);
      }
      // merging the same record again changes nothing (a resend is harmless)
      const state = new MergeState();
      state.apply(r);
      assert.deepEqual(state.apply(r).changed, []);
    }
    return;
  }
  assert.ok(out.problems.length > 0, `${out.disposition} without a problem saying why`);
  if (out.disposition === 'unsupported') assert.deepEqual([...new Set(out.problems.map((p) => p.code))], ['MAP_UNSUPPORTED']);
  if (out.disposition === 'invalid') assert.deepEqual([...new Set(out.problems.map((p) => p.code))], ['HL7_INVALID']);
  if (out.disposition === 'error')
    assert.ok(
      out.problems.some((p) => p.severity === 'error'),
      'an error outcome without an error',
    );
}

describe('mapper fuzz', () => {
  before(() => {
    const r = loadMappings(join(REPO_ROOT, 'mappings'));
    if (!r.tables) throw new Error('shipped mappings do not load');
    tables = r.tables;
  });

  it('HL7: random text and mutated samples always give a disposition; mapped ones merge', () => {
    const samples = read('hl7v2');
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), mutate(samples, ['|', '^', '~', '\\', '&', '\r', '\n', 'X', '9', ' ', 'F'])), (raw) => {
        const out = mapHl7Text(raw, tables);
        assert.deepEqual(mapHl7Text(raw, tables), out, 'the same input mapped two ways');
        checkOutcome(out);
      }),
      { numRuns: runs(1500) },
    );
  });

  it('FHIR: mutated sample JSON always gives a disposition or an intake error', () => {
    const samples = read('fhir');
    fc.assert(
      fc.property(mutate(samples, ['{', '}', '[', ']', '"', ':', ',', 'a', '1', 'null', ' ']), (text) => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return;
        }
        try {
          const intake = readIntake(json);
          const pool = new ResourcePool();
          pool.addIntake(intake);
          for (const r of intake.resources) checkOutcome(mapFhirResource(r, pool, tables));
        } catch (e) {
          if (!(e instanceof FhirIntakeError)) throw e;
        }
      }),
      { numRuns: runs(1500) },
    );
  });

  it('FHIR: values of the wrong JSON type where FHIRPath reads do not throw', () => {
    const sr = JSON.parse(read('fhir')[0]!) as Record<string, unknown>;
    fc.assert(
      fc.property(
        fc.constantFrom('authoredOn', 'status', 'code', 'extension', 'identifier', 'encounter', 'meta', 'reasonCode'),
        fc.jsonValue(),
        (key, value) => {
          const r = { ...sr, [key]: value } as { resourceType: string };
          checkOutcome(mapFhirResource(r, new ResourcePool(), tables));
        },
      ),
      { numRuns: runs(1000) },
    );
  });
});
