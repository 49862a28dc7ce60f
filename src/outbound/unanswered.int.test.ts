// No blind re-POST, against the sandbox: NRDR stores each POST and then its answer is lost — held
// past the client's timeout, the connection dropped after the body was read, or a gateway's 502
// after the registry stored it. The sandbox refuses a reused Transaction_ID (CD2014), so a second
// POST would turn records NRDR loaded into rejections. Each transaction is POSTed exactly once,
// asked about by id, and its records end with the registry's verdict. A POST that never reached
// NRDR (dropped before its body was read) is sent again after NRDR's 404, once more only.
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
const ORM_V2 = ORM.replaceAll('V0001', 'V0002').replaceAll('MSG0001', 'MSG0901').replaceAll('ORD1001', 'ORD9001').replaceAll('ACC2001', 'ACC9001');

/** A clock that moves 1 s at each reading (polls come due without waiting on the wall clock). */
function ticking(): () => Date {
  let t = Date.now();
  return () => new Date((t += 1000));
}

interface Outcome {
  readonly states: Record<string, string>;
  readonly postsPerTransaction: number[];
  readonly transactionStatus: string[];
  readonly unanswered: number;
  readonly attempts: number[];
}

/** The records posted, the fault on for the first POST of each transaction only, then off. */
async function run(fault: Partial<Faults>, release?: (sb: Sandbox) => void): Promise<Outcome> {
  let out: Outcome | undefined;
  await withTestServer(async (s: TestServer) => {
    for (const m of [ORM, ORM_V2]) assert.match((await postHl7(s, m)).text, /MSA\|AA/);
    const sandbox = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, faults: { stepMs: 0, refuseReusedId: true, ...fault } });
    // the fault answers the first POST; every request after it is answered plainly
    let posted = false;
    sandbox.app.addHook('onRequest', (req, _reply, done) => {
      if (posted) Object.assign(sandbox.faults, { dropPostAnswer: false, gatewayErrorAfterPost: false, dropRate: 0 });
      if (req.method === 'POST' && req.url === SANDBOX_PATH) posted = true;
      done();
    });
    const url = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const client = new NrdrClient({
        baseUrl: `${url}${SANDBOX_PATH}`,
        tokens: new OAuthTokenProvider({
          tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
          clientId: DEFAULT_CLIENT.clientId,
          clientSecret: DEFAULT_CLIENT.clientSecret,
        }),
        retry: { baseDelayMs: 1, maxDelayMs: 5 },
        // a held answer: the client gives up waiting (NRDR has it all the same)
        timeoutMs: 500,
      });
      const submitter = new Submitter({
        store: s.store,
        client,
        partnerId: '10000',
        appId: '10019',
        maxEncounters: 100,
        clock: ticking(),
        pollIntervalMs: 1,
        sleep: () => Promise.resolve(),
      });
      const first = await submitter.flush();
      release?.(sandbox);
      const rest = await submitter.submitNow(10 * 60_000);
      const states: Record<string, string> = {};
      for (const r of await s.store.records({})) states[r.encounterId] = r.state;
      const txs = await s.store.transactions({});
      out = {
        states,
        postsPerTransaction: txs.map((t) => sandbox.registry.postsById.get(t.transactionId) ?? 0),
        transactionStatus: txs.map((t) => `${t.status}/${t.nrdr?.Status ?? '-'}`),
        unanswered: first.unanswered + rest.unanswered,
        attempts: txs.map((t) => t.attempts),
      };
    } finally {
      sandbox.held.release();
      await sandbox.app.close();
    }
  });
  assert.ok(out);
  return out;
}

const loaded = { states: { V0001: 'accepted', V0002: 'accepted' }, postsPerTransaction: [1], transactionStatus: ['done/Posted'], unanswered: 1, attempts: [1] };

describe('a POST whose answer is lost is asked about, never sent blind', () => {
  it('the answer held past the client timeout: one POST, then GETs; all accepted', async () => {
    assert.deepEqual(
      await run({ holdPostAnswer: true }, (sb) => {
        sb.faults.holdPostAnswer = false;
        sb.held.release();
      }),
      loaded,
    );
  });

  it('the connection dropped after the body was read: one POST; all accepted', async () => {
    assert.deepEqual(await run({ dropPostAnswer: true }), loaded);
  });

  it('a gateway 502 after the registry stored it: one POST; all accepted', async () => {
    assert.deepEqual(await run({ gatewayErrorAfterPost: true }), loaded);
  });

  it('dropped before NRDR read it: NRDR answers 404 to the GET, and it is POSTed once more (two POSTs, the first never taken in)', async () => {
    assert.deepEqual(await run({ dropRate: 1 }), { ...loaded, postsPerTransaction: [2], attempts: [2] });
  });
});
