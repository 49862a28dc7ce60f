// One error model at the edge: an error's code gives its HTTP status (cdsr/errors.ts), and the
// surface asked gives its shape — the API's JSON, an OperationOutcome, an HL7 ACK, the console's
// page, the probes' JSON — checked here through the app for each surface; the statuses clients
// act on are pinned; the answer checker of the route tests refuses an answer off its schema.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lines, postHl7, startTestServer, type TestServer } from '../../test/server.js';
import { answerMismatches, schemaMismatches } from '../../test/answer-schema.js';
import { AdapterError, ERRORS, type ErrorCode } from '../cdsr/errors.js';
import { errorAnswer } from './schema.js';
import { ERROR_CODE_SYSTEM, surfaceOf } from './error-answer.js';

const ROLES = { CDSR_SEND_API_KEYS: ['k-send'], CDSR_OPERATE_API_KEYS: ['k-op'], CDSR_VIEW_API_KEYS: ['k-view'] };
const AR_HEAD = 'MSH|^~\\&|CDSR-ADAPTER||||20261123060000+0000||ACK|CDSR0|P|2.5.1';

describe('the HTTP status of each error code', () => {
  it('is the one clients act on: 4xx do not resend, 503 resends, 5xx is ours (a change here is a change of the API)', () => {
    const pinned: Partial<Record<ErrorCode, number>> = {
      BAD_REQUEST: 400,
      JSON_SYNTAX: 400,
      REQUEST_UNREADABLE: 400,
      UNAUTHENTICATED: 401,
      SESSION_REQUIRED: 401,
      FORBIDDEN: 403,
      CSRF: 403,
      CROSS_SITE: 403,
      TOO_MANY_FAILURES: 429,
      NOT_FOUND: 404,
      ROUTE_NOT_FOUND: 404,
      STORE_NOT_FOUND: 404,
      SIGNIN_NOT_CONFIGURED: 404,
      NOT_SUBMITTER: 409,
      NOTHING_TO_ACKNOWLEDGE: 409,
      BODY_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      INTERNAL: 500,
      STORE_UNAVAILABLE: 503,
    };
    assert.deepEqual(Object.fromEntries(Object.keys(pinned).map((c) => [c, ERRORS[c as ErrorCode].status])), pinned);
    // every code has a status an HTTP answer may carry and a message
    for (const [code, k] of Object.entries(ERRORS)) assert.ok(k.status >= 400 && k.status <= 599 && k.message.length > 0, code);
  });

  it('an error takes its status from its code, its message from the table unless it says more, and names its field', () => {
    const e = new AdapterError('NOT_FOUND');
    assert.deepEqual([e.status, e.message, e.field, e.name], [404, 'no such item', undefined, 'AdapterError']);
    const f = new AdapterError('BAD_REQUEST', 'limit must be a whole number from 1 to 1000', { details: { field: 'limit' } });
    assert.deepEqual([f.status, f.message, f.field], [400, 'limit must be a whole number from 1 to 1000', 'limit']);
  });

  it('surfaces by path', () => {
    assert.deepEqual(
      [
        '/api/orders?x=1',
        '/fhir',
        '/fhir/ServiceRequest/1',
        '/fhirish',
        '/hl7v2',
        '/ui',
        '/ui/messages',
        '/readyz',
        '/healthz',
        '/metrics',
        '/auth/acr/start',
      ].map(surfaceOf),
      ['api', 'fhir', 'fhir', 'api', 'hl7v2', 'ui', 'ui', 'health', 'health', 'api', 'api'],
    );
  });
});

