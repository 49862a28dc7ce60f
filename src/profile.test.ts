// Connection profiles from the environment: today's variables alone are the production profile
// (or the built-in sandbox without NRDR_BASE_URL); CDSR_PROFILE selects test or production, each
// read from its own CDSR_<PROFILE>_ variables (production falling back to today's, test never);
// every mistake is refused at load with a message naming the variable.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, nrdrIds } from './config.js';
import { activeProfile, legacyProfileName, profileSummary } from './profile.js';

const PROD = {
  NRDR_BASE_URL: 'https://nrdr.example/NonPQRSapi/cdsr/transactions',
  NRDR_PARTNER_ID: '12345',
  NRDR_APP_ID: '20001',
  ACR_TOKEN_URL: 'https://connect.acr.example/token',
  ACR_CLIENT_ID: 'prod-client',
  ACR_CLIENT_SECRET: 'prod-secret',
};
const TEST = {
  CDSR_TEST_NRDR_BASE_URL: 'https://nrdr9x.acr.example/NonPQRSapi/cdsr/transactions',
  CDSR_TEST_NRDR_PARTNER_ID: '12345',
  CDSR_TEST_NRDR_APP_ID: '10019',
  CDSR_TEST_ACR_TOKEN_URL: 'https://connect-test.acr.example/token',
  CDSR_TEST_ACR_CLIENT_ID: 'test-client',
  CDSR_TEST_ACR_CLIENT_SECRET: 'test-secret',
  CDSR_TEST_FACILITY_ID: '999001',
};

const message = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
    return '';
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.message;
  }
};

