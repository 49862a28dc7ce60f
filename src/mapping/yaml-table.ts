// Reading a YAML mapping table against a zod schema, with every problem placed at its line.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';
import { tableProblem } from '../cdsr/csv-table.js';
import type { Problem } from '../cdsr/problem.js';
import { deepFreeze, TextMemo } from '../cdsr/text-memo.js';

export interface YamlTable<T> {
  readonly value?: T;
  readonly problems: Problem[];
  /** The 1-based line of the node at `path` (or of its nearest parent that exists). */
  readonly lineOf: (path: readonly (string | number)[]) => number;
}

// per schema, the tables of a text read before without a problem (their value frozen); a table
// with problems is read again, since its problems name the file. A reading keeps its parsed
// document (for lineOf): some 20 bytes of memory per character of text, so 256 K characters of
// texts at most per schema (the shipped tables are a few thousand; every saved version counts).
export const YAML_KEPT_CHARS = 256 * 1024;
const readings = new WeakMap<z.ZodType, TextMemo<YamlTable<unknown>>>();

export function readYamlTable<S extends z.ZodType>(file: string, text: string, schema: S): YamlTable<z.infer<S>> {
  let memo = readings.get(schema);
  if (memo === undefined) readings.set(schema, (memo = new TextMemo(256, YAML_KEPT_CHARS)));
  return memo.get(
    text,
    () => parseYamlTable(file, text, schema),
    (t) => t.problems.length === 0,
  ) as YamlTable<z.infer<S>>;
}

function parseYamlTable<S extends z.ZodType>(file: string, text: string, schema: S): YamlTable<z.infer<S>> {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: false });
  // The line of a map entry is its key's line; of a list item, the item's own.
  const lineOf = (path: readonly (string | number)[]): number => {
    let node: unknown = doc.contents;
    let line = 1;
    for (const step of path) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && it.key.value === step);
        if (!pair) break;
        const keyStart = (pair.key as Node).range?.[0];
        if (keyStart !== undefined) line = counter.linePos(keyStart).line;
        node = pair.value;
      } else if (isSeq(node) && typeof step === 'number') {
        const item = node.items[step] as Node | undefined;
        if (!item) break;
        if (item.range) line = counter.linePos(item.range[0]).line;
        node = item;
      } else break;
    }
    return line;
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
  return { value: deepFreeze(parsed.data), problems: [], lineOf };
}
