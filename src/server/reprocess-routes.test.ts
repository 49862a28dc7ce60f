// POST /api/reprocess as an operator uses it: a preview that writes nothing but the run, then the
// same selection applied; refusals name what is wrong; the progress and changes are read back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { postHl7, withTestServer, type TestServer } from '../../test/server.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
// the site's G-code is in a Z segment no shipped rule reads: the record is held incomplete
const ZDS = ORM.replace(/OBX\|1\|ST\|CDS-GCODE[^\r]*/, 'ZDS|1|G1014');

interface Run {
  id: number;
  apply: boolean;
  status: string;
  total: number;
  done: number;
  summary: { byChange: Record<string, number>; resend: number; messages: Record<string, number> };
}
const post = async (s: TestServer, body: unknown) => {
  const r = await s.fetch('/api/reprocess', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as { run: Run; error?: string } };
};
const finished = async (s: TestServer, id: number) => {
  for (let i = 0; i < 10_000; i++) {
    const r = (await (await s.fetch(`/api/reprocess/${id}`)).json()) as { run: Run; changes: unknown[]; next: string | null };
    if (r.run.status !== 'running') return r;
    await new Promise((ok) => setImmediate(ok));
  }
  throw new Error(`run ${id} never ended`);
};
const state = async (s: TestServer) =>
  (
    (await (await s.fetch('/api/records/100000/V0001')).json()) as { consultations: { state: string; fields: Record<string, { value: string }> }[] }
  ).consultations.map((c) => [c.state, c.fields['CDS_Vendor']?.value ?? null]);

describe('POST /api/reprocess', () => {
  it('previews, then applies the preview: an applied message re-mapped after a rule fix completes its record', async () => {
    await withTestServer(async (s) => {
      assert.match((await postHl7(s, ZDS)).text, /MSA\|AA\|MSG0001/);
      assert.deepEqual(await state(s), [['incomplete', null]]);
      const yaml = join(s.mappingsDir, 'hl7v2.yaml');
      writeFileSync(
        yaml,
        readFileSync(yaml, 'utf8').replace('  CDS_Vendor:\n    from: OBX[3.1=CDS-GCODE]-5', '  CDS_Vendor:\n    from: ["OBX[3.1=CDS-GCODE]-5", ZDS-2]'),
      );
      assert.equal(s.mappings.reload().ok, true);

      const preview = await post(s, { order: 'ORD1001' });
      assert.equal(preview.status, 202);
      assert.deepEqual([preview.body.run.apply, preview.body.run.total], [false, 1]);
      const p = await finished(s, preview.body.run.id);
      assert.deepEqual(
        [p.run.status, p.run.summary.byChange, p.changes],
        [
          'done',
          { changed: 1 },
          [
            {
              encounterKey: '100000|V0001',
              consultationKey: '11/02/2026 09:30:15',
              change: 'changed',
              stateBefore: 'incomplete',
              stateAfter: 'ready',
              fields: [{ field: 'CDS_Vendor', after: 'G1014' }],
              resend: false,
              retraction: false,
            },
          ],
        ],
      );
      // the preview wrote nothing
      assert.deepEqual(await state(s), [['incomplete', null]]);

      const applied = await post(s, { preview: preview.body.run.id });
      assert.equal(applied.body.run.apply, true);
      const a = await finished(s, applied.body.run.id);
      assert.deepEqual([a.run.status, a.run.summary.byChange], ['done', { changed: 1 }]);
      assert.deepEqual(await state(s), [['ready', 'G1014']]);
      // both runs are listed, newest first, and were audited
      const runs = ((await (await s.fetch('/api/reprocess')).json()) as { runs: Run[] }).runs;
      assert.deepEqual(
        runs.map((r) => [r.id, r.apply, r.status]),
        [
          [a.run.id, true, 'done'],
          [p.run.id, false, 'done'],
        ],
      );
      const audit = ((await (await s.fetch('/api/audit')).json()) as { entries: { what: string }[] }).entries.map((e) => e.what);
      assert.ok(audit.includes(`reprocess run ${p.run.id} (preview): {"order":"ORD1001"}`), audit.join('\n'));
      assert.ok(audit.includes(`reprocess run ${a.run.id} (apply): {"order":"ORD1001"}`), audit.join('\n'));
    });
  });

  it('refuses an empty or misspelt selection, naming it, and a preview after the tables changed', async () => {
    await withTestServer(async (s) => {
      await postHl7(s, ORM);
      const empty = await post(s, {});
      assert.equal(empty.status, 400);
      assert.match(empty.body.error ?? '', /^selection: say what to reprocess \(facility, encounter/);
      const typo = await post(s, { facilty: '100000' });
      assert.equal(typo.status, 400);
      assert.match(typo.body.error ?? '', /^selection: facilty: /);
      const preview = await post(s, { all: true });
      await finished(s, preview.body.run.id);
      assert.equal(s.mappings.reload().ok, true);
      const stale = await post(s, { preview: preview.body.run.id });
      assert.deepEqual([stale.status, stale.body.error], [400, `the tables changed since preview ${preview.body.run.id} (now generation 2): preview again`]);
      assert.deepEqual((await post(s, { preview: 999 })).status, 404);
    });
  });
});
