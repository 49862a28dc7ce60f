// `cdsr-adapter certify` run in this process: the rehearsal against the built-in sandbox passes
// and writes the golden report (the clock is a fake one that only the polling's waits move, so
// times, dates and polls are exact; only the sandbox's port is normalised); a token refused names
// the authentication step, 503s the posting steps, refused transactions the polling step,
// statuses that never end the polling step after its bound; the report holds no secret or token;
// a target not marked as the test environment is refused with exit 2 naming the variable.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOW, REPO_ROOT } from '../../test/helpers.js';
import { loadConfig } from '../config.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Sandbox } from '../sandbox/server.js';
import { certifyTargetFromConfig } from '../outbound/certify.js';
import { loadMappings } from '../mapping/load.js';
import { sandboxValueLists } from './builtin-sandbox.js';
import { openStoreToRead } from '../server/service-store.js';
import { signInFor } from '../outbound/setup.js';
import { profileCredentials } from '../outbound/profile-store.js';
import { driveSandboxSignIn, runCertify, type CertifyCliOptions, type CertifySeams } from './certify.js';

const GOLDEN = join(REPO_ROOT, 'test', 'golden');
const BASE_ENV = { CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), CDSR_TIMEZONE: 'America/New_York' };

/** A clock that stands still but for the waits it is asked for. */
function fakeClock(start = NOW) {
  let t = start.getTime();
  return { now: () => new Date(t), sleep: (ms: number) => ((t += ms), Promise.resolve()) };
}

interface Run {
  code: number;
  out: string;
  err: string;
  dir: string;
  files: string[];
  json: Record<string, unknown>;
  md: string;
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function certify(env: Record<string, string>, opts: CertifyCliOptions, seams: CertifySeams = {}): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-certify-'));
  dirs.push(dir);
  const clock = fakeClock();
  let out = '';
  let err = '';
  const code = await runCertify(
    loadConfig({ ...BASE_ENV, CDSR_DATA_DIR: join(dir, 'data'), ...env }),
    { out: join(dir, 'report'), ...opts },
    { out: (t) => (out += t), err: (t) => (err += t), mappingsDir: BASE_ENV.CDSR_MAPPINGS_DIR, progress: false },
    { now: clock.now, sleep: clock.sleep, runId: 'CERTTEST', cwd: dir, ...seams },
  );
  let files: string[] = [];
  try {
    files = readdirSync(join(dir, 'report')).sort();
  } catch {
    // no report folder
  }
  const read = (ext: string) => {
    const f = files.find((x) => x.endsWith(ext));
    return f !== undefined ? readFileSync(join(dir, 'report', f), 'utf8') : '';
  };
  const jsonText = read('.json');
  return { code, out, err, dir, files, json: jsonText !== '' ? (JSON.parse(jsonText) as Record<string, unknown>) : {}, md: read('.md') };
}

/** The loopback port is the only thing of a run that is not fixed. */
const normalise = (text: string) => text.replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://127.0.0.1:PORT');

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'));
}

/** Every token the sandbox issued, and every bearer token it was shown. */
function watchTokens(sandbox: Sandbox, seen: Set<string>): void {
  sandbox.app.addHook('onRequest', (req, _reply, done) => {
    const h = req.headers.authorization;
    if (typeof h === 'string' && h.startsWith('Bearer ')) seen.add(h.slice(7));
    done();
  });
  sandbox.app.addHook('onSend', (req, _reply, payload, done) => {
    if (req.url === SANDBOX_TOKEN_PATH && typeof payload === 'string' && payload.startsWith('{')) {
      const body = JSON.parse(payload) as { access_token?: string; refresh_token?: string };
      if (body.access_token !== undefined) seen.add(body.access_token);
      if (body.refresh_token !== undefined) seen.add(body.refresh_token);
    }
    done(null, payload);
  });
}

