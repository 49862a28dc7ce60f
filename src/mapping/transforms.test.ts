import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyTransform, sortableTime, TransformError } from './transforms.js';

describe('transforms', () => {
  it('date and time from HL7 DTM and FHIR dateTime, wall clock as sent', () => {
    const cases: [string, string, string][] = [
      ['20261102093015', '11/02/2026', '09:30:15'],
      ['202611020930', '11/02/2026', '09:30:00'],
      ['20261102093015.1234-0500', '11/02/2026', '09:30:15'],
      ['2026-11-02T09:30:15-05:00', '11/02/2026', '09:30:15'],
      ['2026-11-02T09:30:15.123Z', '11/02/2026', '09:30:15'],
      ['2026-11-02T09:30Z', '11/02/2026', '09:30:00'],
    ];
    for (const [v, d, t] of cases) {
      assert.equal(applyTransform(v, 'date'), d, v);
      assert.equal(applyTransform(v, 'time'), t, v);
    }
    assert.equal(applyTransform('20261102', 'date'), '11/02/2026');
    assert.equal(applyTransform('2026-11-02', 'date'), '11/02/2026');
  });

  it('refuses what is not a date, or has no time of day, saying so', () => {
    assert.throws(
      () => applyTransform('20261302', 'date'),
      (e: unknown) => e instanceof TransformError && e.message === '"20261302" is not a date (HL7 YYYYMMDD[HHMM[SS]] or FHIR YYYY-MM-DD[Thh:mm:ss])',
    );
    assert.throws(
      () => applyTransform('20261102', 'time'),
      (e: unknown) => e instanceof TransformError && e.message === '"20261102" has no time of day',
    );
    assert.throws(() => applyTransform('20261102256000', 'time'), TransformError);
    assert.throws(() => applyTransform('yesterday', 'date'), TransformError);
  });

  it('text transforms', () => {
    assert.equal(applyTransform('  a b ', 'trim'), 'a b');
    assert.equal(applyTransform('g1014', 'upper'), 'G1014');
    assert.equal(applyTransform('CT', 'lower'), 'ct');
    assert.equal(applyTransform('(555) 123-4567', 'digits'), '5551234567');
    assert.equal(applyTransform('  CT head', 'first_word'), 'CT');
    assert.equal(applyTransform('Headache, unspecified, again', { replace: [',', ';'] }), 'Headache; unspecified; again');
    assert.equal(applyTransform('abcdef', { max_length: 3 }), 'abc');
  });

  it('sortable times compare as the wall clocks do, and never throw (property)', () => {
    assert.equal(sortableTime('20261102093015'), '2026-11-02T09:30:15');
    assert.equal(sortableTime('2026-11-02T09:30:15-05:00'), '2026-11-02T09:30:15');
    assert.equal(sortableTime('x'), undefined);
    fc.assert(
      fc.property(fc.string(), (s) => {
        for (const t of ['date', 'time'] as const) {
          try {
            applyTransform(s, t);
          } catch (e) {
            assert.ok(e instanceof TransformError);
          }
        }
        void sortableTime(s);
      }),
    );
  });
});
