// Removes compiled files under dist/ whose TypeScript source is gone (a deleted or moved test must
// not keep running from an old build). Runs before every build.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
let removed = 0;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      walk(p);
      continue;
    }
    const m = /^(.*)\.js(\.map)?$/.exec(relative(dist, p));
    if (!m) continue;
    const source = join(root, `${m[1]}.ts`);
    if (!existsSync(source)) {
      rmSync(p);
      removed++;
    }
  }
}
if (existsSync(dist)) walk(dist);
if (removed > 0) console.log(`prune-dist: removed ${removed} compiled file(s) whose source is gone`);
