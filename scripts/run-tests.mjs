// Runs the compiled tests under dist/ with node's built-in test runner, two files at a time.
// Usage: node scripts/run-tests.mjs [--unit | --int] [substring...]
//   --unit  unit and golden tests (everything but *.int.test): no child processes, fast
//   --int   the process-level tests (*.int.test: servers, CLIs, crash, databases)
//   neither: the unit tests, then the process-level tests (what `npm test` and CI run)
// Substrings keep only the files whose path contains one of them.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const only = args.includes('--unit') ? 'unit' : args.includes('--int') ? 'int' : undefined;
const filters = args.filter((a) => !a.startsWith('--'));
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(join(root, 'dist'));
const chosen = files.filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s))).sort();
if (chosen.length === 0) {
  console.error('no test files found under dist/ (did the build run?)');
  process.exit(1);
}
const isInt = (f) => f.endsWith('.int.test.js');
const groups = [
  ['unit and golden tests', chosen.filter((f) => !isInt(f))],
  ['process-level tests', chosen.filter(isInt)],
].filter(([name, list]) => list.length > 0 && (only === undefined || name.startsWith(only === 'unit' ? 'unit' : 'process')));
let status = 0;
for (const [name, list] of groups) {
  console.log(`\n== ${name} (${list.length} files)`);
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...list], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
