import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { recordsIn } from './backfill-serve.js';

describe('the backfill through serve reads its /metrics', () => {
  const metrics = [
    '# HELP cdsr_records Consultations by record state.',
    '# TYPE cdsr_records gauge',
    'cdsr_records{state="ready"} 12',
    'cdsr_records{state="accepted"} 99988',
    'cdsr_records_accepted_total{state="accepted"} 5',
  ].join('\n');

  it('takes the count of one state, and that state only', () => {
    assert.equal(recordsIn(metrics, 'accepted'), 99988);
    assert.equal(recordsIn(metrics, 'ready'), 12);
  });

  it('counts a state serve does not list as none', () => {
    assert.equal(recordsIn(metrics, 'rejected'), 0);
    assert.equal(recordsIn('', 'accepted'), 0);
  });
});
