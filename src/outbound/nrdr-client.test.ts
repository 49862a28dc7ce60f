// The NRDR client's retry rules, without a network: a scripted transport, a recorded sleep and a
// fixed jitter. A GET: 5xx / 429 / network errors → backoff and again (bounded). A POST: 429 →
// again; 5xx and network errors → no retry, answered `unanswered` (NRDR may have stored it).
// 401 → a fresh token, not counted as an attempt; 400 / 403 → no retry.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NrdrClient, type HttpAnswer, type HttpRequest } from './nrdr-client.js';
import type { TokenProvider } from './token.js';
import { validTransaction } from '../../test/helpers.js';
import type { Transaction } from '../cdsr/schema.js';

const STATUS = {
  Transaction_ID: 'tx-0001',
  Transaction_DateTime: '2026-06-15T08:00:00',
  Num_of_Exam_Included: 1,
  Num_of_Exam_In_Error: 0,
  PartnerID: '10000',
  AppID: '10019',
  Facility_ID: '100000',
  Status: 'Received',
  Error_Msg: null,
  Exam_Errors: [],
};
const ok = (): HttpAnswer => ({ status: 200, body: JSON.stringify(STATUS) });
const err = (status: number, code: string): HttpAnswer => ({ status, body: JSON.stringify({ error_code: code, error_description: `${code} described` }) });

function tokens(): TokenProvider & { invalidated: string[] } {
  let n = 0;
  let current = 'tok-1';
  const invalidated: string[] = [];
  return {
    invalidated,
    get fetched() {
      return n;
    },
    token: () => {
      if (current === '') current = `tok-${++n + 1}`;
      return Promise.resolve(current);
    },
    invalidate: (t?: string) => {
      invalidated.push(t ?? '');
      current = '';
    },
  };
}

/** A client whose transport answers from a script (an Error = no answer). */
function scripted(answers: (HttpAnswer | Error)[], retry = {}) {
  const sent: HttpRequest[] = [];
  const slept: number[] = [];
  const tp = tokens();
  const client = new NrdrClient({
    baseUrl: 'https://nrdr.example/NonPQRSapi/cdsr/transactions',
    tokens: tp,
    retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000, ...retry },
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
    transport: (req) => {
      sent.push(req);
      const a = answers.shift();
      if (!a) return Promise.reject(new Error('script ran out'));
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
  });
  return { client, sent, slept, tp };
}

const TX = validTransaction() as unknown as Transaction;