describe('one error, answered in the shape of each surface', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ roles: ROLES, bodyLimit: 4096 });
  });
  after(() => s.close());

  it('/api: { code, error, ...details }, JSON; 401 asks for a Bearer key', async () => {
    const none = await s.fetch('/api/orders');
    assert.deepEqual(
      [none.status, none.headers.get('content-type'), none.headers.get('www-authenticate'), await none.json()],
      [
        401,
        'application/json; charset=utf-8',
        'Bearer',
        { code: 'UNAUTHENTICATED', error: 'missing or wrong credentials (Authorization: Bearer <key> or X-API-Key)' },
      ],
    );
    const nowhere = await s.fetch('/api/nowhere', { headers: { authorization: 'Bearer k-op' } });
    assert.deepEqual(
      [nowhere.status, await nowhere.json()],
      [404, { code: 'ROUTE_NOT_FOUND', error: 'no such route: GET (see docs/operations.md for the API)' }],
    );
    const bad = await s.fetch('/api/orders?limit=0', { headers: { authorization: 'Bearer k-op' } });
    assert.deepEqual([bad.status, await bad.json()], [400, { code: 'BAD_REQUEST', error: 'limit must be a whole number from 1 to 1000', field: 'limit' }]);
    const notJson = await s.fetch('/api/reprocess', {
      method: 'POST',
      body: '{',
      headers: { authorization: 'Bearer k-op', 'content-type': 'application/json' },
    });
    assert.deepEqual([notJson.status, await notJson.json()], [400, { code: 'JSON_SYNTAX', error: 'the body is not JSON' }]);
    const big = await s.fetch('/api/reprocess', {
      method: 'POST',
      body: JSON.stringify({ order: 'x'.repeat(5000) }),
      headers: { authorization: 'Bearer k-op', 'content-type': 'application/json' },
    });
    assert.deepEqual(
      [big.status, await big.json()],
      [413, { code: 'BODY_TOO_LARGE', error: 'request body larger than the limit of 4096 bytes (CDSR_BODY_LIMIT_BYTES)' }],
    );
    const noSubmit = await s.fetch('/api/submit', { headers: { authorization: 'Bearer k-op' } });
    assert.deepEqual([noSubmit.status, await noSubmit.json()], [409, { code: 'NOT_SUBMITTER', error: 'this process does not submit' }]);
  });

  it('/fhir: an OperationOutcome whose issue names the code in details.coding', async () => {
    const send = { authorization: 'Bearer k-send' };
    const gone = await s.fetch('/fhir/ServiceRequest/nope', { method: 'DELETE', headers: send });
    assert.deepEqual(
      [gone.status, gone.headers.get('content-type'), await gone.json()],
      [
        404,
        'application/fhir+json; charset=utf-8',
        {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'not-found',
              details: { coding: [{ system: ERROR_CODE_SYSTEM, code: 'NOT_FOUND' }], text: 'no such ServiceRequest here' },
              diagnostics: 'NOT_FOUND: no such ServiceRequest here',
              expression: ['id'],
            },
          ],
        },
      ],
    );
    const xml = await s.fetch('/fhir', { method: 'POST', body: '<Patient/>', headers: { ...send, 'content-type': 'application/fhir+xml' } });
    const outcome = (await xml.json()) as { issue: { code: string; details: { coding: { code: string }[] } }[] };
    assert.deepEqual([xml.status, outcome.issue[0]?.code, outcome.issue[0]?.details.coding[0]?.code], [415, 'not-supported', 'UNSUPPORTED_MEDIA_TYPE']);
    const anonymous = await s.fetch('/fhir', { method: 'POST', body: '{}', headers: { 'content-type': 'application/fhir+json' } });
    assert.deepEqual([anonymous.status, ((await anonymous.json()) as { issue: { code: string }[] }).issue[0]?.code], [401, 'login']);
  });

  it('/hl7v2: an AR ACK whose ERR names the code (the ACKs of messages read are unchanged)', async () => {
    const r = await postHl7(s, 'MSH|^~\\&|EHR|GENHOSP|CDSR|ACR|20261103120000||ORM^O01|M1|P|2.5.1\r', {
      authorization: 'Bearer k-send',
      'content-type': 'application/xml',
    });
    assert.deepEqual(
      [r.status, r.type, lines(r.text)],
      [
        415,
        'x-application/hl7-v2+er7',
        [
          AR_HEAD,
          'MSA|AR|',
          'ERR|||207^Application internal error^HL70357|E||||UNSUPPORTED_MEDIA_TYPE: unsupported content type; HL7 v2: application/hl7-v2, x-application/hl7-v2+er7, application/hl7-v2+er7, text/plain, application/edi-hl7; FHIR: application/fhir+json',
        ],
      ],
    );
    const viewer = await postHl7(s, 'MSH|^~\\&|EHR\r', { authorization: 'Bearer k-view' });
    assert.deepEqual(
      [viewer.status, lines(viewer.text).slice(1)],
      [403, ['MSA|AR|', 'ERR|||207^Application internal error^HL70357|E||||FORBIDDEN: this key (view#1) may not do this: it needs the send role']],
    );
  });

  it('/ui: the console’s HTML error page (a form posted without a session, a page that does not exist)', async () => {
    const r = await s.fetch('/ui/worklist/replay', { method: 'POST', body: 'csrf=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const page = await r.text();
    assert.deepEqual([r.status, r.headers.get('content-type')], [401, 'text/html; charset=utf-8']);
    assert.match(
      page,
      /<h1>Sign in first<\/h1>\n<p class="bad" role="alert">sign in first: GET \/ui\/login<\/p>\n<p class="muted">HTTP 401 · SESSION_REQUIRED<\/p>\n<p><a href="\/ui\/login">Sign in<\/a><\/p>/,
    );
    // a path no route has is behind a key like any other (the key, then the page)
    const missing = await s.fetch('/ui/nowhere', { headers: { authorization: 'Bearer k-op' } });
    assert.deepEqual([missing.status, missing.headers.get('content-type')], [404, 'text/html; charset=utf-8']);
    assert.match(
      await missing.text(),
      /<p class="bad" role="alert">no such route: GET \(see docs\/operations.md for the API\)<\/p>\n<p class="muted">HTTP 404 · ROUTE_NOT_FOUND<\/p>/,
    );
  });

  it('the OpenAPI document lists the errors of the edge for each route, in the shape of its surface', async () => {
    const doc = (await (await s.fetch('/api/openapi.json', { headers: { authorization: 'Bearer k-op' } })).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: { required?: string[] } }> }> }>>;
    };
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path]![method]!.responses);
    assert.deepEqual(statuses('/api/orders', 'get'), ['200', '400', '401', '403', '429', '500', '503']);
    assert.deepEqual(statuses('/hl7v2', 'post'), ['200', '400', '401', '403', '413', '415', '429', '500', '503']);
    assert.deepEqual(statuses('/healthz', 'get'), ['200', '500', '503']);
    assert.deepEqual(doc.paths['/api/orders']!.get!.responses['401']!.content['application/json']!.schema.required, ['code', 'error']);
    assert.deepEqual(doc.paths['/fhir']!.post!.responses['415']!.content['application/fhir+json']!.schema.required, ['resourceType', 'issue']);
  });

  it('a failure of ours: 500 by its code only, never its text (which may quote a value); logged by code', async () => {
    const real = s.store.orders.bind(s.store);
    s.store.orders = () => Promise.reject(new Error('value MRN0002 broke it'));
    try {
      const r = await s.fetch('/api/orders', { headers: { authorization: 'Bearer k-op' } });
      assert.deepEqual([r.status, await r.json()], [500, { code: 'INTERNAL', error: 'the adapter failed on this request (INTERNAL); see its log' }]);
      assert.equal(s.logs().includes('MRN0002'), false);
      assert.match(s.logs(), /"err":\{"code":"INTERNAL","status":500,"cause":"Error"\}/);
    } finally {
      s.store.orders = real;
    }
  });
});