/** A sandbox started by the test, and the variables that point certify at it as the test environment. */
async function testEnvironment(clients = [DEFAULT_CLIENT], faults: Parameters<typeof buildSandbox>[0]['faults'] = {}) {
  const clock = fakeClock();
  const sandbox = await buildSandbox({
    facilities: ['100000'],
    partners: { '10000': ['10019'] },
    clients,
    clock: clock.now,
    valueLists: sandboxValueLists(loadMappings(BASE_ENV.CDSR_MAPPINGS_DIR).tables!.valueSets),
    faults: { stepMs: 20, ...faults },
  });
  const url = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
  // the test connection profile, as a site under certification runs
  const env = {
    CDSR_PROFILE: 'test',
    CDSR_TEST_NRDR_BASE_URL: `${url}${SANDBOX_PATH}`,
    CDSR_TEST_ACR_TOKEN_URL: `${url}${SANDBOX_TOKEN_PATH}`,
    CDSR_TEST_ACR_CLIENT_ID: DEFAULT_CLIENT.clientId,
    CDSR_TEST_ACR_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
    CDSR_TEST_NRDR_PARTNER_ID: '10000',
    CDSR_TEST_NRDR_APP_ID: '10019',
    CDSR_TEST_FACILITY_ID: '100000',
  };
  // certify waits on the sandbox's own clock
  return { sandbox, env, seams: { now: clock.now, sleep: clock.sleep } };
}

const SIGN_IN_ENV = (tokenUrl: string) => ({
  CDSR_TEST_ACR_AUTHORIZE_URL: tokenUrl.replace(/\/token$/, '/authorize'),
  CDSR_TEST_ACR_REDIRECT_URL: 'http://127.0.0.1:9/auth/acr/callback',
  CDSR_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
});

const SILENT = { info: () => undefined, warn: () => undefined };

const results = (r: Run) => (r.json.steps as { id: string; result: string }[]).map((s) => `${s.id}: ${s.result}`);

