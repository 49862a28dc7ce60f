// Roles through the app: each key reaches what its role allows, gets 403 elsewhere; reads of
// patient data are written to the access audit with the key's name (never the key).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, type TestServer, withTestServer } from '../../test/server.js';
import { keyRing } from './roles.js';
import { REPO_ROOT } from '../../test/helpers.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const KEYS = { inbound: 'k-inbound', send: 'k-send', operate: 'k-operate', view: 'k-view', metrics: 'k-metrics' };

// Each test has a server of its own, with one message sent on it.
type Status = (key: string | undefined, method: string, path: string) => Promise<number>;
const withRoles = (fn: (s: TestServer, status: Status) => Promise<void>) =>
  withTestServer(
    async (s) => {
      let sent = 0;
      assert.equal((await postHl7(s, ORM, { authorization: `Bearer ${KEYS.send}` })).status, 200);
      const status: Status = async (key, method, path) =>
        (
          await s.fetch(path, {
            method,
            headers: { ...(key === undefined ? {} : { 'x-api-key': key }), ...(path === '/hl7v2' ? { 'content-type': 'application/hl7-v2' } : {}) },
            ...(path === '/hl7v2' ? { body: ORM.replace('MSG0001', `R${++sent}`) } : {}),
          })
        ).status;
      await fn(s, status);
    },
    {
      roles: {
        CDSR_INBOUND_API_KEYS: [KEYS.inbound],
        CDSR_SEND_API_KEYS: [KEYS.send],
        CDSR_OPERATE_API_KEYS: [KEYS.operate],
        CDSR_VIEW_API_KEYS: [KEYS.view],
        CDSR_METRICS_API_KEYS: [KEYS.metrics],
      },
    },
  );

describe('roles', () => {
  it('each role reaches its routes and gets 403 elsewhere; no key: 401; health is open', () =>
    withRoles(async (s, status) => {
      const routes: [string, string][] = [
        ['POST', '/hl7v2'],
        ['GET', '/api/orders'],
        ['GET', '/api/records'],
        ['GET', '/api/records/100000/V0001'],
        ['GET', '/api/audit'],
        ['POST', '/api/replay'],
        ['GET', '/metrics'],
      ];
      const table: Record<string, number[]> = {};
      for (const [who, key] of Object.entries({ none: undefined, ...KEYS })) {
        table[who] = [];
        for (const [m, p] of routes) table[who].push(await status(key, m, p));
      }
      assert.deepEqual(table, {
        none: [401, 401, 401, 401, 401, 401, 401],
        inbound: [200, 200, 200, 200, 200, 200, 200],
        send: [200, 403, 403, 403, 403, 403, 403],
        operate: [403, 200, 200, 200, 200, 200, 200],
        view: [403, 200, 200, 403, 403, 403, 200],
        metrics: [403, 403, 403, 403, 403, 403, 200],
      });
      assert.equal(await status(undefined, 'GET', '/healthz'), 200);
      const denied = await s.fetch('/api/records/100000/V0001', { headers: { 'x-api-key': KEYS.view } });
      assert.deepEqual(await denied.json(), { code: 'FORBIDDEN', error: 'this key (view#1) may not do this: it needs the operate role', role: 'operate' });
    }));

  it('every read of a record or a transaction is in the access audit, by key name', () =>
    withRoles(async (s) => {
      for (const key of [KEYS.inbound, KEYS.view, KEYS.operate]) await s.fetch('/api/records/100000/V0001', { headers: { 'x-api-key': key } });
      const audit = (await (await s.fetch('/api/audit', { headers: { 'x-api-key': KEYS.operate } })).json()) as { entries: { who: string; what: string }[] };
      assert.deepEqual(
        audit.entries.map((e) => [e.who, e.what]),
        [
          ['key#1', 'record 100000|V0001'],
          ['operate#1', 'record 100000|V0001'],
        ],
      );
      assert.equal(JSON.stringify(audit).includes('k-'), false);
    }));

  it('sign-in: starting and removing it needs operate, its state view; the callback is open (the state is its credential)', () =>
    withRoles(async (s, status) => {
      const table: Record<string, number[]> = {};
      for (const [who, key] of Object.entries({ none: undefined, operate: KEYS.operate, view: KEYS.view, send: KEYS.send })) {
        table[who] = [
          await status(key, 'GET', '/auth/acr/start'),
          await status(key, 'GET', '/api/auth'),
          await status(key, 'DELETE', '/api/auth'),
          await status(key, 'GET', '/auth/acr/callback'),
        ];
      }
      // this server has no sign-in configured: 404 pages past the role check
      assert.deepEqual(table, { none: [401, 401, 401, 404], operate: [404, 200, 404, 404], view: [403, 200, 403, 404], send: [403, 403, 403, 404] });
      const r = await s.fetch('/api/auth', { headers: { 'x-api-key': KEYS.view } });
      assert.deepEqual(await r.json(), {
        profile: null,
        configured: false,
        signedIn: false,
        message:
          'No ACR Connect sign-in is configured: set ACR_AUTHORIZE_URL, ACR_TOKEN_URL, ACR_CLIENT_ID and ACR_REDIRECT_URL (docs/operations.md "Signing in to ACR Connect").',
      });
    }));

  it('a key listed under two roles has both, and is named by both', async () => {
    const ring = keyRing({ CDSR_SEND_API_KEYS: ['k-a', 'k-both'], CDSR_VIEW_API_KEYS: ['k-both'], CDSR_METRICS_API_KEYS: ['k-m', 'k-both'] });
    assert.deepEqual(
      ring.map((e) => [e.key.toString(), e.label, [...e.roles].sort()]),
      [
        ['k-a', 'send#1', ['send']],
        ['k-both', 'send#2+view#1+metrics#2', ['metrics', 'send', 'view']],
        ['k-m', 'metrics#1', ['metrics']],
      ],
    );
    await withTestServer(
      async (t) => {
        const key = { 'x-api-key': 'k-both' };
        // send (it was the last variable's role alone: a 403 here)
        assert.equal((await postHl7(t, ORM, key)).status, 200);
        // and view
        assert.equal((await t.fetch('/api/orders', { headers: key })).status, 200);
        const denied = await t.fetch('/api/records/100000/V0001', { headers: key });
        assert.deepEqual(
          [denied.status, await denied.json()],
          [403, { code: 'FORBIDDEN', error: 'this key (send#1+view#1) may not do this: it needs the operate role', role: 'operate' }],
        );
      },
      { roles: { CDSR_SEND_API_KEYS: ['k-both'], CDSR_VIEW_API_KEYS: ['k-both'] } },
    );
  });
});
