// The submitter against the sandbox's answer switches (no scripted NRDR): for each way NRDR may
// answer, the records end in the right state (accepted / rejected / needs-review), each
// transaction is POSTed exactly once (counted at the sandbox), and polling stops (a further round
// asks NRDR nothing).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, type TestServer, withTestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Faults, type Sandbox } from '../sandbox/server.js';
import { NrdrClient } from './nrdr-client.js';
import { Submitter } from './submitter.js';
import { OAuthTokenProvider } from './token.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
// the same order for a second encounter (V0002), so that NRDR can reject one encounter of two
const ORM_V2 = ORM.replaceAll('V0001', 'V0002').replaceAll('MSG0001', 'MSG0901').replaceAll('ORD1001', 'ORD9001').replaceAll('ACC2001', 'ACC9001');

/** The sandbox on a logical clock: each request moves it 3 ms on (stages pass after a set number of requests, however busy the machine). */
async function sandboxWith(faults: Partial<Faults>): Promise<{ sandbox: Sandbox; url: string }> {
  let now = Date.now();
  const sandbox = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, faults: { stepMs: 5, ...faults }, clock: () => new Date(now) });
  sandbox.app.addHook('onRequest', (_req, _reply, done) => {
    now += 3;
    done();
  });
  return { sandbox, url: await sandbox.app.listen({ port: 0, host: '127.0.0.1' }) };
}

/** A clock that moves 1 s at each reading: the polling deadline comes after a bounded number of polls. */
function ticking(): () => Date {
  let t = Date.now();
  return () => new Date((t += 1000));
}

interface Outcome {
  /** Record state per encounter. */
  readonly states: Record<string, string>;
  /** POSTs per Transaction_ID the sandbox received. */
  readonly postsPerTransaction: number[];
  /** GETs the sandbox got in a further round (0: polling stopped). */
  readonly getsAfter: number;
  readonly transactionStatus: string[];
  /** NRDR's codes on each record. */
  readonly codes: Record<string, string[]>;
}

async function run(faults: Partial<Faults>, orms = [ORM, ORM_V2]): Promise<Outcome> {
  let out: Outcome | undefined;
  await withTestServer(async (s: TestServer) => {
    for (const m of orms) assert.match((await postHl7(s, m)).text, /MSA\|AA/);
    const { sandbox, url } = await sandboxWith(faults);
    try {
      const client = new NrdrClient({
        baseUrl: `${url}${SANDBOX_PATH}`,
        tokens: new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, clientSecret: DEFAULT_CLIENT.clientSecret }),
        retry: { baseDelayMs: 1, maxDelayMs: 5 },
      });
      const submitter = new Submitter({ store: s.store, client, partnerId: '10000', appId: '10019', maxEncounters: 100, clock: ticking(), pollIntervalMs: 1, pollDeadlineMs: 60_000, sleep: () => Promise.resolve() });
      // until every transaction is final (or, past the deadline, in review)
      await submitter.submitNow(10 * 60_000);
      const gets = sandbox.counts.gets;
      await submitter.flush();
      const states: Record<string, string> = {};
      const codes: Record<string, string[]> = {};
      for (const r of await s.store.records({})) {
        states[r.encounterId] = r.state;
        const view = await s.store.record(r.encounterKey);
        codes[r.encounterId] = (view?.consultations[0]?.nrdrProblems ?? []).map((p) => p.code);
      }
      const txs = await s.store.transactions({});
      out = {
        states,
        postsPerTransaction: txs.map((t) => sandbox.registry.postsById.get(t.transactionId) ?? 0),
        getsAfter: sandbox.counts.gets - gets,
        transactionStatus: txs.map((t) => `${t.status}/${t.nrdr?.Status ?? '-'}`),
        codes,
      };
    } finally {
      await sandbox.app.close();
    }
  });
  assert.ok(out);
  return out;
}

const accepted = { V0001: 'accepted', V0002: 'accepted' };
const none = { V0001: [], V0002: [] };

