// The outbound stage against the sandbox on loopback: end to end from inbound messages to
// records NRDR accepted; faults; rejections; recovery of a transaction in flight.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, startTestServer, type TestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Faults, type Sandbox } from '../sandbox/server.js';
import { NrdrClient } from './nrdr-client.js';
import { Submitter } from './submitter.js';
import { OAuthTokenProvider } from './token.js';
import { mapFiles } from '../mapping/map-files.js';
import { mapHl7Text } from '../mapping/map-hl7.js';

const hl7Files = ['01-orm-new.hl7', '02-orm-update.hl7', '03-orm-cancel.hl7', '04-oru-final.hl7', '05-omi-new.hl7', '06-orm-lf-escapes.hl7'].map((f) =>
  join(REPO_ROOT, 'samples', 'hl7v2', f),
);
const fhirFiles = ['02-encounter.json', '03-bundle-transaction.json', '04-notification-r4b.json', '06-servicerequest-update.json'].map((f) =>
  join(REPO_ROOT, 'samples', 'fhir', f),
);

/**
 * The sandbox on a logical clock: every request to it moves the clock 3 ms on, so a transaction
 * goes through its stages after the same number of requests however busy the machine is (the
 * wall clock would let a slow run skip the polls, and with them the faults the test is about).
 */
async function sandboxFor(faults: Partial<Faults> = {}, facilities = ['100000']): Promise<{ sandbox: Sandbox; url: string }> {
  let now = Date.now();
  const sandbox = await buildSandbox({ facilities, partners: { '10000': ['10019'] }, faults: { stepMs: 5, ...faults }, seed: 7, clock: () => new Date(now) });
  sandbox.app.addHook('onRequest', (_req, _reply, done) => {
    now += 3;
    done();
  });
  const url = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
  return { sandbox, url };
}

function submitterFor(s: TestServer, url: string, retry = {}, clock = () => new Date()) {
  const client = new NrdrClient({
    baseUrl: `${url}${SANDBOX_PATH}`,
    tokens: new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, clientSecret: DEFAULT_CLIENT.clientSecret }),
    retry: { baseDelayMs: 1, maxDelayMs: 5, ...retry },
  });
  const submitter = new Submitter({ store: s.store, client, partnerId: '10000', appId: '10019', maxEncounters: 100, clock, pollIntervalMs: 5 });
  return { client, submitter };
}

