// Times in the console: the facility's local time with its zone's name, UTC on hover.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { when, zoneIn } from './html.js';

describe('console times', () => {
  it('shows local time with the zone, UTC in the title; across a UTC midnight in America/Chicago', () => {
    assert.equal(
      when('2026-12-04T05:30:00.000Z', 'America/Chicago').text,
      '<time datetime="2026-12-04T05:30:00.000Z" title="2026-12-04 05:30:00 UTC">2026-12-03 23:30:00 CST</time>',
    );
    assert.equal(
      when('2026-12-04T06:30:00.000Z', 'America/Chicago').text,
      '<time datetime="2026-12-04T06:30:00.000Z" title="2026-12-04 06:30:00 UTC">2026-12-04 00:30:00 CST</time>',
    );
    assert.equal(when('2026-12-04T06:30:00Z').text, '<time datetime="2026-12-04T06:30:00Z" title="2026-12-04 06:30:00 UTC">2026-12-04 06:30:00 UTC</time>');
  });

  it('tells the repeated hour of the day DST ends apart by its zone name', () => {
    assert.equal(
      when('2026-11-01T06:30:00.000Z', 'America/Chicago').text,
      '<time datetime="2026-11-01T06:30:00.000Z" title="2026-11-01 06:30:00 UTC">2026-11-01 01:30:00 CDT</time>',
    );
    assert.equal(
      when('2026-11-01T07:30:00.000Z', 'America/Chicago').text,
      '<time datetime="2026-11-01T07:30:00.000Z" title="2026-11-01 07:30:00 UTC">2026-11-01 01:30:00 CST</time>',
    );
  });

  it("shows what is not an instant as it is, escaped; the zone is the facility's, else the adapter's, else UTC", () => {
    assert.equal(when('').text, '');
    assert.equal(when('<soon>', 'America/Chicago').text, '&lt;soon&gt;');
    const zoneOf = (f: string) => (f === '100000' ? 'America/Chicago' : 'Europe/Paris');
    assert.deepEqual([zoneIn({ zoneOf }, '100000'), zoneIn({ zoneOf }), zoneIn({}, '100000')], ['America/Chicago', 'Europe/Paris', 'UTC']);
  });
});
