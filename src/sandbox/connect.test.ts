// The sandbox's ACR Connect sign-in: its login page names the application, codes go only to the
// registered redirect URL and are exchanged once, by the client they were issued to, with the
// PKCE verifier; refresh tokens rotate; user tokens carry sub <facility>_<user> and amr password.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_AUTHORIZE_PATH, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Sandbox } from './server.js';
import { loginForm } from '../../test/acr-login.js';

const REDIRECT = 'https://adapter.example.org/auth/acr/callback';
const VERIFIER = 'v'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');
const basic = `Basic ${Buffer.from(`${DEFAULT_CLIENT.clientId}:${DEFAULT_CLIENT.clientSecret}`).toString('base64')}`;

describe('sandbox ACR Connect sign-in', () => {
  let now = new Date('2026-06-15T12:00:00Z');
  let sb: Sandbox;
  before(async () => {
    sb = await buildSandbox({
      facilities: ['100000', '100001'],
      partners: { '10000': ['10019'] },
      clients: [{ ...DEFAULT_CLIENT, redirectUris: [REDIRECT], appName: 'Hospital <CDSR> & co' }],
      faults: { tokenTtlSeconds: 300, refreshTtlSeconds: 3600 },
      clock: () => now,
    });
    await sb.app.ready();
  });
  after(() => sb.app.close());

  const query = (over: Record<string, string | undefined> = {}) => {
    const q: Record<string, string> = {};
    const all = {
      response_type: 'code',
      client_id: DEFAULT_CLIENT.clientId,
      redirect_uri: REDIRECT,
      state: 'st-1',
      code_challenge: CHALLENGE,
      code_challenge_method: 'S256',
      ...over,
    };
    for (const [k, v] of Object.entries(all)) if (v !== undefined) q[k] = v;
    return new URLSearchParams(q).toString();
  };
  const login = async (over: Record<string, string> = {}) => {
    const r = await sb.app.inject({
      method: 'POST',
      url: SANDBOX_AUTHORIZE_PATH,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `${query()}&facility=100001&username=operator&password=sandbox&${new URLSearchParams(over).toString()}`,
    });
    return r;
  };
  const codeOf = async () => {
    const r = await login();
    assert.equal(r.statusCode, 302);
    const u = new URL(r.headers.location as string);
    assert.equal(`${u.origin}${u.pathname}`, REDIRECT);
    assert.equal(u.searchParams.get('state'), 'st-1');
    return u.searchParams.get('code')!;
  };
  const token = (form: Record<string, string>, auth: string | undefined = basic) =>
    sb.app.inject({
      method: 'POST',
      url: SANDBOX_TOKEN_PATH,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
      payload: new URLSearchParams(form).toString(),
    });
  const exchange = (code: string, over: Record<string, string> = {}, auth?: string) =>
    token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: VERIFIER, client_id: DEFAULT_CLIENT.clientId, ...over }, auth);

  it('the login page names the registered application and carries the request in its form', async () => {
    const r = await sb.app.inject({ method: 'GET', url: `${SANDBOX_AUTHORIZE_PATH}?${query({ scope: 'openid' })}` });
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /<strong>Hospital &#60;CDSR&#62; &#38; co<\/strong> asks to submit data to NRDR on your behalf\./);
    assert.deepEqual(loginForm(r.body), {
      action: SANDBOX_AUTHORIZE_PATH,
      fields: {
        response_type: 'code',
        client_id: DEFAULT_CLIENT.clientId,
        redirect_uri: REDIRECT,
        state: 'st-1',
        code_challenge: CHALLENGE,
        code_challenge_method: 'S256',
        scope: 'openid',
      },
    });
  });

  it('an unknown client or an unregistered redirect URL gets a page, never a redirect; a request without PKCE goes back with an error', async () => {
    const unknown = await sb.app.inject({ method: 'GET', url: `${SANDBOX_AUTHORIZE_PATH}?${query({ client_id: 'someone' })}` });
    assert.deepEqual([unknown.statusCode, /Unknown client_id/.test(unknown.body)], [400, true]);
    const elsewhere = await sb.app.inject({ method: 'GET', url: `${SANDBOX_AUTHORIZE_PATH}?${query({ redirect_uri: 'https://evil.example/cb' })}` });
    assert.deepEqual([elsewhere.statusCode, elsewhere.headers.location, /not the one registered/.test(elsewhere.body)], [400, undefined, true]);
    const noPkce = await sb.app.inject({ method: 'GET', url: `${SANDBOX_AUTHORIZE_PATH}?${query({ code_challenge: undefined })}` });
    assert.equal(noPkce.statusCode, 302);
    assert.equal(
      noPkce.headers.location,
      `${REDIRECT}?error=invalid_request&error_description=PKCE+is+required%3A+code_challenge+with+code_challenge_method+S256&state=st-1`,
    );
  });

  it('a wrong password shows the page again with the reason and issues no code', async () => {
    const codes = sb.connect.counts.codes;
    const r = await login({ password: 'nope' });
    assert.equal(r.statusCode, 401);
    assert.match(r.body, /<p role="alert">Wrong facility, user name or password\.<\/p>/);
    assert.equal(sb.connect.counts.codes, codes);
  });

  it('a code is exchanged once, for a token whose sub is <facility>_<user> and amr password', async () => {
    const code = await codeOf();
    const r = await exchange(code);
    assert.equal(r.statusCode, 200);
    const t = r.json<{ access_token: string; refresh_token: string; expires_in: number; refresh_expires_in: number; token_type: string }>();
    assert.deepEqual([t.token_type, t.expires_in, t.refresh_expires_in], ['Bearer', 300, 3600]);
    const claims = decodeJwt(t.access_token);
    assert.deepEqual(
      [claims.sub, claims.amr, claims.facility, claims.client_id, claims.partner],
      ['100001_operator', ['password'], '100001', DEFAULT_CLIENT.clientId, '10000'],
    );
    const again = await exchange(code);
    assert.deepEqual([again.statusCode, again.json()], [400, { error: 'invalid_grant', error_description: 'the code is unknown or was already used' }]);
    // the token is taken by the API and counted by its subject
    const api = await sb.app.inject({ method: 'GET', url: `${SANDBOX_PATH}?id=none`, headers: { authorization: `Bearer ${t.access_token}` } });
    assert.equal(api.statusCode, 404);
    assert.equal(sb.bearers['100001_operator'], 1);
  });

  it('the exchange checks the verifier, the redirect URL, the client and its secret; a code lives 60 s', async () => {
    const refused = async (over: Record<string, string>, description: string) => {
      const r = await exchange(await codeOf(), over);
      assert.deepEqual([r.statusCode, r.json()], [400, { error: 'invalid_grant', error_description: description }]);
    };
    await refused({ code_verifier: 'w'.repeat(43) }, 'code_verifier does not match the code_challenge');
    await refused({ code_verifier: '' }, 'code_verifier does not match the code_challenge');
    await refused({ redirect_uri: 'https://adapter.example.org/other' }, 'redirect_uri differs from the one the code was issued for');
    const wrongSecret = await exchange(await codeOf(), {}, `Basic ${Buffer.from(`${DEFAULT_CLIENT.clientId}:guess`).toString('base64')}`);
    assert.deepEqual([wrongSecret.statusCode, wrongSecret.json()], [401, { error: 'invalid_client' }]);
    const code = await codeOf();
    now = new Date(now.getTime() + 61_000);
    const late = await exchange(code);
    assert.deepEqual([late.statusCode, late.json()], [400, { error: 'invalid_grant', error_description: 'the code has expired' }]);
  });

  it('refresh tokens rotate: the answer carries a new one, the old one is refused, the user stays', async () => {
    const first = (await exchange(await codeOf())).json<{ refresh_token: string }>();
    const r = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, undefined);
    assert.equal(r.statusCode, 200);
    const second = r.json<{ access_token: string; refresh_token: string }>();
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.equal(decodeJwt(second.access_token).sub, '100001_operator');
    const old = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, undefined);
    assert.deepEqual(
      [old.statusCode, old.json()],
      [400, { error: 'invalid_grant', error_description: 'the refresh token is unknown, expired or already used' }],
    );
    // and a refresh token past its lifetime
    now = new Date(now.getTime() + 3601_000);
    const late = await token({ grant_type: 'refresh_token', refresh_token: second.refresh_token }, undefined);
    assert.equal(late.statusCode, 400);
  });
});