describe('certify --sandbox', () => {
  it('passes every step, exit 0, and writes the golden Markdown and JSON reports (no secret, no token in them)', async () => {
    const tokens = new Set<string>();
    const r = await certify({}, { sandbox: true }, { onSandbox: (s) => watchTokens(s, tokens) });
    assert.equal(r.err, '');
    assert.equal(r.code, 0);
    assert.deepEqual(r.files, ['cdsr-certification-2026-06-15-120000.json', 'cdsr-certification-2026-06-15-120000.md']);
    // the client credentials, the sign-in's (access and refresh) and every bearer shown: 4 at least
    assert.ok(tokens.size >= 4, `tokens seen: ${tokens.size}`);
    for (const file of r.files) {
      const text = readFileSync(join(r.dir, 'report', file), 'utf8');
      assert.ok(!text.includes(DEFAULT_CLIENT.clientSecret), `${file} holds the client secret`);
      // a whole token, or its signature (a JWT's last part; an opaque refresh token whole)
      for (const t of tokens) assert.ok(!text.includes(t) && !text.includes(t.split('.').at(-1)!), `${file} holds a token`);
      assert.doesNotMatch(text, /Bearer|access_token|refresh_token|password/i);
    }
    golden('certify-sandbox.json', normalise(JSON.stringify(r.json, null, 2) + '\n'));
    golden('certify-sandbox.md', normalise(r.md));
    assert.equal(
      normalise(r.out),
      [
        'certify: rehearsal against a built-in sandbox (not ACR), facility 100000',
        '1. [passed] Authenticate with ACR Connect (client credentials) (0 ms): access token obtained from http://127.0.0.1:PORT/connect/token for client sandbox-client',
        '2. [passed] Sign in with ACR Connect (interactive) (0 ms): signed in as 100000_operator; access token obtained',
        '3. [passed] Post test transactions that must be accepted (0 ms): 2 posted and taken by NRDR: CERTTEST-A1, CERTTEST-A2',
        '4. [passed] Post test transactions crafted to draw CD error codes (0 ms): 3 posted and taken by NRDR: CERTTEST-CD2013, CERTTEST-CD3130, CERTTEST-CD3120',
        '5. [passed] Get each transaction status until final (100 ms): 5 of 5 final: the test transactions Posted, the crafted ones refused',
        '6. [passed] Read the error messages back and check the expected codes (0 ms): expected codes returned: CERTTEST-CD2013 CD2013, CERTTEST-CD3130 CD3130, CERTTEST-CD3120 CD3120; none on the test transactions',
        `report: ${r.dir}/report/cdsr-certification-2026-06-15-120000.md`,
        `        ${r.dir}/report/cdsr-certification-2026-06-15-120000.json`,
        'every step passed (a rehearsal: run it again against the test environment for ACR)',
        '',
      ].join('\n'),
    );
  });

  it('the report lands in the current directory without --out', async () => {
    const r = await certify({}, { sandbox: true, out: undefined });
    assert.equal(r.code, 0);
    assert.deepEqual(
      readdirSync(r.dir)
        .filter((f) => f.startsWith('cdsr-certification-'))
        .sort(),
      ['cdsr-certification-2026-06-15-120000.json', 'cdsr-certification-2026-06-15-120000.md'],
    );
  });

  it('503 on every API request: the two posting steps fail and are named, polling is not run, exit 1', async () => {
    const r = await certify({}, { sandbox: true }, { onSandbox: (s) => Object.assign(s.faults, { failRate: 1 }) });
    assert.equal(r.code, 1);
    assert.deepEqual(results(r), [
      'authenticate: passed',
      'sign-in: passed',
      'post-accepted: failed',
      'post-errors: failed',
      'poll: not-run',
      'error-codes: not-run',
    ]);
    assert.deepEqual(r.json.failedSteps, ['post-accepted', 'post-errors', 'poll', 'error-codes']);
    const unanswered = (id: string) => `${id} (HTTP 503 server_error: The service is temporarily unavailable (no answer: NRDR may have it))`;
    assert.equal(
      r.err,
      [
        `certify: step "post-accepted" (Post test transactions that must be accepted) failed: 2 of 2 not taken: ${unanswered('CERTTEST-A1')}; ${unanswered('CERTTEST-A2')}`,
        `certify: step "post-errors" (Post test transactions crafted to draw CD error codes) failed: 3 of 3 not taken: ${unanswered('CERTTEST-CD2013')}; ${unanswered('CERTTEST-CD3130')}; ${unanswered('CERTTEST-CD3120')}`,
        'certify: step "poll" (Get each transaction status until final) not-run: not run: no transaction was posted',
        'certify: step "error-codes" (Read the error messages back and check the expected codes) not-run: not run: no transaction was posted',
        '',
      ].join('\n'),
    );
    assert.match(r.md, /\*\*Result: FAILED at post-accepted, post-errors, poll, error-codes\*\*/);
  });

  it('every transaction refused (refuseWith CD1010): the polling step fails on the test transactions, the codes step on CD1010', async () => {
    const r = await certify({}, { sandbox: true }, { onSandbox: (s) => Object.assign(s.faults, { refuseWith: 'CD1010' }) });
    assert.equal(r.code, 1);
    assert.deepEqual(results(r), [
      'authenticate: passed',
      'sign-in: passed',
      'post-accepted: passed',
      'post-errors: passed',
      'poll: failed',
      'error-codes: failed',
    ]);
    assert.equal(
      r.err.split('\n')[0],
      'certify: step "poll" (Get each transaction status until final) failed: 5 of 5 final; CERTTEST-A1: expected Posted, NRDR answered ValidationFail; CERTTEST-A2: expected Posted, NRDR answered ValidationFail',
    );
    assert.equal(
      r.err.split('\n')[1],
      'certify: step "error-codes" (Read the error messages back and check the expected codes) failed: CERTTEST-A1: expected no error, NRDR returned CD1010; CERTTEST-A2: expected no error, NRDR returned CD1010; CERTTEST-CD3130: expected CD3130, NRDR returned CD1010; CERTTEST-CD3120: expected CD3120, NRDR returned CD1010',
    );
    const tx = r.json.transactions as { transactionId: string; status: string; problem: string | null }[];
    assert.deepEqual(
      tx.map((t) => [t.transactionId, t.status, t.problem]),
      [
        ['CERTTEST-A1', 'ValidationFail', 'expected Posted, NRDR answered ValidationFail'],
        ['CERTTEST-A2', 'ValidationFail', 'expected Posted, NRDR answered ValidationFail'],
        ['CERTTEST-CD2013', 'ValidationFail', null],
        ['CERTTEST-CD3130', 'ValidationFail', 'expected CD3130, NRDR returned CD1010'],
        ['CERTTEST-CD3120', 'ValidationFail', 'expected CD3120, NRDR returned CD1010'],
      ],
    );
  });

  it('a status that never becomes final: polling stops at --timeout (on the injected clock) and the step fails', async () => {
    const r = await certify({}, { sandbox: true, timeout: 1, pollInterval: 0.25 }, { onSandbox: (s) => Object.assign(s.faults, { neverFinal: true }) });
    assert.equal(r.code, 1);
    const poll = (r.json.steps as { id: string; result: string; detail: string; durationMs: number }[]).find((s) => s.id === 'poll')!;
    assert.equal(poll.result, 'failed');
    // polled at 0, 250, 500, 750 and 1000 ms: the next wait would pass the bound
    assert.equal(poll.durationMs, 1000);
    assert.deepEqual(
      (r.json.transactions as { polls: number; status: string }[]).map((t) => [t.polls, t.status]),
      [
        [5, 'Loading'],
        [5, 'Loading'],
        [5, 'Received'],
        [5, 'Loading'],
        [5, 'Loading'],
      ],
    );
    assert.match(poll.detail, /^0 of 5 final; CERTTEST-A1: still Loading when polling stopped; /);
  });
});

