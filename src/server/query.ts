// Reading the query string of the operations API: every parameter checked and named when wrong
// (a 400 with the reason, never a 5xx from a bad number reaching the database); cursors opaque.
import { AdapterError } from '../cdsr/errors.js';

/** A request the API cannot answer as asked: 400 (BAD_REQUEST) with the reason and the parameter or member it concerns. */
export class BadRequestError extends AdapterError {
  constructor(message: string, field?: string) {
    super('BAD_REQUEST', message, field !== undefined ? { details: { field } } : undefined);
  }
}

export function oneOf<T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new BadRequestError(`${name} must be one of ${allowed.filter((a) => a !== '').join(', ')}`, name);
  return value as T;
}

export function intParam(value: string | undefined, name: string, o: { min: number; max: number; fallback: number }): number {
  if (value === undefined || value === '') return o.fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < o.min || n > o.max)
    throw new BadRequestError(`${name} must be a whole number from ${o.min} to ${o.max}`, name);
  return n;
}

export const limitParam = (value: string | undefined): number => intParam(value, 'limit', { min: 1, max: 1000, fallback: 100 });

/** A day as YYYY-MM-DD. */
export function dayParam(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`)))
    throw new BadRequestError(`${name} must be a day as YYYY-MM-DD`, name);
  return value;
}

/**
 * One page of a list read with `limit + 1` rows: the first `limit`, and the cursor of the page
 * after (the last row's) when there is one.
 */
export function pageOf<T>(rows: readonly T[], limit: number, cursorOf: (last: T) => string): { items: T[]; next: string | null } {
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? cursorOf(items[items.length - 1]!) : null };
}

/** An opaque cursor over key parts (base64url of their JSON). */
export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeCursor(value: string | undefined, size: number): string[] | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    const parts = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parts) && parts.length === size && parts.every((p) => typeof p === 'string')) return parts;
  } catch {
    // named below
  }
  throw new BadRequestError('after must be the "next" value of a previous page', 'after');
}

/** Refuses a query parameter the route does not know (a misspelt filter must not be silently ignored). */
/** The one wording of a refused query parameter, for the route schemas and the pages alike. */
export function unknownParamsMessage(unknown: readonly string[], known: readonly string[]): string {
  return `unknown query parameter${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (${known.length > 0 ? `this route takes ${known.join(', ')}` : 'this route takes none'})`;
}

export function onlyParams(query: unknown, allowed: readonly string[]): void {
  const unknown = Object.keys(query ?? {}).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new BadRequestError(unknownParamsMessage(unknown, allowed), unknown.join(', '));
}

/** A received-at bound: a day (YYYY-MM-DD, UTC; `to` takes the whole day) or an ISO 8601 date-time. */
export function instantParam(value: string | undefined, name: 'from' | 'to'): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const day = Date.parse(`${dayParam(value, name)!}T00:00:00Z`);
    return new Date(name === 'to' ? day + 86_400_000 : day).toISOString();
  }
  const t = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t)) throw new BadRequestError(`${name} must be a day (YYYY-MM-DD) or an ISO 8601 date-time`, name);
  return new Date(t).toISOString();
}
