// Token providers: cached until shortly before exp, one request for concurrent callers, refresh
// tokens, a refused token dropped only if it is still the current one.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_TOKEN_PATH } from '../sandbox/server.js';
import { OAuthTokenProvider, TokenError } from './token.js';

describe('OAuthTokenProvider', async () => {
  let now = new Date('2026-06-15T12:00:00Z');
  const sb = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, faults: { tokenTtlSeconds: 300 }, clock: () => now });
  const url = await sb.app.listen({ port: 0, host: '127.0.0.1' });
  after(() => sb.app.close());
  const provider = (extra: object = {}) =>
    new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, clientSecret: DEFAULT_CLIENT.clientSecret, clock: () => now, skewSeconds: 30, ...extra });

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
    const r = new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, refreshToken: first.refresh_token, clock: () => now });
    assert.match(await r.token(), /^ey/);
    await assert.rejects(provider({ clientSecret: 'wrong' }).token(), (e: unknown) => e instanceof TokenError && e.message === 'the token endpoint answered 401');
  });
});
