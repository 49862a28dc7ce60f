// `cdsr-adapter check-mappings` on tables that load but say wrong things: a crosswalk target
// outside its value set (warning while the value set is not enforced, error once it is).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

describe('cdsr-adapter check-mappings: crosswalk targets and qualifiers', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-check-cli-'));
    cpSync(join(REPO_ROOT, 'mappings'), dir, { recursive: true });
    appendFileSync(join(dir, 'crosswalks', 'modality.csv'), 'MRI,MR,the DICOM code by mistake\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('MRI,MR under "enforce: no": OK with the warning at its line, exit 0', () => {
    const at = readFileSync(join(dir, 'crosswalks', 'modality.csv'), 'utf8').split('\n').length - 1;
    const r = run(['check-mappings', dir]);
    assert.equal(r.status, 0, r.stderr);
    const [warning, summary] = r.stdout.split('\n');
    assert.equal(
      warning,
      `${join(dir, 'crosswalks', 'modality.csv')}:${at}: warning: Modality: "MR" (for "MRI") is not in ${join(dir, 'valuesets', 'Modality.csv')} (codes: 1, 2, 3, 4, 88); a warning while that file says "enforce: no"`,
    );
    assert.match(summary!, /^.*: OK with 1 warning\(s\) — hl7v2\.yaml 21 rules/);
  });

  it('the same once the value set is enforced: an error, exit 1', () => {
    const vs = join(dir, 'valuesets', 'Modality.csv');
    writeFileSync(vs, readFileSync(vs, 'utf8').replace('# enforce: no', '# enforce: yes'));
    const r = run(['check-mappings', dir]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /modality\.csv:\d+: Modality: "MR" \(for "MRI"\) is not in .*Modality\.csv \(codes: 1, 2, 3, 4, 88\)\n1 problem\(s\) in /);
  });
});
