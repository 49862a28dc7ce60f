import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { propertyDepth, runsAt } from './runs.js';

describe('property test depth (CDSR_PROPERTY_RUNS)', () => {
  it('runs a quarter of the full depth by default, at least 25 cases and never more than the full depth', () => {
    assert.equal(propertyDepth(undefined), 'quick');
    assert.equal(propertyDepth('quick'), 'quick');
    assert.deepEqual(
      [5000, 1500, 300, 150, 100, 60, 20].map((n) => runsAt(n, 'quick')),
      [1250, 375, 75, 38, 25, 25, 20],
    );
  });

  it('runs the full depth, or a multiple of it, when asked', () => {
    assert.equal(runsAt(1500, propertyDepth('full')), 1500);
    assert.equal(runsAt(150, propertyDepth('4')), 600);
    assert.equal(runsAt(3, propertyDepth('0.1')), 1);
  });

  it('refuses a depth it cannot read, naming the variable', () => {
    for (const bad of ['deep', '0', '-1', 'NaN']) {
      assert.throws(() => propertyDepth(bad), { message: `CDSR_PROPERTY_RUNS=${bad}: expected quick, full or a positive number to scale the full depth by` });
    }
  });
});
