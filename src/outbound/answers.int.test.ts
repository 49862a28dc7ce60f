// The submitter against the sandbox's answer switches (no scripted NRDR): for each way NRDR may
// answer, the records end in the right state (accepted / rejected / needs-review), each
// transaction is POSTed exactly once (counted at the sandbox), and polling stops (a further round
// asks NRDR nothing). Exact verdicts: H-1 named leaves H1 accepted, a near-miss Exam_Unique_ID or
// a wrong Num_of_Exam_Included is needs-review, Posted keeps its Exam_Errors as warnings, Failed
// is needs-review (and sent again under a new Transaction_ID when CDSR_RESEND_FAILED says so).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, type TestServer, withTestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Faults, type Sandbox } from '../sandbox/server.js';
import { NrdrClient } from './nrdr-client.js';
import { Submitter, type SubmitterOptions } from './submitter.js';
import { OAuthTokenProvider } from './token.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
// the same order for a second encounter (V0002), so that NRDR can reject one encounter of two
const ORM_V2 = ORM.replaceAll('V0001', 'V0002').replaceAll('MSG0001', 'MSG0901').replaceAll('ORD1001', 'ORD9001').replaceAll('ACC2001', 'ACC9001');
/** The order under another encounter id (and its own numbers). */
const ormFor = (encounterId: string, n: number) =>
  ORM.replaceAll('V0001', encounterId).replaceAll('MSG0001', `MSG08${n}`).replaceAll('ORD1001', `ORD80${n}`).replaceAll('ACC2001', `ACC80${n}`);

