// The ACR Connect sign-in end to end: `cdsr-adapter sandbox` as ACR Connect and NRDR, `serve`
// pointed at it like at production. An operator starts the sign-in, the login page is filled in and
// posted, the browser follows the redirect to the adapter's callback; submissions then go with the
// user's token; the adapter is stopped and restarted on the same store and is still signed in;
// refreshes rotate the refresh token and the rotated one survives a restart, also when it came from
// ACR_REFRESH_TOKEN rather than the sign-in page. The first test runs both commands as processes of
// their own (the commands' wiring, a stop by SIGTERM, a restart that shares nothing but the store);
// the restarts after it, and the other tests, start `serve` in this process the way the command
// does (startServer from the same environment), which costs a fraction of a process start.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { loadConfig } from '../config.js';
import { startServer, type Running } from '../server/main.js';
import { buildSandbox, DEFAULT_CLIENT } from '../sandbox/server.js';
import { startBuiltinSandbox } from './builtin-sandbox.js';
import { REPO_ROOT, waitForUrl } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';
import { driveLogin } from '../../test/acr-login.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const KEYS = { operate: 'op-key-1', view: 'view-key-1', send: 'send-key-1' };
const SECRET_KEY = Buffer.alloc(32, 0x5a).toString('base64');

/**
 * serve's settings of the ACR_REFRESH_TOKEN flow against the sandbox at `sandboxUrl`, with a
 * refresh token as ACR hands one out (the sandbox's client credentials); the sandbox takes each
 * refresh token once (it rotates them).
 */
