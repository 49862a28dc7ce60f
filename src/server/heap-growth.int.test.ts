// V8 takes the growing factor `serve` gives it while running (a flag set after start-up could be
// ignored by a later node): the same churn (live objects, and garbage held long enough to leave the
// young generation, as a submission round's pages are) in two processes, both told after start-up:
// one boundHeapGrowth(300) (V8's largest own factor, given rather than left to V8's heuristics,
// which size it from the GC's and the program's measured speeds: under load its peak came out
// lower), the other boundHeapGrowth(50). Were a factor given while running ignored, both would peak alike.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const CHURN = (percent: number) => `
import { boundHeapGrowth } from ${JSON.stringify(pathToFileURL(new URL('./heap-growth.js', import.meta.url).pathname).href)};
const growth = boundHeapGrowth(${percent});
const live = [];
for (let i = 0; i < 500_000; i++) live.push({ i, s: 'live ' + i });
let held = [];
let peak = 0;
for (let round = 0; round < 60; round++) {
  for (let i = 0; i < 20_000; i++) held.push({ round, i, s: 'garbage ' + round + ' ' + i });
  if (held.length > 100_000) held = [];
  await new Promise((r) => setImmediate(r));
  peak = Math.max(peak, process.memoryUsage().heapTotal);
}
console.log(JSON.stringify({ growth, peakMb: Math.round(peak / 1048576), live: live.length }));
`;

function churn(percent: number): { growth: unknown; peakMb: number; live: number } {
  const r = spawnSync(process.execPath, ['--max-old-space-size=4096', '--input-type=module', '-e', CHURN(percent)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { growth: unknown; peakMb: number; live: number };
}

describe('heap growth under serve', () => {
  it('V8 collects at about 1.5 times the live heap once told, not at up to 4 times', () => {
    const own = churn(300);
    const bounded = churn(50);
    assert.deepEqual(own.growth, { set: true, percent: 300 });
    assert.deepEqual(bounded.growth, { set: true, percent: 50 });
    // some 200 MB at 300 %, some 125 MB at 50 %; what is live is the same in both
    assert.ok(bounded.peakMb < own.peakMb * 0.8, `peak heap ${bounded.peakMb} MB with the factor set, ${own.peakMb} MB without`);
  });
});
