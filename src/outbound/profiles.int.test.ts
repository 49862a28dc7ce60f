// Connection profiles end to end: `serve` (started in this process from an environment, as the
// command does) submits under the test profile to one sandbox standing in for ACR's test
// environment, then is restarted on the same store under the production profile, configured the
// way a deployment before profiles was (today's variables only), against another sandbox. The
// second sandbox never sees the first one's Transaction_IDs nor its token; the first one is not
// asked anything more; the test profile's open transaction stays listed under its profile, and the
// start-up log says so. Under test, what reached the first sandbox is de-identified.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../config.js';
import { startServer, type Running } from '../server/main.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Sandbox } from '../sandbox/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for what another part of the system does on its own schedule, for at most `ms`. */
async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (await ok()) return;
  throw new Error(`timed out waiting for ${what}`);
}

interface Seen {
  readonly method: string;
  readonly id: string;
  readonly auth: string;
  readonly body: string;
}

/** A sandbox on loopback that notes every API request: method, Transaction_ID, bearer and body. */
async function sandboxNoting(opts: Parameters<typeof buildSandbox>[0]): Promise<{ sandbox: Sandbox; url: string; seen: Seen[] }> {
  const sandbox = await buildSandbox(opts);
  const seen: Seen[] = [];
  sandbox.app.addHook('preHandler', (req, _reply, done) => {
    if (req.url.startsWith(SANDBOX_PATH)) {
      const body = req.method === 'POST' ? String(req.body) : '';
      const id = req.method === 'POST' ? ((JSON.parse(body) as { Transaction_ID?: string }).Transaction_ID ?? '') : ((req.query as { id?: string }).id ?? '');
      seen.push({ method: req.method, id, auth: req.headers.authorization ?? '', body });
    }
    done();
  });
  const url = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
  return { sandbox, url, seen };
}

type TxSummary = { transactionId: string; profile: string | null; status: string; facilityId: string };

