// The outbound commands as an operator uses them: `sandbox`, `serve` configured for it like for
// production, `submit` and `status`; and `serve` with no NRDR configured (the built-in sandbox).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, waitForUrl } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

describe('outbound commands', () => {
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-out-cli-'));
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const start = (args: string[], env: Record<string, string>, logs?: string[]) => {
    const c = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.stdout?.on('data', (d: Buffer) => logs?.push(d.toString('utf8')));
    children.push(c);
    return c;
  };
  const cli = (args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

  it("a facility the registry does not know: submit reports the rejection, status shows NRDR's code", async () => {
    const sp = await freePort();
    const port = await freePort();
    const sandboxOut: string[] = [];
    start(['sandbox', '--port', String(sp), '--facility', '100001', '--step-ms', '20'], {}, sandboxOut);
    await waitForUrl(`http://127.0.0.1:${sp}/sandbox/registry`);
    assert.match(sandboxOut.join(''), /NRDR sandbox \(not ACR\) listening on http:\/\/127\.0\.0\.1:\d+\n {2}NRDR_BASE_URL=/);
    start(['serve'], {
      PORT: String(port),
      CDSR_DATA_DIR: join(dir, 'a'),
      NRDR_BASE_URL: `http://127.0.0.1:${sp}/NonPQRSapi/cdsr/transactions`,
      ACR_TOKEN_URL: `http://127.0.0.1:${sp}/connect/token`,
      ACR_CLIENT_ID: 'sandbox-client',
      ACR_CLIENT_SECRET: 'sandbox-secret',
      NRDR_PARTNER_ID: '10000',
      NRDR_APP_ID: '10019',
      CDSR_SUBMIT_INTERVAL_S: '3600',
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForUrl(`${url}/healthz`);
    await fetch(`${url}/hl7v2`, { method: 'POST', body: ORM, headers: { 'content-type': 'application/hl7-v2' } });
    const submit = cli(['submit', '--url', url], {});
    assert.equal(submit.status, 1, submit.stderr);
    assert.equal(
      submit.stdout,
      '1 transaction(s) created, 1 posted, 1 final: 0 record(s) accepted, 1 rejected, 0 need review; 0 transaction(s) still polling\n',
    );
    assert.equal(submit.stderr, 'cdsr-adapter: records need an operator: GET /api/records?state=rejected, or `cdsr-adapter status`\n');
    const status = cli(['status', '--url', url], {});
    assert.equal(status.status, 0);
    const row = status.stdout.split('\n')[1] ?? '';
    assert.match(
      row,
      /^CDSR-100000-\d{14}-[0-9a-f]{6} +100000 +done +ValidationFail +1 +0 +1 +CD2053:Facility has not registered for CDSR\. {2}Submission aborted$/,
    );
    const id = row.split(' ')[0]!;
    const one = cli(['status', id, '--url', url], {});
    assert.equal(one.status, 1);
    assert.match(one.stdout, /V0001 +11\/02\/2026 09:30:15 +rejected +CD2053:Facility has not registered for CDSR\. {2}Submission aborted/);
  });

  it('serve with no NRDR_BASE_URL submits to the built-in sandbox, and says so', async () => {
    const port = await freePort();
    const logs: string[] = [];
    start(['serve'], { PORT: String(port), CDSR_DATA_DIR: join(dir, 'b'), CDSR_SUBMIT_INTERVAL_S: '3600' }, logs);
    const url = `http://127.0.0.1:${port}`;
    await waitForUrl(`${url}/healthz`);
    assert.match(logs.join(''), /NRDR_BASE_URL is not set: submitting to the built-in NRDR sandbox, not to ACR/);
    await fetch(`${url}/hl7v2`, { method: 'POST', body: ORM, headers: { 'content-type': 'application/hl7-v2' } });
    const submit = cli(['submit', '--url', url], {});
    assert.equal(
      submit.stdout,
      '1 transaction(s) created, 1 posted, 1 final: 1 record(s) accepted, 0 rejected, 0 need review; 0 transaction(s) still polling\n',
    );
  });

  it('serve starts completely (MLLP too) and stops on SIGTERM with status 0', async () => {
    const port = await freePort();
    const mllp = await freePort();
    const logs: string[] = [];
    const child = start(['serve'], { PORT: String(port), CDSR_MLLP_PORT: String(mllp), CDSR_DATA_DIR: join(dir, 'd') }, logs);
    await waitForUrl(`http://127.0.0.1:${port}/healthz`);
    for (let i = 0; i < 100 && !logs.join('').includes('cdsr-adapter listening'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(logs.join(''), /"mllpPort":\d+.*"msg":"cdsr-adapter listening"/);
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('bad configuration stops start-up naming the variable', () => {
    const r = cli(['serve'], {
      NRDR_BASE_URL: 'https://nrdr.example/t',
      NRDR_PARTNER_ID: '',
      ACR_TOKEN: 'x',
      NRDR_APP_ID: '10019',
      CDSR_DATA_DIR: join(dir, 'c'),
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /invalid configuration:\n {2}NRDR_PARTNER_ID: must be set when NRDR_BASE_URL is set/);
    const bad = cli(['serve'], { NRDR_BASE_URL: 'not a url', CDSR_DATA_DIR: join(dir, 'c') });
    assert.match(bad.stderr, /NRDR_BASE_URL: must be an http\(s\) URL/);
  });
});
