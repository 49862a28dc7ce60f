// Token providers: cached until shortly before exp, one request for concurrent callers, refresh
// tokens, a refused token dropped only if it is still the current one; a refresh token ACR
// rotates kept sealed in the store, so a restart renews with it and not with ACR_REFRESH_TOKEN.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_TOKEN_PATH } from '../sandbox/server.js';
import { MemoryCredentials } from '../../test/credentials.js';
import { SecretBox } from './secret-box.js';
import { OAuthTokenProvider, REFRESH_CREDENTIAL, refreshOrigin, TokenError } from './token.js';

describe('OAuthTokenProvider', async () => {
  let now = new Date('2026-06-15T12:00:00Z');
  const sb = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, faults: { tokenTtlSeconds: 300 }, clock: () => now });
  const url = await sb.app.listen({ port: 0, host: '127.0.0.1' });
  after(() => sb.app.close());
  const provider = (extra: object = {}) =>
    new OAuthTokenProvider({
      tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      clock: () => now,
      skewSeconds: 30,
      ...extra,
    });

  it('fetches once for concurrent callers and reuses the token until 30 s before exp', async () => {
    const p = provider();
    const [a, b] = await Promise.all([p.token(), p.token()]);
    assert.equal(a, b);
    assert.equal(p.fetched, 1);
    now = new Date(now.getTime() + 269_000);
    assert.equal(await p.token(), a);
    now = new Date(now.getTime() + 2_000);
    assert.notEqual(await p.token(), a);
    assert.equal(p.fetched, 2);
  });

  it('invalidate drops the refused token only', async () => {
    const p = provider();
    const a = await p.token();
    p.invalidate('some older token');
    assert.equal(await p.token(), a);
    assert.equal(p.fetched, 1);
    p.invalidate(a);
    await p.token();
    assert.equal(p.fetched, 2);
  });

  it('refresh-token flow and a clear error for wrong credentials', async () => {
    const first = await fetch(`${url}${SANDBOX_TOKEN_PATH}`, {
      method: 'POST',
      body: `grant_type=client_credentials&client_id=${DEFAULT_CLIENT.clientId}&client_secret=${DEFAULT_CLIENT.clientSecret}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }).then((r) => r.json() as Promise<{ refresh_token: string }>);
    const r = new OAuthTokenProvider({
      tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
      clientId: DEFAULT_CLIENT.clientId,
      refreshToken: first.refresh_token,
      clock: () => now,
    });
    assert.match(await r.token(), /^ey/);
    await assert.rejects(
      provider({ clientSecret: 'wrong' }).token(),
      (e: unknown) => e instanceof TokenError && e.message === 'the token endpoint answered 401',
    );
  });

  /** A refresh token as ACR gives one (here: with a client-credentials token of the sandbox). */
  const freshRefreshToken = async () =>
    (
      await fetch(`${url}${SANDBOX_TOKEN_PATH}`, {
        method: 'POST',
        body: `grant_type=client_credentials&client_id=${DEFAULT_CLIENT.clientId}&client_secret=${DEFAULT_CLIENT.clientSecret}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }).then((r) => r.json() as Promise<{ refresh_token: string }>)
    ).refresh_token;
  const box = new SecretBox(Buffer.alloc(32, 7));
  const warnings: object[] = [];
  const log = { warn: (o: object) => void warnings.push(o) };
  /** A process started with ACR_REFRESH_TOKEN = configured, keeping rotated tokens in `store`. */
  const started = (configured: string, store: MemoryCredentials, b = box) => {
    const p = new OAuthTokenProvider({
      tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
      clientId: DEFAULT_CLIENT.clientId,
      refreshToken: configured,
      clock: () => now,
    });
    p.keepRotatedIn({ store, box: b, log });
    return p;
  };
  const kept = (store: MemoryCredentials) => {
    const row = store.rows.get(REFRESH_CREDENTIAL)!;
    return { token: box.open(row.sealed, 'acr-refresh-token'), meta: row.meta, version: row.version };
  };

  it('ACR_REFRESH_TOKEN rotated by ACR: the new one is kept sealed; after a restart it is used, not the stale configured one', async () => {
    const r0 = await freshRefreshToken();
    const store = new MemoryCredentials();
    const first = started(r0, store);
    await first.token();
    const r1 = kept(store);
    assert.notEqual(r1.token, r0);
    assert.deepEqual([r1.meta, r1.version], [{ origin: refreshOrigin(r0), rotatedAt: now.toISOString() }, 1]);
    assert.ok(!store.rows.get(REFRESH_CREDENTIAL)!.sealed.includes(r1.token) && !JSON.stringify(r1.meta).includes(r1.token));
    // each renewal rotates again, and is written before the access token is handed out
    first.invalidate(await first.token());
    await first.token();
    const r2 = kept(store);
    assert.deepEqual([r2.version, r2.token === r1.token], [2, false]);

    // a restart with the same (now stale) ACR_REFRESH_TOKEN: the kept token renews
    const restarted = started(r0, store);
    assert.match(await restarted.token(), /^ey/);
    const r3 = kept(store);
    assert.deepEqual([r3.version, r3.token === r2.token, restarted.fetched], [3, false, 1]);
    // what it would have done before: present ACR_REFRESH_TOKEN, which ACR no longer takes
    const forgetful = new OAuthTokenProvider({
      tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
      clientId: DEFAULT_CLIENT.clientId,
      refreshToken: r0,
      clock: () => now,
    });
    await assert.rejects(forgetful.token(), {
      name: 'TokenError',
      message:
        'the token endpoint answered 400 invalid_grant: ACR refused the refresh token; put a new one in ACR_REFRESH_TOKEN (or sign in at /auth/acr/start)',
    });
    assert.deepEqual(warnings, []);
  });

  it('a new value in ACR_REFRESH_TOKEN wins over a token kept from the old one', async () => {
    const store = new MemoryCredentials();
    await started(await freshRefreshToken(), store).token();
    const fresh = await freshRefreshToken();
    const p = started(fresh, store);
    await p.token();
    const k = kept(store);
    assert.deepEqual([k.meta.origin, k.version, k.token === fresh], [refreshOrigin(fresh), 2, false]);
    // and a later restart with that new value goes on from what it rotated to
    await started(fresh, store).token();
    assert.equal(kept(store).version, 3);
  });

  it('a kept token sealed under another key: refused saying which key, never the stale configured token', async () => {
    const store = new MemoryCredentials();
    const r0 = await freshRefreshToken();
    await started(r0, store).token();
    await assert.rejects(
      started(r0, store, new SecretBox(Buffer.alloc(32, 8))).token(),
      (e: unknown) =>
        e instanceof TokenError &&
        e.message ===
          'the refresh token kept in the store cannot be opened (SECRET_WRONG_KEY): set the CDSR_SECRET_KEY it was sealed with, or put a new refresh token in ACR_REFRESH_TOKEN',
    );
  });

  /** A refresh by hand, as another process (or this one before a crash) makes it: the next refresh token. */
  const refreshed = async (token: string) =>
    (
      await fetch(`${url}${SANDBOX_TOKEN_PATH}`, {
        method: 'POST',
        body: `grant_type=refresh_token&refresh_token=${token}&client_id=${DEFAULT_CLIENT.clientId}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }).then((r) => r.json() as Promise<{ refresh_token: string }>)
    ).refresh_token;
  const REFUSED =
    'the token endpoint answered 400 invalid_grant: ACR refused the refresh token; put a new one in ACR_REFRESH_TOKEN (or sign in at /auth/acr/start)';

  it('a refresh token ACR refuses is said once in the log (never the token), beside the error of every request for a token', async () => {
    // ACR rotated it, and the process stopped before the store had the new one (a crash)
    const r0 = await freshRefreshToken();
    await refreshed(r0);
    const said: object[] = [];
    const p = new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, refreshToken: r0, clock: () => now });
    p.keepRotatedIn({ store: new MemoryCredentials(), box, log: { warn: (o: object, m: string) => void said.push({ ...o, msg: m }) } });
    for (let i = 0; i < 3; i++) await assert.rejects(p.token(), { name: 'TokenError', message: REFUSED });
    assert.deepEqual(said, [
      {
        event: 'acr_refresh_token_refused',
        status: 400,
        code: 'invalid_grant',
        msg: 'ACR refused the refresh token: nothing is submitted until a new one is put in ACR_REFRESH_TOKEN (or an operator signs in at /auth/acr/start)',
      },
    ]);
    assert.ok(!JSON.stringify(said).includes(r0));
    // without a store (no CDSR_SECRET_KEY) it is said too, where the service logs
    const bare: object[] = [];
    const q = new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, refreshToken: r0, clock: () => now });
    q.reportTo({ warn: (o: object) => void bare.push(o) });
    await assert.rejects(q.token(), { name: 'TokenError', message: REFUSED });
    assert.deepEqual(bare, [{ event: 'acr_refresh_token_refused', status: 400, code: 'invalid_grant' }]);
  });

  it('refused because another process renewed meanwhile: not said (the next request uses the token it kept)', async () => {
    class Racing extends MemoryCredentials {
      afterRead?: () => Promise<void>;
      override async credential(name: string) {
        const row = await super.credential(name);
        const then = this.afterRead;
        this.afterRead = undefined;
        await then?.();
        return row;
      }
    }
    const r0 = await freshRefreshToken();
    const store = new Racing();
    const keep = async (token: string, ifVersion: number) =>
      store.putCredential(
        REFRESH_CREDENTIAL,
        { sealed: box.seal(token, 'acr-refresh-token'), meta: { origin: refreshOrigin(r0), rotatedAt: now.toISOString() } },
        ifVersion,
        now,
      );
    // another process renewed (r0 → r1, kept), and renews again right after this one has read r1
    const r1 = await refreshed(r0);
    await keep(r1, 0);
    store.afterRead = async () => void (await keep(await refreshed(r1), 1));
    const said: object[] = [];
    const p = new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, refreshToken: r0, clock: () => now });
    p.keepRotatedIn({ store, box, log: { warn: (o: object) => void said.push(o) } });
    await assert.rejects(p.token(), { name: 'TokenError', message: REFUSED });
    assert.match(await p.token(), /^ey/);
    assert.deepEqual([said, kept(store).version], [[], 3]);
  });

  it('a failed write is logged (no token in it); the rotated token stays in memory and the next rotation is kept', async () => {
    const store = new MemoryCredentials();
    const p = started(await freshRefreshToken(), store);
    store.failNextPut = true;
    assert.match(await p.token(), /^ey/);
    assert.deepEqual(warnings.splice(0), [{ event: 'acr_refresh_token_not_kept', error: 'disk full' }]);
    assert.equal(store.rows.size, 0);
    p.invalidate(await p.token());
    await p.token();
    assert.equal(kept(store).version, 1);
  });
});
