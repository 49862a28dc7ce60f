// The layers only point down: a stage imports from the stages before it (and the shared model),
// never from a later one or a sibling; the sandbox imports nothing of the adapter (it stands for
// NRDR, and its checks must be free to disagree with the adapter's); only the CLI loads the
// sandbox. Inside the server the same holds part by part: the shared helpers and the routes'
// dependencies (deps.ts) ← the use cases (use-cases/) ← the route modules (*-routes.ts) and the
// console (console/), which never import each other ← app.ts ← main.ts. No file reaches itself
// through its imports (type-only ones too). Read from the sources, so a new import against the
// layers fails here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { PACKAGE_ROOT } from './paths.js';

const SRC = join(PACKAGE_ROOT, 'src');
// cdsr ← hl7v2/fhir ← mapping ← store ← inbound/outbound ← server ← cli
const RANK: Readonly<Record<string, number>> = { '(root)': 0, cdsr: 0, hl7v2: 1, fhir: 1, mapping: 2, store: 3, inbound: 4, outbound: 4, server: 5, cli: 6 };

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.suite.ts') && !name.endsWith('.d.ts') ? [p] : [];
  });
}

function stageOf(file: string): string {
  const rel = relative(SRC, file);
  if (rel === 'cli.ts') return 'cli';
  return rel.includes('/') ? rel.split('/')[0]! : '(root)';
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'([^']+)'/g), ...text.matchAll(/import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

/** Every import that goes against the layers, as `from → to`. */
export function violations(): string[] {
  const out: string[] = [];
  for (const file of sources(SRC)) {
    const from = stageOf(file);
    for (const target of importsOf(file)) {
      const to = stageOf(target);
      if (to === from) continue;
      const edge = `${relative(SRC, file)} → ${relative(SRC, target)}`;
      if (to === 'sandbox') {
        if (from !== 'cli') out.push(`${edge}: only the CLI loads the sandbox`);
        continue;
      }
      if (from === 'sandbox') {
        out.push(`${edge}: the sandbox imports nothing of the adapter`);
        continue;
      }
      const rf = RANK[from];
      const rt = RANK[to];
      if (rf === undefined || rt === undefined) out.push(`${edge}: stage ${rf === undefined ? from : to} has no place in the layers`);
      else if (rt >= rf && !(to === '(root)' || to === 'cdsr')) out.push(`${edge}: ${from} may not import ${to}`);
    }
  }
  return out;
}

// Inside the server: each part imports only from the parts before it; routes and the console are
// siblings (neither imports the other, nor one route module another).
const SERVER_RANK: Readonly<Record<string, number>> = { base: 0, 'use-cases': 1, routes: 2, console: 2, app: 3, main: 4 };

function serverPartOf(file: string): string | undefined {
  const rel = relative(join(SRC, 'server'), file);
  if (rel.startsWith('..')) return undefined;
  if (rel.startsWith('console/')) return 'console';
  if (rel.startsWith('use-cases/')) return 'use-cases';
  if (rel === 'app.ts' || rel === 'main.ts') return rel.slice(0, -3);
  // the edge's one error handler answers every surface, the console's page included: part of the app
  if (rel === 'error-answer.ts') return 'app';
  if (rel.endsWith('-routes.ts')) return 'routes';
  return 'base';
}

/** Every import inside the server that goes against its parts, as `from → to: why`. */
export function serverViolations(): string[] {
  const out: string[] = [];
  for (const file of sources(join(SRC, 'server'))) {
    const from = serverPartOf(file)!;
    for (const target of importsOf(file)) {
      const to = serverPartOf(target);
      if (to === undefined) continue;
      const edge = `${relative(SRC, file)} → ${relative(SRC, target)}`;
      if (from === 'routes' && to === 'routes') out.push(`${edge}: a route module imports no other (shared code goes in use-cases/)`);
      else if (to !== from && SERVER_RANK[to]! >= SERVER_RANK[from]!) out.push(`${edge}: the server's ${from} may not import its ${to}`);
    }
  }
  return out;
}

/**
 * The import cycles of a graph (file → the files it imports): per group of files that reach each
 * other, a shortest cycle from its first file, `a → b → … → a`, and the whole group when the cycle
 * does not pass through all of it; sorted.
 */
