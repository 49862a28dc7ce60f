// The sandbox answers as the CDSR spec (docs/cdsr-spec.md) says NRDR does: every status code and error body, the
// status progression, the registry rules, and its fault switches.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Sandbox } from './server.js';
import { validTransaction, validEncounter, validConsultation } from '../../test/helpers.js';

const json = async (r: Response) => [r.status, await r.json()] as const;

interface Ctx {
  readonly sb: Sandbox;
  readonly url: string;
  readonly api: (init?: { method?: string; body?: string; auth?: string | null; query?: string }) => Promise<Response>;
  /** Moves the sandbox's clock on. */
  readonly advance: (ms: number) => void;
  readonly setToken: (t: string) => void;
  /** Submits T-1 (a valid transaction of facility 100000) and lets it reach Posted. */
  readonly postT1: () => Promise<void>;
}

/** A sandbox of its own, on a clock of its own, with a token. */
async function withSandbox(fn: (c: Ctx) => Promise<void>): Promise<void> {
  let clock = new Date('2026-06-15T12:00:00Z');
  const sb = await buildSandbox({
    facilities: ['100000', '100002'],
    notAccepted: ['100001'],
    unauthorizedFacilities: ['100002'],
    partners: { '10000': ['10019'] },
    faults: { stepMs: 1000, tokenTtlSeconds: 60 },
    clock: () => clock,
  });
  try {
    const url = await sb.app.listen({ port: 0, host: '127.0.0.1' });
    const t = await fetch(`${url}${SANDBOX_TOKEN_PATH}`, {
      method: 'POST',
      body: `grant_type=client_credentials&client_id=${DEFAULT_CLIENT.clientId}&client_secret=${DEFAULT_CLIENT.clientSecret}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }).then((r) => r.json() as Promise<{ access_token: string; expires_in: number; token_type: string }>);
    assert.deepEqual([t.token_type, t.expires_in], ['Bearer', 60]);
    let token = t.access_token;
    const api: Ctx['api'] = (init = {}) =>
      fetch(`${url}${SANDBOX_PATH}${init.query ?? ''}`, {
        method: init.method ?? 'POST',
        ...(init.body !== undefined ? { body: init.body } : {}),
        headers: { 'content-type': 'application/json', ...(init.auth === null ? {} : { authorization: `Bearer ${init.auth ?? token}` }) },
      });
    const advance = (ms: number) => void (clock = new Date(clock.getTime() + ms));
    await fn({
      sb,
      url,
      api,
      advance,
      setToken: (x) => void (token = x),
      postT1: async () => {
        assert.equal((await api({ body: JSON.stringify(validTransaction({ Transaction_ID: 'T-1' })) })).status, 200);
        advance(5000);
      },
    });
  } finally {
    await sb.app.close();
  }
}

// Each test has a sandbox of its own.
describe('NRDR sandbox', () => {
  it('401 missing_token and invalid_token; 400 data_error; 403 no_permission', () =>
    withSandbox(async ({ api }) => {
      assert.deepEqual(await json(await api({ body: '{}', auth: null })), [
        401,
        { error_code: 'missing_token', error_description: 'Token is not provided in the request header' },
      ]);
      assert.deepEqual(await json(await api({ body: '{}', auth: 'x.y.z' })), [
        401,
        { error_code: 'invalid_token', error_description: 'Token is invalid or expired' },
      ]);
      assert.deepEqual(await json(await api({ body: 'not json' })), [
        400,
        { error_code: 'data_error', error_description: "Transaction data is missing or doesn't have valid JSON representation" },
      ]);
      const [status, body] = await json(await api({ body: JSON.stringify(validTransaction({ PartnerID: '99999' })) }));
      assert.deepEqual([status, (body as { error_code: string }).error_code], [403, 'no_permission']);
    }));

  it('GET: 400 missing_param, 404 invalid_param', () =>
    withSandbox(async ({ api }) => {
      assert.deepEqual(await json(await api({ method: 'GET', query: '?facilityid=100000' })), [
        400,
        { error_code: 'missing_param', error_description: 'Missing transaction ID parameter' },
      ]);
      assert.deepEqual(await json(await api({ method: 'GET', query: '?id=nope&facilityid=100000' })), [
        404,
        { error_code: 'invalid_param', error_description: 'Transaction nope does not exist' },
      ]);
    }));

  it('statuses progress Enqueued → Received → ValidationSuccessful → Loading → Posted, and the registry holds the records', () =>
    withSandbox(async ({ sb, api, advance }) => {
      const [, first] = await json(await api({ body: JSON.stringify(validTransaction({ Transaction_ID: 'T-1' })) }));
      assert.equal((first as { Status: string }).Status, 'Enqueued');
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) {
        const [, s] = await json(await api({ method: 'GET', query: '?id=T-1&facilityid=100000&partnerid=10000&appid=10019' }));
        seen.push((s as { Status: string }).Status);
        advance(1000);
      }
      assert.deepEqual(seen, ['Enqueued', 'Received', 'ValidationSuccessful', 'Loading', 'Posted']);
      assert.deepEqual([...sb.registry.encounters.keys()], ['100000|V1001']);
    }));

  it('registry rules: CD2053, CD2054, CD1012, CD2014; partial success with Exam_Errors', () =>
    withSandbox(async ({ sb, api, advance, postT1 }) => {
      const final = async (tx: Record<string, unknown>) => {
        await api({ body: JSON.stringify(tx) });
        advance(5000);
        const [, s] = await json(await api({ method: 'GET', query: `?id=${String(tx.Transaction_ID)}` }));
        return s as { Status: string; Error_Msg: string; Exam_Errors: { Exam_Unique_ID: string; Error_Msg: string }[]; Num_of_Exam_In_Error: number };
      };
      await postT1();
      assert.deepEqual(await final(validTransaction({ Transaction_ID: 'T-2', Facility_ID: '100009' })).then((s) => [s.Status, s.Error_Msg]), [
        'ValidationFail',
        'CD2053:Facility has not registered for CDSR.  Submission aborted',
      ]);
      assert.deepEqual(await final(validTransaction({ Transaction_ID: 'T-3', Facility_ID: '100001' })).then((s) => [s.Status, s.Error_Msg]), [
        'ValidationFail',
        'CD2054:Facility has not been accepted to CDSR.  Submission aborted',
      ]);
      assert.deepEqual(await final(validTransaction({ Transaction_ID: 'T-4', Facility_ID: '100002' })).then((s) => [s.Status, s.Error_Msg]), [
        'ValidationFail',
        'CD1012:Partner 10000 is not authorized to submit data for facility 100002 and/or application 10019',
      ]);
      const [, dup] = await json(await api({ body: JSON.stringify(validTransaction({ Transaction_ID: 'T-1', Facility_ID: '100002' })) }));
      advance(5000);
      assert.deepEqual([(dup as { Status: string }).Status, (dup as { Error_Msg: string }).Error_Msg], ['Enqueued', '']);
      // the refusal is what that facility's GET shows; the owner's GET still shows its own transaction
      const [, theirs] = await json(await api({ method: 'GET', query: '?id=T-1&facilityid=100002&partnerid=10000&appid=10019' }));
      assert.deepEqual(
        [(theirs as { Status: string }).Status, (theirs as { Error_Msg: string }).Error_Msg.split('|')[0]],
        ['ValidationFail', 'CD2014:Transaction_ID must be unique. T-1 has been submitted in a previous transaction'],
      );
      const [, own] = await json(await api({ method: 'GET', query: '?id=T-1&facilityid=100000&partnerid=10000&appid=10019' }));
      assert.equal((own as { Status: string }).Status, 'Posted');
      assert.equal(
        (sb.registry.status(sb.registry.submit(validTransaction({ Transaction_ID: 'T-1', Facility_ID: '100002' })), 0).Error_Msg ?? '').split('|')[0],
        'CD2014:Transaction_ID must be unique. T-1 has been submitted in a previous transaction',
      );
      const mixed = validTransaction({ Transaction_ID: 'T-5' }, [
        validEncounter(),
        validEncounter({ Unique_Encounter_ID: 'V2' }, [validConsultation({ Modality: 'CT' })]),
      ]);
      const s = await final(mixed);
      assert.deepEqual(
        [s.Status, s.Num_of_Exam_In_Error, s.Error_Msg, s.Exam_Errors],
        [
          'PartiallySuccessful',
          1,
          'CD2080:Some of the encounters did not pass validation and were rejected',
          [{ Exam_Unique_ID: 'V2 03/03/2022 15:08:33', Error_Msg: 'CD3111:Invalid Modality. Field must contain only the characters 0-9' }],
        ],
      );
    }));

  it('a resubmission under the same Transaction_ID replaces the transaction', () =>
    withSandbox(async ({ sb, api, postT1 }) => {
      await postT1();
      await api({ body: JSON.stringify(validTransaction({ Transaction_ID: 'T-1' })) });
      assert.equal(sb.registry.transactions.get('T-1')?.submissions, 2);
    }));

  it('tokens expire; fault switches answer 503 or drop the connection', () =>
    withSandbox(async ({ sb, url, api, advance, setToken, postT1 }) => {
      await postT1();
      advance(61_000);
      assert.equal((await api({ method: 'GET', query: '?id=T-1' })).status, 401);
      const fresh = await fetch(`${url}${SANDBOX_TOKEN_PATH}`, {
        method: 'POST',
        body: 'grant_type=client_credentials',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from('sandbox-client:sandbox-secret').toString('base64')}`,
        },
      }).then((r) => r.json() as Promise<{ access_token: string; refresh_token: string }>);
      setToken(fresh.access_token);
      assert.equal((await api({ method: 'GET', query: '?id=T-1' })).status, 200);
      const refreshed = await fetch(`${url}${SANDBOX_TOKEN_PATH}`, {
        method: 'POST',
        body: `grant_type=refresh_token&refresh_token=${fresh.refresh_token}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(refreshed.status, 200);
      sb.faults.failRate = 1;
      assert.deepEqual(await json(await api({ method: 'GET', query: '?id=T-1' })), [
        503,
        { error_code: 'server_error', error_description: 'The service is temporarily unavailable' },
      ]);
      sb.faults.failRate = 0;
      sb.faults.dropRate = 1;
      await assert.rejects(api({ method: 'GET', query: '?id=T-1' }));
      sb.faults.dropRate = 0;
    }));
});
