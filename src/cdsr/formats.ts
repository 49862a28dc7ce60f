// Date and time formats of CDSR values, and the clock rules NRDR applies to them.
// All functions are pure; "now" is always passed in.

export interface CalendarDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

const DATE = /^(0?[1-9]|1[0-2])\/(0?[1-9]|[12]\d|3[01])\/(\d{4})$/;
const TIME = /^([01]\d|2[0-3]):([0-5]\d):([0-5]\d)$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function calendar(year: number, month: number, day: number): CalendarDate | undefined {
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return { year, month, day };
}

/** CD3060: mm/dd/yyyy or m/d/yyyy, and a real calendar day. */
export function parseCdsrDate(value: string): CalendarDate | undefined {
  const m = DATE.exec(value);
  return m ? calendar(Number(m[3]), Number(m[1]), Number(m[2])) : undefined;
}

/** CD3061: hh:mi:ss on the 24-hour clock, two digits each. */
export function isCdsrTime(value: string): boolean {
  return TIME.test(value);
}

export function compareDates(a: CalendarDate, b: CalendarDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

// The registry does not say in which time zone "today" is taken. A value is only called future
// when it is future everywhere: today is the calendar date at UTC+14, the earliest zone on earth,
// so a record dated today in Guam or Honolulu is never refused by our clock.
const LATEST_OFFSET_MS = 14 * 3600_000;

export function latestToday(now: Date): CalendarDate {
  const t = new Date(now.getTime() + LATEST_OFFSET_MS);
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

const FORMATTERS = new Map<string, Intl.DateTimeFormat>();

/** The wall clock of `now` in an IANA time zone, read as UTC milliseconds (so it compares with parsed wall clocks). */
export function wallClockMs(now: Date, timeZone: string): number {
  let f = FORMATTERS.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    FORMATTERS.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(now)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year ?? 0, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0);
}

/** Today's calendar date in `timeZone`; without a zone, at UTC+14 (future only when future everywhere). */
export function todayIn(now: Date, timeZone: string | undefined): CalendarDate {
  if (timeZone === undefined) return latestToday(now);
  // the validator asks once per date field: the answer is kept for the second it was asked in
  const second = Math.floor(now.getTime() / 1000);
  const cached = TODAY.get(timeZone);
  if (cached?.second === second) return cached.date;
  const t = new Date(wallClockMs(now, timeZone));
  const date = { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
  TODAY.set(timeZone, { second, date });
  return date;
}

const TODAY = new Map<string, { second: number; date: CalendarDate }>();

const EPOCH: CalendarDate = { year: 2000, month: 1, day: 1 };

/** CD3130: after 1/1/2000 (strictly, as the message says) and not after today (in `timeZone`, else at UTC+14). */
export function isDateInRange(date: CalendarDate, now: Date, timeZone?: string): boolean {
  return compareDates(date, EPOCH) > 0 && compareDates(date, todayIn(now, timeZone)) <= 0;
}

export function formatCdsrDate(d: CalendarDate): string {
  return `${String(d.month).padStart(2, '0')}/${String(d.day).padStart(2, '0')}/${d.year}`;
}

/**
 * Transaction_DateTime (CD2012): NRDR's example sends "03/04/2022" and answers
 * "2023-02-02T00:00:00", so both US dates (with an optional time, 24-hour or AM/PM) and ISO 8601
 * (with an optional time and offset) are taken. Returns the instant as UTC milliseconds for a
 * value with an offset, or the wall-clock time read as UTC for one without.
 */
export function parseTransactionDateTime(value: string): { ms: number; hasOffset: boolean } | undefined {
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,7})?)?(?:\s*([AaPp][Mm]))?)?$/.exec(value);
  if (us) {
    const [, mo, d, y, h, mi, s, ampm] = us;
    let hour = h === undefined ? 0 : Number(h);
    if (ampm !== undefined) {
      if (hour < 1 || hour > 12) return undefined;
      hour = (hour % 12) + (ampm.toLowerCase() === 'pm' ? 12 : 0);
    }
    return wallClock(Number(y), Number(mo), Number(d), hour, Number(mi ?? 0), Number(s ?? 0), undefined);
  }
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(value);
  if (iso) {
    const [, y, mo, d, h, mi, s, zone] = iso;
    return wallClock(Number(y), Number(mo), Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0), zone);
  }
  return undefined;
}

function wallClock(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  zone: string | undefined,
): { ms: number; hasOffset: boolean } | undefined {
  if (!calendar(year, month, day) || hour > 23 || minute > 59 || second > 59) return undefined;
  let ms = Date.UTC(year, month - 1, day, hour, minute, second);
  if (zone === undefined) return { ms, hasOffset: false };
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offH = Number(digits.slice(0, 2));
    const offM = Number(digits.slice(2));
    if (offH > 14 || offM > 59) return undefined;
    ms -= sign * (offH * 60 + offM) * 60_000;
  }
  return { ms, hasOffset: true };
}

/**
 * CD2013: later than now. A value without an offset is a wall clock: compared with the wall clock
 * of `timeZone` (the facility's), or, without a zone, only future when it is future everywhere.
 */
export function isTransactionDateTimeFuture(parsed: { ms: number; hasOffset: boolean }, now: Date, timeZone?: string): boolean {
  if (parsed.hasOffset) return parsed.ms > now.getTime();
  if (timeZone !== undefined) return parsed.ms > wallClockMs(now, timeZone);
  return parsed.ms > now.getTime() + LATEST_OFFSET_MS;
}

const clockFormats = new Map<string, Intl.DateTimeFormat>();

/** The parts of an instant on the wall clock of `zone` (24-hour, two digits each, the zone's short name), one formatter per zone. */
export function wallClockParts(at: Date, zone: string): Record<'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'timeZoneName', string> {
  let f = clockFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'short',
    });
    clockFormats.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return {
    year: p.year ?? '',
    month: p.month ?? '',
    day: p.day ?? '',
    hour: p.hour ?? '',
    minute: p.minute ?? '',
    second: p.second ?? '',
    timeZoneName: p.timeZoneName ?? '',
  };
}

/** An instant as the wall clock of `zone` shows it: `2026-12-03 23:30:00 CST`. */
export function localTime(at: Date, zone: string): string {
  const p = wallClockParts(at, zone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
}