export function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[] {
  // Tarjan's strongly connected components, then a shortest way round each one
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || (graph.get(v) ?? []).includes(v)) groups.push(group.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return groups
    .map((group) => {
      // breadth first from the group's first file back to itself, inside the group
      const start = group[0]!;
      const inGroup = new Set(group);
      const from = new Map<string, string>();
      const queue = [start];
      let last: string | undefined;
      while (queue.length > 0 && last === undefined) {
        const v = queue.shift()!;
        for (const w of [...(graph.get(v) ?? [])].sort()) {
          if (!inGroup.has(w)) continue;
          if (w === start) {
            last = v;
            break;
          }
          if (!from.has(w)) {
            from.set(w, v);
            queue.push(w);
          }
        }
      }
      const path = [start];
      for (let v = last!; v !== start; v = from.get(v)!) path.splice(1, 0, v);
      const cycle = [...path, start].join(' → ');
      return path.length === group.length ? cycle : `${cycle} (${group.length} files reach each other: ${group.join(', ')})`;
    })
    .sort();
}

/** The import cycles among the non-test source files, by path relative to src/. */
export function importCycles(): string[] {
  const files = sources(SRC);
  return cyclesOf(new Map(files.map((f) => [relative(SRC, f), importsOf(f).map((t) => relative(SRC, t))])));
}

/** Every source module `file` reaches through its imports (type-only ones too), relative to src/, sorted. */
export function reach(file: string): string[] {
  const seen = new Set<string>();
  const walk = (f: string) => {
    for (const t of importsOf(f)) {
      if (seen.has(t) || !t.startsWith(SRC)) continue;
      seen.add(t);
      walk(t);
    }
  };
  walk(join(SRC, file));
  return [...seen].map((f) => relative(SRC, f)).sort();
}

// The adapter's own reading of the spec: what the sandbox must not reach.
const PRODUCT_READING = /^(cdsr\/validate|cdsr\/fields|mapping\/)/;

describe('architecture', () => {
  it('no module imports from a later stage or a sibling stage', () => {
    assert.deepEqual(violations(), []);
  });

  it('inside the server: use cases import no route, routes and the console never import each other, only main.ts imports app.ts', () => {
    assert.deepEqual(serverViolations(), []);
  });

  it('no source file reaches itself through its imports (type-only ones too)', () => {
    assert.deepEqual(importCycles(), []);
  });

  it('the cycle check names each cycle, a shortest way round it', () => {
    const graph = new Map<string, string[]>([
      ['a.ts', ['b.ts', 'x.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
      ['e.ts', ['f.ts']],
      ['f.ts', ['e.ts']],
      ['g.ts', ['g.ts']],
      ['x.ts', ['a.ts']],
    ]);
    assert.deepEqual(cyclesOf(graph), ['a.ts → x.ts → a.ts (4 files reach each other: a.ts, b.ts, c.ts, x.ts)', 'e.ts → f.ts → e.ts', 'g.ts → g.ts']);
    assert.deepEqual(
      cyclesOf(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', []],
        ]),
      ),
      [],
    );
  });

  it("the sandbox reaches none of the adapter's validator, field table or mapping", () => {
    const sandbox = reach('sandbox/server.ts');
    assert.deepEqual(
      sandbox.filter((f) => PRODUCT_READING.test(f)),
      [],
    );
    // the walk does read: it finds the sandbox's own rule table, and the adapter's reading from a module that has it
    assert.ok(sandbox.includes('sandbox/rules/elements.ts') && sandbox.includes('sandbox/check.ts'), sandbox.join(', '));
    assert.deepEqual(
      reach('cli/builtin-sandbox.ts')
        .filter((f) => PRODUCT_READING.test(f))
        .slice(0, 2),
      ['cdsr/fields.ts', 'cdsr/validate.ts'],
    );
  });

  it('the check sees imports (it finds the layers the CLI crosses)', () => {
    // a guard against a check that reads nothing: the CLI does import the server and the sandbox
    const cli = importsOf(join(SRC, 'cli', 'serve.ts')).map((f) => relative(SRC, f));
    assert.ok(cli.includes('server/main.ts') && cli.includes('cli/builtin-sandbox.ts'), cli.join(', '));
  });
});
