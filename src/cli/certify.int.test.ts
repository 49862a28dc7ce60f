// `cdsr-adapter certify` as an operator runs it, in a process of its own: the rehearsal against
// the in-process sandbox passes and writes both reports into the current directory; with
// production's settings only (no test profile) it refuses (exit 2) before sending anything.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');

/** The variables of this process that would point certify elsewhere are left out. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(NRDR_|ACR_|CDSR_)/.test(k)) env[k] = v;
  return { ...env, CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), ...extra };
}

function run(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('cdsr-adapter certify (a process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-certify-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--sandbox: every step passed, exit 0, the two reports in the current directory', async () => {
    const cwd = mkdtempSync(join(dir, 'run-'));
    const r = await run(['certify', '--sandbox'], cwd, { CDSR_DATA_DIR: join(cwd, 'data') });
    assert.equal(r.err, '');
    assert.equal(r.code, 0);
    const lines = r.out.split('\n');
    assert.equal(lines[0], 'certify: rehearsal against a built-in sandbox (not ACR), facility 100000');
    assert.deepEqual(
      lines.slice(1, 7).map((l) => /^(\d)\. \[(\w+)\] /.exec(l)?.slice(1)),
      [1, 2, 3, 4, 5, 6].map((n) => [String(n), 'passed']),
    );
    const files = readdirSync(cwd)
      .filter((f) => f.startsWith('cdsr-certification-'))
      .sort();
    assert.equal(files.length, 2);
    assert.match(files[0]!, /^cdsr-certification-\d{4}-\d{2}-\d{2}-\d{6}\.json$/);
    assert.equal(files[1], files[0]!.replace(/\.json$/, '.md'));
    const report = JSON.parse(readFileSync(join(cwd, files[0]!), 'utf8')) as { passed: boolean; header: { adapterVersion: string } };
    assert.equal(report.passed, true);
    assert.match(readFileSync(join(cwd, files[1]), 'utf8'), /^# CDSR certification report\n/);
    assert.equal(lines.at(-2), 'every step passed (a rehearsal: run it again against the test environment for ACR)');
  });

  it('production configured, no test profile: exit 2, the variable named, no report', async () => {
    const cwd = mkdtempSync(join(dir, 'refused-'));
    const r = await run(['certify'], cwd, {
      NRDR_BASE_URL: 'https://nrdr.example/NonPQRSapi/cdsr/transactions',
      NRDR_PARTNER_ID: 'P1',
      NRDR_APP_ID: 'A1',
      ACR_TOKEN_URL: 'https://connect.example/token',
      ACR_CLIENT_ID: 'c',
      ACR_CLIENT_SECRET: 's',
    });
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.equal(
      r.err,
      'cdsr-adapter certify: CDSR_TEST_NRDR_BASE_URL is not set: set the test profile to ACR\'s test environment (docs/operations.md "Connection profiles"), or rehearse with --sandbox\n',
    );
    assert.deepEqual(readdirSync(cwd), []);
  });
});
