// The sandbox's answer switches over HTTP, each with its exact answer: odd POST answers, message
// codes CD0000–CD0005, CD1010 / CD2062 / CD1005 refusals, an all-rejected transaction as
// ValidationFail, unknown and never-final statuses, Exam_Errors: null, Exam_Unique_ID forms, a
// reused id refused with CD2014 (visible on GET), the readings todayZone and transactionDateTime,
// GET's partnerid / appid checks, a held POST answer, a POST stored and then dropped or answered
// 502 by a gateway, and POSTs counted per Transaction_ID.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Sandbox } from './server.js';
import { DEFAULT_ANSWERS } from './switches.js';
import { validConsultation, validEncounter, validTransaction } from '../../test/helpers.js';

let clock = new Date('2026-06-15T12:00:00Z');
const advance = (ms: number) => (clock = new Date(clock.getTime() + ms));
const Q = (id: string) => `?id=${id}&facilityid=100000&partnerid=10000&appid=10019`;
// one good encounter, one whose consultation breaks CD3111 (a mixed transaction)
const mixed = (id: string) =>
  validTransaction({ Transaction_ID: id, Num_of_Encounters_Included: 2 }, [
    validEncounter(),
    validEncounter({ Unique_Encounter_ID: 'V2' }, [validConsultation({ Modality: 'CT' })]),
  ]);
const CD3111 = 'CD3111:Invalid Modality. Field must contain only the characters 0-9';

