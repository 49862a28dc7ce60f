// Public material we did not write (test/fixtures/public/README.md says where each came from),
// through the shipped tables: the exact values they map to.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResourcePool, type FhirResource } from '../fhir/intake.js';
import { loadMappings, type MappingTables } from './load.js';
import { mapFhirResource } from './map-fhir.js';
import { mapHl7Text } from './map-hl7.js';
import type { MapOutcome } from './outcome.js';
import type { PartialRecord } from './record.js';
import { REPO_ROOT } from '../../test/helpers.js';

const PUBLIC = join(REPO_ROOT, 'test', 'fixtures', 'public');
const SHIPPED = join(REPO_ROOT, 'mappings');
const json = (name: string) => JSON.parse(readFileSync(join(PUBLIC, name), 'utf8')) as FhirResource;
const opts = { defaultFacilityId: '100000' };
let tables: MappingTables;

const record = (o: MapOutcome): PartialRecord => {
  assert.equal(o.disposition, 'mapped', JSON.stringify(o.problems));
  assert.ok(o.disposition === 'mapped');
  assert.equal(o.records.length, 1);
  return o.records[0]!;
};
const rel = (s: string | undefined) => s?.replace(SHIPPED + '/', '');
const rowOf = (file: string, start: string) =>
  `${file}:${
    readFileSync(join(SHIPPED, file), 'utf8')
      .split('\n')
      .findIndex((l) => l.startsWith(start)) + 1
  }`;

before(() => {
  tables = loadMappings(SHIPPED).tables!;
});

