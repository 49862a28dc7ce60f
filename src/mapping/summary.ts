// The summary of an offline mapping run (`map --summary`): messages by type and outcome, the
// distinct unmapped values with their counts and first message, the distinct mapped values outside
// ACR's value sets with the row or rule that gave them, problems by code.
import { formatLocation, type Problem } from '../cdsr/problem.js';
import type { MapFilesResult, MessageEntry } from './map-files.js';

export interface UnmappedValue {
  readonly field: string;
  /** The crosswalk that needs a row. */
  readonly table: string;
  readonly value: string;
  readonly count: number;
  /** The first message it was seen in (`file#index (line N)`). */
  readonly first: string;
}

/** A mapped value outside ACR's value set (MAP_NOT_IN_VALUESET), with the table line that gave it. */
export interface OutsideValue {
  readonly field: string;
  /** The crosswalk row or rule to fix (`file:line`). */
  readonly table: string;
  readonly value: string;
  readonly severity: Problem['severity'];
  readonly count: number;
  readonly first: string;
}

export interface MapSummary {
  readonly messages: number;
  /** Per message type (MSH-9 or resource type): outcome → count. */
  readonly byType: Record<string, Partial<Record<MessageEntry['outcome'], number>>>;
  readonly byOutcome: Partial<Record<MessageEntry['outcome'], number>>;
  readonly unmapped: UnmappedValue[];
  readonly outsideValueSets: OutsideValue[];
  /** Problems by code, with their severity. */
  readonly problems: { code: string; severity: Problem['severity']; count: number }[];
  readonly transactions: number;
  readonly encounters: number;
  readonly consultations: number;
}

const bump = <K extends string>(m: Partial<Record<K, number>>, k: K) => {
  m[k] = (m[k] ?? 0) + 1;
};

export function summarize(r: Pick<MapFilesResult, 'messages' | 'problems' | 'transactions'>): MapSummary {
  const byType: MapSummary['byType'] = {};
  const byOutcome: MapSummary['byOutcome'] = {};
  for (const m of r.messages) {
    bump(byOutcome, m.outcome);
    bump((byType[m.type] ??= {}), m.outcome);
  }
  const unmapped = new Map<string, { field: string; table: string; value: string; count: number; first: string }>();
  const outside = new Map<string, { field: string; table: string; value: string; severity: Problem['severity']; count: number; first: string }>();
  const codes = new Map<string, { code: string; severity: Problem['severity']; count: number }>();
  for (const p of r.problems) {
    const c = codes.get(`${p.code} ${p.severity}`) ?? { code: p.code, severity: p.severity, count: 0 };
    c.count++;
    codes.set(`${p.code} ${p.severity}`, c);
    if (p.code === 'MAP_NOT_IN_VALUESET' && p.value !== undefined) {
      const table = formatLocation(p);
      const key = JSON.stringify([p.field ?? '', table, p.value, p.severity]);
      const o = outside.get(key) ?? { field: p.field ?? '', table, value: p.value, severity: p.severity, count: 0, first: p.input ?? '' };
      o.count++;
      outside.set(key, o);
    }
    if (p.code !== 'MAP_UNMAPPED_CODE' || p.value === undefined) continue;
    const key = JSON.stringify([p.field ?? '', p.file ?? '', p.value]);
    const u = unmapped.get(key) ?? { field: p.field ?? '', table: p.file ?? '', value: p.value, count: 0, first: p.input ?? '' };
    u.count++;
    unmapped.set(key, u);
  }
  const encounters = r.transactions.reduce((n, t) => n + (t.Encounters?.length ?? 0), 0);
  const consultations = r.transactions.reduce((n, t) => n + (t.Encounters ?? []).reduce((k, e) => k + (e.Consultations?.length ?? 0), 0), 0);
  return {
    messages: r.messages.length,
    byType: Object.fromEntries(Object.entries(byType).sort(([a], [b]) => a.localeCompare(b))),
    byOutcome,
    // the most frequent first: the row to add that resolves the most
    unmapped: [...unmapped.values()].sort((a, b) => b.count - a.count || a.field.localeCompare(b.field) || a.value.localeCompare(b.value)),
    outsideValueSets: [...outside.values()].sort(
      (a, b) => b.count - a.count || a.field.localeCompare(b.field) || a.value.localeCompare(b.value) || a.table.localeCompare(b.table),
    ),
    problems: [...codes.values()].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)),
    transactions: r.transactions.length,
    encounters,
    consultations,
  };
}
