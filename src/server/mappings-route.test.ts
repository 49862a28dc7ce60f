// GET /api/mappings: the tables in force and the last reload, with the site tests a refused edit breaks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withTestServer } from '../../test/server.js';

describe('GET /api/mappings', () => {
  it('shows a reload refused because it breaks a site test, and the generation in force', async () => {
    await withTestServer(async (s) => {
      const before = (await (await s.fetch('/api/mappings')).json()) as { generation: number; lastReload: { ok: boolean } };
      assert.deepEqual([before.generation, before.lastReload.ok], [1, true]);
      const f = join(s.mappingsDir, 'crosswalks', 'modality.csv');
      writeFileSync(f, readFileSync(f, 'utf8').replace('CT,1,', 'CT,9,'));
      assert.equal(s.mappings.reload().ok, false);
      const r = await s.fetch('/api/mappings');
      assert.equal(r.status, 200);
      const body = (await r.json()) as {
        dir: string;
        generation: number;
        lastReload: { ok: boolean; generation: number; problems: string[]; failingTests: { name: string; diff: string }[] };
      };
      assert.equal(body.dir, s.mappingsDir);
      assert.equal(body.generation, 1);
      assert.deepEqual([body.lastReload.ok, body.lastReload.generation, body.lastReload.problems], [false, 1, []]);
      assert.deepEqual(
        body.lastReload.failingTests.map((t) => t.name),
        ['orm-then-oru'],
      );
      assert.match(body.lastReload.failingTests[0]!.diff, /^- {11}"Modality": "1",\n\+ {11}"Modality": "9",$/m);
    });
  });
});
