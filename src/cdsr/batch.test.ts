// Transaction_DateTime as NRDR reads it: the spec's mm/dd/yyyy form with a 24-hour time, on the
// facility's wall clock (an evening in Chicago is not "tomorrow" in UTC).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatTransactionDateTime, isTimeZone } from './batch.js';
import { loadConfig } from '../config.js';
import { parseFacilities, facilityTimeZones } from '../mapping/facilities.js';

describe('Transaction_DateTime', () => {
  const evening = new Date('2026-11-24T03:30:05Z');
  it("is written on the facility's wall clock", () => {
    assert.equal(formatTransactionDateTime(evening), '11/24/2026 03:30:05');
    assert.equal(formatTransactionDateTime(evening, 'America/Chicago'), '11/23/2026 21:30:05');
    assert.equal(formatTransactionDateTime(new Date('2026-07-01T00:00:00Z'), 'Pacific/Honolulu'), '06/30/2026 14:00:00');
  });

  it("takes each facility's zone from facilities.csv, else the default; a bad zone is named at its line", () => {
    const { facilities, problems } = parseFacilities(
      'facilities.csv',
      'source,facility_id,partner_id,timezone\nGENHOSP,100000,,America/Chicago\nNORTH,100001,,\nBAD,100002,,Mars/Olympus\n',
    );
    assert.deepEqual(
      problems.map((p) => `${p.file}:${p.line}: ${p.message}`),
      ['facilities.csv:4: timezone "Mars/Olympus" is not an IANA time zone such as America/Chicago'],
    );
    const zoneOf = facilityTimeZones(facilities, 'America/New_York');
    assert.deepEqual([zoneOf('100000'), zoneOf('100001')], ['America/Chicago', 'America/New_York']);
  });

  it('CDSR_TIMEZONE is checked at start-up', () => {
    assert.equal(isTimeZone('Europe/Paris'), true);
    assert.throws(() => loadConfig({ CDSR_TIMEZONE: 'Nowhere/Town' }), /CDSR_TIMEZONE: must be an IANA time zone such as America\/Chicago/);
    assert.equal(loadConfig({ CDSR_TIMEZONE: 'America/Denver' }).CDSR_TIMEZONE, 'America/Denver');
  });
});