describe('the answer checker of the route tests', () => {
  it('refuses an error without its code, a field of the wrong type, a status the route does not declare', () => {
    assert.deepEqual(schemaMismatches(errorAnswer, { error: 'no such order' }), ['$.code: required, absent']);
    assert.deepEqual(schemaMismatches(errorAnswer, { code: 'NOT_FOUND', error: 404 }), ['$.error: integer where the schema says string']);
    const response = { 200: { type: 'object', properties: { orders: { type: 'array', items: { type: 'integer' } } }, required: ['orders'] } };
    assert.deepEqual(answerMismatches('/api/orders', response, 200, 'application/json', '{"orders":[1,"2"]}'), [
      '$.orders[1]: string where the schema says integer',
    ]);
    assert.deepEqual(answerMismatches('/api/orders', response, 202, 'application/json', '{}'), ['HTTP 202 is not among the statuses the route declares (200)']);
    assert.deepEqual(answerMismatches('/api/orders', response, 200, 'text/plain', 'orders'), ['the schema says JSON ("object"); the answer is text/plain']);
    // an error the route does not declare is checked against the API's one error shape
    assert.deepEqual(answerMismatches('/api/orders', response, 404, 'application/json', '{"error":"gone"}'), ['$.code: required, absent']);
    assert.deepEqual(answerMismatches('/api/orders', response, 200, 'application/json', '{"orders":[1,2]}'), []);
    assert.throws(() => schemaMismatches({ oneOf: [] }, 1), /the answer checker does not know oneOf/);
  });
});