describe('NrdrClient', () => {
  it('POSTs the transaction JSON with the bearer token and reads the status answer', async () => {
    const { client, sent } = scripted([ok()]);
    const r = await client.postTransaction(TX);
    assert.deepEqual(r, { ok: true, status: { ...STATUS }, raw: JSON.stringify(STATUS) });
    assert.equal(sent.length, 1);
    assert.deepEqual(
      [sent[0]!.method, sent[0]!.headers.authorization, sent[0]!.headers['content-type']],
      ['POST', 'Bearer tok-1', 'application/json; charset=utf-8'],
    );
    assert.deepEqual(JSON.parse(sent[0]!.body ?? ''), TX);
  });

  it('GETs the status with the four query parameters of the API', async () => {
    const { client, sent } = scripted([ok()]);
    await client.getStatus('tx-0001', '100000', '10000', '10019');
    assert.deepEqual([sent[0]!.method, sent[0]!.params], ['GET', { id: 'tx-0001', facilityid: '100000', partnerid: '10000', appid: '10019' }]);
  });

  it('a GET: retries 503, 429 and a dropped connection with exponential backoff and jitter, then succeeds', async () => {
    const { client, sent, slept } = scripted([err(503, 'x'), err(429, 'x'), new Error('socket hang up'), ok()]);
    const r = await client.getStatus('tx-0001', '100000', '10000', '10019');
    assert.equal(r.ok, true);
    assert.equal(sent.length, 4);
    // delay = exp/2 + random·exp/2 with exp = 100·2^(n-1), random 0.5
    assert.deepEqual(slept, [75, 150, 300]);
    assert.deepEqual(client.stats, { requests: 4, retries: 3, tokenRefreshes: 0 });
  });

  it('a POST is never sent again without its answer: a 503, a 502 from a gateway, a dropped connection, a timeout → one request, unanswered', async () => {
    for (const answer of [
      err(503, 'server_error'),
      { status: 502, body: '<html>Bad Gateway</html>' },
      new Error('socket hang up'),
      new Error('timeout of 30000ms exceeded'),
    ]) {
      const { client, sent, slept } = scripted([answer, ok()]);
      const r = await client.postTransaction(TX);
      assert.deepEqual(
        [sent.length, slept, r.ok, !r.ok && r.unanswered, !r.ok && r.permanent],
        [1, [], false, true, false],
        JSON.stringify(answer instanceof Error ? answer.message : answer),
      );
    }
    const { client } = scripted([{ status: 502, body: '' }]);
    assert.deepEqual(await client.postTransaction(TX), {
      ok: false,
      permanent: false,
      httpStatus: 502,
      code: 'http_502',
      message: 'NRDR answered 502',
      unanswered: true,
    });
  });

  it('a POST refused before it was taken in (429) is sent again after the backoff', async () => {
    const { client, sent, slept } = scripted([err(429, 'too_many'), ok()]);
    assert.equal((await client.postTransaction(TX)).ok, true);
    assert.deepEqual([sent.length, slept], [2, [75]]);
  });

  it('gives up after maxAttempts and returns the last failure, not permanent', async () => {
    const { client, sent } = scripted([err(503, 'a'), err(503, 'b'), err(502, 'c'), err(500, 'd'), ok()]);
    const r = await client.getStatus('tx-0001', '100000', '10000', '10019');
    assert.deepEqual(r, { ok: false, permanent: false, httpStatus: 500, code: 'd', message: 'd described' });
    assert.equal(sent.length, 4);
  });

  it('caps the backoff at maxDelayMs', async () => {
    const { client, slept } = scripted([err(503, 'x'), err(503, 'x'), err(503, 'x'), err(503, 'x'), err(503, 'x'), ok()], {
      maxAttempts: 6,
      baseDelayMs: 400,
      maxDelayMs: 1000,
    });
    await client.getStatus('tx-0001', '100000', '10000', '10019');
    assert.deepEqual(slept, [300, 600, 750, 750, 750]);
  });

  it('401 invalid_token: the token is invalidated and a fresh one used, without waiting or counting an attempt', async () => {
    const { client, sent, slept, tp } = scripted([err(401, 'invalid_token'), err(401, 'invalid_token'), ok()], { maxAttempts: 1 });
    const r = await client.postTransaction(TX);
    assert.equal(r.ok, true);
    assert.deepEqual(
      sent.map((s) => s.headers.authorization),
      ['Bearer tok-1', 'Bearer tok-2', 'Bearer tok-3'],
    );
    assert.deepEqual(tp.invalidated, ['tok-1', 'tok-2']);
    assert.deepEqual(slept, []);
    assert.equal(client.stats.tokenRefreshes, 2);
  });

  it('401 for ever ends after three fresh tokens', async () => {
    const { client, sent } = scripted(
      Array.from({ length: 10 }, () => err(401, 'invalid_token')),
      { maxAttempts: 1 },
    );
    const r = await client.postTransaction(TX);
    assert.deepEqual(r, { ok: false, permanent: false, httpStatus: 401, code: 'invalid_token', message: 'invalid_token described' });
    assert.equal(sent.length, 4);
  });

  it('400 data_error and 403 no_permission are answers: no retry, permanent', async () => {
    for (const [status, code] of [
      [400, 'data_error'],
      [403, 'no_permission'],
    ] as const) {
      const { client, sent } = scripted([err(status, code), ok()]);
      assert.deepEqual(await client.postTransaction(TX), { ok: false, permanent: true, httpStatus: status, code, message: `${code} described` });
      assert.equal(sent.length, 1);
    }
  });

  it("a 4xx without NRDR's error body is named by its status", async () => {
    const { client } = scripted([{ status: 404, body: '<html>not here</html>' }]);
    assert.deepEqual(await client.postTransaction(TX), { ok: false, permanent: true, httpStatus: 404, code: 'http_404', message: 'NRDR answered 404' });
  });

  it('a 2xx that is not a transaction status is taken as given: NRDR has it, it is not sent again', async () => {
    for (const answer of [
      { status: 200, body: 'OK' },
      { status: 202, body: '' },
      { status: 200, body: '{"Transaction_ID":"tx-0001","Status":"Received"}' },
    ]) {
      const { client, sent } = scripted([answer, ok()], { maxAttempts: 3 });
      assert.deepEqual(await client.postTransaction(TX), { ok: true, raw: answer.body });
      assert.equal(sent.length, 1);
    }
  });

  it('reads a status NRDR may add later, and Exam_Errors: null', async () => {
    const { client } = scripted([{ status: 200, body: JSON.stringify({ ...STATUS, Status: 'Archived', Exam_Errors: null }) }]);
    const r = await client.getStatus('tx-0001', '100000', '10000', '10019');
    assert.deepEqual(r.ok && r.status ? [r.status.Status, r.status.Exam_Errors] : [], ['Archived', []]);
  });

  it('a token endpoint that fails is retried like the network', async () => {
    let calls = 0;
    const client = new NrdrClient({
      baseUrl: 'https://nrdr.example/x',
      tokens: { fetched: 0, invalidate: () => undefined, token: () => (++calls < 3 ? Promise.reject(new Error('token endpoint down')) : Promise.resolve('t')) },
      retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 1 },
      sleep: () => Promise.resolve(),
      random: () => 0,
      transport: () => Promise.resolve(ok()),
    });
    assert.equal((await client.postTransaction(TX)).ok, true);
    assert.equal(calls, 3);
  });
});
