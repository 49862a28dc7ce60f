import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  isCdsrTime,
  isDateInRange,
  isTransactionDateTimeFuture,
  latestToday,
  parseCdsrDate,
  parseTransactionDateTime,
  todayIn,
  wallClockMs,
} from './formats.js';

describe('CDSR dates and times', () => {
  it('parses mm/dd/yyyy and m/d/yyyy, real calendar days only', () => {
    assert.deepEqual(parseCdsrDate('03/04/2022'), { year: 2022, month: 3, day: 4 });
    assert.deepEqual(parseCdsrDate('3/4/2022'), { year: 2022, month: 3, day: 4 });
    assert.deepEqual(parseCdsrDate('2/29/2024'), { year: 2024, month: 2, day: 29 });
    for (const bad of ['2/29/2023', '13/01/2022', '00/10/2022', '1/32/2022', '2022-03-04', '03/04/22', '03-04-2022', ' 3/4/2022x']) {
      assert.equal(parseCdsrDate(bad), undefined, bad);
    }
  });

  it('times are hh:mi:ss on the 24-hour clock', () => {
    for (const ok of ['00:00:00', '23:59:59', '15:08:33']) assert.equal(isCdsrTime(ok), true, ok);
    for (const bad of ['24:00:00', '7:05:00', '15:08', '15:60:00', '03:08:33 PM']) assert.equal(isCdsrTime(bad), false, bad);
  });

  it('a date is in range after 1/1/2000 and up to today at UTC+14', () => {
    const now = new Date('2026-06-15T12:00:00Z'); // already 06/16 at UTC+14
    assert.deepEqual(latestToday(now), { year: 2026, month: 6, day: 16 });
    assert.equal(isDateInRange({ year: 2026, month: 6, day: 16 }, now), true);
    assert.equal(isDateInRange({ year: 2026, month: 6, day: 17 }, now), false);
    assert.equal(isDateInRange({ year: 2000, month: 1, day: 1 }, now), false);
    assert.equal(isDateInRange({ year: 2000, month: 1, day: 2 }, now), true);
  });

  it('Transaction_DateTime: US and ISO forms, future only when future everywhere', () => {
    const now = new Date('2026-06-15T12:00:00Z');
    const p = (v: string) => parseTransactionDateTime(v);
    assert.deepEqual(p('03/04/2022'), { ms: Date.UTC(2022, 2, 4), hasOffset: false });
    assert.deepEqual(p('3/4/2022 1:05 PM'), { ms: Date.UTC(2022, 2, 4, 13, 5), hasOffset: false });
    assert.deepEqual(p('3/4/2022 12:05:00 am'), { ms: Date.UTC(2022, 2, 4, 0, 5), hasOffset: false });
    assert.deepEqual(p('2023-02-02T00:00:00'), { ms: Date.UTC(2023, 1, 2), hasOffset: false });
    assert.deepEqual(p('2023-02-02T00:00:00-05:00'), { ms: Date.UTC(2023, 1, 2, 5), hasOffset: true });
    for (const bad of ['', 'now', '2023-02-30', '13/01/2022', '3/4/2022 13:00 PM', '2023-02-02T25:00:00', '2023-02-02T00:00:00+15:00']) {
      assert.equal(p(bad), undefined, bad);
    }
    assert.equal(isTransactionDateTimeFuture(p('2026-06-15T12:00:01Z')!, now), true);
    assert.equal(isTransactionDateTimeFuture(p('2026-06-15T12:00:00Z')!, now), false);
    assert.equal(isTransactionDateTimeFuture(p('2026-06-16T01:59:59')!, now), false); // already past at UTC+14
    assert.equal(isTransactionDateTimeFuture(p('2026-06-16T02:00:01')!, now), true);
  });
});

describe('"now" in a facility time zone', () => {
  it('today and Transaction_DateTime read on the wall clock of the zone, DST included', () => {
    // 2026-06-15 03:30 UTC = 06/14 22:30 in Chicago (CDT, UTC-5), 06/15 05:30 in Berlin (CEST)
    const now = new Date('2026-06-15T03:30:00Z');
    assert.deepEqual(todayIn(now, 'America/Chicago'), { year: 2026, month: 6, day: 14 });
    assert.deepEqual(todayIn(now, 'Europe/Berlin'), { year: 2026, month: 6, day: 15 });
    assert.deepEqual(todayIn(now, undefined), { year: 2026, month: 6, day: 15 });
    assert.equal(isDateInRange({ year: 2026, month: 6, day: 15 }, now, 'America/Chicago'), false);
    assert.equal(isDateInRange({ year: 2026, month: 6, day: 14 }, now, 'America/Chicago'), true);
    const p = (v: string) => parseTransactionDateTime(v)!;
    assert.equal(isTransactionDateTimeFuture(p('06/14/2026 22:30:00'), now, 'America/Chicago'), false);
    assert.equal(isTransactionDateTimeFuture(p('06/14/2026 22:30:01'), now, 'America/Chicago'), true);
    // the +14 h grace would have let this one through
    assert.equal(isTransactionDateTimeFuture(p('06/14/2026 23:00:00'), now), false);
    // an explicit offset is an instant: the zone does not matter
    assert.equal(isTransactionDateTimeFuture(p('2026-06-15T03:30:01Z'), now, 'Pacific/Kiritimati'), true);
    // winter: Chicago is UTC-6
    const jan = new Date('2026-01-15T05:30:00Z');
    assert.equal(wallClockMs(jan, 'America/Chicago'), Date.UTC(2026, 0, 14, 23, 30));
    assert.equal(wallClockMs(new Date('2026-01-15T00:00:00Z'), 'UTC'), Date.UTC(2026, 0, 15, 0, 0));
  });
});
