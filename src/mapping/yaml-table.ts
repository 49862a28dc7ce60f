// Reading a YAML mapping table against a zod schema, with every problem placed at its line.
import { LineCounter, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';
import { tableProblem } from '../cdsr/csv-table.js';
import type { Problem } from '../cdsr/problem.js';

export interface YamlTable<T> {
  readonly value?: T;
  readonly problems: Problem[];
  /** The 1-based line of the node at `path` (or of its nearest parent that exists). */
  readonly lineOf: (path: readonly (string | number)[]) => number;
}

export function readYamlTable<S extends z.ZodType>(file: string, text: string, schema: S): YamlTable<z.infer<S>> {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: false });
  const lineOf = (path: readonly (string | number)[]): number => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
      const start = node?.range?.[0];
      if (start !== undefined) return counter.linePos(start).line;
      // a key whose value is missing: point at the key
      if (n > 0) {
        const parent = doc.getIn(path.slice(0, n - 1), true) as { items?: { key?: { value?: unknown; range?: [number] } }[] } | undefined;
        const pair = parent?.items?.find((it) => it.key?.value === path[n - 1]);
        if (pair?.key?.range) return counter.linePos(pair.key.range[0]).line;
      }
    }
    return 1;
  };
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => tableProblem(file, counter.linePos(e.pos[0]).line, `YAML: ${e.message.split('\n')[0]}`)),
      lineOf,
    };
  }
  const parsed = schema.safeParse(doc.toJS());
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
      const where = path.length > 0 ? `${path.join('.')}: ` : '';
      return tableProblem(file, lineOf(path), `${where}${i.message}`);
    });
    return { problems, lineOf };
  }
  return { value: parsed.data, problems: [], lineOf };
}
