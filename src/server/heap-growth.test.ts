// What `serve` gives V8 for its heap's growing factor: the setting's percent, nothing at 0, and
// node's own flag left alone. (That V8 then collects sooner: heap-growth.int.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../config.js';
import { boundHeapGrowth } from './heap-growth.js';

function recorder(): { flags: string[]; set: (f: string) => void } {
  const flags: string[] = [];
  return { flags, set: (f) => void flags.push(f) };
}

describe('boundHeapGrowth', () => {
  it('gives V8 the default growing factor of the configuration', () => {
    const r = recorder();
    assert.equal(loadConfig({}).CDSR_HEAP_GROWTH_PERCENT, 50);
    assert.deepEqual(boundHeapGrowth(loadConfig({}).CDSR_HEAP_GROWTH_PERCENT, [], r.set), { set: true, percent: 50 });
    assert.deepEqual(r.flags, ['--heap-growing-percent=50']);
  });

  it('takes the percent set', () => {
    const r = recorder();
    assert.deepEqual(boundHeapGrowth(loadConfig({ CDSR_HEAP_GROWTH_PERCENT: '120' }).CDSR_HEAP_GROWTH_PERCENT, ['--enable-source-maps'], r.set), {
      set: true,
      percent: 120,
    });
    assert.deepEqual(r.flags, ['--heap-growing-percent=120']);
  });

  it("leaves V8's own factor at 0", () => {
    const r = recorder();
    assert.deepEqual(boundHeapGrowth(0, [], r.set), { set: false, reason: 'setting_zero' });
    assert.deepEqual(r.flags, []);
  });

  it("leaves node's own flag in force, in either spelling", () => {
    for (const flag of ['--heap-growing-percent=20', '--heap_growing_percent=20', '--heap-growing-percent']) {
      const r = recorder();
      assert.deepEqual(boundHeapGrowth(50, ['--enable-source-maps', flag], r.set), { set: false, reason: 'node_flag', flag });
      assert.deepEqual(r.flags, []);
    }
    // a flag that only begins the same is not it
    const r = recorder();
    assert.deepEqual(boundHeapGrowth(50, ['--heap-growing-percentage=20'], r.set), { set: true, percent: 50 });
  });

  it('refuses a percent outside 0–300, naming the variable', () => {
    for (const v of ['-1', '301', '1.5', 'half'])
      assert.throws(
        () => loadConfig({ CDSR_HEAP_GROWTH_PERCENT: v }),
        (e: unknown) => e instanceof Error && e.message.includes('CDSR_HEAP_GROWTH_PERCENT'),
      );
  });
});