async function refreshTokenFlow(sandboxUrl: string, port: number, dataDir: string) {
  const issued = await fetch(`${sandboxUrl}/connect/token`, {
    method: 'POST',
    body: 'grant_type=client_credentials&client_id=sandbox-client&client_secret=sandbox-secret',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  return {
    PORT: String(port),
    CDSR_DATA_DIR: dataDir,
    NRDR_BASE_URL: `${sandboxUrl}/NonPQRSapi/cdsr/transactions`,
    NRDR_PARTNER_ID: '10000',
    NRDR_APP_ID: '10019',
    ACR_TOKEN_URL: `${sandboxUrl}/connect/token`,
    ACR_CLIENT_ID: 'sandbox-client',
    ACR_REFRESH_TOKEN: ((await issued.json()) as { refresh_token: string }).refresh_token,
    CDSR_SECRET_KEY: SECRET_KEY,
    CDSR_SUBMIT_INTERVAL_S: '3600',
  };
}

/** Order i: an encounter of its own, so each is a new record to submit. */
const order = (i: number) =>
  ORM.replaceAll('MSG0001', `SIGNIN${i}`).replaceAll('ORD1001', `SORD${i}`).replaceAll('ACC2001', `SACC${i}`).replaceAll('V0001', `SV${i}`);

interface AuthState {
  state: string;
  signedIn: boolean;
  subject: string;
  facilityId: string;
  user: string;
  amr: string[];
  signedInAt: string;
  rotations: number;
  accessExpiresAt: string;
  refreshExpiresAt: string;
  expiringSoon: boolean;
}

describe('ACR Connect sign-in, end to end', () => {
  const children: ChildProcess[] = [];
  const running = new Set<{ close(): Promise<unknown> }>();
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-signin-'));
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const r of running) await r.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const spawnCli = (args: string[], env: Record<string, string>, out: string[]) => {
    const c = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.stdout?.on('data', (d: Buffer) => out.push(d.toString('utf8')));
    c.stderr?.on('data', (d: Buffer) => out.push(d.toString('utf8')));
    children.push(c);
    return c;
  };
  /** `serve` in this process as the command starts it: the configuration from the same environment, the built-in sandbox when no NRDR_BASE_URL is set; its log kept. */
  const serveHere = async (env: Record<string, string>, out: string[]): Promise<Running> => {
    const config = loadConfig({ CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), LOG_LEVEL: 'info', ...env });
    const logStream = new PassThrough();
    logStream.on('data', (d: Buffer) => out.push(d.toString('utf8')));
    const r = await startServer(config, { fallbackTarget: (tables) => startBuiltinSandbox(config, tables), logStream });
    const stop = { close: () => r.close().then(() => void running.delete(stop)) };
    running.add(stop);
    return { ...r, close: stop.close };
  };

  it("signs in through the login page, submits with the user's token, and stays signed in across restarts and rotations", async () => {
    const sp = await freePort();
    const port = await freePort();
    const sandboxUrl = `http://127.0.0.1:${sp}`;
    const url = `http://127.0.0.1:${port}`;
    const callback = `${url}/auth/acr/callback`;
    const sandboxOut: string[] = [];
    spawnCli(['sandbox', '--port', String(sp), '--step-ms', '20', '--redirect-url', callback, '--app-name', 'General Hospital CDSR'], {}, sandboxOut);
    // a process start takes long on a busy machine: waited for up to a minute
    await waitForUrl(`${sandboxUrl}/sandbox/registry`, 1200);
    assert.match(
      sandboxOut.join(''),
      new RegExp(`sign-in: ACR_AUTHORIZE_URL=${sandboxUrl}/connect/authorize {2}ACR_REDIRECT_URL=${callback} {2}\\(application "General Hospital CDSR"`),
    );

    const logs: string[] = [];
    const env = {
      PORT: String(port),
      CDSR_DATA_DIR: join(dir, 'data'),
      NRDR_BASE_URL: `${sandboxUrl}/NonPQRSapi/cdsr/transactions`,
      NRDR_PARTNER_ID: '10000',
      NRDR_APP_ID: '10019',
      ACR_AUTHORIZE_URL: `${sandboxUrl}/connect/authorize`,
      ACR_TOKEN_URL: `${sandboxUrl}/connect/token`,
      ACR_CLIENT_ID: 'sandbox-client',
      ACR_CLIENT_SECRET: 'sandbox-secret',
      ACR_REDIRECT_URL: callback,
      ACR_APP_NAME: 'General Hospital CDSR',
      CDSR_SECRET_KEY: SECRET_KEY,
      CDSR_OPERATE_API_KEYS: KEYS.operate,
      CDSR_VIEW_API_KEYS: KEYS.view,
      CDSR_SEND_API_KEYS: KEYS.send,
      CDSR_SUBMIT_INTERVAL_S: '3600',
    };
    // the first start a process of its own; the restarts in this process
    let adapter: ChildProcess | Running = spawnCli(['serve'], env, logs);
    await waitForUrl(`${url}/healthz`, 1200);
    const as = (key: string) => ({ 'x-api-key': key });
    const auth = async () => (await (await fetch(`${url}/api/auth`, { headers: as(KEYS.view) })).json()) as AuthState;
    const registry = async () => (await (await fetch(`${sandboxUrl}/sandbox/registry`)).json()) as { bearers: Record<string, number> };
    const faults = (patch: object) => fetch(`${sandboxUrl}/sandbox/faults`, { method: 'POST', body: JSON.stringify(patch) });
    const submitOrder = async (i: number) => {
      const posted = await fetch(`${url}/hl7v2`, { method: 'POST', body: order(i), headers: { 'content-type': 'application/hl7-v2', ...as(KEYS.send) } });
      assert.equal(posted.status, 200);
      const r = await fetch(`${url}/api/submit`, { method: 'POST', headers: as(KEYS.operate) });
      return (await r.json()) as { created: number; final: number; accepted: number; rejected: number };
    };
    const restart = async () => {
      if ('kill' in adapter) {
        const child = adapter;
        const exited = new Promise((ok) => child.once('exit', ok));
        // stopped as an operator stops it (a SIGKILL would leave the submitter lease to run out first)
        child.kill('SIGTERM');
        await exited;
      } else await adapter.close();
      adapter = await serveHere(env, logs);
    };

    assert.equal((await auth()).state, 'signed-out');
    // the start page needs an operator; it sends the browser to ACR Connect's authorize page
    assert.equal((await fetch(`${url}/auth/acr/start`, { redirect: 'manual', headers: as(KEYS.view) })).status, 403);
    const start = await fetch(`${url}/auth/acr/start`, { redirect: 'manual', headers: as(KEYS.operate) });
    assert.equal(start.status, 302);
    const authorize = start.headers.get('location') ?? '';
    assert.ok(
      authorize.startsWith(`${sandboxUrl}/connect/authorize?response_type=code&client_id=sandbox-client&redirect_uri=${encodeURIComponent(callback)}&state=`),
      authorize,
    );

    const login = await driveLogin(authorize, { facility: '100000', username: 'operator', password: 'sandbox' });
    assert.match(login.page, /<strong>General Hospital CDSR<\/strong> asks to submit data to NRDR on your behalf/);
    assert.equal(login.status, 302);
    assert.ok(login.location.startsWith(`${callback}?code=`), login.location);
    const code = new URL(login.location).searchParams.get('code')!;

    const done = await fetch(login.location);
    const donePage = await done.text();
    assert.equal(done.status, 200, donePage);
    assert.match(donePage, /<p>Signed in as 100000_operator \(facility 100000, user operator\), by password\.<\/p>/);

    // the same redirect again, or a made-up state: refused with a page that says why
    const refusal =
      '<!doctype html>\n<html><head><meta charset="utf-8"><title>ACR Connect sign-in failed</title></head>\n<body>\n<h1>ACR Connect sign-in failed</h1>\n' +
      '<p>this sign-in is unknown or was already completed (state not recognised): start again at /auth/acr/start</p>\n</body></html>\n';
    for (const bad of [login.location, `${callback}?code=${code}&state=forged`]) {
      const r = await fetch(bad);
      assert.deepEqual([r.status, await r.text()], [400, refusal]);
    }

    const signedIn = await auth();
    assert.deepEqual(
      [signedIn.state, signedIn.subject, signedIn.facilityId, signedIn.user, signedIn.amr, signedIn.rotations, signedIn.expiringSoon],
      ['signed-in', '100000_operator', '100000', 'operator', ['password'], 0, false],
    );
    assert.ok(Date.parse(signedIn.accessExpiresAt) > Date.now() && Date.parse(signedIn.refreshExpiresAt) > Date.parse(signedIn.accessExpiresAt));
    const metrics = await (await fetch(`${url}/metrics`, { headers: as(KEYS.view) })).text();
    assert.match(metrics, /\ncdsr_acr_signed_in 1\n/);
    assert.match(metrics, /\ncdsr_acr_signin_expiring 0\n/);
    assert.match(metrics, /\ncdsr_acr_access_token_expiry_seconds (3[0-6]\d\d|[12]\d\d\d)\n/);
    assert.match(metrics, /\ncdsr_acr_signin_expiry_seconds 25\d{5}\n/);

    // a submission goes with the user's token (the sandbox counts requests by the token's sub)
    const first = await submitOrder(1);
    assert.deepEqual([first.created, first.final, first.accepted, first.rejected], [1, 1, 1, 0]);
    const afterFirst = (await registry()).bearers;
    assert.ok((afterFirst['100000_operator'] ?? 0) >= 1 && afterFirst['sandbox-client'] === undefined, JSON.stringify(afterFirst));

    // stopped and started again on the same store: still signed in, as the same user, and submitting
    await restart();
    const again = await auth();
    assert.deepEqual([again.state, again.subject, again.signedInAt], ['signed-in', '100000_operator', signedIn.signedInAt]);
    assert.equal((await submitOrder(2)).accepted, 1);

    // NRDR refuses each token after one use: every renewal rotates the refresh token, written first
    await faults({ tokenMaxUses: 1 });
    assert.equal((await submitOrder(3)).accepted, 1);
    await faults({ tokenMaxUses: 0 });
    const rotated = await auth();
    assert.ok(rotated.rotations >= 1, JSON.stringify(rotated));

    // and the rotated refresh token is what a restarted process renews with
    await restart();
    assert.equal((await auth()).rotations, rotated.rotations);
    await faults({ tokenMaxUses: 1 });
    assert.equal((await submitOrder(4)).accepted, 1);
    await faults({ tokenMaxUses: 0 });
    const last = await auth();
    assert.deepEqual([last.state, last.subject], ['signed-in', '100000_operator']);
    assert.ok(last.rotations > rotated.rotations);
    const bearers = (await registry()).bearers;
    assert.ok((bearers['100000_operator'] ?? 0) > (afterFirst['100000_operator'] ?? 0) && bearers['sandbox-client'] === undefined, JSON.stringify(bearers));

    // at rest: sealed, the public state beside it; in the logs: no token, no code
    const db = new Database(join(dir, 'data', 'cdsr-adapter.sqlite'), { readonly: true });
    try {
      const rows = db.prepare('SELECT name, sealed, meta FROM credentials').all() as { name: string; sealed: string; meta: string }[];
      assert.deepEqual(
        rows.map((r) => r.name),
        // kept under the profile in force (today's variables alone: production)
        ['production:acr-signin'],
      );
      assert.match(rows[0]!.sealed, /^v1\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      assert.ok(!rows[0]!.meta.includes('eyJ'));
    } finally {
      db.close();
    }
    const text = logs.join('');
    assert.match(text, /"event":"acr_signed_in","subject":"100000_operator"/);
    assert.match(text, /"event":"acr_token_refreshed"/);
    assert.ok(!text.includes('eyJ') && !text.includes(code), 'a token or the code is in the log');
  });

  it('ACR_REFRESH_TOKEN rotated by ACR: kept sealed, and after a restart submission goes on without a new sign-in', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // the sandbox in this process, as `cdsr-adapter sandbox --step-ms 20` builds it
    const sandbox = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, clients: [DEFAULT_CLIENT], faults: { stepMs: 20 } });
    const sandboxUrl = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
    running.add(sandbox.app);
    const env = await refreshTokenFlow(sandboxUrl, port, join(dir, 'refresh'));
    const faults = (patch: object) => fetch(`${sandboxUrl}/sandbox/faults`, { method: 'POST', body: JSON.stringify(patch) });
    const logs: string[] = [];
    let adapter = await serveHere(env, logs);
    const submitOrder = async (i: number) => {
      assert.equal((await fetch(`${url}/hl7v2`, { method: 'POST', body: order(i), headers: { 'content-type': 'application/hl7-v2' } })).status, 200);
      const r = (await (await fetch(`${url}/api/submit`, { method: 'POST' })).json()) as { created: number; accepted: number; rejected: number };
      return [r.created, r.accepted, r.rejected];
    };
    const kept = () => {
      const db = new Database(join(dir, 'refresh', 'cdsr-adapter.sqlite'), { readonly: true });
      try {
        return db.prepare('SELECT name, sealed, meta, version FROM credentials').all() as { name: string; sealed: string; meta: string; version: number }[];
      } finally {
        db.close();
      }
    };

    // NRDR refuses each access token after one use: every request renews, and every renewal rotates
    await faults({ tokenMaxUses: 1 });
    assert.deepEqual(await submitOrder(21), [1, 1, 0]);
    const before = kept();
    assert.deepEqual(
      before.map((r) => r.name),
      ['production:acr-refresh-token'],
    );
    // each renewal's token kept: as many versions as ACR renewed (every token it issued but the
    // first, ACR_REFRESH_TOKEN's). How many that is depends on the sandbox: a POST answered final
    // at once (its check of the body took longer than the 4 steps of 20 ms) needs no status request
    const renewals = () => sandbox.counts.tokens - 1;
    assert.ok(renewals() >= 1);
    assert.equal(before[0]!.version, renewals(), `rotations kept: ${before[0]!.version} of ${renewals()}`);
    assert.match(before[0]!.sealed, /^v1\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(Object.keys(JSON.parse(before[0]!.meta) as object), ['origin', 'rotatedAt']);
    // ACR no longer takes the configured token
    const stale = await fetch(`${sandboxUrl}/connect/token`, {
      method: 'POST',
      body: `grant_type=refresh_token&refresh_token=${env.ACR_REFRESH_TOKEN}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(stale.status, 400);

    // restarted with the same ACR_REFRESH_TOKEN: the kept token renews, the order is accepted
    await adapter.close();
    adapter = await serveHere(env, logs);
    // submitted right after the start, while the start's own round may still be under way: the
    // submission waits for it and runs its own, and a final answer the service's poll timer gets
    // first counts all the same (before, the result said accepted 0 now and then:
    // submitter.test.ts). On a failure, the service's warnings say why.
    assert.deepEqual(
      await submitOrder(22),
      [1, 1, 0],
      logs
        .filter((l) => /"level":(40|50)/.test(l))
        .slice(-20)
        .join(''),
    );
    assert.ok(kept()[0]!.version > before[0]!.version);
    assert.equal(kept()[0]!.version, renewals());
    await faults({ tokenMaxUses: 0 });
    const text = logs.join('');
    assert.ok(!text.includes('"acr_refresh_token_not_kept"') && !text.includes('invalid_grant'), 'a refresh was refused or not kept');
    assert.ok(!text.includes(env.ACR_REFRESH_TOKEN) && !text.includes('eyJ'), 'a token is in the log');
    await adapter.close();
  });

  it('stopped while ACR answers a refresh (the token rotated at ACR, its answer on the way): the stop waits for it and keeps the rotated token', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const sandbox = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, clients: [DEFAULT_CLIENT], faults: { stepMs: 20 } });
    // once armed, the next refresh is answered only when the adapter's HTTP server has closed (its
    // stop under way): ACR has rotated the token by then (the answer is made), the adapter has not
    // received it yet
    let armed = false;
    let asked!: () => void;
    const refreshAsked = new Promise<void>((ok) => (asked = ok));
    let answer!: () => void;
    const answerGoes = new Promise<void>((ok) => (answer = ok));
    sandbox.app.addHook('onSend', async (req) => {
      if (!armed || req.url !== '/connect/token') return;
      armed = false;
      asked();
      await answerGoes;
    });
    const sandboxUrl = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
    running.add(sandbox.app);
    const logs: string[] = [];
    const env = await refreshTokenFlow(sandboxUrl, port, join(dir, 'stop-refresh'));
    const db = () => new Database(join(dir, 'stop-refresh', 'cdsr-adapter.sqlite'), { readonly: true });
    const kept = () => {
      const d = db();
      try {
        return (d.prepare('SELECT version FROM credentials').all() as { version: number }[]).map((r) => r.version);
      } finally {
        d.close();
      }
    };
    const ingest = async (i: number) =>
      assert.equal((await fetch(`${url}/hl7v2`, { method: 'POST', body: order(i), headers: { 'content-type': 'application/hl7-v2' } })).status, 200);

    const first = await serveHere(env, logs);
    await ingest(31);
    armed = true;
    // answered at once (wait=0): the submission goes on in the service, and asks ACR for a token
    assert.equal((await fetch(`${url}/api/submit?wait=0`, { method: 'POST' })).status, 202);
    await refreshAsked;
    assert.deepEqual(kept(), []);
    first.app.server.once('close', () => answer());
    await first.close();
    // the answer was received and the rotated token written before the store closed
    assert.deepEqual(kept(), [1]);

    // the restarted process renews with it: ACR takes it, both orders are accepted
    const second = await serveHere(env, logs);
    await ingest(32);
    const r = (await (await fetch(`${url}/api/submit`, { method: 'POST' })).json()) as { created: number; rejected: number; pending: number };
    assert.deepEqual([r.created, r.rejected, r.pending], [1, 0, 0]);
    const d = db();
    try {
      assert.deepEqual(d.prepare('SELECT status FROM transactions ORDER BY created_at').all(), [{ status: 'done' }, { status: 'done' }]);
    } finally {
      d.close();
    }
    assert.ok(kept()[0]! >= 2);
    const text = logs.join('');
    assert.ok(!text.includes('"acr_refresh_token_not_kept"') && !text.includes('invalid_grant') && !text.includes('"submit_round_failed"'), text);
    await second.close();
  });

  it('serve with the built-in sandbox: the sign-in points at it; without CDSR_SECRET_KEY it refuses to start', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const logs: string[] = [];
    const noKey = await serveHere({ PORT: String(port), CDSR_DATA_DIR: join(dir, 'builtin'), CDSR_SUBMIT_INTERVAL_S: '3600' }, logs);
    const refused = await fetch(`${url}/auth/acr/start`, { redirect: 'manual' });
    assert.equal(refused.status, 503);
    assert.match(
      await refused.text(),
      /<p>CDSR_SECRET_KEY is not set: the sign-in cannot be kept safely, so it is not started \(set a base64 key of 32 bytes: openssl rand -base64 32\)<\/p>/,
    );
    assert.match(logs.join(''), /"variable":"CDSR_SECRET_KEY".*"msg":"CDSR_SECRET_KEY is not set: the ACR Connect sign-in cannot be started or used"/);
    await noKey.close();

    // warned 1,000 hours ahead: the sandbox's 30-day sign-in warns at once
    const warned = await serveHere(
      { PORT: String(port), CDSR_DATA_DIR: join(dir, 'builtin'), CDSR_SUBMIT_INTERVAL_S: '3600', CDSR_SECRET_KEY: SECRET_KEY, ACR_SIGNIN_WARN_HOURS: '1000' },
      logs,
    );
    const start = await fetch(`${url}/auth/acr/start`, { headers: { accept: 'application/json' } });
    const { authorizeUrl } = (await start.json()) as { authorizeUrl: string };
    assert.match(
      authorizeUrl,
      /^http:\/\/127\.0\.0\.1:\d+\/connect\/authorize\?response_type=code&client_id=sandbox-client&redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fauth%2Facr%2Fcallback&state=/,
    );
    const login = await driveLogin(authorizeUrl, { facility: '100000', username: 'operator', password: 'sandbox' });
    assert.match(login.page, /<strong>cdsr-adapter<\/strong> asks to submit data to NRDR on your behalf/);
    assert.ok(login.location.startsWith(`${url}/auth/acr/callback?code=`), login.location);
    assert.equal((await fetch(login.location)).status, 200);
    const s = (await (await fetch(`${url}/api/auth`)).json()) as AuthState;
    assert.deepEqual([s.state, s.subject, s.expiringSoon], ['signed-in', '100000_operator', true]);
    assert.match(await (await fetch(`${url}/metrics`)).text(), /\ncdsr_acr_signin_expiring 1\n/);
    assert.match(
      logs.join(''),
      /"level":40,.*"event":"acr_signin_expiring","subject":"100000_operator","refreshExpiresAt":"[^"]+","secondsLeft":259\d{4}.*"msg":"the ACR Connect sign-in expires soon: an operator signs in again at \/auth\/acr\/start"/,
    );
    await fetch(`${url}/hl7v2`, { method: 'POST', body: order(9), headers: { 'content-type': 'application/hl7-v2' } });
    const r = (await (await fetch(`${url}/api/submit`, { method: 'POST' })).json()) as { accepted: number };
    assert.equal(r.accepted, 1);
    // the built-in sandbox saw the user's token, not the client's
    const seen = (await (await fetch(`${new URL(authorizeUrl).origin}/sandbox/registry`)).json()) as { bearers: Record<string, number> };
    assert.ok((seen.bearers['100000_operator'] ?? 0) >= 1 && seen.bearers['sandbox-client'] === undefined, JSON.stringify(seen.bearers));
    // forgotten on request: submissions go with the client's credentials again
    const out = (await (await fetch(`${url}/api/auth`, { method: 'DELETE' })).json()) as AuthState;
    assert.deepEqual([out.state, out.signedIn, out.subject], ['signed-out', false, null]);
    await warned.close();
  });
});