describe('connection profiles: test, then production, on one store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-profiles-'));
  const open = new Set<{ close(): Promise<unknown> }>();
  after(async () => {
    for (const o of open) await o.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const serveHere = async (env: Record<string, string>, log: string[]): Promise<Running> => {
    const config = loadConfig({
      CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'),
      CDSR_DATA_DIR: join(dir, 'data'),
      CDSR_SUBMIT_INTERVAL_S: '1',
      CDSR_MAP_WORKERS: '0',
      LOG_LEVEL: 'info',
      PORT: String(await freePort()),
      ...env,
    });
    const logStream = new PassThrough();
    logStream.on('data', (d: Buffer) =>
      log.push(
        ...d
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      ),
    );
    const r = await startServer(config, { logStream });
    open.add(r);
    return r;
  };
  const get = async <T>(r: Running, path: string): Promise<T> => {
    const a = await r.app.inject({ method: 'GET', url: path });
    assert.equal(a.statusCode, 200, `${path}: ${a.body}`);
    return a.json<T>();
  };
  const post = async (r: Running, hl7: string) => {
    const a = await r.app.inject({ method: 'POST', url: '/hl7v2', payload: hl7, headers: { 'content-type': 'application/hl7-v2' } });
    assert.equal(a.statusCode, 200, a.body);
  };
  const events = (log: string[]) => log.map((l) => JSON.parse(l) as { event?: string; msg: string; [k: string]: unknown });

  it('the second environment never sees the first one’s transactions or token; the first one’s stay listed under it', async () => {
    // ACR's test environment: its own facility, partner and client; the final answer never comes (the transaction stays open)
    const testEnv = await sandboxNoting({
      facilities: ['TESTFAC1'],
      partners: { '20000': ['10019'] },
      clients: [{ clientId: 'test-client', clientSecret: 'test-secret', partnerId: '20000' }],
      faults: { stepMs: 20, neverFinal: true },
    });
    open.add({ close: () => testEnv.sandbox.app.close() });
    const prodEnv = await sandboxNoting({ facilities: ['100000'], partners: { '10000': ['10019'] }, faults: { stepMs: 20 } });
    open.add({ close: () => prodEnv.sandbox.app.close() });
    // production, as a deployment before profiles sets it: today's variables alone
    const production = {
      NRDR_BASE_URL: `${prodEnv.url}${SANDBOX_PATH}`,
      NRDR_PARTNER_ID: '10000',
      NRDR_APP_ID: '10019',
      ACR_TOKEN_URL: `${prodEnv.url}${SANDBOX_TOKEN_PATH}`,
      ACR_CLIENT_ID: DEFAULT_CLIENT.clientId,
      ACR_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
    };

    // 1. under test (production's variables set too: the test profile never reads them)
    const log1: string[] = [];
    const first = await serveHere(
      {
        ...production,
        CDSR_PROFILE: 'test',
        CDSR_TEST_NRDR_BASE_URL: `${testEnv.url}${SANDBOX_PATH}`,
        CDSR_TEST_NRDR_PARTNER_ID: '20000',
        CDSR_TEST_NRDR_APP_ID: '10019',
        CDSR_TEST_ACR_TOKEN_URL: `${testEnv.url}${SANDBOX_TOKEN_PATH}`,
        CDSR_TEST_ACR_CLIENT_ID: 'test-client',
        CDSR_TEST_ACR_CLIENT_SECRET: 'test-secret',
        CDSR_TEST_FACILITY_ID: 'TESTFAC1',
      },
      log1,
    );
    const shownTest = {
      name: 'test',
      selectedBy: 'CDSR_PROFILE',
      nrdrUrl: `${testEnv.url}${SANDBOX_PATH}`,
      partnerId: '20000',
      appId: '10019',
      facilityId: 'TESTFAC1',
      deidentified: true,
    };
    // the first line of the log names the profile
    assert.deepEqual(
      (({ event, name, selectedBy, nrdrUrl, partnerId, appId, facilityId, deidentified, msg }) => ({
        event,
        name,
        selectedBy,
        nrdrUrl,
        partnerId,
        appId,
        facilityId,
        deidentified,
        msg,
      }))(events(log1)[0]!),
      { event: 'profile', ...shownTest, msg: 'connection profile: test (CDSR_PROFILE); records are de-identified, sent as facility TESTFAC1' },
    );
    const auth = await get<{ profile: unknown; configured: boolean; message: string }>(first, '/api/auth');
    assert.deepEqual(auth, {
      profile: shownTest,
      configured: false,
      signedIn: false,
      message:
        'No ACR Connect sign-in is configured: set CDSR_TEST_ACR_AUTHORIZE_URL, CDSR_TEST_ACR_TOKEN_URL, CDSR_TEST_ACR_CLIENT_ID and CDSR_TEST_ACR_REDIRECT_URL (docs/operations.md "Signing in to ACR Connect").',
    });
    const page = (await first.app.inject({ method: 'GET', url: '/ui' })).body;
    assert.match(page, /<span class="profile profile-test"[^>]*>profile: <strong>test<\/strong> \(de-identified\)<\/span>/);
    await post(first, ORM);
    await until('the test environment to hold the transaction', () => testEnv.sandbox.registry.encounters.size === 1);
    await until('the transaction to be posted', async () =>
      (await get<{ transactions: TxSummary[] }>(first, '/api/transactions')).transactions.some((t) => t.status === 'posted'),
    );
    await first.close();
    open.delete(first);

    const testIds = new Set(testEnv.seen.map((s) => s.id));
    const testTokens = new Set(testEnv.seen.map((s) => s.auth));
    assert.equal(testIds.size, 1);
    const [testId] = testIds;
    // de-identified: the facility is the test one; no encounter id, clinician, name or exam text of the source
    const sent = testEnv.seen.find((s) => s.method === 'POST')!.body;
    assert.deepEqual(
      [...testEnv.sandbox.registry.encounters.keys()].map((k) => k.split('|')[0]),
      ['TESTFAC1'],
    );
    for (const v of ['V0001', '100000', '1234567893', 'ORDER', 'ANN', 'CT HEAD', 'Headache'])
      assert.equal(sent.includes(v), false, `${v} reached the test environment`);
    assert.match(testId!, /^CDSR-TESTFAC1-\d{20}$/);
    const askedOfTest = testEnv.seen.length;

    // 2. restarted under production (today's variables only: the profile by default)
    const log2: string[] = [];
    const second = await serveHere(production, log2);
    const ev2 = events(log2);
    assert.deepEqual([ev2[0]?.event, ev2[0]?.name, ev2[0]?.selectedBy, ev2[0]?.deidentified], ['profile', 'production', 'default', false]);
    const warn = ev2.find((e) => e.event === 'profile_other_open');
    assert.deepEqual([warn?.profile, warn?.count, warn?.inForce], ['test', 1, 'production']);
    assert.equal(
      warn?.msg,
      '1 transaction(s) of the test profile are still open: they are not sent nor asked about under the production profile (start under test to finish them)',
    );
    assert.deepEqual((await get<{ profile: { name: string } }>(second, '/api/auth')).profile.name, 'production');
    assert.match((await second.app.inject({ method: 'GET', url: '/ui' })).body, /profile: <strong>production<\/strong><\/span>/);
    await post(second, ORM.replaceAll('MSG0001', 'MSGP001').replaceAll('V0001', 'VP001').replaceAll('ORD1001', 'ORDP1').replaceAll('ACC2001', 'ACCP1'));
    await until('the production transaction to be final', async () =>
      (await get<{ transactions: TxSummary[] }>(second, '/api/transactions')).transactions.some((t) => t.profile === 'production' && t.status === 'done'),
    );
    // a few more rounds of polling would have gone to the test environment by now, were they sent
    const listed = (await get<{ transactions: TxSummary[] }>(second, '/api/transactions')).transactions;
    // the console's list names each transaction's profile (newest first)
    const rows = [
      ...(await second.app.inject({ method: 'GET', url: '/ui/transactions' })).body.matchAll(/<tr><td><a href="[^"]+">([^<]+)<\/a><\/td><td>([^<]*)<\/td>/g),
    ];
    assert.deepEqual(
      rows.map((m) => [m[1] === testId ? 'the test one' : 'the production one', m[2]]),
      [
        ['the production one', 'production'],
        ['the test one', 'test'],
      ],
    );
    await second.close();
    open.delete(second);

    assert.deepEqual(
      listed.map((t) => [t.profile, t.status, t.facilityId]),
      [
        ['test', 'posted', 'TESTFAC1'],
        ['production', 'done', '100000'],
      ],
    );
    assert.equal(listed[0]!.transactionId, testId);
    assert.ok(prodEnv.seen.length > 0);
    assert.deepEqual(
      prodEnv.seen.filter((s) => testIds.has(s.id)),
      [],
      'the production environment saw a test Transaction_ID',
    );
    assert.deepEqual(
      prodEnv.seen.filter((s) => testTokens.has(s.auth)),
      [],
      'the production environment saw the test token',
    );
    assert.equal(testEnv.seen.length, askedOfTest, 'the test environment was asked something under production');
  });
});
