// The role every route needs, pinned: the whole table of routes (method by method) and the role
// the API-key check asks of each, read back from the running app by requests. A route whose role
// changes, or a route of the API added without a row here, fails. 'open': no key asked (the
// console's pages ask for their own sign-in and need operate, see console/plugin.ts). HEAD needs
// what GET needs (the same route; before roles were declared beside the routes, HEAD of a view
// route needed operate).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { startTestServer, type TestServer } from '../../test/server.js';
import { requireRoles } from './roles.js';
import { obj, route } from './schema.js';

type Need = 'open' | 'send' | 'view' | 'operate' | 'metrics';

const ROUTES: readonly [string, Readonly<Record<string, Need>>][] = [
  ['/api/audit', { GET: 'operate', HEAD: 'operate' }],
  ['/api/auth', { DELETE: 'operate', GET: 'view', HEAD: 'view' }],
  ['/api/mappings', { GET: 'operate', HEAD: 'operate' }],
  ['/api/messages', { GET: 'view', HEAD: 'view' }],
  ['/api/messages/:id', { GET: 'operate', HEAD: 'operate' }],
  ['/api/messages/:id/replay', { POST: 'operate' }],
  ['/api/openapi.json', { GET: 'view', HEAD: 'view' }],
  ['/api/orders', { GET: 'view', HEAD: 'view' }],
  ['/api/orders/:id/acknowledge', { POST: 'operate' }],
  ['/api/reconciliation', { GET: 'view', HEAD: 'view' }],
  ['/api/records', { GET: 'view', HEAD: 'view' }],
  ['/api/records/:facilityId/:encounterId', { GET: 'operate', HEAD: 'operate' }],
  ['/api/records/:facilityId/:encounterId/acknowledge', { POST: 'operate' }],
  ['/api/records/:facilityId/:encounterId/resubmit', { POST: 'operate' }],
  ['/api/replay', { POST: 'operate' }],
  ['/api/reprocess', { GET: 'operate', HEAD: 'operate', POST: 'operate' }],
  ['/api/reprocess/:id', { GET: 'operate', HEAD: 'operate' }],
  ['/api/resubmit', { POST: 'operate' }],
  ['/api/submit', { GET: 'operate', HEAD: 'operate', POST: 'operate' }],
  ['/api/subscriptions', { GET: 'view', HEAD: 'view' }],
  ['/api/transactions', { GET: 'view', HEAD: 'view' }],
  ['/api/transactions/:id', { GET: 'operate', HEAD: 'operate' }],
  ['/api/worklist', { GET: 'operate', HEAD: 'operate' }],
  ['/api/worklist/dry-run', { POST: 'operate' }],
  ['/auth/acr/callback', { GET: 'open', HEAD: 'open' }],
  ['/auth/acr/start', { GET: 'operate', HEAD: 'operate' }],
  ['/fhir', { POST: 'send' }],
  ['/fhir/:type', { POST: 'send' }],
  ['/fhir/:type/:id', { POST: 'send', PUT: 'send' }],
  ['/fhir/ServiceRequest/:id', { DELETE: 'send' }],
  ['/healthz', { GET: 'open', HEAD: 'open' }],
  ['/hl7v2', { POST: 'send' }],
  ['/metrics', { GET: 'metrics', HEAD: 'metrics' }],
  ['/readyz', { GET: 'open', HEAD: 'open' }],
  ['/ui', { GET: 'open', HEAD: 'open' }],
  ['/ui/assets/console.css', { GET: 'open', HEAD: 'open' }],
  ['/ui/assets/console.js', { GET: 'open', HEAD: 'open' }],
  ['/ui/bench', { GET: 'open', HEAD: 'open', POST: 'open' }],
  ['/ui/bench/save-test', { POST: 'open' }],
  ['/ui/login', { GET: 'open', HEAD: 'open', POST: 'open' }],
  ['/ui/logout', { POST: 'open' }],
  ['/ui/messages', { GET: 'open', HEAD: 'open' }],
  ['/ui/messages/:id', { GET: 'open', HEAD: 'open' }],
  ['/ui/messages/:id/edit', { GET: 'open', HEAD: 'open', POST: 'open' }],
  ['/ui/messages/:id/replay', { POST: 'open' }],
  ['/ui/messages/replay', { POST: 'open' }],
  ['/ui/orders', { GET: 'open', HEAD: 'open' }],
  ['/ui/orders/:id', { GET: 'open', HEAD: 'open' }],
  ['/ui/records', { GET: 'open', HEAD: 'open' }],
  ['/ui/records/:facilityId/:encounterId', { GET: 'open', HEAD: 'open' }],
  ['/ui/records/:facilityId/:encounterId/acknowledge', { POST: 'open' }],
  ['/ui/records/:facilityId/:encounterId/resubmit', { POST: 'open' }],
  ['/ui/reprocess', { GET: 'open', HEAD: 'open', POST: 'open' }],
  ['/ui/reprocess/:id', { GET: 'open', HEAD: 'open' }],
  ['/ui/reprocess/:id/apply', { POST: 'open' }],
  ['/ui/transactions', { GET: 'open', HEAD: 'open' }],
  ['/ui/transactions/:id', { GET: 'open', HEAD: 'open' }],
  ['/ui/worklist', { GET: 'open', HEAD: 'open' }],
  ['/ui/worklist/dry-run', { POST: 'open' }],
  ['/ui/worklist/replay', { POST: 'open' }],
];

