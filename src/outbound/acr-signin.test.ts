// The ACR Connect sign-in against the sandbox, with a fixed clock and a store in memory: the
// authorization code with PKCE and state, refusals of a wrong or replayed state, the refresh
// token rotated and written before the new access token is used, a second process carrying on
// with what the first kept, the expiry warning, a wrong key, amr as an array or a string.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_AUTHORIZE_PATH, SANDBOX_TOKEN_PATH, type Sandbox } from '../sandbox/server.js';
import type { CredentialStore } from '../store/store.js';
import { MemoryCredentials } from '../../test/credentials.js';
import { driveLogin } from '../../test/acr-login.js';
import { AcrSignIn, PreferSignIn, SIGNIN_CREDENTIAL, SignInError } from './acr-signin.js';
import { SecretBox } from './secret-box.js';
import { StaticToken, TokenError } from './token.js';

const REDIRECT = 'https://adapter.example.org/auth/acr/callback';
const USER = { facility: '100000', username: 'operator', password: 'sandbox' };

describe('ACR Connect sign-in', () => {
  let now = new Date('2026-06-15T12:00:00Z');
  const clock = () => now;
  const advance = (s: number) => (now = new Date(now.getTime() + s * 1000));
  let sb: Sandbox;
  let url = '';
  const box = new SecretBox(Buffer.alloc(32, 1));
  const logs: { level: string; o: object; m: string }[] = [];
  const log = {
    info: (o: object, m: string) => void logs.push({ level: 'info', o, m }),
    warn: (o: object, m: string) => void logs.push({ level: 'warn', o, m }),
  };

  before(async () => {
    sb = await buildSandbox({
      facilities: ['100000'],
      partners: { '10000': ['10019'] },
      clients: [{ ...DEFAULT_CLIENT, redirectUris: [REDIRECT], appName: 'General Hospital CDSR' }],
      faults: { tokenTtlSeconds: 600, refreshTtlSeconds: 7 * 86_400 },
      clock,
    });
    url = await sb.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => sb.app.close());

  const signIn = (store: CredentialStore, extra: Partial<ConstructorParameters<typeof AcrSignIn>[0]> = {}) =>
    new AcrSignIn({
      authorizeUrl: `${url}${SANDBOX_AUTHORIZE_PATH}`,
      tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      redirectUrl: REDIRECT,
      appName: 'General Hospital CDSR',
      store,
      box,
      clock,
      warnBeforeMs: 24 * 3600_000,
      log,
      ...extra,
    });

  /** Signs in through the sandbox's login page; returns the callback's query. */
  const login = async (s: AcrSignIn) => {
    const start = new URL(await s.begin());
    const r = await driveLogin(start.toString(), USER);
    assert.equal(r.status, 302);
    assert.ok(r.location.startsWith(`${REDIRECT}?`), r.location);
    return { start, callback: Object.fromEntries(new URL(r.location).searchParams) };
  };

  it('without CDSR_SECRET_KEY the sign-in does not start (503, saying why)', async () => {
    await assert.rejects(
      signIn(new MemoryCredentials(), { box: undefined }).begin(),
      (e: unknown) => e instanceof SignInError && e.status === 503 && /^CDSR_SECRET_KEY is not set/.test(e.message),
    );
  });

  it('authorization code with PKCE and state: signed in as <facility>_<user> by password, kept sealed', async () => {
    const store = new MemoryCredentials();
    const s = signIn(store);
    const { start, callback } = await login(s);
    assert.deepEqual([...start.searchParams.keys()], ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method']);
    assert.deepEqual(
      [start.searchParams.get('response_type'), start.searchParams.get('redirect_uri'), start.searchParams.get('code_challenge_method')],
      ['code', REDIRECT, 'S256'],
    );
    assert.equal(callback.state, start.searchParams.get('state'));
    // the pending sign-in: keyed by a hash of the state, its verifier sealed
    const pending = [...store.rows.values()].find((r) => r.name.startsWith('acr-pending:'));
    assert.ok(pending && !pending.name.includes(callback.state));
    assert.equal(createHash('sha256').update(box.open(pending.sealed, 'acr-pending')).digest('base64url'), start.searchParams.get('code_challenge'));

    const status = await s.complete(callback);
    assert.deepEqual(status, {
      configured: true,
      keySet: true,
      appName: 'General Hospital CDSR',
      state: 'signed-in',
      signedIn: true,
      subject: '100000_operator',
      facilityId: '100000',
      user: 'operator',
      amr: ['password'],
      signedInAt: '2026-06-15T12:00:00.000Z',
      refreshedAt: null,
      rotations: 0,
      accessExpiresAt: '2026-06-15T12:10:00.000Z',
      refreshExpiresAt: '2026-06-22T12:00:00.000Z',
      expiringSoon: false,
      warnBeforeSeconds: 86_400,
      lastError: null,
    });
    assert.deepEqual([...store.rows.keys()], [SIGNIN_CREDENTIAL]);
    const row = store.rows.get(SIGNIN_CREDENTIAL)!;
    const sealed = JSON.parse(box.open(row.sealed, 'acr-signin')) as { refreshToken: string; accessToken: string };
    assert.ok(!row.sealed.includes(sealed.refreshToken) && !row.sealed.includes(sealed.accessToken) && !JSON.stringify(row.meta).includes(sealed.accessToken));
    const token = await s.token();
    assert.equal(token, sealed.accessToken);
    assert.deepEqual([decodeJwt(token).sub, decodeJwt(token).amr], ['100000_operator', ['password']]);
    // nothing logged holds a token or the code
    const text = JSON.stringify(logs);
    for (const secret of [sealed.refreshToken, sealed.accessToken, callback.code!]) assert.ok(!text.includes(secret));
  });

  it('amr as a string, as the spec\'s sample token has it ("amr":"password"): read as ["password"]', async () => {
    sb.faults.amrForm = 'string';
    try {
      const s = signIn(new MemoryCredentials());
      const status = await s.complete((await login(s)).callback);
      assert.deepEqual(decodeJwt(await s.token()).amr, 'password');
      assert.deepEqual([status.subject, status.amr], ['100000_operator', ['password']]);
    } finally {
      sb.faults.amrForm = 'array';
    }
  });

  it('a replayed callback, a wrong state, or ACR saying no: refused with a clear message; the code is not reusable at ACR', async () => {
    const s = signIn(new MemoryCredentials());
    const { callback } = await login(s);
    await assert.rejects(s.complete({ ...callback, state: 'not-the-state' }), {
      code: 'SIGNIN',
      message: 'this sign-in is unknown or was already completed (state not recognised): start again at /auth/acr/start',
    });
    await s.complete(callback);
    await assert.rejects(s.complete(callback), {
      code: 'SIGNIN',
      message: 'this sign-in is unknown or was already completed (state not recognised): start again at /auth/acr/start',
    });
    // the same code presented again by someone holding a fresh state: ACR refuses it
    const fresh = new URL(await s.begin()).searchParams.get('state')!;
    await assert.rejects(s.complete({ code: callback.code!, state: fresh }), {
      code: 'SIGNIN',
      message: 'ACR Connect refused the sign-in code (HTTP 400 invalid_grant): start again at /auth/acr/start',
    });
    const denied = new URL(await s.begin()).searchParams.get('state')!;
    await assert.rejects(s.complete({ error: 'access_denied', error_description: 'user said <no>', state: denied }), {
      message: 'ACR Connect did not sign you in (access_denied): start again at /auth/acr/start',
    });
  });

  it('a started sign-in left for more than 10 minutes is refused', async () => {
    const s = signIn(new MemoryCredentials());
    const { callback } = await login(s);
    advance(601);
    await assert.rejects(s.complete(callback), { message: 'this sign-in was started too long ago: start again at /auth/acr/start' });
  });

  it('the refresh token rotates, is written before the new access token is used, and a second process carries on with it', async () => {
    const store = new MemoryCredentials();
    const s = signIn(store);
    await s.complete((await login(s)).callback);
    const first = JSON.parse(box.open(store.rows.get(SIGNIN_CREDENTIAL)!.sealed, 'acr-signin')) as { refreshToken: string; accessToken: string };
    advance(601);
    // the write fails: the new access token is not handed out
    store.failNextPut = true;
    const writes = store.writes.length;
    await assert.rejects(s.token(), { message: 'disk full' });
    assert.equal(store.writes.length, writes);
    // ACR rotated the refresh token it answered with; the old one is now refused, so the sign-in is over
    await assert.rejects(
      s.token(),
      (e: unknown) =>
        e instanceof TokenError && e.message === 'ACR Connect refused the kept sign-in (invalid_grant): an operator signs in again at /auth/acr/start',
    );
    assert.equal((await s.status()).state, 'refused');
    assert.ok(logs.some((l) => (l.o as { event?: string }).event === 'acr_signin_refused'));

    // sign in again, and renew normally
    await s.complete((await login(s)).callback);
    const before = JSON.parse(box.open(store.rows.get(SIGNIN_CREDENTIAL)!.sealed, 'acr-signin')) as { refreshToken: string; accessToken: string };
    assert.notEqual(before.refreshToken, first.refreshToken);
    advance(601);
    const renewed = await s.token();
    const row = store.rows.get(SIGNIN_CREDENTIAL)!;
    const after = JSON.parse(box.open(row.sealed, 'acr-signin')) as { refreshToken: string; accessToken: string };
    assert.equal(after.accessToken, renewed);
    assert.notEqual(after.refreshToken, before.refreshToken);
    assert.deepEqual([(await s.status()).rotations, (await s.status()).refreshedAt], [1, now.toISOString()]);
    // the sandbox refuses the old refresh token now
    const old = await fetch(`${url}${SANDBOX_TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&refresh_token=${before.refreshToken}`,
    });
    assert.equal(old.status, 400);

    // a restart: a new process on the same store uses the kept access token, then renews with the rotated refresh token
    const second = signIn(store);
    assert.equal(await second.token(), renewed);
    assert.equal(second.fetched, 0);
    advance(601);
    const third = await second.token();
    assert.notEqual(third, renewed);
    assert.deepEqual([second.fetched, (await second.status()).rotations, decodeJwt(third).sub], [1, 2, '100000_operator']);
  });

  it('a token NRDR refused (401) is not handed out again: the next one is renewed', async () => {
    const store = new MemoryCredentials();
    const s = signIn(store);
    await s.complete((await login(s)).callback);
    const a = await s.token();
    s.invalidate(a);
    const b = await s.token();
    assert.notEqual(a, b);
    assert.equal((await s.status()).rotations, 1);
  });

  it('warns once before the sign-in expires, then once when it has; status and flag say so', async () => {
    const store = new MemoryCredentials();
    const s = signIn(store);
    await s.complete((await login(s)).callback);
    const events = () => logs.filter((l) => l.level === 'warn').map((l) => (l.o as { event: string }).event);
    const baseline = events().length;
    assert.equal((await s.checkExpiry()).expiringSoon, false);
    advance(6 * 86_400 + 1);
    const soon = await s.checkExpiry();
    await s.checkExpiry();
    assert.deepEqual([soon.state, soon.expiringSoon], ['signed-in', true]);
    assert.deepEqual(events().slice(baseline), ['acr_signin_expiring']);
    const warned = logs.filter((l) => l.level === 'warn').at(-1)!;
    assert.deepEqual(warned.o, { event: 'acr_signin_expiring', subject: '100000_operator', refreshExpiresAt: soon.refreshExpiresAt, secondsLeft: 86_399 });
    advance(86_400);
    const gone = await s.checkExpiry();
    assert.deepEqual([gone.state, gone.signedIn, gone.expiringSoon], ['expired', false, false]);
    assert.deepEqual(events().slice(baseline), ['acr_signin_expiring', 'acr_signin_expired']);
  });

  it('a kept sign-in sealed under another key: token() fails naming SECRET_WRONG_KEY', async () => {
    const store = new MemoryCredentials();
    const s = signIn(store);
    await s.complete((await login(s)).callback);
    const other = signIn(store, { box: new SecretBox(Buffer.alloc(32, 2)) });
    await assert.rejects(
      other.token(),
      (e: unknown) => e instanceof TokenError && e.message.startsWith('the kept ACR Connect sign-in cannot be opened (SECRET_WRONG_KEY)'),
    );
  });

  it('the NRDR client prefers the kept sign-in; without one, the configured flow', async () => {
    const store = new MemoryCredentials();
    const s = signIn(store);
    const tokens = new PreferSignIn(s, new StaticToken('configured-token'));
    assert.equal(await tokens.token(), 'configured-token');
    await assert.rejects(new PreferSignIn(s, undefined).token(), { message: 'not signed in to ACR Connect: an operator opens /auth/acr/start' });
    await s.complete((await login(s)).callback);
    assert.equal(decodeJwt(await tokens.token()).sub, '100000_operator');
    await s.signOut();
    assert.equal(await tokens.token(), 'configured-token');
  });

  it('two processes renewing at once: the one ACR refused does not end the sign-in the other renewed', async () => {
    const store = new MemoryCredentials();
    const a0 = signIn(store);
    await a0.complete((await login(a0)).callback);
    // A's answer from the token endpoint is held until B has been refused and has written so
    let release: () => void = () => undefined;
    const gate = new Promise<void>((ok) => (release = ok));
    let answered: () => void = () => undefined;
    const aAnswered = new Promise<void>((ok) => (answered = ok));
    const formPost = async (u: string, form: URLSearchParams, auth?: { username: string; password: string }) => {
      const r = await fetch(u, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {}),
        },
        body: form.toString(),
      });
      return { status: r.status, body: await r.json() };
    };
    const a = signIn(store, {
      post: async (u, form, auth) => {
        const r = await formPost(u, form, auth);
        answered();
        await gate;
        return r;
      },
    });
    const b = signIn(store, { post: formPost });
    advance(601);
    const aToken = a.token();
    await aAnswered;
    await assert.rejects(b.token(), { message: 'ACR Connect refused the kept sign-in (invalid_grant): an operator signs in again at /auth/acr/start' });
    assert.equal((await b.status()).state, 'refused');
    release();
    const token = await aToken;
    assert.deepEqual([(await a.status()).state, (await a.status()).rotations], ['signed-in', 1]);
    // and a third process carries on with what A kept
    assert.equal(await signIn(store).token(), token);
  });
});
