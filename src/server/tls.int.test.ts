// HTTPS when CDSR_TLS_CERT_FILE and CDSR_TLS_KEY_FILE are set (a self-signed pair made here).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

function get(url: string, ca: Buffer): Promise<{ status: number; body: string; cookie?: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { ca, servername: 'localhost' }, (res) => {
      let body = '';
      const cookie = res.headers['set-cookie']?.join('\n');
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body, ...(cookie !== undefined ? { cookie } : {}) }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('TLS', { skip: !hasOpenssl && 'openssl is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-tls-'));
  let child: ChildProcess | undefined;
  after(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with the configured certificate, the console cookie Secure; a half configuration is refused', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    const port = await freePort();
    const env = {
      ...process.env,
      PORT: String(port),
      CDSR_DATA_DIR: join(dir, 'data'),
      CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'),
      CDSR_TLS_CERT_FILE: cert,
      CDSR_TLS_KEY_FILE: key,
      LOG_LEVEL: 'warn',
    };
    child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], { env, stdio: 'ignore' });
    // until it answers or exits: a busy machine starts it slower, never makes it fail
    let answer: { status: number; body: string } | undefined;
    const started = child;
    while (!answer && started.exitCode === null && started.signalCode === null) {
      answer = await get(`https://127.0.0.1:${port}/healthz`, readFileSync(cert)).catch(() => undefined);
      if (!answer) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(answer, { status: 200, body: '{"status":"ok"}' });
    // no keys: the console opens a session at once, its cookie sent over TLS only
    const ui = await get(`https://127.0.0.1:${port}/ui`, readFileSync(cert));
    assert.equal(ui.status, 200);
    assert.match(ui.cookie ?? '', /^cdsr_console=[A-Za-z0-9_-]{43}; Path=\/ui; HttpOnly; SameSite=Strict; Secure; Max-Age=43200$/);
    const half = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], { encoding: 'utf8', env: { ...env, CDSR_TLS_KEY_FILE: '' } });
    assert.equal(half.status, 2);
    assert.match(half.stderr, /CDSR_TLS_KEY_FILE: TLS needs both CDSR_TLS_CERT_FILE and CDSR_TLS_KEY_FILE/);
  });
});