describe('sandbox answer switches', () => {
  let sb: Sandbox;
  let url = '';
  let token = '';
  const api = (init: { method?: string; body?: unknown; query?: string } = {}) =>
    fetch(`${url}${SANDBOX_PATH}${init.query ?? ''}`, {
      method: init.method ?? 'POST',
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
  const post = async (body: unknown) => {
    const r = await api({ body });
    return [r.status, r.headers.get('content-type') ?? '', await r.text()] as const;
  };
  /** The answer to a GET once every stage has passed. */
  const settled = async (id: string, query = Q(id)) => {
    advance(10_000);
    const r = await api({ method: 'GET', query });
    return [r.status, await r.json()] as const;
  };
  const final = async (id: string) => (await settled(id))[1] as { Status: string; Error_Msg: string; Exam_Errors: unknown; Num_of_Exam_In_Error: number };

  before(async () => {
    sb = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, faults: { stepMs: 1000, tokenTtlSeconds: 3600 }, clock: () => clock });
    url = await sb.app.listen({ port: 0, host: '127.0.0.1' });
    const t = await fetch(`${url}${SANDBOX_TOKEN_PATH}`, {
      method: 'POST',
      body: `grant_type=client_credentials&client_id=${DEFAULT_CLIENT.clientId}&client_secret=${DEFAULT_CLIENT.clientSecret}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    token = t.access_token;
  });
  after(() => sb.app.close());
  beforeEach(() => void Object.assign(sb.faults, DEFAULT_ANSWERS));

  it('odd POST answers: empty body, plain text, partial JSON; the transaction is stored each time', async () => {
    sb.faults.postAnswer = 'empty';
    assert.deepEqual(await post(validTransaction({ Transaction_ID: 'O-1' })), [200, 'application/json; charset=utf-8', '']);
    sb.faults.postAnswer = 'text';
    assert.deepEqual(await post(validTransaction({ Transaction_ID: 'O-2' })), [200, 'text/plain', 'Transaction O-2 received']);
    sb.faults.postAnswer = 'partial';
    assert.deepEqual(await post(validTransaction({ Transaction_ID: 'O-3' })), [
      200,
      'application/json; charset=utf-8',
      '{"Transaction_ID":"O-3","Status":"Enqueued"}',
    ]);
    for (const id of ['O-1', 'O-2', 'O-3']) assert.equal((await final(id)).Status, 'Posted');
  });

  it('message codes CD0001, CD0002 while working; CD0000, CD0003, CD0004 at the end; CD0005 for a resubmission', async () => {
    sb.faults.statusCodes = true;
    const [, , first] = await post(validTransaction({ Transaction_ID: 'C-1' }));
    assert.equal((JSON.parse(first) as { Error_Msg: string }).Error_Msg, 'CD0001:Transaction has been received and is pending for validation');
    advance(2000);
    const loading = (await (await api({ method: 'GET', query: Q('C-1') })).json()) as { Status: string; Error_Msg: string };
    assert.deepEqual(loading, {
      ...loading,
      Status: 'ValidationSuccessful',
      Error_Msg: 'CD0002:Validation has been completed, pending for loading to database',
    });
    assert.deepEqual((await final('C-1')).Error_Msg, 'CD0000:Transaction is loaded successfully');
    await post(mixed('C-2'));
    assert.equal(
      (await final('C-2')).Error_Msg,
      'CD2080:Some of the encounters did not pass validation and were rejected|CD0003:Transaction was partially loaded.  Some elements did not pass validation and were rejected.',
    );
    await post(validTransaction({ Transaction_ID: 'C-1' }));
    assert.equal(
      (await final('C-1')).Error_Msg,
      'CD0000:Transaction is loaded successfully|CD0005:This transaction has been replaced with another transaction',
    );
  });

  it('a transaction whose every encounter is rejected is ValidationFail (CD0004), its exams listed', async () => {
    await post(validTransaction({ Transaction_ID: 'R-1' }, [validEncounter({}, [validConsultation({ Modality: 'CT' })])]));
    const s = await final('R-1');
    assert.deepEqual(
      [s.Status, s.Error_Msg, s.Num_of_Exam_In_Error, s.Exam_Errors],
      [
        'ValidationFail',
        'CD0004:The entire transaction was rejected due to failure in validation',
        1,
        [{ Exam_Unique_ID: 'V1001 03/03/2022 15:08:33', Error_Msg: CD3111 }],
      ],
    );
  });

  it('transaction-level refusals: CD1010 and CD2062 (ValidationFail), CD1005 (Failed)', async () => {
    const seen: [string, string][] = [];
    for (const code of ['CD1010', 'CD2062', 'CD1005'] as const) {
      sb.faults.refuseWith = code;
      await post(validTransaction({ Transaction_ID: `F-${code}` }));
      const s = await final(`F-${code}`);
      seen.push([s.Status, s.Error_Msg]);
    }
    assert.deepEqual(seen, [
      ['ValidationFail', 'CD1010:User account is not authorized to submit data to CDSR for the facility ID'],
      ['ValidationFail', 'CD2062:Invalid FacilityID. User has no access permission to the registry of the facility.'],
      ['Failed', 'CD1005:Error importing data simulated import failure'],
    ]);
  });

  it('an unknown status in place of the working stages; never final: the last working stage for ever', async () => {
    sb.faults.unknownStatus = 'Processing';
    const [, , first] = await post(validTransaction({ Transaction_ID: 'U-1' }));
    assert.equal((JSON.parse(first) as { Status: string }).Status, 'Processing');
    assert.equal((await final('U-1')).Status, 'Posted');
    sb.faults.unknownStatus = '';
    sb.faults.neverFinal = true;
    await post(validTransaction({ Transaction_ID: 'U-2' }));
    advance(1_000_000);
    assert.equal((await final('U-2')).Status, 'Loading');
  });

  it('Exam_Errors: null when there are none', async () => {
    sb.faults.nullExamErrors = true;
    await post(validTransaction({ Transaction_ID: 'N-1' }));
    const [, s] = await settled('N-1');
    assert.deepEqual([(s as { Status: string }).Status, (s as { Exam_Errors: unknown }).Exam_Errors], ['Posted', null]);
  });

  it('Exam_Unique_ID in every form', async () => {
    const forms: Record<string, unknown> = {};
    for (const form of ['spaced', 'encounter', 'compact', 'empty', 'internal'] as const) {
      sb.faults.examIdForm = form;
      await post(mixed(`X-${form}`));
      forms[form] = (await final(`X-${form}`)).Exam_Errors;
    }
    const internal = (forms.internal as { Exam_Unique_ID: string }[])[0]!.Exam_Unique_ID;
    assert.match(internal, /^NRDR-[0-9]+$/);
    assert.deepEqual(forms, {
      spaced: [{ Exam_Unique_ID: 'V2 03/03/2022 15:08:33', Error_Msg: CD3111 }],
      encounter: [{ Exam_Unique_ID: 'V2', Error_Msg: CD3111 }],
      compact: [{ Exam_Unique_ID: 'V203032022150833', Error_Msg: CD3111 }],
      empty: [{ Exam_Unique_ID: '', Error_Msg: CD3111 }],
      internal: [{ Exam_Unique_ID: internal, Error_Msg: CD3111 }],
    });
  });

  it("Num_of_Exam_Included off by a set number; a Posted answer with the spec example's Exam_Errors entry", async () => {
    sb.faults.examCountOffBy = -1;
    sb.faults.postedExamError = true;
    await post(validTransaction({ Transaction_ID: 'N-1' }));
    const [, s] = await settled('N-1');
    const { Status, Num_of_Exam_Included, Num_of_Exam_In_Error, Exam_Errors } = s as Record<string, unknown>;
    assert.deepEqual(
      { Status, Num_of_Exam_Included, Num_of_Exam_In_Error, Exam_Errors },
      {
        Status: 'Posted',
        Num_of_Exam_Included: 0,
        Num_of_Exam_In_Error: 0,
        Exam_Errors: [{ Exam_Unique_ID: '', Error_Msg: 'CD2070:Invalid. Missing encounter object information' }],
      },
    );
  });

  it('a reused Transaction_ID refused with CD2014 from its own facility: GET then shows the refusal', async () => {
    await post(validTransaction({ Transaction_ID: 'D-1' }));
    assert.equal((await final('D-1')).Status, 'Posted');
    sb.faults.refuseReusedId = true;
    await post(validTransaction({ Transaction_ID: 'D-1' }));
    const s = await final('D-1');
    assert.deepEqual([s.Status, s.Error_Msg], ['ValidationFail', 'CD2014:Transaction_ID must be unique. D-1 has been submitted in a previous transaction']);
    // what was loaded stays loaded
    assert.ok(sb.registry.encounters.has('100000|V1001'));
  });

  it('readings over HTTP: todayZone (CD2013, CD3130) and transactionDateTime (CD2012); a reading it cannot read is 400', async () => {
    const faults = (patch: unknown) =>
      fetch(`${url}/sandbox/faults`, { method: 'POST', body: JSON.stringify(patch), headers: { 'content-type': 'application/json' } });
    // 12:00 UTC is 08:00 in New York: 10:00 is future there, and 6/16 is tomorrow; at UTC+14 neither
    const ahead = (id: string) =>
      validTransaction({ Transaction_ID: id, Transaction_DateTime: '06/15/2026 10:00:00' }, [
        validEncounter({}, [validConsultation({ Exam_Completion_Date: '06/16/2026' })]),
      ]);
    await post(ahead('Z-1'));
    assert.equal((await final('Z-1')).Status, 'Posted');
    assert.equal((await faults({ todayZone: 'America/New_York' })).status, 200);
    await post(ahead('Z-2'));
    const s = await final('Z-2');
    assert.deepEqual([s.Status, s.Error_Msg], ['ValidationFail', 'CD2013:Transaction_DateTime is a future date']);
    await post({ ...ahead('Z-3'), Transaction_DateTime: '06/15/2026 07:00:00' });
    const c = await final('Z-3');
    assert.deepEqual(
      [c.Status, c.Exam_Errors],
      [
        'ValidationFail',
        [
          {
            Exam_Unique_ID: 'V1001 03/03/2022 15:08:33',
            Error_Msg: 'CD3130:Invalid Exam_Completion_Date. Date must be greater than 1/1/2000 and less than or equal to the current date',
          },
        ],
      ],
    );
    await faults({ todayZone: 'UTC+14', transactionDateTime: 'iso' });
    await post(ahead('Z-4'));
    assert.deepEqual((await final('Z-4')).Error_Msg, 'CD2012:Transaction_DateTime is not a valid date time format');
    const bad = await faults({ todayZone: 'Mars/Base' });
    assert.deepEqual(
      [bad.status, await bad.json()],
      [400, { error_code: 'invalid_param', error_description: 'todayZone must be UTC, UTC+hh[:mm], UTC-hh[:mm] or an IANA time zone, not "Mars/Base"' }],
    );
    const form = await faults({ transactionDateTime: 'rfc' });
    assert.deepEqual(
      [form.status, await form.json()],
      [400, { error_code: 'invalid_param', error_description: 'transactionDateTime must be one of any, us, iso, not "rfc"' }],
    );
    assert.deepEqual([sb.faults.todayZone, sb.faults.transactionDateTime], ['UTC+14', 'iso']);
    await assert.rejects(buildSandbox({ facilities: ['100000'], partners: {}, faults: { todayZone: 'Nowhere' } }), /sandbox: todayZone must be UTC/);
  });

  it('GET checks partnerid and appid as well as facilityid', async () => {
    await post(validTransaction({ Transaction_ID: 'G-1' }));
    const notFound = { error_code: 'invalid_param', error_description: 'Transaction G-1 does not exist' };
    assert.deepEqual(await settled('G-1', '?id=G-1&facilityid=100000&partnerid=99999&appid=10019'), [404, notFound]);
    assert.deepEqual(await settled('G-1', '?id=G-1&facilityid=100000&partnerid=10000&appid=99'), [404, notFound]);
    assert.deepEqual(await settled('G-1', '?id=G-1&facilityid=100009&partnerid=10000&appid=10019'), [404, notFound]);
    assert.equal((await settled('G-1'))[0], 200);
  });

  it('a held POST answer: the transaction is stored, the answer comes when the switch goes off; POSTs counted per id', async () => {
    sb.faults.holdPostAnswer = true;
    const pending = post(validTransaction({ Transaction_ID: 'H-1' }));
    // the sandbox runs in this process: wait until it holds the answer, then ask about it
    while (sb.held.count === 0) await new Promise((r) => setImmediate(r));
    assert.equal((await api({ method: 'GET', query: Q('H-1') })).status, 200);
    const off = await fetch(`${url}/sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ holdPostAnswer: false }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(off.status, 200);
    const [status, , body] = await pending;
    assert.deepEqual([status, (JSON.parse(body) as { Transaction_ID: string }).Transaction_ID], [200, 'H-1']);
    // an id posted twice (by this test: the others' ids are theirs)
    for (let i = 0; i < 2; i++) assert.equal((await post(validTransaction({ Transaction_ID: 'H-2' })))[0], 200);
    const registry = (await (await fetch(`${url}/sandbox/registry`)).json()) as { postsById: Record<string, number>; held: number };
    assert.deepEqual([registry.postsById['H-1'], registry.postsById['H-2'], registry.held], [1, 2, 0]);
  });

  it('a POST stored, then its connection dropped or a gateway 502 in place of the answer: GET finds it', async () => {
    sb.faults.dropPostAnswer = true;
    // on a connection of its own (fetch would send it again on a reused connection that closed)
    const hangUp = await new Promise<string>((resolve) => {
      const r = request(
        `${url}${SANDBOX_PATH}`,
        { method: 'POST', agent: false, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } },
        () => resolve('answered'),
      );
      r.on('error', (e) => resolve(e.message));
      r.end(JSON.stringify(validTransaction({ Transaction_ID: 'L-1' })));
    });
    assert.equal(hangUp, 'socket hang up');
    sb.faults.dropPostAnswer = false;
    sb.faults.gatewayErrorAfterPost = true;
    assert.deepEqual(await post(validTransaction({ Transaction_ID: 'L-2' })), [
      502,
      'text/html',
      '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>',
    ]);
    sb.faults.gatewayErrorAfterPost = false;
    assert.deepEqual([(await final('L-1')).Status, (await final('L-2')).Status], ['Posted', 'Posted']);
    const registry = (await (await fetch(`${url}/sandbox/registry`)).json()) as { postsById: Record<string, number> };
    assert.deepEqual([registry.postsById['L-1'], registry.postsById['L-2']], [1, 1]);
  });
});
