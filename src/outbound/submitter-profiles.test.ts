// The submitter under the test profile, against a scripted NRDR: what it POSTs is the
// de-identification step's body (the test facility, pseudonyms), NRDR's verdicts, which name the
// pseudonyms, reach the right records; a transaction of the profile whose body did not go through
// the step is refused at the POST path: nothing is sent, it is held with the reason (Transaction_ID
// and field) on it and in the log, its records stay where they were.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import type { Transaction, TransactionStatus } from '../cdsr/schema.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { migratedMemoryStore } from '../../test/sqlite-template.js';
import type { Store } from '../store/store.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { Deidentifier, isDeidentified } from './deidentify.js';
import type { NrdrApi, NrdrResult } from './nrdr-client.js';
import { PROFILE_PRESENCE, Submitter } from './submitter.js';

const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
const T0 = Date.parse('2026-11-23T06:00:00Z');
const TARGET = { facilityId: 'TESTFAC1', partnerId: '20000', appId: '10019' };

async function storeWithTwoRecords(): Promise<Store> {
  const s = await migratedMemoryStore(new CdsrValidator({ now: new Date(T0), valueSets: tables.valueSets }));
  for (const f of ['01-orm-new.hl7', '05-omi-new.hl7']) {
    const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', f), 'utf8');
    await s.ingest({ channel: 'hl7v2', sender: 'EHR', controlId: f, contentType: 'x', raw, receivedAt: new Date(T0) }, mapHl7Text(raw, tables));
  }
  return s;
}

const status = (tx: Transaction, Status: string, extra: Partial<TransactionStatus> = {}): TransactionStatus => ({
  Transaction_ID: tx.Transaction_ID,
  Transaction_DateTime: tx.Transaction_DateTime,
  Num_of_Exam_Included: 2,
  Num_of_Exam_In_Error: 0,
  PartnerID: tx.PartnerID,
  AppID: tx.AppID,
  Facility_ID: tx.Facility_ID,
  Status,
  Error_Msg: null,
  Exam_Errors: [],
  ...extra,
});

function nrdr(onPost: (tx: Transaction) => NrdrResult) {
  const posted: Transaction[] = [];
  const api: NrdrApi = {
    postTransaction: async (tx, claim) => {
      if (claim && !(await claim())) return { ok: false, permanent: false, code: 'not_claimed', message: 'not claimed' };
      posted.push(tx);
      return onPost(tx);
    },
    getStatus: () => Promise.resolve({ ok: false, permanent: false, code: 'unexpected', message: 'not asked in these tests' }),
  };
  return { api, posted };
}

function ticking(): () => Date {
  let t = T0;
  return () => new Date((t += 1000));
}

const logged: { o: object; m: string }[] = [];
const log = { info: () => undefined, warn: (o: object, m: string) => void logged.push({ o, m }) };

const underTest = (store: Store, api: NrdrApi, d: Deidentifier) =>
  new Submitter({
    store,
    client: api,
    partnerId: TARGET.partnerId,
    appId: TARGET.appId,
    maxEncounters: 100,
    clock: ticking(),
    pollIntervalMs: 1,
    sleep: () => Promise.resolve(),
    profile: 'test',
    deidentifier: d,
    log,
  });

