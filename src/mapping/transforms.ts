// Value transforms of the rule tables. Dates and times keep the wall clock of the value as sent
// (an offset is not applied): CDSR wants the facility's local date and time.
import type { TransformSpec } from './rules.js';
import { AdapterError } from '../cdsr/errors.js';

export class TransformError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MAP_TRANSFORM', message, options);
  }
}

const pad = (n: string | number, w = 2) => String(n).padStart(w, '0');

interface WallClock {
  year: string;
  month: string;
  day: string;
  hour?: string;
  minute?: string;
  second?: string;
}

// HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]; FHIR date / dateTime / instant.
const HL7_TS = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?(\d{2})?(?:\.\d{1,4})?)?(?:[+-]\d{4})?$/;
const FHIR_DT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

function wallClock(value: string): WallClock | undefined {
  const v = value.trim();
  const m = HL7_TS.exec(v) ?? FHIR_DT.exec(v);
  if (!m) return undefined;
  const [, year, month, day, hour, minute, second] = m;
  const mo = Number(month);
  const d = Number(day);
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(Number(year), mo, 0)).getUTCDate()) return undefined;
  if (hour !== undefined && (Number(hour) > 23 || Number(minute ?? 0) > 59 || Number(second ?? 0) > 59)) return undefined;
  return {
    year: year!,
    month: month!,
    day: day!,
    ...(hour !== undefined ? { hour } : {}),
    ...(minute !== undefined ? { minute } : {}),
    ...(second !== undefined ? { second } : {}),
  };
}

/** An HL7 or FHIR timestamp as an ISO-like sortable string (wall clock), or undefined. */
export function sortableTime(value: string): string | undefined {
  const w = wallClock(value);
  if (!w) return undefined;
  return `${w.year}-${w.month}-${w.day}T${w.hour ?? '00'}:${w.minute ?? '00'}:${w.second ?? '00'}`;
}

export function applyTransform(value: string, t: TransformSpec): string {
  if (typeof t === 'object') {
    if ('replace' in t) return value.split(t.replace[0]).join(t.replace[1]);
    return value.slice(0, t.max_length);
  }
  switch (t) {
    case 'trim':
      return value.trim();
    case 'upper':
      return value.toUpperCase();
    case 'lower':
      return value.toLowerCase();
    case 'digits':
      return value.replace(/\D+/g, '');
    case 'first_word':
      return value.trim().split(/\s+/)[0] ?? '';
    case 'date': {
      const w = wallClock(value);
      if (!w) throw new TransformError(`"${value}" is not a date (HL7 YYYYMMDD[HHMM[SS]] or FHIR YYYY-MM-DD[Thh:mm:ss])`);
      return `${w.month}/${w.day}/${w.year}`;
    }
    case 'time': {
      const w = wallClock(value);
      if (!w) throw new TransformError(`"${value}" is not a timestamp (HL7 YYYYMMDDHHMM[SS] or FHIR YYYY-MM-DDThh:mm:ss)`);
      if (w.hour === undefined || w.minute === undefined) throw new TransformError(`"${value}" has no time of day`);
      return `${pad(w.hour)}:${pad(w.minute)}:${pad(w.second ?? '00')}`;
    }
  }
}