const KEYS = { send: 'k-send', operate: 'k-operate', view: 'k-view', metrics: 'k-metrics' };
/** For each role, a key without it (its 403 names the role the route needs). */
const LACKING: Readonly<Record<Exclude<Need, 'open'>, keyof typeof KEYS>> = { send: 'metrics', view: 'metrics', operate: 'view', metrics: 'send' };
const PARAMS: Readonly<Record<string, string>> = { id: '1', facilityId: '100000', encounterId: 'V0001', type: 'Patient' };

describe('the role of every route', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({
      roles: { CDSR_SEND_API_KEYS: [KEYS.send], CDSR_OPERATE_API_KEYS: [KEYS.operate], CDSR_VIEW_API_KEYS: [KEYS.view], CDSR_METRICS_API_KEYS: [KEYS.metrics] },
    });
  });
  after(() => s.close());

  /** The role the app asks of a route: 'open' when no key is asked; else the role its 403 names to a key without it. */
  const needOf = async (method: string, pattern: string, expected: Need): Promise<string> => {
    const path = pattern.replace(/:([A-Za-z]+)/g, (_m, p: string) => PARAMS[p] ?? p);
    const bare = await s.fetch(path, { method });
    // the key check's 401 asks for a bearer key (the console's own sign-in refusal does not)
    if (bare.status !== 401 || bare.headers.get('www-authenticate') !== 'Bearer') return 'open';
    // each surface answers in its own shape (JSON, OperationOutcome, an AR ACK, a page), all with the code
    if (method !== 'HEAD') assert.match(await bare.text(), /UNAUTHENTICATED/);
    if (expected === 'open') return `not open (${bare.status})`;
    const key = LACKING[expected];
    const r = await s.fetch(path, { method, headers: { 'x-api-key': KEYS[key] } });
    if (r.status !== 403) return `not ${expected}: a ${key} key gets ${r.status}`;
    if (method === 'HEAD') {
      // no body to name the role: a key of exactly that role gets past the check
      const own = await s.fetch(path, { method, headers: { 'x-api-key': KEYS[expected] } });
      return own.status === 401 || own.status === 403 ? `not ${expected}: a ${expected} key gets ${own.status}` : expected;
    }
    const m = /it needs the (\w+) role/.exec(await r.text());
    return m?.[1] ?? 'a 403 that names no role';
  };

  it('each route needs the role of its row, method by method', async () => {
    const expected = ROUTES.flatMap(([pattern, methods]) => Object.entries(methods).map(([method, need]) => `${method} ${pattern}: ${need}`));
    const got: string[] = [];
    for (const [pattern, methods] of ROUTES) {
      for (const [method, need] of Object.entries(methods)) got.push(`${method} ${pattern}: ${await needOf(method, pattern, need)}`);
    }
    assert.deepEqual(got, expected);
  });

  it('the table has a row for every operation of the API (the OpenAPI document lists them all)', async () => {
    const doc = (await (await s.fetch('/api/openapi.json', { headers: { 'x-api-key': KEYS.view } })).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{([^}]+)\}/g, ':$1')}`))
      .sort();
    const pinned = ROUTES.filter(([p]) => p !== '/ui' && !p.startsWith('/ui/'))
      .flatMap(([p, methods]) =>
        Object.keys(methods)
          .filter((m) => m !== 'HEAD')
          .map((m) => `${m} ${p}`),
      )
      .sort();
    assert.deepEqual(pinned, documented);
  });

  it('a URL that is no route asks for the operate role (a 404 only past the key check)', async () => {
    assert.equal((await s.fetch('/no-such-route')).status, 401);
    const r = await s.fetch('/no-such-route', { headers: { 'x-api-key': KEYS.view } });
    assert.deepEqual(
      [r.status, await r.json()],
      [403, { code: 'FORBIDDEN', error: 'this key (view#1) may not do this: it needs the operate role', role: 'operate' }],
    );
    assert.equal((await s.fetch('/no-such-route', { headers: { 'x-api-key': KEYS.operate } })).status, 404);
  });

  it('a route that declares no role stops the start, named; a plugin may declare the role of all its routes', async () => {
    const app = Fastify();
    requireRoles(app);
    app.get('/declared', route('view', { summary: 'declared', response: { 200: obj({}) } }), () => ({}));
    app.get('/undeclared', () => ({}));
    app.post('/also', { bodyLimit: 1024 }, () => ({}));
    await app.register((p: FastifyInstance, _o: unknown, done: () => void) => {
      p.addHook('onRoute', (r) => {
        r.config = { role: 'open', ...r.config };
      });
      p.get('/plugin-page', () => 'ok');
      done();
    });
    await assert.rejects(async () => app.ready(), {
      message: 'every route declares the role it needs (config.role, see roles.ts); these declare none: GET /undeclared; HEAD /undeclared; POST /also',
    });
    await app.close();
  });
});
