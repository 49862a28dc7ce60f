// `cdsr-adapter reprocess` offline on a store: a preview of an applied message re-mapped after a
// rule fix prints the change field by field and changes nothing; `--preview ID` applies exactly
// it; a selection it cannot read is refused with exit 2, naming the filter.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { openStore } from '../store/open.js';
import { REPO_ROOT } from '../../test/helpers.js';

describe('cdsr-adapter reprocess', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-reprocess-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('previews, then applies the preview, offline', async () => {
    const mappings = join(dir, 'mappings');
    cpSync(join(REPO_ROOT, 'mappings'), mappings, { recursive: true });
    const tables = loadMappings(mappings).tables!;
    const file = join(dir, 'data', 'cdsr-adapter.sqlite');
    const open = (t = tables) => openStore({ kind: 'sqlite', file }, new CdsrValidator({ now: new Date(), valueSets: t.valueSets }));
    const store = await open();
    // the G-code in a Z segment no shipped rule reads: held incomplete
    const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8').replace(/OBX\|1\|ST\|CDS-GCODE[^\r]*/, 'ZDS|1|G1014');
    assert.equal(
      (
        await store.ingest(
          { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: 'MSG0001', contentType: 'application/hl7-v2', raw, receivedAt: new Date() },
          mapHl7Text(raw, tables),
        )
      ).status,
      'applied',
    );
    await store.close();
    const yaml = join(mappings, 'hl7v2.yaml');
    writeFileSync(
      yaml,
      readFileSync(yaml, 'utf8').replace('  CDS_Vendor:\n    from: OBX[3.1=CDS-GCODE]-5', '  CDS_Vendor:\n    from: ["OBX[3.1=CDS-GCODE]-5", ZDS-2]'),
    );
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'reprocess', ...args], {
        encoding: 'utf8',
        env: { ...process.env, CDSR_DATA_DIR: join(dir, 'data'), CDSR_MAPPINGS_DIR: mappings },
      });

    const preview = run('--order', 'ORD1001');
    assert.equal(preview.status, 0, preview.stderr);
    assert.equal(
      preview.stdout,
      [
        'run 1 (preview: nothing was changed): done, 1 of 1 encounter(s); 1 changed; 0 unchanged; 0 to send again; 0 to retract at NRDR',
        'ENCOUNTER     CONSULTATION         CHANGE   STATE               AT NRDR  FIELD       BEFORE  AFTER',
        '100000|V0001  11/02/2026 09:30:15  changed  incomplete → ready           CDS_Vendor  —       G1014',
        'to apply exactly this: cdsr-adapter reprocess --preview 1 (with the same --url, or offline)',
        '',
      ].join('\n'),
    );
    const still = await open();
    assert.equal((await still.records({}))[0]?.state, 'incomplete');
    await still.close();

    const applied = run('--preview', '1');
    assert.equal(applied.status, 0, applied.stderr);
    assert.match(applied.stdout, /^run 2 \(applied\): done, 1 of 1 encounter\(s\); 1 changed; 0 unchanged; 0 to send again; 0 to retract at NRDR\n/);
    const after = await open();
    assert.equal((await after.records({}))[0]?.state, 'ready');
    await after.close();

    const typo = run('--status', 'aplied');
    assert.equal(typo.status, 2);
    assert.match(typo.stderr, /^cdsr-adapter: selection: status: /m);
  });
});
