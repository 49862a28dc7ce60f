// Bounded memory: a 50 MB transaction is validated by the CLI in a process whose heap is capped
// at 48 MB, less than JSON.parse of that file needs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLargeTransaction } from '../../bench/large-transaction.js';
import { FIXTURE_VALUESETS, REPO_ROOT } from '../../test/helpers.js';

describe('validate on a 50 MB transaction', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-large-'));
  });
  after(() => rmSync(dir, { recursive: true }));

  it('finishes with a 48 MB heap and reports every encounter', async () => {
    const file = join(dir, 'large.json');
    const { encounters } = await writeLargeTransaction(file, 50 * 1024 * 1024);
    const r = spawnSync(
      process.execPath,
      ['--max-old-space-size=48', join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'validate', file, '--valuesets', FIXTURE_VALUESETS, '--json'],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    assert.equal(r.status, 0, r.stderr.slice(0, 2000));
    const out = JSON.parse(r.stdout) as { encounters: number; consultations: number; problems: unknown[] };
    assert.deepEqual([out.encounters, out.consultations, out.problems], [encounters, encounters * 2, []]);
  });
});
