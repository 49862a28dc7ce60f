// FHIR intake limits: a payload nested past the limit is refused by name before anything walks it
// recursively (a 40,000-deep resource once overflowed the stack in mapping).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FHIR_MAX_DEPTH, FhirIntakeError, readIntake } from './intake.js';

function nested(depth: number): unknown {
  let v: unknown = { value: 'x' };
  for (let i = 0; i < depth; i++) v = { extension: [v] };
  return { resourceType: 'ServiceRequest', id: 'deep', extension: [v] };
}

describe('readIntake limits', () => {
  it('refuses 40,000 levels of nesting, naming the limit', () => {
    const text = `{"resourceType":"ServiceRequest","id":"deep","extension":[${'{"extension":['.repeat(20_000)}{"value":"x"}${']}'.repeat(20_000)}]}`;
    assert.throws(
      () => readIntake(JSON.parse(text)),
      (e: unknown) =>
        e instanceof FhirIntakeError && e.message === `nested deeper than ${FHIR_MAX_DEPTH} levels (the limit): not a FHIR resource this adapter reads`,
    );
  });

  it('takes a resource at the limit', () => {
    assert.equal(readIntake(nested(FHIR_MAX_DEPTH / 2 - 2)).resources.length, 1);
  });
});
