// Where the tables look for a field: for a required field that nothing filled (CD3001) the user
// is told which rules and paths were tried, so that the fix (a path, a new rule) is one look away.
import type { Problem } from '../cdsr/problem.js';
import { MISSING_FIELD_CODES } from '../cdsr/site-rules.js';
import type { MappingTables } from './load.js';
import { conditionText } from './condition.js';

/** The rules that fill `field`, as `file:line (path, path)`; empty when no rule does. */
export function rulesFor(tables: MappingTables, field: string): string[] {
  const out: string[] = [];
  for (const t of [tables.hl7, tables.fhir]) {
    for (const r of t?.rules ?? []) {
      if (r.field !== field) continue;
      const paths = r.candidates.map((c) => (c.when ? `${c.text} when ${c.when.map((w) => conditionText(w.condition)).join(' and ')}` : c.text));
      const when = r.when ? `; when ${r.when.map((w) => conditionText(w.condition)).join(' and ')}` : '';
      out.push(`${r.origin} (${paths.length > 0 ? paths.join(', ') : 'a constant'}${when})`);
    }
  }
  return out;
}

/** CD3001 problems (and CD3005–CD3007 of a site rule) with where the tables look for the missing field (`source`), or that no rule fills it. */
export function explainMissing(problems: readonly Problem[], tables: MappingTables): Problem[] {
  return problems.map((p) => {
    if (!MISSING_FIELD_CODES.has(p.code) || p.field === undefined) return p;
    const rules = rulesFor(tables, p.field);
    return {
      ...p,
      source: rules.length > 0 ? `tried: ${rules.join('; ')}` : `no rule of the mapping tables fills ${p.field}: add one to hl7v2.yaml or fhir.yaml`,
    };
  });
}
