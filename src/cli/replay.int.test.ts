// `cdsr-adapter replay`: the error queue replayed from the command line after a table fix; and
// `cdsr-adapter reconcile`: the ledger's sums per facility and day, and the order that replay
// brought from held (error) to reported.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { openStore } from '../store/open.js';
import { REPO_ROOT } from '../../test/helpers.js';

describe('cdsr-adapter replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-replay-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('replays the error queue after a crosswalk row is added', async () => {
    const mappings = join(dir, 'mappings');
    cpSync(join(REPO_ROOT, 'mappings'), mappings, { recursive: true });
    const tables = loadMappings(mappings).tables!;
    const store = await openStore(
      { kind: 'sqlite', file: join(dir, 'data', 'cdsr-adapter.sqlite') },
      new CdsrValidator({ now: new Date(), valueSets: tables.valueSets }),
    );
    const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8')
      .replace('|CT|SC', '|ZZ|SC')
      .replace('^CPT|', '^L|');
    const r = await store.ingest(
      { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: 'MSG0001', contentType: 'application/hl7-v2', raw, receivedAt: new Date() },
      mapHl7Text(raw, tables),
    );
    assert.equal(r.status, 'error');
    await store.close();
    const run = () =>
      spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'replay'], {
        encoding: 'utf8',
        env: { ...process.env, CDSR_DATA_DIR: join(dir, 'data'), CDSR_MAPPINGS_DIR: mappings },
      });
    const before = run();
    assert.deepEqual([before.status, before.stdout], [1, 'replayed 1 message(s): 1 error\n']);
    appendFileSync(join(mappings, 'crosswalks', 'modality.csv'), 'ZZ,5,\n');
    const fixed = run();
    assert.deepEqual([fixed.status, fixed.stdout], [0, 'replayed 1 message(s): 1 applied\n']);
    const reconcile = (...args: string[]) =>
      spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'reconcile', ...args], {
        encoding: 'utf8',
        env: { ...process.env, CDSR_DATA_DIR: join(dir, 'data'), CDSR_MAPPINGS_DIR: mappings, CDSR_TIMEZONE: 'UTC' },
      });
    const day = new Date().toISOString().slice(0, 10);
    const table = reconcile();
    assert.deepEqual(
      [table.status, table.stdout],
      [0, `facility  zone  day         seen  reported  held  excluded\n100000    UTC   ${day}  1     1         0     0\n`],
    );
    const asJson = reconcile('--json', '--from', day, '--to', day);
    assert.deepEqual(JSON.parse(asJson.stdout), {
      by: 'received',
      timeZones: { '100000': 'UTC' },
      days: [{ facilityId: '100000', day, seen: 1, reported: 1, held: {}, excluded: {} }],
    });
    assert.deepEqual([reconcile('--from', 'june').status, reconcile('--from', 'june').stderr], [2, 'cdsr-adapter: --from must be a day as YYYY-MM-DD\n']);
    const again = run();
    assert.deepEqual([again.status, again.stdout], [0, 'replayed 0 message(s)\n']);
  });
});
