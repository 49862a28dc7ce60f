// The layers only point down: a stage imports from the stages before it (and the shared model),
// never from a later one or a sibling; the sandbox imports only the model; only the CLI loads the
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
        if (to !== 'cdsr') out.push(`${edge}: the sandbox imports only the CDSR model`);
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

describe('architecture', () => {
  it('no module imports from a later stage or a sibling stage', () => {
    assert.deepEqual(violations(), []);
  });

  it('the check sees imports (it finds the layers the CLI crosses)', () => {
    // a guard against a check that reads nothing: the CLI does import the server and the sandbox
    const cli = importsOf(join(SRC, 'cli', 'serve.ts')).map((f) => relative(SRC, f));
    assert.ok(cli.includes('server/main.ts') && cli.includes('cli/builtin-sandbox.ts'), cli.join(', '));
  });
});
