// The `when:` conditions of the rule tables: a rule, or one candidate path of its `from`, applies
// only when its conditions hold. A condition compares what a path reads with a value or a list:
//   ORC-1 = NW · ORC-1 != CA · ORC-1 in [NW, XO] · ORC-1 not in [CA, DC] · PV1-2 exists · PV1-2 empty
// The path is the table's own path language (HL7 path or FHIRPath), compiled with the same
// compiler as the candidates, so a condition reads exactly what a `from` of that path would read.

/** The operators of a condition, as written. */
export type ConditionOp = '=' | '!=' | 'in' | 'not in' | 'exists' | 'empty';

export interface ParsedCondition {
  readonly path: string;
  readonly op: ConditionOp;
  /** The values compared with, as written (unquoted); empty for exists / empty. */
  readonly values: readonly string[];
}

const FORMS = '<path> = <value>, <path> != <value>, <path> in [<value>, …], <path> not in [<value>, …], <path> exists or <path> empty';

/**
 * Where each top-level operator starts: outside quotes and outside ( ) and [ ], so that a path's
 * own brackets (`OBX[3.1=CDS-DTTM]-5`, `identifier.where(system = 'x')`) are not read as one.
 */
function topLevelOperator(text: string): { at: number; op: '=' | '!=' | 'in' | 'not in'; length: number } | undefined {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote !== undefined) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') quote = ch;
    else if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth = Math.max(0, depth - 1);
    else if (depth > 0) continue;
    else if (ch === '!' && text[i + 1] === '=') return { at: i, op: '!=', length: 2 };
    else if (ch === '=') return { at: i, op: '=', length: 1 };
    else if (/\s/.test(ch)) {
      // `in` / `not in` are words, and a list follows them (a FHIRPath `in` of the path does not take [ ])
      const m = /^\s+(not\s+in|in)\s*(?=\[)/i.exec(text.slice(i));
      if (m) return { at: i, op: /^not/i.test(m[1]!) ? 'not in' : 'in', length: m[0].length };
    }
  }
  return undefined;
}

/** A value as written: quotes ('…' or "…") keep commas and brackets inside it. */
function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && (t[0] === "'" || t[0] === '"') && t[t.length - 1] === t[0] ? t.slice(1, -1) : t;
}

/** The items of `[a, b, 'c, d']`: split at the commas outside quotes. */
function listItems(inner: string): string[] {
  const out: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i]!;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === ',') {
      out.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  out.push(inner.slice(start));
  return out;
}

/** Parses one condition; a string is the reason it is not one (for a table problem at its line). */
export function parseCondition(text: string): ParsedCondition | string {
  const t = text.trim();
  const op = topLevelOperator(t);
  if (!op) {
    const m = /^(.*\S)\s+(exists|empty)$/i.exec(t);
    if (m) return { path: m[1]!.trim(), op: m[2]!.toLowerCase() as 'exists' | 'empty', values: [] };
    if (/\s(?:not\s+)?in\s/i.test(t)) return `when "${t}": the values after in go in brackets, e.g. ORC-1 in [NW, XO]`;
    return `when "${t}" is not a condition: write ${FORMS}`;
  }
  const path = t.slice(0, op.at).trim();
  const rest = t.slice(op.at + op.length).trim();
  if (path === '') return `when "${t}": no path before ${op.op}`;
  if (op.op === '=' || op.op === '!=') {
    if (rest === '') return `when "${t}": no value after ${op.op} (for no value at all write "${path} empty")`;
    if (/^\[.*\]$/.test(rest)) return `when "${t}": a list takes in or not in, not ${op.op}`;
    const value = unquote(rest);
    if (value.trim() === '') return `when "${t}": an empty value never matches (write "${path} empty")`;
    return { path, op: op.op, values: [value] };
  }
  if (!rest.endsWith(']')) return `when "${t}": the list after ${op.op} needs its closing ] and nothing after it`;
  const inner = rest.slice(1, -1);
  if (inner.trim() === '') return `when "${t}": the list after ${op.op} is empty`;
  const values = listItems(inner).map(unquote);
  if (values.some((v) => v.trim() === '')) return `when "${t}": the list after ${op.op} has an empty value`;
  return { path, op: op.op, values };
}

/** A FHIRPath that starts with a literal reads nothing of the resource: its answer never changes. */
export function isConstantPath(path: string): boolean {
  return /^(?:'|"|\d|@|\{\s*\}|-\s*\d|(?:true|false)\b)/i.test(path.trim());
}

const shown = (v: string) => (v.length > 40 ? `${v.slice(0, 39)}…` : v);
const list = (values: readonly string[]) => `[${values.join(', ')}]`;

/**
 * Does the condition hold over the values its path read (non-empty, in order)? Undefined when it
 * holds; else why not, for the trace: `ORC-1 = XO is not in [NW]`. Values compare without regard
 * to case or surrounding blanks. Several values (repetitions, segments): `=` / `in` hold when one
 * of them matches, `!=` / `not in` when none does.
 */
export function whyNot(c: ParsedCondition, read: readonly string[]): string | undefined {
  const wanted = new Set(c.values.map((v) => v.trim().toUpperCase()));
  const found = read.some((v) => wanted.has(v.trim().toUpperCase()));
  const got = read.length === 0 ? `${c.path} is empty` : `${c.path} = ${read.map(shown).join('|')}`;
  switch (c.op) {
    case 'exists':
      return read.length > 0 ? undefined : got;
    case 'empty':
      return read.length === 0 ? undefined : `${got} is not empty`;
    case '=':
      return found ? undefined : read.length === 0 ? `${got}, not ${c.values[0]!}` : `${got} is not ${c.values[0]!}`;
    case 'in':
      return found ? undefined : read.length === 0 ? `${got}, not in ${list(c.values)}` : `${got} is not in ${list(c.values)}`;
    case '!=':
      return found ? `${got}, excluded by != ${c.values[0]!}` : undefined;
    case 'not in':
      return found ? `${got} is in ${list(c.values)}` : undefined;
  }
}

/** The condition as the tables show it again (explain, check-mappings): normalized blanks. */
export function conditionText(c: ParsedCondition): string {
  if (c.op === 'exists' || c.op === 'empty') return `${c.path} ${c.op}`;
  if (c.op === '=' || c.op === '!=') return `${c.path} ${c.op} ${c.values[0]!}`;
  return `${c.path} ${c.op} ${list(c.values)}`;
}