/** The sandbox on a logical clock: each request moves it 3 ms on (stages pass after a set number of requests, however busy the machine). */
async function sandboxWith(faults: Partial<Faults>): Promise<{ sandbox: Sandbox; url: string }> {
  let now = Date.now();
  const sandbox = await buildSandbox({
    facilities: ['100000'],
    partners: { '10000': ['10019'] },
    faults: { stepMs: 5, ...faults },
    clock: () => new Date(now),
  });
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

interface RunOptions {
  readonly orms?: readonly string[];
  readonly submitter?: Partial<SubmitterOptions>;
  /** Rounds before the one that must ask NRDR nothing (default 1). */
  readonly rounds?: number;
  /** Called after each of those rounds (switches changed between rounds). */
  readonly between?: (sandbox: Sandbox, round: number) => void;
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

/** The outcome, and the records' problems and history in full (for the cases that check texts). */
async function runFull(
  faults: Partial<Faults>,
  o: RunOptions = {},
): Promise<{ outcome: Outcome; problems: Record<string, string[]>; history: Record<string, string[]> }> {
  let out: Awaited<ReturnType<typeof runFull>> | undefined;
  await withTestServer(async (s: TestServer) => {
    for (const m of o.orms ?? [ORM, ORM_V2]) assert.match((await postHl7(s, m)).text, /MSA\|AA/);
    const { sandbox, url } = await sandboxWith(faults);
    try {
      const client = new NrdrClient({
        baseUrl: `${url}${SANDBOX_PATH}`,
        tokens: new OAuthTokenProvider({
          tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
          clientId: DEFAULT_CLIENT.clientId,
          clientSecret: DEFAULT_CLIENT.clientSecret,
        }),
        retry: { baseDelayMs: 1, maxDelayMs: 5 },
      });
      const submitter = new Submitter({
        store: s.store,
        client,
        partnerId: '10000',
        appId: '10019',
        maxEncounters: 100,
        clock: ticking(),
        pollIntervalMs: 1,
        pollDeadlineMs: 60_000,
        sleep: () => Promise.resolve(),
        ...o.submitter,
      });
      // each round until every transaction is final (or, past the deadline, in review)
      for (let round = 1; round <= (o.rounds ?? 1); round++) {
        await submitter.submitNow(10 * 60_000);
        o.between?.(sandbox, round);
      }
      const gets = sandbox.counts.gets;
      const posts = sandbox.counts.posts;
      await submitter.flush();
      const states: Record<string, string> = {};
      const codes: Record<string, string[]> = {};
      const problems: Record<string, string[]> = {};
      const history: Record<string, string[]> = {};
      for (const r of await s.store.records({})) {
        states[r.encounterId] = r.state;
        const c = (await s.store.record(r.encounterKey))?.consultations[0];
        codes[r.encounterId] = (c?.nrdrProblems ?? []).map((p) => p.code);
        problems[r.encounterId] = (c?.nrdrProblems ?? []).map((p) => `${p.severity} ${p.code}:${p.message}`);
        history[r.encounterId] = (c?.history ?? []).map((h) => `${h.from} → ${h.to} by ${h.who}: ${h.why}`);
      }
      const txs = await s.store.transactions({});
      out = {
        outcome: {
          states,
          postsPerTransaction: txs.map((t) => sandbox.registry.postsById.get(t.transactionId) ?? 0),
          getsAfter: sandbox.counts.gets - gets + sandbox.counts.posts - posts,
          transactionStatus: txs.map((t) => `${t.status}/${t.nrdr?.Status ?? '-'}`),
          codes,
        },
        problems,
        history,
      };
    } finally {
      await sandbox.app.close();
    }
  });
  assert.ok(out);
  return out;
}

async function run(faults: Partial<Faults>, orms = [ORM, ORM_V2]): Promise<Outcome> {
  return (await runFull(faults, { orms })).outcome;
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

  const FAILED =
    'error NRDR_FAILED:NRDR answered Failed: the transaction failed to be created due to an error at NRDR (not a verdict on the data), Error_Msg "CD1005:Error importing data simulated import failure"; check the transaction at NRDR; the record is sent again when it changes, or automatically with CDSR_RESEND_FAILED';
  const CD1005 = 'error CD1005:Error importing data simulated import failure';

  it("Failed with CD1005: all needs-review with NRDR's text (not rejected), POSTed once, not sent again by default", async () => {
    const { outcome, problems, history } = await runFull({ refuseWith: 'CD1005' });
    assert.deepEqual(outcome, {
      states: { V0001: 'needs-review', V0002: 'needs-review' },
      postsPerTransaction: [1],
      getsAfter: 0,
      transactionStatus: ['done/Failed'],
      codes: { V0001: ['NRDR_FAILED', 'CD1005'], V0002: ['NRDR_FAILED', 'CD1005'] },
    });
    assert.deepEqual(problems.V0001, [FAILED, CD1005]);
    assert.deepEqual(history, { V0001: [], V0002: [] });
  });

  it('Failed, with one automatic resend: sent again under a new Transaction_ID, accepted when NRDR takes it', async () => {
    const { outcome, history } = await runFull(
      { refuseWith: 'CD1005' },
      { submitter: { resendFailed: 1 }, rounds: 2, between: (sb) => void (sb.faults.refuseWith = '') },
    );
    assert.deepEqual(outcome, {
      states: accepted,
      postsPerTransaction: [1, 1],
      getsAfter: 0,
      transactionStatus: ['done/Failed', 'done/Posted'],
      codes: none,
    });
    const resent =
      'needs-review → ready by submitter (NRDR answered Failed): sent again under a new Transaction_ID (automatic resend 1 of 1, CDSR_RESEND_FAILED)';
    assert.deepEqual(history, { V0001: [resent], V0002: [resent] });
  });

  it('Failed every time, two automatic resends: three transactions, then needs-review (bounded)', async () => {
    const { outcome, problems, history } = await runFull({ refuseWith: 'CD1005' }, { submitter: { resendFailed: 2 }, rounds: 3 });
    assert.deepEqual(outcome, {
      states: { V0001: 'needs-review', V0002: 'needs-review' },
      postsPerTransaction: [1, 1, 1],
      getsAfter: 0,
      transactionStatus: ['done/Failed', 'done/Failed', 'done/Failed'],
      codes: { V0001: ['NRDR_FAILED', 'CD1005'], V0002: ['NRDR_FAILED', 'CD1005'] },
    });
    assert.deepEqual(problems.V0002, [FAILED, CD1005]);
    assert.deepEqual(
      history.V0001,
      [1, 2].map(
        (n) =>
          `needs-review → ready by submitter (NRDR answered Failed): sent again under a new Transaction_ID (automatic resend ${n} of 2, CDSR_RESEND_FAILED)`,
      ),
    );
  });

  it('Num_of_Exam_Included other than the exams sent: all needs-review with the reason, POSTed once', async () => {
    const { outcome, problems } = await runFull({ examCountOffBy: -1 });
    assert.deepEqual(outcome, {
      states: { V0001: 'needs-review', V0002: 'needs-review' },
      postsPerTransaction: [1],
      getsAfter: 0,
      transactionStatus: ['done/Posted'],
      codes: { V0001: ['NRDR_UNCLEAR'], V0002: ['NRDR_UNCLEAR'] },
    });
    assert.deepEqual(problems.V0001, [
      "error NRDR_UNCLEAR:NRDR's answer (Posted) counts 1 exam(s) included, but the transaction sent 2: it may not be about what was sent, so it does not say whether this record was loaded",
    ]);
  });

  it("Posted with the spec example's Exam_Errors entry: all accepted, the entry kept on each record as a warning", async () => {
    const { outcome, problems } = await runFull({ postedExamError: true });
    assert.deepEqual(outcome, {
      states: accepted,
      postsPerTransaction: [1],
      getsAfter: 0,
      transactionStatus: ['done/Posted'],
      codes: { V0001: ['CD2070'], V0002: ['CD2070'] },
    });
    assert.deepEqual(problems, {
      V0001: ['warning CD2070:Invalid. Missing encounter object information'],
      V0002: ['warning CD2070:Invalid. Missing encounter object information'],
    });
  });

  it('errors naming H-1 leave H1, which NRDR loaded, accepted', async () => {
    const { outcome, problems } = await runFull({ rejectEncounters: ['H-1'] }, { orms: [ormFor('H1', 1), ormFor('H-1', 2)] });
    assert.deepEqual(outcome, {
      states: { H1: 'accepted', 'H-1': 'rejected' },
      postsPerTransaction: [1],
      getsAfter: 0,
      transactionStatus: ['done/PartiallySuccessful'],
      codes: { H1: [], 'H-1': ['CD3005'] },
    });
    assert.deepEqual(problems['H-1'], ['error CD3005:Invalid. Exam_Completion_Date is required, if Ordered_Exam_Completed is 1']);
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
    // V0002's id with the separators of its date and time taken out only resembles it: review, not rejected
    ['compact', { V0001: 'accepted', V0002: 'needs-review' }, { V0001: [], V0002: ['NRDR_UNCLEAR', 'CD3005'] }],
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
