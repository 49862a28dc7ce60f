// The submitter against a scripted NRDR (no network): a POST is made once and then only asked
// about, whatever its answer looks like; polling is bounded (an answer never final ends in
// needs-review after one last GET past the deadline); a POST whose answer was lost, or one an
// earlier process claimed, is looked up before any POST; polling never holds a new record back.
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
import type { NrdrApi, NrdrResult } from './nrdr-client.js';
import { Submitter, type FlushResult } from './submitter.js';

const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;

async function storeWithTwoRecords(): Promise<Store> {
  const s = await migratedMemoryStore(new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z'), valueSets: tables.valueSets }));
  for (const f of ['01-orm-new.hl7', '05-omi-new.hl7']) {
    const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', f), 'utf8');
    await s.ingest(
      { channel: 'hl7v2', sender: 'EHR', controlId: f, contentType: 'x', raw, receivedAt: new Date('2026-11-23T06:00:00Z') },
      mapHl7Text(raw, tables),
    );
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

const NOT_CLAIMED: NrdrResult = { ok: false, permanent: false, code: 'not_claimed', message: 'not claimed' };

/** A scripted NRDR: answers the POST and each GET as told; counts what it was asked. */
function nrdr(onPost: (tx: Transaction) => NrdrResult, onGet: (n: number, tx: Transaction | undefined) => NrdrResult) {
  const asked = { posts: 0, gets: 0 };
  let posted: Transaction | undefined;
  const api: NrdrApi = {
    postTransaction: async (tx, claim) => {
      if (claim && !(await claim())) return NOT_CLAIMED;
      asked.posts++;
      posted = tx;
      return onPost(tx);
    },
    getStatus: () => Promise.resolve(onGet(++asked.gets, posted)),
  };
  return { api, asked };
}

/** A clock that moves a second at every reading (deadlines come after a known number of polls). */
function ticking(start = Date.parse('2026-11-23T06:00:00Z')): () => Date {
  let t = start;
  return () => new Date((t += 1000));
}

const submitter = (store: Store, api: NrdrApi, o: Partial<ConstructorParameters<typeof Submitter>[0]> = {}) =>
  new Submitter({
    store,
    client: api,
    partnerId: '10000',
    appId: '10019',
    maxEncounters: 100,
    clock: ticking(),
    pollIntervalMs: 1,
    sleep: () => Promise.resolve(),
    ...o,
  });
const sub0 = {
  created: 0,
  posted: 0,
  final: 0,
  accepted: 0,
  rejected: 0,
  review: 0,
  unanswered: 0,
  pending: 0,
  oldestPendingSeconds: 0,
  stale: 0,
  held: 0,
  leader: true,
};

const states = async (s: Store) => (await s.records({})).map((r) => r.state);

describe('Submitter and NRDR answers', () => {
  it('a POST answered 200 with an empty body is not sent again: it is asked about until Posted', async () => {
    const s = await storeWithTwoRecords();
    const { api, asked } = nrdr(
      () => ({ ok: true, raw: '' }),
      (n, tx) => ({ ok: true, raw: '', status: status(tx!, n < 3 ? 'Received' : 'Posted', { Exam_Errors: null as never }) }),
    );
    const r = await submitter(s, api).submitNow();
    assert.deepEqual(r, { ...sub0, created: 1, posted: 1, final: 1, accepted: 2 });
    assert.deepEqual(asked, { posts: 1, gets: 3 });
    assert.deepEqual(await states(s), ['accepted', 'accepted']);
  });

  it('a polled transaction Received → Loading → Posted keeps 3 status rows, a repeated answer none', async () => {
    const s = await storeWithTwoRecords();
    const said = ['Received', 'Loading', 'Loading', 'Posted'];
    const { api, asked } = nrdr(
      (tx) => ({ ok: true, raw: '', status: status(tx, 'Received') }),
      (n, tx) => ({ ok: true, raw: '', status: status(tx!, said[n]!) }),
    );
    const r = await submitter(s, api, { clock: ticking() }).submitNow();
    assert.deepEqual([r.final, r.accepted, asked.gets], [1, 2, 3]);
    const [t] = await s.transactions({});
    // the ticking clock: 06:00:01 batch; POST answer, then one reading per poll answer
    assert.deepEqual(
      t?.nrdrHistory.map((h) => [h.status, h.errorMsg, h.examErrors, h.summary]),
      [
        ['Received', null, 0, ''],
        ['Loading', null, 0, ''],
        ['Posted', null, 0, ''],
      ],
    );
    const times = (t?.nrdrHistory ?? []).map((h) => Date.parse(h.at));
    assert.ok(times[0]! < times[1]! && times[1]! < times[2]!, times.join(' '));
  });

  it('a status that never becomes final (unknown, or unreadable) stops at the deadline: needs-review, polls bounded', async () => {
    const s = await storeWithTwoRecords();
    const { api, asked } = nrdr(
      (tx) => ({ ok: true, raw: 'x', status: status(tx, 'Received') }),
      (n, tx) => (n % 2 ? { ok: true, raw: '{"weird":true}' } : { ok: true, raw: '', status: status(tx!, 'Archived') }),
    );
    const sub = submitter(s, api, { pollDeadlineMs: 10_000 });
    const r = await sub.submitNow();
    assert.deepEqual([r.posted, r.review, r.pending, asked.posts], [1, 2, 0, 1]);
    assert.ok(asked.gets < 12, `${asked.gets} polls`);
    assert.deepEqual(await states(s), ['needs-review', 'needs-review']);
    const [t] = await s.transactions({});
    assert.deepEqual([t?.status, t?.records.map((x) => x.result)], ['review', ['needs-review', 'needs-review']]);
    assert.match(t?.lastError ?? '', /^no final answer from NRDR by the polling deadline: NRDR's last status was "Archived"/);
    // it is not followed again
    const again = await sub.flush();
    assert.deepEqual([again.posted, again.final, asked.posts], [0, 0, 1]);
  });

  it('PartiallySuccessful whose Exam_Errors name nothing here: needs review, not accepted', async () => {
    const s = await storeWithTwoRecords();
    const { api } = nrdr(
      (tx) => ({ ok: true, raw: '', status: status(tx, 'Received') }),
      (_n, tx) => ({
        ok: true,
        raw: '',
        status: status(tx!, 'PartiallySuccessful', { Num_of_Exam_In_Error: 1, Exam_Errors: [{ Exam_Unique_ID: '', Error_Msg: 'CD3060:Invalid date format' }] }),
      }),
    );
    const r = await submitter(s, api).submitNow();
    assert.deepEqual([r.accepted, r.rejected, r.review], [0, 0, 2]);
    assert.deepEqual(await states(s), ['needs-review', 'needs-review']);
  });

  it('a transaction an earlier process claimed is looked up first: found, it is not POSTed; unknown to NRDR (404), it is POSTed once', async () => {
    for (const [found, posts] of [
      [true, 0],
      [false, 1],
    ] as const) {
      const s = await storeWithTwoRecords();
      // the earlier process: claimed the POST, and died before its answer came
      let reached: () => void = () => undefined;
      const atNrdr = new Promise<void>((r) => (reached = r));
      const dead = submitter(
        s,
        {
          postTransaction: async (_tx, claim) => {
            await claim?.();
            reached();
            return new Promise<never>(() => undefined);
          },
          getStatus: () => Promise.resolve({ ok: false, permanent: true, httpStatus: 404, code: 'invalid_param', message: 'x' }),
        },
        { instanceId: 'host-a' },
      );
      void dead.flush();
      await atNrdr;
      const [stored] = await s.transactions({ status: 'sent' });
      assert.ok(stored);
      const { api, asked } = nrdr(
        (tx) => ({ ok: true, raw: '', status: status(tx, 'Received') }),
        (_n, tx) =>
          found || tx
            ? { ok: true, raw: '', status: status(tx ?? stored.body, 'Posted') }
            : { ok: false, permanent: true, httpStatus: 404, code: 'invalid_param', message: 'The transaction is not found' },
      );
      // another instance, once the dead one's lease ran out
      const r = await submitter(s, api, { instanceId: 'host-b', clock: ticking(Date.parse('2026-11-23T06:10:00Z')) }).submitNow();
      assert.deepEqual([asked.posts, r.accepted, r.unanswered], [posts, 2, 0], `found at NRDR: ${String(found)}`);
      assert.deepEqual(await states(s), ['accepted', 'accepted']);
    }
  });

  it('a POST without an answer (timeout, drop, 5xx) stays sent; the next step is a GET; NRDR has it: never POSTed again', async () => {
    const s = await storeWithTwoRecords();
    const { api, asked } = nrdr(
      () => ({ ok: false, permanent: false, httpStatus: 502, code: 'http_502', message: 'NRDR answered 502', unanswered: true }),
      (_n, tx) => ({ ok: true, raw: '', status: status(tx!, 'Posted') }),
    );
    // the first GET is a minute away: the round ends with the transaction sent, unanswered
    const first = await submitter(s, api, { pollIntervalMs: 60_000 }).flush();
    assert.deepEqual([first.created, first.posted, first.unanswered, first.pending], [1, 0, 1, 1]);
    const [t] = await s.transactions({});
    assert.deepEqual([t?.status, t?.attempts, t?.lastError], ['sent', 1, 'POST sent, no answer (http_502: NRDR answered 502); asked about by id']);
    const r = await submitter(s, api, { clock: ticking(Date.parse('2026-11-23T07:00:00Z')) }).submitNow();
    assert.deepEqual([r.posted, r.final, r.accepted], [1, 1, 2]);
    assert.deepEqual(asked, { posts: 1, gets: 1 });
  });

  it('a POST that never reached NRDR (its GET answers 404) is POSTed again, once', async () => {
    const s = await storeWithTwoRecords();
    const { api, asked } = nrdr(
      () =>
        asked.posts === 1
          ? { ok: false, permanent: false, code: 'network_error', message: 'socket hang up', unanswered: true }
          : { ok: true, raw: '', status: status(TX!, 'Received') },
      (_n, tx) =>
        asked.posts < 2
          ? { ok: false, permanent: true, httpStatus: 404, code: 'invalid_param', message: 'not found' }
          : { ok: true, raw: '', status: status(tx!, 'Posted') },
    );
    let TX: Transaction | undefined;
    const wrapped: NrdrApi = { postTransaction: (tx, claim) => ((TX = tx), api.postTransaction(tx, claim)), getStatus: (...a) => api.getStatus(...a) };
    const r = await submitter(s, wrapped).submitNow();
    assert.deepEqual([r.unanswered, r.posted, r.accepted], [1, 1, 2]);
    assert.deepEqual(asked, { posts: 2, gets: 2 });
    const [t] = await s.transactions({});
    assert.deepEqual([t?.status, t?.attempts], ['done', 2]);
  });

  it('a transaction never final does not hold a new record back: the next round POSTs it', async () => {
    const s = await storeWithTwoRecords();
    const { api, asked } = nrdr(
      (tx) => ({ ok: true, raw: '', status: status(tx, 'Received') }),
      (_n, tx) => ({ ok: true, raw: '', status: status(tx!, 'Loading') }),
    );
    const sub = submitter(s, api);
    const first = await sub.flush();
    assert.deepEqual([first.created, first.posted, first.pending], [1, 1, 1]);
    // a new record arrives while the first transaction is still Loading
    const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8')
      .replaceAll('V0001', 'V0777')
      .replaceAll('ORD1001', 'ORD7771')
      .replaceAll('ACC2001', 'ACC7771')
      .replace('MSG0001', 'MSG0777');
    await s.ingest(
      { channel: 'hl7v2', sender: 'EHR', controlId: 'MSG0777', contentType: 'x', raw, receivedAt: new Date('2026-11-23T06:00:00Z') },
      mapHl7Text(raw, tables),
    );
    const second = await sub.flush();
    assert.deepEqual([second.created, second.posted, second.pending, asked.posts], [1, 1, 2, 2]);
    assert.deepEqual(
      (await s.records({})).map((r) => [r.encounterId, r.state]),
      [
        ['V0001', 'submitted'],
        ['V0001', 'submitted'],
        ['V0777', 'submitted'],
      ],
    );
  });

  it('a poll pass reads each transaction whole only when its turn comes: never more bodies held than its 4 workers', async () => {
    const base = await migratedMemoryStore(new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z'), valueSets: tables.valueSets }));
    const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
    for (let i = 0; i < 10; i++) {
      const text = raw.replaceAll('V0001', `V09${i}`).replaceAll('ORD1001', `ORD90${i}`).replaceAll('ACC2001', `ACC90${i}`).replace('MSG0001', `MSG090${i}`);
      await base.ingest(
        { channel: 'hl7v2', sender: 'EHR', controlId: `MSG090${i}`, contentType: 'x', raw: text, receivedAt: new Date('2026-11-23T06:00:00Z') },
        mapHl7Text(text, tables),
      );
    }
    // each whole transaction read is held until NRDR is asked about it
    const held = new Set<string>();
    let most = 0;
    let reads = 0;
    const s = new Proxy(base, {
      get(target, key, receiver) {
        if (key !== 'transaction') return Reflect.get(target, key, receiver) as unknown;
        return async (id: string) => {
          const t = await target.transaction(id);
          reads++;
          held.add(id);
          most = Math.max(most, held.size);
          return t;
        };
      },
    });
    const posted = new Map<string, Transaction>();
    const api: NrdrApi = {
      postTransaction: async (tx, claim) => {
        if ((await claim?.()) === false) return NOT_CLAIMED;
        posted.set(tx.Transaction_ID, tx);
        return { ok: true, raw: '', status: status(tx, 'Received') };
      },
      getStatus: (id) => {
        held.delete(id);
        return Promise.resolve({ ok: true, raw: '', status: status(posted.get(id)!, 'Loading') });
      },
    };
    const sub = submitter(s, api, { maxEncounters: 1 });
    // the round POSTs the 10, then asks about each (Loading): read one by one, twice over two rounds
    const first = await sub.flush();
    assert.deepEqual([first.posted, first.pending, reads], [10, 10, 10]);
    assert.deepEqual([(await sub.flush()).pending, reads], [10, 20]);
    assert.ok(most <= 4, `${most} transactions held at once`);
  });

  it('at the polling deadline one last GET is made: a transaction NRDR posted meanwhile is accepted, not needs-review', async () => {
    const s = await storeWithTwoRecords();
    let clock = Date.parse('2026-11-23T06:00:00Z');
    const { api, asked } = nrdr(
      (tx) => ({ ok: true, raw: '', status: status(tx, 'Received') }),
      (_n, tx) => ({ ok: true, raw: '', status: status(tx!, clock > Date.parse('2026-11-24T06:00:00Z') ? 'Posted' : 'Loading') }),
    );
    const sub = submitter(s, api, { clock: () => new Date(clock), pollIntervalMs: 60_000, pollMaxIntervalMs: 3600_000 });
    await sub.flush();
    for (let h = 1; h <= 25; h++) {
      clock += 3600_000;
      await sub.flush();
    }
    assert.deepEqual(await states(s), ['accepted', 'accepted']);
    assert.ok(asked.gets <= 25, `${asked.gets} polls`);
  });
});

describe('a submission under way (submitNow) and the passes it did not start', () => {
  // the timer's round or a poll pass due may run while submitNow waits between its rounds: the
  // final answer it receives is the submission's all the same (POST /api/submit answered
  // "accepted 0" for a transaction NRDR had accepted when the poll timer got there first)
  it('counts the final answer a pass it did not start received while it waited', async () => {
    const s = await storeWithTwoRecords();
    const { api, asked } = nrdr(
      (tx) => ({ ok: true, raw: '', status: status(tx, 'Received') }),
      (_n, tx) => ({ ok: true, raw: '', status: status(tx!, 'Posted') }),
    );
    let now = Date.parse('2026-11-23T06:00:00Z');
    let other: FlushResult | undefined;
    const sub: Submitter = submitter(s, api, {
      clock: () => new Date(now),
      pollIntervalMs: 2000,
      // while it waits for the poll due, another pass (the timer's) gets there first
      sleep: async (ms) => {
        now += ms;
        other ??= await sub.flush();
      },
    });
    const r = await sub.submitNow();
    assert.deepEqual(other, { ...sub0, final: 1, accepted: 2 });
    assert.deepEqual(r, { ...sub0, created: 1, posted: 1, final: 1, accepted: 2 });
    assert.deepEqual(asked, { posts: 1, gets: 1 });
    assert.deepEqual(sub.status().last, r);
    // a pass after the submission ended is not added to it
    assert.deepEqual(await sub.flush(), sub0);
    assert.deepEqual(sub.status().last, r);
  });

  it("asked for while the timer's round is under way: a round of its own follows, and a record stored meanwhile is sent", async () => {
    const s = await storeWithTwoRecords();
    const { api, asked } = nrdr(
      (tx) => ({ ok: true, raw: '', status: status(tx, 'Received') }),
      (_n, tx) => ({ ok: true, raw: '', status: status(tx!, 'Posted') }),
    );
    // the timer's round reads the ready records before the two came in, and is still under way
    let reading!: () => void;
    const read = new Promise<void>((ok) => (reading = ok));
    let goOn!: () => void;
    const held = new Promise<void>((ok) => (goOn = ok));
    let first = true;
    const store = new Proxy(s, {
      get(target, prop, receiver) {
        if (prop !== 'wireEncounters') return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: Parameters<Store['wireEncounters']>) => {
          if (!first) return target.wireEncounters(...args);
          first = false;
          reading();
          await held;
          return [];
        };
      },
    });
    const sub = submitter(store, api, { clock: () => new Date('2026-11-23T06:00:00Z'), pollIntervalMs: 0 });
    const timer = sub.flush();
    await read;
    const run = sub.submitNow();
    goOn();
    assert.deepEqual(await timer, sub0);
    assert.deepEqual(await run, { ...sub0, created: 1, posted: 1, final: 1, accepted: 2 });
    assert.deepEqual(asked, { posts: 1, gets: 1 });
    await s.close();
  });

  it('close() during a round waits for it (its token exchange, its POST and what they write) before it hands the lease back', async () => {
    const s = await storeWithTwoRecords();
    const order: string[] = [];
    let inPost!: () => void;
    const posting = new Promise<void>((ok) => (inPost = ok));
    let answer!: () => void;
    const answered = new Promise<void>((ok) => (answer = ok));
    const api: NrdrApi = {
      postTransaction: async (tx, claim) => {
        if (claim && !(await claim())) return NOT_CLAIMED;
        // a token being renewed, then the POST: its answer comes when the test says
        inPost();
        await answered;
        order.push('answered');
        return { ok: true, raw: '', status: status(tx, 'Received') };
      },
      getStatus: () => Promise.resolve(NOT_CLAIMED),
    };
    const store = new Proxy(s, {
      get(target, prop, receiver) {
        if (prop !== 'releaseLease') return Reflect.get(target, prop, receiver) as unknown;
        return (...args: Parameters<Store['releaseLease']>) => {
          order.push(`lease handed back (${args[0]})`);
          return target.releaseLease(...args);
        };
      },
    });
    const sub = submitter(store, api, { instanceId: 'host-a' });
    const round = sub.flush();
    await posting;
    const closing = sub.close();
    // the answer comes once close() has begun (a turn of the event loop later)
    await new Promise<void>((ok) => setImmediate(ok));
    answer();
    await closing;
    assert.deepEqual(order, ['answered', 'lease handed back (submitter)']);
    assert.deepEqual([(await round).posted, (await s.transactions({}))[0]?.status], [1, 'posted']);
    await s.close();
  });

  it('close() while it waits between rounds: it ends at once, and no round starts after the lease was handed back', async () => {
    const s = await storeWithTwoRecords();
    const { api, asked } = nrdr(
      (tx) => ({ ok: true, raw: '', status: status(tx, 'Received') }),
      (_n, tx) => ({ ok: true, raw: '', status: status(tx!, 'Posted') }),
    );
    let slept!: () => void;
    const asleep = new Promise<void>((ok) => (slept = ok));
    let wake: (() => void) | undefined;
    const sub = submitter(s, api, {
      instanceId: 'host-a',
      clock: () => new Date('2026-11-23T06:00:00Z'),
      pollIntervalMs: 2000,
      sleep: () =>
        new Promise<void>((ok) => {
          wake = ok;
          slept();
        }),
    });
    const run = sub.submitNow();
    await asleep;
    assert.equal((await s.leaseState('submitter'))?.holder, 'host-a');
    await sub.close();
    // the wait it was in has not ended by itself: close() ended it (before the next turn of the event loop)
    const ended = await Promise.race([run.then(() => 'ended'), new Promise<string>((ok) => setImmediate(() => ok('still waiting')))]);
    wake?.();
    assert.equal(ended, 'ended');
    const r = await run;
    assert.deepEqual(r, { ...sub0, created: 1, posted: 1, pending: 1 });
    assert.deepEqual(asked, { posts: 1, gets: 0 });
    assert.equal(await s.leaseState('submitter'), undefined);
    // a stopped submitter starts no round for a later call either
    assert.deepEqual(await sub.submitNow(), sub0);
    assert.deepEqual(asked, { posts: 1, gets: 0 });
    assert.equal(await s.leaseState('submitter'), undefined);
    await s.close();
  });
});

describe('a submission round reads the ready records a page at a time', () => {
  // facility 100000 (the sample's): encounters with 3, 1, 2, 1, 2 ready consultations; 100001: 2 and 1
  const ENCOUNTERS: readonly [facility: string, encounter: string, consultations: number][] = [
    ['100000', 'P1', 3],
    ['100000', 'P2', 1],
    ['100000', 'P3', 2],
    ['100000', 'P4', 1],
    ['100000', 'P5', 2],
    ['100001', 'Q1', 2],
    ['100001', 'Q2', 1],
  ];

  async function storeOfEncounters(): Promise<Store> {
    const s = await migratedMemoryStore(new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z'), valueSets: tables.valueSets }));
    const out = mapHl7Text(readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8'), tables);
    assert.equal(out.disposition, 'mapped');
    const template = out.records[0]!;
    for (const [facilityId, encounterId, n] of ENCOUNTERS) {
      for (let i = 0; i < n; i++) {
        const id = `${encounterId}-${i}`;
        const time = `10:0${i}:00`;
        await s.ingest(
          { channel: 'hl7v2', sender: 'EHR', controlId: id, contentType: 'x', raw: id, receivedAt: new Date('2026-11-23T06:00:00Z') },
          {
            disposition: 'mapped',
            problems: [],
            records: [
              {
                ...template,
                source: { ...template.source, id },
                facilityId,
                encounterId,
                orderKey: `O-${id}`,
                orderNumbers: [`O-${id}`],
                consultationTime: time,
                consultationFields: { ...template.consultationFields, CDS_Consultation_Time: time },
              },
            ],
          },
        );
      }
    }
    return s;
  }

  /** The store, with the size of every page the submitter asks for and gets. */
  function counting(s: Store): { store: Store; pages: [asked: number, got: number][] } {
    const pages: [number, number][] = [];
    const store = new Proxy(s, {
      get(target, prop, receiver) {
        if (prop !== 'wireEncounters') return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: Parameters<Store['wireEncounters']>) => {
          const got = await target.wireEncounters(...args);
          pages.push([args[1], got.length]);
          return got;
        };
      },
    });
    return { store, pages };
  }

  /** Each POSTed transaction as facility: encounter(consultation times) …, in the order sent. */
  async function round(pageSize: number): Promise<{ sent: string[]; pages: [number, number][]; states: string[]; r: object }> {
    const { store, pages } = counting(await storeOfEncounters());
    const sent: string[] = [];
    const { api } = nrdr(
      (tx) => {
        sent.push(
          `${tx.Facility_ID}: ${tx.Encounters.map((e) => `${e.Unique_Encounter_ID}(${e.Consultations.map((c) => c.CDS_Consultation_Time).join(' ')})`).join(' ')}`,
        );
        return { ok: true, raw: '', status: status(tx, 'Received') };
      },
      () => NOT_CLAIMED,
    );
    const r = await submitter(store, api, { maxEncounters: 2, pageSize }).flush();
    return { sent, pages, states: [...new Set(await states(store))], r: { created: r.created, posted: r.posted, stale: r.stale } };
  }

  it('pages of 3 consultations: an encounter never split, the open transaction of a facility filled from the next page while it fits, each record sent once', async () => {
    const paged = await round(3);
    assert.deepEqual(paged.pages, [
      [3, 3],
      [3, 3],
      [3, 3],
      [3, 3],
      [3, 0],
    ]);
    assert.deepEqual(paged.sent, [
      '100000: P1(10:00:00 10:01:00 10:02:00) P2(10:00:00)',
      '100000: P3(10:00:00 10:01:00) P4(10:00:00)',
      // P5 and Q1 waiting with Q2 would not fit in a page of 3: they go, Q2 alone after
      '100000: P5(10:00:00 10:01:00)',
      '100001: Q1(10:00:00 10:01:00)',
      '100001: Q2(10:00:00)',
    ]);
    assert.deepEqual(paged.states, ['submitted']);
    assert.deepEqual(paged.r, { created: 5, posted: 5, stale: 0 });
    // read at once
    const once = await round(1000);
    assert.deepEqual(once.pages, [[1000, 12]]);
    assert.deepEqual(once.sent, [
      '100000: P1(10:00:00 10:01:00 10:02:00) P2(10:00:00)',
      '100000: P3(10:00:00 10:01:00) P4(10:00:00)',
      '100000: P5(10:00:00 10:01:00)',
      '100001: Q1(10:00:00 10:01:00) Q2(10:00:00)',
    ]);
  });

  it('a page smaller than an encounter: the encounter is read on until it ends, and goes whole', async () => {
    const paged = await round(1);
    assert.deepEqual(paged.pages, [...Array.from({ length: 12 }, () => [1, 1]), [1, 0]]);
    assert.deepEqual(paged.sent, [
      '100000: P1(10:00:00 10:01:00 10:02:00)',
      '100000: P2(10:00:00)',
      '100000: P3(10:00:00 10:01:00)',
      '100000: P4(10:00:00)',
      '100000: P5(10:00:00 10:01:00)',
      '100001: Q1(10:00:00 10:01:00)',
      '100001: Q2(10:00:00)',
    ]);
    assert.deepEqual(paged.states, ['submitted']);
  });
});