describe('certify against a test environment (a sandbox the test started)', () => {
  it('the token refused (invalid client): the authentication step fails and is named, nothing is posted, exit 1', async () => {
    const { sandbox, env, seams } = await testEnvironment([{ ...DEFAULT_CLIENT, clientSecret: 'another-secret' }]);
    try {
      const r = await certify(env, {}, seams);
      assert.equal(r.code, 1);
      assert.deepEqual(results(r), [
        'authenticate: failed',
        'sign-in: not-done',
        'post-accepted: not-run',
        'post-errors: not-run',
        'poll: not-run',
        'error-codes: not-run',
      ]);
      assert.equal(
        r.err.split('\n').slice(0, 2).join('\n'),
        [
          'certify: step "authenticate" (Authenticate with ACR Connect (client credentials)) failed: the token endpoint answered 401',
          'certify: step "sign-in" (Sign in with ACR Connect (interactive)) not-done: not done: sign in at the console first (the sign-in is not configured: set CDSR_TEST_ACR_AUTHORIZE_URL, CDSR_TEST_ACR_REDIRECT_URL and CDSR_SECRET_KEY)',
        ].join('\n'),
      );
      assert.equal(sandbox.counts.posts, 0);
      assert.deepEqual((r.json.header as Record<string, string>).environment, 'test');
    } finally {
      await sandbox.app.close();
    }
  });

  it('everything else passing, no sign-in stored: "not done: sign in at the console first", exit 1', async () => {
    const { sandbox, env, seams } = await testEnvironment();
    try {
      const r = await certify({ ...env, ...SIGN_IN_ENV(env.CDSR_TEST_ACR_TOKEN_URL) }, {}, seams);
      assert.equal(r.code, 1);
      assert.deepEqual(r.json.failedSteps, ['sign-in']);
      assert.equal(
        r.err,
        `certify: step "sign-in" (Sign in with ACR Connect (interactive)) not-done: not done: sign in at the console first (no store in CDSR_DATA_DIR ${join(r.dir, 'data')})\n`,
      );
    } finally {
      await sandbox.app.close();
    }
  });
});

describe('certify against a test environment with a sign-in stored by the console', () => {
  it('the stored sign-in gives the sign-in step; every step passes, exit 0', async () => {
    const redirect = 'http://127.0.0.1:9/auth/acr/callback';
    const { sandbox, env, seams } = await testEnvironment([{ ...DEFAULT_CLIENT, redirectUris: [redirect] }]);
    const dataDir = mkdtempSync(join(tmpdir(), 'cdsr-certify-store-'));
    dirs.push(dataDir);
    try {
      const fullEnv = { ...BASE_ENV, ...env, ...SIGN_IN_ENV(env.CDSR_TEST_ACR_TOKEN_URL), CDSR_DATA_DIR: dataDir };
      const config = loadConfig(fullEnv);
      // what an operator does at the console: sign in once, kept in the store
      const store = await openStoreToRead(config);
      const signIn = signInFor(
        config,
        profileCredentials(store, 'test'),
        { baseUrl: env.CDSR_TEST_NRDR_BASE_URL, tokens: undefined, sandbox: false, close: () => Promise.resolve() },
        SILENT,
        seams.now,
      );
      assert.equal((await driveSandboxSignIn(signIn!, { facilityId: '100000', username: 'operator', password: 'sandbox' })).kind, 'done');
      await store.close();
      const r = await certify({ ...env, ...SIGN_IN_ENV(env.CDSR_TEST_ACR_TOKEN_URL), CDSR_DATA_DIR: dataDir }, {}, seams);
      assert.equal(r.err, '');
      assert.equal(r.code, 0);
      assert.deepEqual((r.json.steps as { id: string; detail: string }[])[1], {
        id: 'sign-in',
        title: 'Sign in with ACR Connect (interactive)',
        result: 'passed',
        detail: 'signed in as 100000_operator; access token obtained',
        startedAt: '2026-06-15T12:00:00.000Z',
        durationMs: 0,
      });
      assert.match(r.out, /every step passed: send the report to ACR to complete the certification\n$/);
    } finally {
      await sandbox.app.close();
    }
  });
});