describe('connection profiles', () => {
  it('today’s variables alone: the production profile, read from them; none: the built-in sandbox', () => {
    const p = activeProfile(loadConfig(PROD));
    assert.deepEqual(profileSummary(p), {
      name: 'production',
      selectedBy: 'default',
      nrdrUrl: PROD.NRDR_BASE_URL,
      partnerId: '12345',
      appId: '20001',
      facilityId: null,
      deidentified: false,
    });
    assert.deepEqual(
      [p.clientId, p.clientSecret, p.tokenUrl, p.variables.ACR_CLIENT_SECRET],
      ['prod-client', 'prod-secret', PROD.ACR_TOKEN_URL, 'ACR_CLIENT_SECRET'],
    );
    const none = activeProfile(loadConfig({}));
    assert.deepEqual(profileSummary(none), {
      name: 'sandbox',
      selectedBy: 'default',
      nrdrUrl: null,
      partnerId: '10000',
      appId: '10019',
      facilityId: null,
      deidentified: false,
    });
    assert.deepEqual([legacyProfileName(loadConfig(PROD)), legacyProfileName(loadConfig({}))], ['production', 'sandbox']);
  });

  it('CDSR_PROFILE=test reads only CDSR_TEST_ variables (never production’s), and de-identifies', () => {
    const c = loadConfig({ ...PROD, ...TEST, CDSR_PROFILE: 'test' });
    const p = activeProfile(c);
    assert.deepEqual(profileSummary(p), {
      name: 'test',
      selectedBy: 'CDSR_PROFILE',
      nrdrUrl: TEST.CDSR_TEST_NRDR_BASE_URL,
      partnerId: '12345',
      appId: '10019',
      facilityId: '999001',
      deidentified: true,
    });
    assert.deepEqual([p.clientId, p.clientSecret, p.tokenUrl], ['test-client', 'test-secret', TEST.CDSR_TEST_ACR_TOKEN_URL]);
    assert.deepEqual(nrdrIds(c), { partnerId: '12345', appId: '10019' });
    // what production's variables would have given: not taken
    const bare = activeProfile(
      loadConfig({
        ...PROD,
        CDSR_PROFILE: 'test',
        CDSR_TEST_NRDR_BASE_URL: TEST.CDSR_TEST_NRDR_BASE_URL,
        CDSR_TEST_ACR_TOKEN: 't',
        CDSR_TEST_NRDR_PARTNER_ID: '1',
        CDSR_TEST_NRDR_APP_ID: '2',
        CDSR_TEST_FACILITY_ID: 'F',
      }),
    );
    assert.deepEqual([bare.clientId, bare.clientSecret, bare.tokenUrl, bare.token], [undefined, undefined, undefined, 't']);
    // the transactions written before profiles are production's whichever profile is in force
    assert.equal(legacyProfileName(c), 'production');
  });

  it('CDSR_PROFILE=production: CDSR_PRODUCTION_ variables first, today’s names for the rest', () => {
    const p = activeProfile(loadConfig({ ...PROD, ...TEST, CDSR_PROFILE: 'production', CDSR_PRODUCTION_ACR_CLIENT_SECRET: 'rotated-secret' }));
    assert.deepEqual(
      [p.name, p.nrdrBaseUrl, p.clientId, p.clientSecret, p.variables.ACR_CLIENT_SECRET, p.variables.ACR_CLIENT_ID, p.deidentify],
      ['production', PROD.NRDR_BASE_URL, 'prod-client', 'rotated-secret', 'CDSR_PRODUCTION_ACR_CLIENT_SECRET', 'ACR_CLIENT_ID', false],
    );
  });

  it('refuses, naming the variable: a profile’s missing settings, profile variables without CDSR_PROFILE, an unknown profile or setting', () => {
    assert.equal(
      message({ CDSR_PROFILE: 'test' }),
      'invalid configuration:\n  CDSR_TEST_NRDR_BASE_URL: must be set when CDSR_PROFILE=test: set CDSR_TEST_NRDR_BASE_URL',
    );
    assert.equal(
      message({ CDSR_PROFILE: 'test', CDSR_TEST_NRDR_BASE_URL: TEST.CDSR_TEST_NRDR_BASE_URL }),
      [
        'invalid configuration:',
        `  CDSR_TEST_NRDR_PARTNER_ID: must be set when CDSR_TEST_NRDR_BASE_URL is set (the PartnerID ACR gave you for this environment)`,
        `  CDSR_TEST_NRDR_APP_ID: must be set when CDSR_TEST_NRDR_BASE_URL is set (the AppID ACR gave you for this environment)`,
        `  CDSR_TEST_ACR_TOKEN_URL: CDSR_TEST_NRDR_BASE_URL needs ACR Connect credentials: CDSR_TEST_ACR_TOKEN_URL + CDSR_TEST_ACR_CLIENT_ID + CDSR_TEST_ACR_CLIENT_SECRET (or CDSR_TEST_ACR_REFRESH_TOKEN), CDSR_TEST_ACR_TOKEN, or the sign-in (CDSR_TEST_ACR_AUTHORIZE_URL + CDSR_TEST_ACR_TOKEN_URL + CDSR_TEST_ACR_CLIENT_ID + CDSR_TEST_ACR_REDIRECT_URL)`,
        '  CDSR_TEST_FACILITY_ID: must be set when CDSR_PROFILE=test: the test facility ACR gave you (every transaction under test is sent as it)',
      ].join('\n'),
    );
    assert.equal(
      message({ ...TEST }),
      'invalid configuration:\n  CDSR_PROFILE: must be set (test or production) when profile variables are set (CDSR_TEST_ACR_CLIENT_ID, CDSR_TEST_ACR_CLIENT_SECRET, CDSR_TEST_ACR_TOKEN_URL, CDSR_TEST_FACILITY_ID, CDSR_TEST_NRDR_APP_ID, CDSR_TEST_NRDR_BASE_URL, CDSR_TEST_NRDR_PARTNER_ID): the adapter does not guess which environment to talk to',
    );
    assert.match(
      message({ ...TEST, CDSR_PROFILE: 'staging' }),
      /^invalid configuration:\n {2}CDSR_PROFILE: Invalid option: expected one of "sandbox"\|"test"\|"production"/,
    );
    assert.equal(
      message({ ...TEST, CDSR_PROFILE: 'test', CDSR_TEST_ACR_CLIENT_SECRTE: 'x', CDSR_TEST_FACILITYID: 'y' }),
      "invalid configuration:\n  CDSR_TEST_ACR_CLIENT_SECRTE: is not a profile setting (a profile's settings: CDSR_<PROFILE>_ followed by NRDR_BASE_URL, NRDR_PARTNER_ID, NRDR_APP_ID, ACR_TOKEN_URL, ACR_CLIENT_ID, ACR_CLIENT_SECRET, ACR_REFRESH_TOKEN, ACR_TOKEN, ACR_AUTHORIZE_URL, ACR_REDIRECT_URL, ACR_APP_NAME, ACR_SCOPE, FACILITY_ID)\n  CDSR_TEST_FACILITYID: is not a profile setting (a profile's settings: CDSR_<PROFILE>_ followed by NRDR_BASE_URL, NRDR_PARTNER_ID, NRDR_APP_ID, ACR_TOKEN_URL, ACR_CLIENT_ID, ACR_CLIENT_SECRET, ACR_REFRESH_TOKEN, ACR_TOKEN, ACR_AUTHORIZE_URL, ACR_REDIRECT_URL, ACR_APP_NAME, ACR_SCOPE, FACILITY_ID)",
    );
    assert.equal(
      message({ ...TEST, CDSR_PROFILE: 'test', CDSR_TEST_NRDR_BASE_URL: 'nrdr9x' }),
      'invalid configuration:\n  CDSR_TEST_NRDR_BASE_URL: must be an http(s) URL',
    );
    // one endpoint for both profiles (another case, a trailing slash, other credentials: the same), under either profile
    const same =
      "invalid configuration:\n  CDSR_TEST_NRDR_BASE_URL: is the same endpoint as NRDR_BASE_URL (the production profile): the test profile must name ACR's test environment, production its production";
    assert.equal(
      message({ ...PROD, ...TEST, CDSR_PROFILE: 'test', CDSR_TEST_NRDR_BASE_URL: PROD.NRDR_BASE_URL.replace('nrdr.example', 'NRDR.example') + '/' }),
      same,
    );
    assert.equal(message({ ...PROD, ...TEST, CDSR_PROFILE: 'production', CDSR_TEST_NRDR_BASE_URL: PROD.NRDR_BASE_URL }), same);
    assert.equal(
      message({
        ...TEST,
        CDSR_PROFILE: 'production',
        CDSR_PRODUCTION_NRDR_BASE_URL: TEST.CDSR_TEST_NRDR_BASE_URL,
        CDSR_PRODUCTION_NRDR_PARTNER_ID: '1',
        CDSR_PRODUCTION_NRDR_APP_ID: '2',
        CDSR_PRODUCTION_ACR_TOKEN: 't',
      }),
      "invalid configuration:\n  CDSR_TEST_NRDR_BASE_URL: is the same endpoint as CDSR_PRODUCTION_NRDR_BASE_URL (the production profile): the test profile must name ACR's test environment, production its production",
    );
    // production at ACR's test host: refused, with or without CDSR_PROFILE (records would go there as they are)
    const atTest = (v: string) =>
      `invalid configuration:\n  ${v}: is ACR's test environment (nrdr9x.acr.org), where only test or de-identified data may go: make it the test profile (CDSR_PROFILE=test, CDSR_TEST_NRDR_BASE_URL and the other CDSR_TEST_ settings), which de-identifies every record`;
    assert.equal(message({ ...PROD, NRDR_BASE_URL: 'https://nrdr9x.acr.org/NonPQRSapi/cdsr/transactions' }), atTest('NRDR_BASE_URL'));
    assert.equal(
      message({ ...PROD, ...TEST, CDSR_PROFILE: 'test', NRDR_BASE_URL: 'https://NRDR9X.acr.org/NonPQRSapi/cdsr/transactions' }),
      atTest('NRDR_BASE_URL'),
    );
    assert.equal(
      message({ ...PROD, CDSR_PROFILE: 'production', CDSR_PRODUCTION_NRDR_BASE_URL: 'https://nrdr9x.acr.org/NonPQRSapi/cdsr/transactions' }),
      atTest('CDSR_PRODUCTION_NRDR_BASE_URL'),
    );
    assert.equal(message({ ...PROD, ...TEST, CDSR_PROFILE: 'test', CDSR_TEST_NRDR_BASE_URL: 'https://nrdr9x.acr.org/NonPQRSapi/cdsr/transactions' }), '');
    assert.equal(
      message({ ...PROD, CDSR_PROFILE: 'production', CDSR_PRODUCTION_FACILITY_ID: '1' }),
      "invalid configuration:\n  CDSR_PRODUCTION_FACILITY_ID: only the test profile is sent as one facility: production sends each record's own (facilities.csv, CDSR_DEFAULT_FACILITY_ID); unset it",
    );
    assert.equal(
      message({ CDSR_PROFILE: 'production' }),
      'invalid configuration:\n  CDSR_PRODUCTION_NRDR_BASE_URL: must be set when CDSR_PROFILE=production: set CDSR_PRODUCTION_NRDR_BASE_URL (or NRDR_BASE_URL)',
    );
    assert.equal(
      message({ ...PROD, CDSR_PROFILE: 'sandbox' }),
      'invalid configuration:\n  CDSR_PROFILE: is sandbox (the built-in sandbox), but NRDR_BASE_URL is set: choose production, or unset NRDR_BASE_URL',
    );
    // the test database URL of the project's own tests is not a profile setting, and not refused
    assert.equal(message({ CDSR_TEST_PG_URL: 'postgres://x@127.0.0.1/db' }), '');
  });
});