describe('the submitter against the sandbox answer switches', () => {
  for (const [title, faults] of [
    ['a POST answered with an empty body', { postAnswer: 'empty' }],
    ['a POST answered with plain text', { postAnswer: 'text' }],
    ['a POST answered with only {Transaction_ID, Status}', { postAnswer: 'partial' }],
    ['message codes CD0000–CD0002 in Error_Msg', { statusCodes: true }],
    ['an unknown status in place of the working stages', { unknownStatus: 'Processing' }],
    ['Exam_Errors: null', { nullExamErrors: true }],
  ] as const) {
    it(`${title}: all accepted, POSTed once, polling stopped`, async () => {
      assert.deepEqual(await run(faults), { states: accepted, postsPerTransaction: [1], getsAfter: 0, transactionStatus: ['done/Posted'], codes: none });
    });
  }

  it('a status never final: needs-review at the deadline, POSTed once, polling stopped', async () => {
    assert.deepEqual(await run({ neverFinal: true }), {
      states: { V0001: 'needs-review', V0002: 'needs-review' },
      postsPerTransaction: [1],
      getsAfter: 0,
      transactionStatus: ['review/Loading'],
      codes: { V0001: ['NRDR_UNCLEAR'], V0002: ['NRDR_UNCLEAR'] },
    });
  });

  for (const code of ['CD1010', 'CD2062'] as const) {
    it(`ValidationFail with ${code}: all rejected with it, POSTed once`, async () => {
      assert.deepEqual(await run({ refuseWith: code }), {
        states: { V0001: 'rejected', V0002: 'rejected' },
        postsPerTransaction: [1],
        getsAfter: 0,
        transactionStatus: ['done/ValidationFail'],
        codes: { V0001: [code], V0002: [code] },
      });
    });
  }

  it('Failed with CD1005: all rejected, POSTed once', async () => {
    assert.deepEqual(await run({ refuseWith: 'CD1005' }), {
      states: { V0001: 'rejected', V0002: 'rejected' },
      postsPerTransaction: [1],
      getsAfter: 0,
      transactionStatus: ['done/Failed'],
      codes: { V0001: ['CD1005'], V0002: ['CD1005'] },
    });
  });

  it('every encounter rejected: ValidationFail (CD0004 and each CD3005), all rejected', async () => {
    assert.deepEqual(await run({ rejectEncounters: ['V0001', 'V0002'] }), {
      states: { V0001: 'rejected', V0002: 'rejected' },
      postsPerTransaction: [1],
      getsAfter: 0,
      transactionStatus: ['done/ValidationFail'],
      codes: { V0001: ['CD0004', 'CD3005'], V0002: ['CD0004', 'CD3005'] },
    });
  });

  // one encounter of two rejected: the Exam_Unique_ID form decides whether the adapter can tell which
  for (const [form, states, codes] of [
    ['spaced', { V0001: 'accepted', V0002: 'rejected' }, { V0001: [], V0002: ['CD3005'] }],
    ['encounter', { V0001: 'accepted', V0002: 'rejected' }, { V0001: [], V0002: ['CD3005'] }],
    ['compact', { V0001: 'accepted', V0002: 'rejected' }, { V0001: [], V0002: ['CD3005'] }],
    ['empty', { V0001: 'needs-review', V0002: 'needs-review' }, { V0001: ['NRDR_UNCLEAR', 'CD2080'], V0002: ['NRDR_UNCLEAR', 'CD2080'] }],
    ['internal', { V0001: 'needs-review', V0002: 'needs-review' }, { V0001: ['NRDR_UNCLEAR', 'CD2080'], V0002: ['NRDR_UNCLEAR', 'CD2080'] }],
  ] as const) {
    it(`PartiallySuccessful naming the exam in the ${form} form: ${Object.values(states).join(' / ')}`, async () => {
      assert.deepEqual(await run({ rejectEncounters: ['V0002'], examIdForm: form }), {
        states,
        postsPerTransaction: [1],
        getsAfter: 0,
        transactionStatus: ['done/PartiallySuccessful'],
        codes,
      });
    });
  }
});