describe('the submitter under the test profile', () => {
  it("POSTs the step's body; NRDR's verdict naming a pseudonym rejects that record only", async () => {
    const s = await storeWithTwoRecords();
    const d = new Deidentifier(Buffer.alloc(32, 9), TARGET);
    const [orm] = (await s.records({})).filter((r) => r.encounterId === 'V0001');
    assert.ok(orm);
    const pseudo = d.encounterId(orm.facilityId, 'V0001');
    const { api, posted } = nrdr((tx) => ({
      ok: true,
      raw: '',
      status: status(tx, 'PartiallySuccessful', {
        Num_of_Exam_In_Error: 1,
        Exam_Errors: [{ Exam_Unique_ID: `${pseudo} ${orm.consultationKey}`, Error_Msg: 'CD3005:Rule of the registry' }],
      }),
    }));
    const r = await underTest(s, api, d).submitNow();
    assert.deepEqual([r.created, r.posted, r.final, r.accepted, r.rejected, r.held], [1, 1, 1, 1, 1, 0]);
    assert.equal(posted.length, 1);
    const body = posted[0]!;
    assert.equal(isDeidentified(body), true);
    assert.deepEqual([body.Facility_ID, body.PartnerID], ['TESTFAC1', '20000']);
    assert.equal(JSON.stringify(body).includes('V0001'), false);
    const [t] = await s.transactions({});
    assert.deepEqual([t?.profile, t?.transactionId, t?.deidSeal !== undefined], ['test', body.Transaction_ID, true]);
    const verdicts = (await s.records({})).map((x) => [x.encounterId, x.consultationKey === orm.consultationKey, x.state]);
    assert.deepEqual(verdicts.sort(), [
      ['V0001', false, 'accepted'],
      ['V0001', true, 'rejected'],
    ]);
    await s.close();
  });

  it('refuses a transaction of the profile that did not go through the step: not sent, held with the reason, records kept', async () => {
    const s = await storeWithTwoRecords();
    const d = new Deidentifier(Buffer.alloc(32, 9), TARGET);
    // a row of the test profile whose body is the records' own (written by something other than the step)
    const ready = await s.wireEncounters('ready', 10);
    const raw: Transaction = {
      Transaction_ID: 'T-RAW',
      Transaction_DateTime: '2026-11-23T06:00:00',
      Num_of_Encounters_Included: 1,
      Facility_ID: 'TESTFAC1',
      PartnerID: '20000',
      AppID: '10019',
      CDSR_File_Version_Num: '1.0',
      Encounters: [ready[0]!.wire],
    };
    assert.equal((await s.createTransaction(raw, [ready[0]!], new Date(T0), undefined, { profile: 'test' })).created, true);
    const { api, posted } = nrdr((tx) => ({ ok: true, raw: '', status: status(tx, 'Posted') }));
    logged.length = 0;
    const sub = underTest(s, api, d);
    const r = await sub.flush();
    // the raw one held; the other record batched through the step and sent
    assert.equal(r.held, 1);
    assert.deepEqual(
      posted.map((p) => p.Transaction_ID === 'T-RAW'),
      [false],
    );
    const t = await s.transaction('T-RAW');
    assert.deepEqual(
      [t?.status, t?.attempts, t?.lastError],
      [
        'failed',
        0,
        'NOT_DEIDENTIFIED: transaction T-RAW: Transaction_ID is not a pseudonym: not de-identified, not sent to the test environment; not sent: its records go back to ready and are de-identified again in the next round',
      ],
    );
    assert.deepEqual(
      logged.filter((l) => (l.o as { event?: string }).event === 'transaction_not_deidentified'),
      [
        {
          o: { event: 'transaction_not_deidentified', transactionId: 'T-RAW', field: 'Transaction_ID', profile: 'test' },
          m: 'a transaction for the test profile did not go through the de-identification step: not sent; its records are batched again',
        },
      ],
    );
    // its record is not stuck: back to ready, with the reason in its history
    const back = (await s.records({})).find((x) => x.encounterKey === ready[0]!.encounterKey && x.consultationKey === ready[0]!.consultationKey);
    assert.equal(back?.state, 'ready');
    // the next round batches it through the step and sends it, de-identified; T-RAW never goes out
    const again = await sub.flush();
    assert.deepEqual([again.created, again.held], [1, 0]);
    assert.equal(posted.filter((p) => p.Transaction_ID === 'T-RAW').length, 0);
    assert.equal(posted.length, 2);
    assert.ok(posted.every((p) => p.Facility_ID === 'TESTFAC1' && p.Transaction_ID.startsWith('CDSR-TESTFAC1-')));
    await s.close();
  });

  it('batches nothing while a live instance of the store runs under another profile (a switch under way); goes on once it is gone', async () => {
    const s = await storeWithTwoRecords();
    const d = new Deidentifier(Buffer.alloc(32, 9), TARGET);
    const { api, posted } = nrdr((tx) => ({ ok: true, raw: '', status: status(tx, 'Posted') }));
    // another instance, under production, present for a minute from T0; this one's own presence is no obstacle
    assert.equal(await s.lease(`${PROFILE_PRESENCE}other`, 'production', new Date(T0), 60_000), true);
    assert.equal(await s.lease(`${PROFILE_PRESENCE}self`, 'test', new Date(T0), 600_000), true);
    logged.length = 0;
    const sub = underTest(s, api, d);
    const first = await sub.flush();
    assert.deepEqual([first.created, posted.length], [0, 0]);
    assert.deepEqual(
      (await s.records({})).map((r) => r.state),
      ['ready', 'ready'],
    );
    assert.deepEqual(
      logged.map((l) => l.o),
      [{ event: 'profiles_mixed', profile: 'test', others: ['production'] }],
    );
    // the other instance gone (its presence run out): the next round batches and sends
    await s.lease(`${PROFILE_PRESENCE}other`, 'production', new Date(T0 - 120_000), 1);
    const later = await sub.flush();
    assert.deepEqual([later.created, posted.length], [1, 1]);
    await s.close();
  });
});
