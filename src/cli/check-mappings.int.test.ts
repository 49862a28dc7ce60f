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

describe('cdsr-adapter check-mappings: when conditions', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-check-cli-'));
    cpSync(join(REPO_ROOT, 'mappings'), dir, { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const setWhen = (when: string) => {
    const f = join(dir, 'hl7v2.yaml');
    const text = readFileSync(join(REPO_ROOT, 'mappings', 'hl7v2.yaml'), 'utf8').replace(
      '      - OBR-7\n      - ORC-9\n    transform: time',
      `      - OBR-7\n      - path: ORC-9\n        when: ${when}\n    transform: time`,
    );
    writeFileSync(f, text);
    return text.split('\n').findIndex((l) => l.startsWith('        when:')) + 1;
  };

  it('a malformed condition, then a bad path in one: each at its line, exit 1', () => {
    const at = setWhen('ORC-1 is NW');
    const r = run(['check-mappings', dir]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stdout,
      `${join(dir, 'hl7v2.yaml')}:${at}: when "ORC-1 is NW" is not a condition: write <path> = <value>, <path> != <value>, <path> in [<value>, …], <path> not in [<value>, …], <path> exists or <path> empty\n` +
        `1 problem(s) in ${dir}\n`,
    );
    setWhen('ORC 1 in [NW, XO]');
    assert.equal(
      run(['check-mappings', dir]).stdout,
      `${join(dir, 'hl7v2.yaml')}:${at}: when "ORC 1 in [NW, XO]": "ORC 1" is not an HL7 path such as PID-8, OBR-4.2 or OBX[3.1=CDS-GCODE]-5\n1 problem(s) in ${dir}\n`,
    );
  });

  it('a good condition loads; a value listed twice is a warning, exit 0', () => {
    const at = setWhen('ORC-1 in [NW, XO, NW]');
    const r = run(['check-mappings', dir]);
    assert.equal(r.status, 0, r.stderr);
    const [warning, summary] = r.stdout.split('\n');
    assert.equal(warning, `${join(dir, 'hl7v2.yaml')}:${at}: warning: CDS_Consultation_Time ORC-9: when "ORC-1 in [NW, XO, NW]" lists NW twice`);
    assert.match(summary!, /: OK with 1 warning\(s\) — hl7v2\.yaml 21 rules/);
  });
});