describe('public samples through the shipped tables', () => {
  it('FHIR R4 ServiceRequest "di" alone: no encounter to key it by, and that is the only problem', () => {
    const o = mapFhirResource(json('fhir-r4-servicerequest-example-di.json'), new ResourcePool(), tables, opts);
    assert.equal(o.disposition, 'error');
    assert.deepEqual(
      o.problems.map((p) => p.code),
      ['MAP_NO_ENCOUNTER'],
    );
  });

  it('ServiceRequest "di" in the STU3 Encounter "home": Modality 1 from LOINC 24627-2, encounter Encounter/home, Place_of_Service 12', () => {
    const pool = new ResourcePool();
    pool.add(json('fhir-stu3-encounter-example-home.json'));
    // the one field the example lacks: which encounter it was ordered in
    const sr = { ...json('fhir-r4-servicerequest-example-di.json'), encounter: { reference: 'Encounter/home' } } as FhirResource;
    const o = mapFhirResource(sr, pool, tables, opts);
    const r = record(o);
    assert.deepEqual(o.problems, []);
    assert.equal(r.encounterId, 'Encounter/home');
    assert.deepEqual(r.consultationFields, { Place_of_Service: '12', Modality: '1', Name_of_Exam_Ordered: 'Chest CT', Ordered_Exam_Completed: '2' });
    assert.deepEqual(
      r.trace.filter((t) => t.field === 'Modality' || t.field === 'Place_of_Service').map((t) => [t.field, t.path, t.raw, t.value, rel(t.crosswalk)]),
      [
        ['Place_of_Service', '%encounter.class.code | %encounter.class.coding.code', 'HH', '12', rowOf('crosswalks/patient_class.csv', 'HH,')],
        ['Modality', 'code.coding | code.concept.coding', '24627-2', '1', rowOf('crosswalks/procedure_modality.csv', '24627-2,')],
      ],
    );
    assert.deepEqual(r.orderNumbers, ['ServiceRequest/di']);
  });

  it('FHIR STU3 Encounter "home" (no identifier): keyed by its own id', () => {
    const r = record(mapFhirResource(json('fhir-stu3-encounter-example-home.json'), new ResourcePool(), tables, opts));
    assert.deepEqual([r.facilityId, r.encounterId, r.consultationFields], ['100000', 'Encounter/home', { Place_of_Service: '12' }]);
  });

  it('FHIR R4 Encounter "f201": keyed by its identifier, ambulatory → 22', () => {
    const r = record(mapFhirResource(json('fhir-r4-encounter-example-f201.json'), new ResourcePool(), tables, opts));
    assert.deepEqual([r.encounterId, r.consultationFields], ['Encounter_Roel_20130404', { Place_of_Service: '22' }]);
  });

  it('each JSON rendering of an R5 XML example carries exactly the values of the XML beside it', () => {
    for (const name of [
      'fhir-r5-encounter-example-home',
      'fhir-r5-servicerequest-example-di',
      'fhir-r5-notification-heartbeat',
      'fhir-r5-notification-empty',
    ]) {
      const xml = readFileSync(join(PUBLIC, `${name}.xml`), 'utf8').replace(/<!--[\s\S]*?-->/g, '');
      const fromXml = [...xml.matchAll(/<(\w+) value="([^"]*)"/g)].map((m) => m[2]!.replace(/&apos;/g, "'"));
      const fromJson: string[] = [];
      const walk = (v: unknown, key: string): void => {
        if (Array.isArray(v)) v.forEach((x) => walk(x, key));
        else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, k);
        // the narrative is XHTML in both, not a value attribute; resourceType is the XML element's name
        else if (key !== 'div' && key !== 'resourceType') fromJson.push(String(v));
      };
      walk(json(`${name}.json`), '');
      assert.deepEqual(fromJson.sort(), fromXml.sort(), name);
      assert.ok(fromXml.length > 5, name);
    }
  });

  // R5 moved what the tables read: Encounter.class is a list of CodeableConcepts, ServiceRequest.code
  // and .reason are CodeableReferences. Each value is read first hand (no guess mark).
  it('R5 ServiceRequest "di" in the R5 Encounter "home": Place_of_Service 12 from class[].coding, Modality 1 from code.concept, not guesses', () => {
    const pool = new ResourcePool();
    pool.add(json('fhir-r5-encounter-example-home.json'));
    const sr = { ...json('fhir-r5-servicerequest-example-di.json'), encounter: { reference: 'Encounter/home' } } as FhirResource;
    const o = mapFhirResource(sr, pool, tables, opts);
    const r = record(o);
    assert.deepEqual(o.problems, []);
    assert.equal(r.encounterId, 'Encounter/home');
    assert.deepEqual(r.consultationFields, { Place_of_Service: '12', Modality: '1', Name_of_Exam_Ordered: 'Chest CT', Ordered_Exam_Completed: '2' });
    assert.deepEqual(
      r.trace.filter((t) => t.field !== 'Facility_ID').map((t) => [t.field, t.path, t.raw, t.value, rel(t.crosswalk), t.guess]),
      [
        [
          'Unique_Encounter_ID',
          "%encounter.select('Encounter/' + id)",
          'Encounter/home',
          'Encounter/home',
          undefined,
          "fallback: %encounter.select('Encounter/' + id), the 4th of 4 candidates",
        ],
        ['Place_of_Service', '%encounter.class.code | %encounter.class.coding.code', 'HH', '12', rowOf('crosswalks/patient_class.csv', 'HH,'), undefined],
        ['Modality', 'code.coding | code.concept.coding', '24627-2', '1', rowOf('crosswalks/procedure_modality.csv', '24627-2,'), undefined],
        ['Name_of_Exam_Ordered', 'code.text | code.concept.text', 'Chest CT', 'Chest CT', undefined, undefined],
        ['Ordered_Exam_Completed', 'status', 'active', '2', rowOf('crosswalks/exam_completed.csv', 'active,'), undefined],
      ],
    );
  });

  it('R5 Encounter "home" posted alone (kind encounter): Place_of_Service 12 from its own class[].coding', () => {
    const r = record(mapFhirResource(json('fhir-r5-encounter-example-home.json'), new ResourcePool(), tables, opts));
    assert.deepEqual([r.encounterId, r.consultationFields], ['Encounter/home', { Place_of_Service: '12' }]);
    assert.deepEqual(
      r.trace.filter((t) => t.field === 'Place_of_Service').map((t) => [t.path, t.raw, t.value]),
      [['%encounter.class.code | %encounter.class.coding.code', 'HH', '12']],
    );
  });

  it('R5 reason[].concept.coding gives the scenario codes and descriptions; a reason that is a reference gives none', () => {
    const pool = new ResourcePool();
    pool.add(json('fhir-r5-encounter-example-home.json'));
    const sr = {
      ...json('fhir-r5-servicerequest-example-di.json'),
      encounter: { reference: 'Encounter/home' },
      reason: [
        { concept: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'R51.9', display: 'Headache, unspecified' }] } },
        { reference: { reference: 'Condition/c1' } },
        { concept: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'G43.909', display: 'Migraine' }] } },
      ],
    } as FhirResource;
    const o = mapFhirResource(sr, pool, tables, opts);
    const r = record(o);
    assert.deepEqual(o.problems, []);
    assert.deepEqual(
      [r.encounterFields.Clinical_Scenario_Codes, r.encounterFields.Clinical_Scenario_Descriptions],
      ['R51.9,G43.909', 'Headache; unspecified,Migraine'],
    );
    assert.deepEqual(
      [...new Set(r.trace.filter((t) => t.field.startsWith('Clinical_Scenario')).map((t) => `${t.field} ${t.path} ${t.guess ?? ''}`))],
      [
        'Clinical_Scenario_Codes reasonCode.coding.code | reason.concept.coding.code ',
        'Clinical_Scenario_Descriptions reasonCode.coding.display | reason.concept.coding.display ',
      ],
    );
  });

  it('FHIR-Converter ORM^O01 (v2.6): Modality 1 from OBR-4 24725-4^CT Head^LN, PV1-2 O → 22, OBR-25 S → 2', () => {
    const o = mapHl7Text(readFileSync(join(PUBLIC, 'fhir-converter-ORM-O01-01.hl7'), 'utf8'), tables, opts);
    const r = record(o);
    assert.deepEqual(o.problems, []);
    assert.deepEqual([r.facilityId, r.encounterId, r.orderNumbers], ['100000', '5001', ['1101', '1201']]);
    assert.deepEqual(
      {
        Place_of_Service: r.consultationFields.Place_of_Service,
        Modality: r.consultationFields.Modality,
        Name_of_Exam_Ordered: r.consultationFields.Name_of_Exam_Ordered,
        Ordered_Exam_Completed: r.consultationFields.Ordered_Exam_Completed,
      },
      { Place_of_Service: '22', Modality: '1', Name_of_Exam_Ordered: 'CT Head', Ordered_Exam_Completed: '2' },
    );
    assert.deepEqual(
      r.trace.filter((t) => t.field === 'Modality').map((t) => [t.path, t.raw, rel(t.crosswalk)]),
      [['OBR-4.1', '24725-4', rowOf('crosswalks/procedure_modality.csv', '24725-4,')]],
    );
  });
});
