import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { acrRedirectUrl, ConfigError, loadConfig, nrdrIds } from './config.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    assert.deepEqual(
      [
        c.PORT,
        c.HOST,
        c.CDSR_DATA_DIR,
        c.CDSR_MAPPINGS_DIR,
        c.CDSR_INBOUND_API_KEYS,
        c.CDSR_SQLITE_SYNCHRONOUS,
        nrdrIds(c).partnerId,
        nrdrIds(c).appId,
        c.LOG_LEVEL,
      ],
      [8780, '127.0.0.1', './data', './mappings', [], 'FULL', '10000', '10019', 'info'],
    );
  });

  it('has bounded defaults for the listeners and the mapping workers', () => {
    const c = loadConfig({});
    assert.deepEqual(
      [
        c.CDSR_HTTP_REQUEST_TIMEOUT_S,
        c.CDSR_HTTP_HEADERS_TIMEOUT_S,
        c.CDSR_HTTP_KEEPALIVE_S,
        c.CDSR_HTTP_MAX_HEADER_BYTES,
        c.CDSR_HTTP_MAX_CONNECTIONS,
        c.CDSR_BODY_LIMIT_BYTES,
      ],
      [30, 10, 5, 16_384, 1000, 1_048_576],
    );
    assert.deepEqual(
      [c.CDSR_MAP_WORKERS, c.CDSR_MAP_WORKER_MIN_BYTES, c.CDSR_MAP_TIMEOUT_S, c.CDSR_RETENTION_DAYS, c.CDSR_RETENTION_REWRITE],
      [2, 65_536, 60, 30, 'full'],
    );
    assert.equal(loadConfig({ CDSR_RETENTION_REWRITE: 'off' }).CDSR_RETENTION_REWRITE, 'off');
    assert.throws(
      () => loadConfig({ CDSR_RETENTION_REWRITE: 'vacuum' }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('CDSR_RETENTION_REWRITE'),
    );
    assert.deepEqual(
      [
        c.CDSR_HTTP_MAX_PER_SOURCE,
        c.CDSR_MLLP_IDLE_S,
        c.CDSR_MLLP_FRAME_TIMEOUT_S,
        c.CDSR_MLLP_MAX_CONNECTIONS,
        c.CDSR_MLLP_MAX_PER_SOURCE,
        c.CDSR_MLLP_MAX_BUFFERED_BYTES,
      ],
      [100, 600, 30, 100, 10, 67_108_864],
    );
    assert.throws(
      () => loadConfig({ CDSR_MAP_WORKERS: '17', CDSR_HTTP_MAX_HEADER_BYTES: '10' }),
      (e: unknown) => e instanceof ConfigError && /CDSR_MAP_WORKERS: /.test(e.message) && /CDSR_HTTP_MAX_HEADER_BYTES: /.test(e.message),
    );
  });

  it('the defences of the sign-in and the console: defaults, and a proxy list of addresses and ranges only', () => {
    const c = loadConfig({});
    assert.deepEqual(
      [
        c.CDSR_TRUST_PROXY,
        c.CDSR_AUTH_MAX_FAILURES,
        c.CDSR_AUTH_FAILURE_WINDOW_S,
        c.CDSR_SESSION_IDLE_MINUTES,
        c.CDSR_SESSION_MAX_HOURS,
        c.CDSR_BENCH_DRAFTS_DIR,
      ],
      [[], 10, 300, 480, 12, undefined],
    );
    assert.deepEqual(loadConfig({ CDSR_TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,::1,fd00::/8,loopback' }).CDSR_TRUST_PROXY, [
      '10.0.0.5',
      '10.1.0.0/16',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    for (const bad of ['proxy.example', '10.0.0.0/33', '10.0.0.1/8/2', '*']) {
      assert.throws(
        () => loadConfig({ CDSR_TRUST_PROXY: bad }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message ===
            'invalid configuration:\n  CDSR_TRUST_PROXY: must list IP addresses or CIDR ranges (10.0.0.5, 10.0.0.0/8) or loopback, linklocal, uniquelocal',
        bad,
      );
    }
    assert.throws(() => loadConfig({ CDSR_AUTH_MAX_FAILURES: '0' }), /CDSR_AUTH_MAX_FAILURES: Too small/);
  });

  it('CDSR_RESEND_FAILED: off by default, 0 to 10', () => {
    assert.equal(loadConfig({}).CDSR_RESEND_FAILED, 0);
    assert.equal(loadConfig({ CDSR_RESEND_FAILED: '2' }).CDSR_RESEND_FAILED, 2);
    for (const [bad, why] of [
      ['11', 'Too big: expected number to be <=10'],
      ['-1', 'Too small: expected number to be >=0'],
      ['1.5', 'Invalid input: expected int, received number'],
    ]) {
      assert.throws(
        () => loadConfig({ CDSR_RESEND_FAILED: bad }),
        (e: unknown) => e instanceof ConfigError && e.message === `invalid configuration:\n  CDSR_RESEND_FAILED: ${why}`,
        bad,
      );
    }
  });

  it('CDSR_SUBMIT_LEASE_S: unset by default (the submitter derives it), longer than the interval', () => {
    assert.equal(loadConfig({}).CDSR_SUBMIT_LEASE_S, undefined);
    assert.equal(loadConfig({ CDSR_SUBMIT_LEASE_S: '3', CDSR_SUBMIT_INTERVAL_S: '1' }).CDSR_SUBMIT_LEASE_S, 3);
    for (const [env, why] of [
      [{ CDSR_SUBMIT_LEASE_S: '60' }, 'must be longer than CDSR_SUBMIT_INTERVAL_S (60): the lease is renewed once a round, and would run out between rounds'],
      [
        { CDSR_SUBMIT_LEASE_S: '5', CDSR_SUBMIT_INTERVAL_S: '10' },
        'must be longer than CDSR_SUBMIT_INTERVAL_S (10): the lease is renewed once a round, and would run out between rounds',
      ],
      [
        { CDSR_SUBMIT_LEASE_S: '0', CDSR_SUBMIT_INTERVAL_S: '1' },
        'must be longer than CDSR_SUBMIT_INTERVAL_S (1): the lease is renewed once a round, and would run out between rounds',
      ],
      [{ CDSR_SUBMIT_LEASE_S: '2.5', CDSR_SUBMIT_INTERVAL_S: '1' }, 'Invalid input: expected int, received number'],
    ] as const) {
      assert.throws(
        () => loadConfig(env),
        (e: unknown) => e instanceof ConfigError && e.message === `invalid configuration:\n  CDSR_SUBMIT_LEASE_S: ${why}`,
        JSON.stringify(env),
      );
    }
  });

  it('stops start-up with a message naming each bad variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', FHIR_SERVER_URL: 'ftp://x', LOG_LEVEL: 'loud', CDSR_DATABASE_URL: 'mysql://x' }),
      (e: unknown) =>
        e instanceof ConfigError && /PORT: /.test(e.message) && /FHIR_SERVER_URL: must be an http\(s\) URL/.test(e.message) && /LOG_LEVEL: /.test(e.message),
    );
    assert.throws(() => loadConfig({ CDSR_DATABASE_URL: 'mysql://x' }), /CDSR_DATABASE_URL: must be a postgres:\/\/ URL/);
  });

  it('talking to NRDR needs the ids and credentials, each named', () => {
    assert.throws(
      () => loadConfig({ NRDR_BASE_URL: 'https://nrdr.example/NonPQRSapi/cdsr/transactions' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /NRDR_PARTNER_ID: must be set when NRDR_BASE_URL is set/.test(e.message) &&
        /NRDR_APP_ID: must be set/.test(e.message) &&
        /ACR_TOKEN_URL: NRDR_BASE_URL needs ACR Connect credentials/.test(e.message),
    );
    assert.throws(() => loadConfig({ NRDR_BASE_URL: 'nrdr.example' }), /NRDR_BASE_URL: must be an http\(s\) URL/);
    const ok = loadConfig({ NRDR_BASE_URL: 'https://nrdr.example/t', NRDR_PARTNER_ID: '12345', NRDR_APP_ID: '10019', ACR_TOKEN: 'x' });
    assert.deepEqual(nrdrIds(ok), { partnerId: '12345', appId: '10019' });
  });

  it('refuses a non-loopback HOST without any API key', () => {
    assert.throws(
      () => loadConfig({ HOST: '0.0.0.0' }),
      /CDSR_SEND_API_KEYS: keys must be set \(CDSR_SEND_API_KEYS, CDSR_OPERATE_API_KEYS…\) when HOST \(0\.0\.0\.0\) is not a loopback address/,
    );
    assert.deepEqual(loadConfig({ HOST: '0.0.0.0', CDSR_INBOUND_API_KEYS: 'a, b' }).CDSR_INBOUND_API_KEYS, ['a', 'b']);
    assert.deepEqual(loadConfig({ HOST: '0.0.0.0', CDSR_SEND_API_KEYS: 'm' }).CDSR_SEND_API_KEYS, ['m']);
  });

  it('refuses an MLLP listener off loopback without a list of senders', () => {
    assert.throws(
      () => loadConfig({ CDSR_MLLP_PORT: '2575', CDSR_MLLP_HOST: '0.0.0.0' }),
      /CDSR_MLLP_ALLOW: must list the sender addresses allowed when CDSR_MLLP_HOST \(0\.0\.0\.0\) is not a loopback address/,
    );
    assert.deepEqual(loadConfig({ CDSR_MLLP_PORT: '2575', CDSR_MLLP_HOST: '0.0.0.0', CDSR_MLLP_ALLOW: '10.1.2.3' }).CDSR_MLLP_ALLOW, ['10.1.2.3']);
    assert.equal(loadConfig({}).CDSR_MLLP_HOST, '127.0.0.1');
  });

  it('the ACR Connect sign-in: https redirect URL (http only on loopback) ending in the callback, its companions, a 32-byte key', () => {
    const signIn = { ACR_AUTHORIZE_URL: 'https://connect.acr.example/authorize', ACR_TOKEN_URL: 'https://connect.acr.example/token', ACR_CLIENT_ID: 'c' };
    const msg = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (e) {
        return e instanceof ConfigError ? e.message : String(e);
      }
    };
    assert.equal(
      msg({ ACR_AUTHORIZE_URL: 'https://connect.acr.example/authorize' }),
      'invalid configuration:\n  ACR_TOKEN_URL: must be set when ACR_AUTHORIZE_URL is set (the sign-in needs it)\n  ACR_CLIENT_ID: must be set when ACR_AUTHORIZE_URL is set (the sign-in needs it)\n  ACR_REDIRECT_URL: must be set when ACR_AUTHORIZE_URL is set (the sign-in needs it)',
    );
    assert.equal(
      msg({ ...signIn, ACR_REDIRECT_URL: 'http://adapter.example.org/auth/acr/callback' }),
      'invalid configuration:\n  ACR_REDIRECT_URL: must be an https URL (ACR Connect sends sign-ins only to https; http only on a loopback address)',
    );
    assert.equal(
      msg({ ...signIn, ACR_REDIRECT_URL: 'https://adapter.example.org/signin' }),
      "invalid configuration:\n  ACR_REDIRECT_URL: must end with /auth/acr/callback (the adapter's page that receives the sign-in), e.g. https://adapter.example.org/auth/acr/callback",
    );
    for (const ok of [
      'https://adapter.example.org/cdsr/auth/acr/callback',
      'http://127.0.0.1:8780/auth/acr/callback',
      'http://localhost:8780/auth/acr/callback',
      'http://[::1]:8780/auth/acr/callback',
    ]) {
      assert.equal(msg({ ...signIn, ACR_REDIRECT_URL: ok }), '', ok);
    }
    assert.equal(
      msg({ CDSR_SECRET_KEY: Buffer.alloc(31).toString('base64') }),
      'invalid configuration:\n  CDSR_SECRET_KEY: must be base64 of 32 bytes (make one with: openssl rand -base64 32)',
    );
    assert.equal(msg({ CDSR_SECRET_KEY: Buffer.alloc(32, 3).toString('base64') }), '');
    // the sign-in alone is a credential flow for NRDR
    assert.equal(
      msg({
        NRDR_BASE_URL: 'https://nrdr.example/t',
        NRDR_PARTNER_ID: '1',
        NRDR_APP_ID: '2',
        ...signIn,
        ACR_REDIRECT_URL: 'https://a.example/auth/acr/callback',
      }),
      '',
    );
    const c = loadConfig({ ...signIn, ACR_REDIRECT_URL: 'https://a.example/auth/acr/callback' });
    assert.deepEqual([c.ACR_SIGNIN_WARN_HOURS, c.ACR_APP_NAME, acrRedirectUrl(c)], [72, undefined, 'https://a.example/auth/acr/callback']);
    // unset (the built-in sandbox): this listener on loopback
    assert.equal(acrRedirectUrl(loadConfig({ PORT: '9000' })), 'http://127.0.0.1:9000/auth/acr/callback');
    assert.equal(acrRedirectUrl(loadConfig({ PORT: '9000', HOST: '0.0.0.0', CDSR_SEND_API_KEYS: 'k' })), 'http://127.0.0.1:9000/auth/acr/callback');
  });
});