describe('outbound to the NRDR sandbox', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup) await c();
  });

  it('end to end: HL7 and FHIR samples in, the sandbox holds exactly the merged records, all accepted', async () => {
    const s = await startTestServer();
    const { sandbox, url } = await sandboxFor();
    cleanup.push(
      () => s.close(),
      () => sandbox.app.close(),
    );
    for (const f of hl7Files) assert.match((await postHl7(s, readFileSync(f, 'utf8'))).text, /MSA\|AA/);
    for (const f of fhirFiles) {
      const r = await s.fetch(`/fhir`, { method: 'POST', body: readFileSync(f, 'utf8'), headers: { 'content-type': 'application/fhir+json' } });
      assert.equal(r.status, 200, f);
    }
    const { submitter } = submitterFor(s, url);
    const result = await submitter.submitNow();
    assert.deepEqual(result, {
      created: 1,
      posted: 1,
      final: 1,
      accepted: 3,
      rejected: 0,
      review: 0,
      unanswered: 0,
      pending: 0,
      oldestPendingSeconds: 0,
      stale: 0,
      held: 0,
      leader: true,
    });

    // what the registry holds, field by field, is what offline mapping of the same inputs gives
    const expected = mapFiles([...hl7Files, ...fhirFiles], {
      tables: s.mappings.current,
      partnerId: '10000',
      appId: '10019',
      maxEncounters: 100,
      now: new Date(),
    }).transactions;
    const want: Record<string, Record<string, unknown>> = {};
    for (const tx of expected) {
      for (const e of tx.Encounters) {
        const { Consultations, ...fields } = e;
        want[`${tx.Facility_ID}|${e.Unique_Encounter_ID}`] = {
          ...fields,
          Consultations: Object.fromEntries(Consultations.map((c) => [`${c.CDS_Consultation_Date} ${c.CDS_Consultation_Time}`, c])),
        };
      }
    }
    const held = (await fetch(`${url}/sandbox/registry`).then((r) => r.json())) as { encounters: Record<string, unknown>; transactions: { final: string }[] };
    assert.deepEqual(held.encounters, want);
    assert.deepEqual(
      held.transactions.map((t) => t.final),
      ['Posted'],
    );
    const recs = await s.store.records({});
    assert.deepEqual(recs.map((r) => r.state).sort(), ['accepted', 'accepted', 'accepted']);
    // the samples cancel an order (ORD1002) they never placed: held, not a record
    assert.deepEqual(
      (await s.store.orders({ state: 'held' })).orders.map((o) => [o.orderNumbers, o.reason]),
      [[['ACC2002', 'ORD1002'], 'cancel_unmatched']],
    );
  });

  it('with 30 % 5xx and tokens refused after 3 uses, 1,000 consultations all end accepted, each sent once, retries bounded', async (t) => {
    const s = await startTestServer();
    const { sandbox, url } = await sandboxFor({ failRate: 0.3, tokenMaxUses: 3 });
    cleanup.push(
      () => s.close(),
      () => sandbox.app.close(),
    );
    const orm = readFileSync(hl7Files[0]!, 'utf8');
    for (let i = 0; i < 1000; i++) {
      const ts = new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
      const raw = orm
        .replaceAll('MSG0001', `F${i}`)
        .replaceAll('ORD1001', `FORD${i}`)
        .replaceAll('ACC2001', `FACC${i}`)
        .replaceAll('V0001', `FV${i % 150}`)
        .replaceAll('20261102093015', ts);
      const r = await s.store.ingest(
        { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `F${i}`, contentType: 'x', raw, receivedAt: new Date() },
        mapHl7Text(raw, s.mappings.current),
      );
      assert.equal(r.status, 'applied');
    }
    const { submitter, client } = submitterFor(s, url);
    let rounds = 0;
    let accepted = 0;
    const log: string[] = [];
    while (accepted < 1000 && rounds < 10) {
      rounds++;
      const r = await submitter.submitNow();
      log.push(JSON.stringify(r));
      accepted += r.accepted;
    }
    assert.equal(accepted, 1000);
    const states = await s.store.records({ limit: 2000 });
    assert.equal(states.filter((r) => r.state === 'accepted').length, 1000);
    const txs = await s.store.transactions({ limit: 1000 });
    const sent = txs.flatMap((t) => t.records.map((r) => `${r.encounterKey} ${r.consultationKey}`));
    assert.equal(sent.length, 1000, 'a consultation was put in two transactions');
    assert.equal(new Set(sent).size, 1000);
    const held = (await fetch(`${url}/sandbox/registry`).then((r) => r.json())) as {
      encounters: Record<string, { Consultations: Record<string, unknown> }>;
      counts: { failed: number; unauthorized: number };
    };
    assert.equal(
      Object.values(held.encounters).reduce((n, e) => n + Object.keys(e.Consultations).length, 0),
      1000,
    );
    assert.ok(
      held.counts.failed > 0 && held.counts.unauthorized > 0,
      `the faults did not happen: ${JSON.stringify(held.counts)}, ${client.stats.requests} requests`,
    );
    assert.ok(client.stats.retries <= client.stats.requests, `retries ${client.stats.retries} for ${client.stats.requests} requests`);
    assert.ok(rounds <= 3, `${rounds} rounds: ${log.join(' ')}`);
    t.diagnostic(
      `${txs.length} transactions, ${client.stats.requests} requests, ${client.stats.retries} retries, ${client.stats.tokenRefreshes} token refusals, ${held.counts.failed} 5xx answers, ${rounds} round(s)`,
    );
  });

  it('a record NRDR rejects (facility not registered) ends rejected with the CD code, in the API', async () => {
    const s = await startTestServer();
    const { sandbox, url } = await sandboxFor({}, ['100001']);
    cleanup.push(
      () => s.close(),
      () => sandbox.app.close(),
    );
    await postHl7(s, readFileSync(hl7Files[0]!, 'utf8'));
    const { submitter } = submitterFor(s, url);
    const r = await submitter.submitNow();
    assert.deepEqual([r.final, r.accepted, r.rejected], [1, 0, 1]);
    const rec = await s
      .fetch(`/api/records/100000/V0001`)
      .then((x) => x.json() as Promise<{ consultations: { state: string; nrdrProblems: { code: string; message: string }[] }[] }>);
    assert.deepEqual(
      rec.consultations.map((c) => [c.state, c.nrdrProblems.map((p) => `${p.code}:${p.message}`)]),
      [['rejected', ['CD2053:Facility has not registered for CDSR.  Submission aborted']]],
    );
    const list = await s
      .fetch(`/api/transactions`)
      .then((x) => x.json() as Promise<{ transactions: { nrdrStatus: string; rejected: number; errorMsg: string }[] }>);
    assert.deepEqual(
      list.transactions.map((t) => [t.nrdrStatus, t.rejected, t.errorMsg]),
      [['ValidationFail', 1, 'CD2053:Facility has not registered for CDSR.  Submission aborted']],
    );
  });

  it('a transaction stored but not sent when the process died is sent at the next round under the same id', async () => {
    const s = await startTestServer();
    const { sandbox, url } = await sandboxFor();
    cleanup.push(
      () => s.close(),
      () => sandbox.app.close(),
    );
    await postHl7(s, readFileSync(hl7Files[0]!, 'utf8'));
    // a first submitter stores the transaction and "dies" before its POST: NRDR unreachable
    const dead = submitterFor(s, 'http://127.0.0.1:9', { maxAttempts: 1 });
    const first = await dead.submitter.flush();
    assert.deepEqual([first.created, first.pending], [1, 1]);
    const [stored] = await s.store.transactions({ status: 'created' });
    assert.ok(stored);
    // another instance: it waits while the dead one's lease runs, then takes over
    const waiting = await submitterFor(s, url).submitter.flush();
    assert.deepEqual([waiting.leader, waiting.posted], [false, 0]);
    const { submitter } = submitterFor(s, url, {}, () => new Date(Date.now() + 6 * 60_000));
    const second = await submitter.submitNow();
    assert.deepEqual([second.leader, second.created, second.accepted], [true, 0, 1]);
    const held = (await fetch(`${url}/sandbox/registry`).then((r) => r.json())) as { transactions: { id: string; submissions: number }[] };
    assert.deepEqual(held.transactions, [{ id: stored.transactionId, facilityId: '100000', final: 'Posted', submissions: 1 }]);
  });
});
