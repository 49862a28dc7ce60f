// The layers only point down: a stage imports from the stages before it (and the shared model),
// never from a later one or a sibling; the sandbox imports nothing of the adapter (it stands for
// NRDR, and its checks must be free to disagree with the adapter's); only the CLI loads the
// sandbox. Read from the sources, so a new import against the layers fails here.
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
