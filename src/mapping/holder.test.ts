// Hot reload: the watched mappings directory; a valid edit swaps the tables, a broken one is
// refused and logged, and the tables in force stay.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MappingHolder } from './holder.js';
import { lookup } from './crosswalk.js';
import { REPO_ROOT } from '../../test/helpers.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MappingHolder.watch', () => {
  it('reloads a valid edit and refuses a broken one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-watch-'));
    cpSync(join(REPO_ROOT, 'mappings'), dir, { recursive: true });
    const logs: string[] = [];
    const h = MappingHolder.load(dir, { info: (_o, m) => logs.push(m), warn: (_o, m) => logs.push(m) }).holder!;
    try {
      h.watch(50);
      await wait(100);
      appendFileSync(join(dir, 'crosswalks', 'modality.csv'), 'XQ,5,\n');
      for (let i = 0; i < 50 && h.generation === 1; i++) await wait(20);
      assert.equal(h.generation, 2);
      assert.equal(lookup(h.current.crosswalks.get('modality')!, 'XQ')?.acrCode, '5');
      appendFileSync(join(dir, 'crosswalks', 'modality.csv'), 'XQ,6,\n');
      for (let i = 0; i < 50 && logs.length < 2; i++) await wait(20);
      assert.deepEqual(logs, ['mapping tables reloaded', 'changed mapping tables refused; the previous tables stay in force']);
      assert.equal(h.generation, 2);
      assert.equal(lookup(h.current.crosswalks.get('modality')!, 'XQ')?.acrCode, '5');
    } finally {
      h.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
