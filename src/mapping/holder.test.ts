// Hot reload: the watched mappings directory; a valid edit swaps the tables, a broken one is
// refused and logged, and the tables in force stay.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MappingHolder } from './holder.js';
import { lookup } from './crosswalk.js';
import { REPO_ROOT } from '../../test/helpers.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `ok` every 20 ms until it holds; fails naming `what` after `ms`. */
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await wait(20)) if (Date.now() > end) assert.fail(`${what} did not happen in ${ms} ms`);
}

describe('MappingHolder.watch', () => {
  it('reloads a valid edit and refuses a broken one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-watch-'));
    cpSync(join(REPO_ROOT, 'mappings'), dir, { recursive: true });
    const logs: string[] = [];
    const h = MappingHolder.load(dir, { info: (_o, m) => logs.push(m), warn: (_o, m) => logs.push(m) }).holder!;
    try {
      const modality = join(dir, 'crosswalks', 'modality.csv');
      h.watch(50);
      // the recursive watcher is set up in the background: a table is touched until a reload shows
      // that the watcher sees the subdirectories (instead of waiting a fixed time for it)
      for (const end = Date.now() + 10_000; h.generation === 1; await wait(100)) {
        if (Date.now() > end) assert.fail('the watcher saw no change in 10 s');
        utimesSync(modality, new Date(), new Date());
      }
      assert.deepEqual([...new Set(logs)], ['mapping tables reloaded']);
      logs.length = 0;
      appendFileSync(modality, 'XQ,5,\n');
      await until('the reload of XQ,5', () => lookup(h.current.crosswalks.get('modality')!, 'XQ')?.acrCode === '5');
      const generation = h.generation;
      appendFileSync(modality, 'XQ,6,\n');
      const refused = 'changed mapping tables refused; the previous tables stay in force';
      await until('the refusal of XQ,6', () => logs.includes(refused));
      assert.equal(logs.at(-1), refused);
      assert.deepEqual([...new Set(logs)], ['mapping tables reloaded', refused]);
      assert.equal(h.generation, generation);
      assert.equal(lookup(h.current.crosswalks.get('modality')!, 'XQ')?.acrCode, '5');
    } finally {
      h.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
