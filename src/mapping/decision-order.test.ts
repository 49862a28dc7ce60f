// The order of decisions for each order of a message: who the order is (its numbers) before
// anything else, so an order without any number is named as such and never keyed on an empty
// string; and a consultation key that was only guessed is said to be one when it collides.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResourcePool, type FhirResource } from '../fhir/intake.js';
import { applyMessage } from '../store/derive.js';
import { loadMappings, type MappingTables } from './load.js';
import { mapFhirResource } from './map-fhir.js';
import { mapHl7Text } from './map-hl7.js';
import { MergeState } from './merge.js';
import { REPO_ROOT } from '../../test/helpers.js';

const SAMPLES = join(REPO_ROOT, 'samples');
const sample = (path: string) => readFileSync(join(SAMPLES, path), 'utf8');
let tables: MappingTables;

before(() => {
  const t = loadMappings(join(REPO_ROOT, 'mappings')).tables;
  assert.ok(t);
  tables = t;
});

describe('an order is identified first', () => {
  const request = () => JSON.parse(sample('fhir/01-servicerequest.json')) as Record<string, unknown>;
  const pool = () => {
    const p = new ResourcePool();
    for (const r of (JSON.parse(sample('fhir/03-bundle-transaction.json')) as { entry: { resource: FhirResource }[] }).entry) p.add(r.resource);
    return p;
  };

  it('a ServiceRequest with neither identifier nor id is an error naming the missing order key, its order held without numbers', () => {
    const { identifier: _i, id: _id, ...rest } = request();
    const o = mapFhirResource(rest as FhirResource, pool(), tables, { defaultFacilityId: '100000' });
    assert.equal(o.disposition, 'error');
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.severity, p.message]),
      [
        [
          'MAP_NO_ORDER',
          'error',
          "no order number: identifier.where(type.coding.code = 'PLAC').value, identifier.where(type.coding.code = 'FILL').value are empty and the ServiceRequest has no id; an order needs a placer or filler number to be reported, updated or cancelled",
        ],
      ],
    );
    assert.ok(o.disposition === 'error');
    assert.deepEqual(
      o.orders?.map((x) => x.numbers),
      [[]],
    );
  });

  it('a ServiceRequest with an id and no identifier is known by ServiceRequest/<id>', () => {
    const { identifier: _i, ...rest } = request();
    const o = mapFhirResource(rest as FhirResource, pool(), tables, { defaultFacilityId: '100000' });
    assert.ok(o.disposition === 'mapped', JSON.stringify(o.problems));
    assert.deepEqual(o.records[0]!.orderNumbers, ['ServiceRequest/sr-1001']);
  });

  it('an HL7 order with no placer or filler number anywhere is an error naming the four paths', () => {
    const raw = sample('hl7v2/01-orm-new.hl7').replace('ORC|NW|ORD1001^EHR|ACC2001^RIS|', 'ORC|NW|||').replace('OBR|1|ORD1001^EHR|ACC2001^RIS|', 'OBR|1|||');
    const o = mapHl7Text(raw, tables);
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.message, p.source]),
      [
        [
          'MAP_NO_ORDER',
          'no order number: OBR-2.1, ORC-2.1, OBR-3.1, ORC-3.1 are empty; an order needs a placer or filler number to be reported, updated or cancelled',
          'OBR-2.1 | ORC-2.1 | OBR-3.1 | ORC-3.1',
        ],
      ],
    );
  });

  it('two OBRs of one ORC whose consultation time is only the ORC-9 fallback collide, and the collision says the key was guessed', () => {
    const obr = (set: number, code: string) => `OBR|${set}|ORD10${set}^EHR|ACC20${set}^RIS|${code}^CT^CPT||||||||||||1234567893^ORDER^ANN||||||||CT|SC`;
    const raw = sample('hl7v2/01-orm-new.hl7')
      .split('\r')
      .filter((l) => !/^(OBR|OBX)\|/.test(l))
      .concat([obr(1, '70450'), obr(2, '70486')])
      .join('\r');
    const outcome = mapHl7Text(raw, tables);
    const done = applyMessage(new MergeState(), outcome, 1, new Date('2026-11-02T15:00:00Z'));
    assert.equal(done.status, 'error');
    assert.deepEqual(
      done.problems.filter((p) => p.code === 'MERGE_COLLISION').map((p) => p.message),
      [
        'order ORD102 / ACC202 has the consultation date and time 11/02/2026 09:30:15 of order ORD101 / ACC201 in encounter V0001: two orders cannot share one CDSR consultation, so it is held and nothing of it merged; its date and time were only guessed (fallback: ORC-9, the 5th of 5 candidates): if ORC-9 is not when this feed\'s consultation was made, list a better source first or limit it with "when:" (mappings/README.md)',
      ],
    );
  });
});