describe('certify --sandbox with mappings that do not load', () => {
  it('exit 2 before anything starts, the folder named', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'cdsr-certify-maps-'));
    dirs.push(broken);
    writeFileSync(join(broken, 'facilities.csv'), 'not,a,facilities,table\n');
    const r = await certify({ CDSR_MAPPINGS_DIR: broken }, { sandbox: true });
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      `cdsr-adapter certify: the mappings in ${broken} do not load (cdsr-adapter check-mappings ${broken} names the problems): --sandbox takes ACR's value lists from their value sets\n`,
    );
    assert.deepEqual(r.files, []);
  });
});

describe('certify refuses what is not the test environment (exit 2, the variable named)', () => {
  const refused = async (env: Record<string, string>, expected: string) => {
    const r = await certify(env, {});
    assert.equal(r.code, 2);
    assert.equal(r.err, `cdsr-adapter certify: ${expected}\n`);
    assert.deepEqual(r.files, []);
  };
  // the test profile's settings (read whatever profile is in force: production here)
  const test = {
    CDSR_PROFILE: 'production',
    NRDR_BASE_URL: 'https://nrdr.production.example/NonPQRSapi/cdsr/transactions',
    ACR_TOKEN_URL: 'https://connect.production.example/token',
    ACR_CLIENT_ID: 'prod',
    ACR_CLIENT_SECRET: 'prod-secret',
    NRDR_PARTNER_ID: 'P9',
    NRDR_APP_ID: 'A9',
    CDSR_TEST_NRDR_BASE_URL: 'https://nrdr.example/NonPQRSapi/cdsr/transactions',
    CDSR_TEST_ACR_TOKEN_URL: 'https://connect.example/token',
    CDSR_TEST_ACR_CLIENT_ID: 'c',
    CDSR_TEST_ACR_CLIENT_SECRET: 's',
    CDSR_TEST_NRDR_PARTNER_ID: 'P1',
    CDSR_TEST_NRDR_APP_ID: 'A1',
  };

  it('no test profile: production settings are never taken for the test environment', () =>
    refused(
      {
        CDSR_PROFILE: 'production',
        NRDR_BASE_URL: test.NRDR_BASE_URL,
        NRDR_PARTNER_ID: 'P9',
        NRDR_APP_ID: 'A9',
        ACR_TOKEN_URL: test.ACR_TOKEN_URL,
        ACR_CLIENT_ID: 'prod',
        ACR_CLIENT_SECRET: 'x',
      },
      'CDSR_TEST_NRDR_BASE_URL is not set: set the test profile to ACR\'s test environment (docs/operations.md "Connection profiles"), or rehearse with --sandbox',
    ));
  it('no test facility', () => refused(test, 'CDSR_TEST_FACILITY_ID is not set: set it to the test facility ACR gave (or pass --facility)'));
  it('no client secret (a refresh token is not the client credentials certification asks for)', () =>
    refused(
      { ...test, CDSR_TEST_ACR_CLIENT_SECRET: '', CDSR_TEST_ACR_REFRESH_TOKEN: 'r', CDSR_TEST_FACILITY_ID: '1' },
      'CDSR_TEST_ACR_CLIENT_SECRET is not set: certification authenticates with the client credentials ACR gave for its test environment',
    ));
  it('the target: every setting from the test profile, --facility over CDSR_TEST_FACILITY_ID', () => {
    const config = loadConfig({ ...test, CDSR_TEST_FACILITY_ID: '1', CDSR_TIMEZONE: 'America/Chicago' });
    assert.deepEqual(certifyTargetFromConfig(config, '2'), {
      environment: 'test',
      baseUrl: test.CDSR_TEST_NRDR_BASE_URL,
      tokenUrl: test.CDSR_TEST_ACR_TOKEN_URL,
      clientId: 'c',
      clientSecret: 's',
      partnerId: 'P1',
      appId: 'A1',
      facilityId: '2',
      timeZone: 'America/Chicago',
    });
  });
});
