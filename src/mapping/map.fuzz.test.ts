// Fuzz: random bytes and random mutations of the samples through the HL7 and FHIR mappers never
// throw; they always end in a disposition with problems or a record.
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
import { REPO_ROOT } from '../../test/helpers.js';

let tables: MappingTables;
const read = (sub: string) => readdirSync(join(REPO_ROOT, 'samples', sub)).map((f) => readFileSync(join(REPO_ROOT, 'samples', sub, f), 'utf8'));

const mutate = (samples: string[], alphabet: string[]) =>
  fc
    .tuple(fc.constantFrom(...samples), fc.nat(), fc.nat({ max: 40 }), fc.string({ maxLength: 10, unit: fc.constantFrom(...alphabet) }))
    .map(([s, at, del, ins]) => s.slice(0, at % s.length) + ins + s.slice((at % s.length) + del));

describe('mapper fuzz', () => {
  before(() => {
    const r = loadMappings(join(REPO_ROOT, 'mappings'));
    if (!r.tables) throw new Error('shipped mappings do not load');
    tables = r.tables;
  });

  it('HL7: random text and mutated samples always give a disposition; mapped ones merge', () => {
    const samples = read('hl7v2');
    const state = new MergeState();
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), mutate(samples, ['|', '^', '~', '\\', '&', '\r', '\n', 'X', '9', ' ', 'F'])), (raw) => {
        const out = mapHl7Text(raw, tables);
        assert.ok(['mapped', 'error', 'unsupported', 'invalid'].includes(out.disposition));
        if (out.disposition === 'mapped') for (const r of out.records) state.apply(r);
        else assert.ok(out.problems.length > 0);
      }),
      { numRuns: 1500 },
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
          for (const r of intake.resources) {
            const out = mapFhirResource(r, pool, tables);
            assert.ok(['mapped', 'error', 'unsupported'].includes(out.disposition));
          }
        } catch (e) {
          if (!(e instanceof FhirIntakeError)) throw e;
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('FHIR: values of the wrong JSON type where FHIRPath reads do not throw', () => {
    const sr = JSON.parse(read('fhir')[0]!) as Record<string, unknown>;
    fc.assert(
      fc.property(fc.constantFrom('authoredOn', 'status', 'code', 'extension', 'identifier', 'encounter', 'meta', 'reasonCode'), fc.jsonValue(), (key, value) => {
        const r = { ...sr, [key]: value } as { resourceType: string };
        const out = mapFhirResource(r, new ResourcePool(), tables);
        assert.ok(['mapped', 'error', 'unsupported'].includes(out.disposition));
      }),
      { numRuns: 1000 },
    );
  });
});
