// The OpenAPI document (/api/openapi.json) is generated from the routes as registered: every route
// of the app is in it with its parameters and answers; unknown query parameters are refused by name.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { startTestServer, type TestServer } from '../../test/server.js';
import { openApiDocument, recordRoutes } from './openapi.js';
import { obj, query, route, str } from './schema.js';

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<
    string,
    Record<
      string,
      {
        summary: string;
        parameters: { name: string; in: string; required: boolean }[];
        responses: Record<string, { description: string; content: Record<string, unknown> }>;
      }
    >
  >;
};

describe('the OpenAPI document', () => {
  let s: TestServer;
  let doc: Doc;
  before(async () => {
    s = await startTestServer();
    const r = await s.fetch('/api/openapi.json');
    assert.equal(r.status, 200);
    doc = (await r.json()) as Doc;
  });
  after(() => s.close());

  it('is OpenAPI 3.0 in shape: version, info, paths of operations each with a summary and answers', () => {
    assert.equal(doc.openapi, '3.0.3');
    assert.deepEqual([doc.info.title, doc.info.version], ['cdsr-adapter', '1']);
    const methods = new Set(['get', 'post', 'put', 'delete', 'patch']);
    for (const [path, ops] of Object.entries(doc.paths)) {
      assert.match(path, /^\/[^:]*$/, `${path}: path parameters in {braces}`);
      for (const [m, op] of Object.entries(ops)) {
        assert.ok(methods.has(m), `${path}: ${m}`);
        assert.ok(op.summary.length > 0, `${m} ${path} has a summary`);
        assert.ok(Object.keys(op.responses).length > 0, `${m} ${path} has answers`);
        for (const [status, res] of Object.entries(op.responses)) {
          assert.match(status, /^[1-5]\d\d$/);
          assert.ok(Object.keys(res.content).length > 0);
        }
        for (const p of path.match(/\{[^}]+\}/g) ?? []) {
          assert.ok(
            op.parameters.some((x) => x.in === 'path' && `{${x.name}}` === p && x.required),
            `${m} ${path} declares ${p}`,
          );
        }
      }
    }
  });

  it('lists every route of the app, /api and the rest, with its schema', () => {
    const got = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    for (const expected of [
      'GET /api/records',
      'GET /api/records/{facilityId}/{encounterId}',
      'GET /api/messages',
      'POST /api/messages/{id}/replay',
      'GET /api/transactions',
      'GET /api/transactions/{id}',
      'POST /api/submit',
      'GET /api/submit',
      'POST /api/replay',
      'GET /api/audit',
      'GET /api/subscriptions',
      'GET /api/orders',
      'GET /api/reconciliation',
      'GET /api/openapi.json',
      'GET /api/mappings',
      'POST /api/resubmit',
      'POST /api/records/{facilityId}/{encounterId}/resubmit',
      'POST /hl7v2',
      'POST /fhir',
      'DELETE /fhir/ServiceRequest/{id}',
      'GET /metrics',
      'GET /healthz',
      'GET /readyz',
    ]) {
      assert.ok(got.includes(expected), `${expected} is in the document`);
    }
    // no route without a summary and an answer schema: every /api operation declared its schema
    for (const [p, ops] of Object.entries(doc.paths)) {
      if (!p.startsWith('/api/')) continue;
      for (const [m, op] of Object.entries(ops)) assert.ok(!Object.keys(op.responses).includes('default') && op.summary !== '', `${m} ${p}`);
    }
  });

  it('the query parameters of a list, as declared', () => {
    const params = doc.paths['/api/messages']!.get!.parameters.map((p) => [p.name, p.in, p.required]);
    assert.deepEqual(
      params,
      ['status', 'channel', 'controlId', 'sender', 'from', 'to', 'q', 'order', 'limit', 'after'].map((n) => [n, 'query', false]),
    );
  });

  it('a route registered later (by any plugin) appears without being listed anywhere', async () => {
    const app = Fastify();
    const routes = recordRoutes(app);
    app.get(
      '/api/worklist',
      route('open', { summary: 'the worklist', querystring: query({ field: 'a CDSR field' }), response: { 200: obj({ rows: str('rows') }) } }),
      () => ({ rows: '' }),
    );
    app.get('/api/messages/:id', route('open', { summary: 'one message', response: { 200: obj({}) } }), () => ({}));
    await app.ready();
    const d = openApiDocument(routes, '1') as Doc;
    assert.deepEqual(Object.keys(d.paths), ['/api/messages/{id}', '/api/worklist']);
    assert.deepEqual(d.paths['/api/worklist']!.get!.parameters, [
      { name: 'field', in: 'query', required: false, description: 'a CDSR field', schema: { type: 'string' } },
    ]);
    await app.close();
  });
});

describe('unknown query parameters', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('are answered 400 naming them, with the parameters the route takes', async () => {
    // a misspelt parameter is refused, not read as "no filter"
    const r = await s.fetch('/api/messages?control_id=MSG0001&status=error');
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), {
      code: 'BAD_REQUEST',
      error: 'unknown query parameter: control_id (this route takes status, channel, controlId, sender, from, to, q, order, limit, after)',
      field: 'control_id',
    });
  });

  it('several are all named; a route that takes none says so', async () => {
    const r = await s.fetch('/api/subscriptions?a=1&b=2');
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { code: 'BAD_REQUEST', error: 'unknown query parameters: a, b (this route takes none)', field: 'a, b' });
  });

  it('a known parameter given twice cannot be read: 400', async () => {
    const r = await s.fetch('/api/messages?status=error&status=applied');
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { code: 'BAD_REQUEST', error: 'status may be given once', field: 'status' });
  });

  it('declared parameters still work and answers are whole (not cut to the schema)', async () => {
    const r = await s.fetch('/api/records?state=ready&limit=5');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { records: [], next: null });
  });
});
