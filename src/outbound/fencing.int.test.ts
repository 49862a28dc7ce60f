// Fencing across instances: two submitters, each on a store of its own over one database (SQLite
// file; PostgreSQL when a server answers), submitting to one registry stand-in that counts the
// POSTs it took in per Transaction_ID and the revision of every consultation it loads. The lease
// holder is paused (a gate in its path, the clock moved past its lease — no wall-clock sleep) at
// each point where it holds work in memory: a batch built and not yet stored, a transaction read
// and not yet POSTed, a 404 in hand and not yet re-POSTed. Meanwhile a newer revision lands and the
// other instance takes over. When the paused one resumes it sends nothing: 0 Transaction_IDs
// taken in twice, 0 older revisions after a newer one, and every record ends accepted with its
// last revision at the registry.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import type { Transaction, TransactionStatus } from '../cdsr/schema.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { freshPgDatabase } from '../../test/pg.js';
import type { NrdrApi, NrdrResult } from './nrdr-client.js';
import { Submitter } from './submitter.js';

const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const N = 6;
const START = Date.parse('2026-11-23T06:00:00Z');

/** Order i at revision rev: the exam name carries the revision, the message time moves on. */
const order = (i: number, rev: number) =>
  ORM.replaceAll('V0001', `FV${i}`)
    .replaceAll('ORD1001', `FORD${i}`)
    .replaceAll('ACC2001', `FACC${i}`)
    .replace('MSG0001', `F${i}R${rev}`)
    .replace('20261102093500', `202611021${rev}0000`)
    .replaceAll('CT HEAD WO CONTRAST', `CT HEAD WO CONTRAST REV${rev}`);

async function ingestAll(s: Store, rev: number): Promise<void> {
  for (let i = 0; i < N; i++) {
    const raw = order(i, rev);
    const r = await s.ingest(
      { channel: 'hl7v2', sender: 'EHR', controlId: `F${i}R${rev}`, contentType: 'x', raw, receivedAt: new Date(START) },
      mapHl7Text(raw, tables),
    );
    assert.equal(r.status, 'applied');
  }
}

const statusOf = (tx: Transaction, Status: string): TransactionStatus => ({
  Transaction_ID: tx.Transaction_ID,
  Transaction_DateTime: tx.Transaction_DateTime,
  Num_of_Exam_Included: tx.Encounters.reduce((n, e) => n + e.Consultations.length, 0),
  Num_of_Exam_In_Error: 0,
  PartnerID: tx.PartnerID,
  AppID: tx.AppID,
  Facility_ID: tx.Facility_ID,
  Status,
  Error_Msg: null,
  Exam_Errors: [],
});

/** The registry: what it took in, per Transaction_ID; each consultation's highest revision; any revision that went back. */
class Registry {
  readonly taken = new Map<string, number>();
  readonly revision = new Map<string, number>();
  readonly backwards: string[] = [];
  private readonly stored = new Map<string, Transaction>();
  /** POSTs to lose before NRDR reads them (a connection dropped on the way). */
  dropNext = 0;

  post(tx: Transaction): NrdrResult {
    if (this.dropNext > 0) {
      this.dropNext--;
      return { ok: false, permanent: false, code: 'network_error', message: 'socket hang up', unanswered: true };
    }
    this.taken.set(tx.Transaction_ID, (this.taken.get(tx.Transaction_ID) ?? 0) + 1);
    for (const e of tx.Encounters) {
      for (const c of e.Consultations) {
        const key = `${e.Unique_Encounter_ID} ${c.CDS_Consultation_Date} ${c.CDS_Consultation_Time}`;
        const rev = Number(/REV(\d+)/.exec(JSON.stringify(c))?.[1] ?? 0);
        if (rev < (this.revision.get(key) ?? 0)) this.backwards.push(`${key}: REV${rev} after REV${this.revision.get(key)}`);
        this.revision.set(key, Math.max(rev, this.revision.get(key) ?? 0));
      }
    }
    this.stored.set(tx.Transaction_ID, tx);
    return { ok: true, raw: '', status: statusOf(tx, 'Received') };
  }

  get(id: string): NrdrResult {
    const tx = this.stored.get(id);
    return tx
      ? { ok: true, raw: '', status: statusOf(tx, 'Posted') }
      : { ok: false, permanent: true, httpStatus: 404, code: 'invalid_param', message: `Transaction ${id} does not exist` };
  }
}

type PausePoint = 'batch' | 'post' | 'repost';

/** A gate the paused instance stops at once: `reached` when it is there, `open()` to let it go. */
function gate() {
  let reached: () => void = () => undefined;
  let open: () => void = () => undefined;
  const there = new Promise<void>((r) => (reached = r));
  const wait = new Promise<void>((r) => (open = r));
  let used = false;
  return {
    there,
    open: () => open(),
    /** Stops here the first time only. */
    async pass(): Promise<void> {
      if (used) return;
      used = true;
      reached();
      await wait;
    },
  };
}

const NOT_CLAIMED: NrdrResult = { ok: false, permanent: false, code: 'not_claimed', message: 'not claimed' };

async function scenario(
  openOne: () => Promise<Store>,
  pause: PausePoint,
): Promise<{
  takenTwice: string[];
  backwards: string[];
  states: string[];
  revisions: number[];
  afterResume: { posted: number; created: number };
  leaderAfter: boolean;
}> {
  const storeA = await openOne();
  const storeB = await openOne();
  try {
    await ingestAll(storeA, 1);
    const reg = new Registry();
    // every reading moves the clock 50 ms on: waits and deadlines come without the wall clock
    let now = START;
    const clock = () => new Date((now += 50));
    const g = gate();
    const apiA: NrdrApi = {
      postTransaction: async (tx, claim) => {
        if (pause === 'post') await g.pass();
        if (claim && !(await claim())) return NOT_CLAIMED;
        return reg.post(tx);
      },
      getStatus: async (id) => {
        const r = reg.get(id);
        if (pause === 'repost' && !r.ok) await g.pass();
        return r;
      },
    };
    const apiB: NrdrApi = {
      postTransaction: async (tx, claim) => (claim && !(await claim()) ? NOT_CLAIMED : reg.post(tx)),
      getStatus: (id) => Promise.resolve(reg.get(id)),
    };
    // A's batch is stored only after the gate (a pause between building it and storing it)
    const viewA =
      pause === 'batch'
        ? new Proxy(storeA, {
            get(target, p, receiver) {
              if (p === 'createTransaction') return async (...a: Parameters<Store['createTransaction']>) => (await g.pass(), target.createTransaction(...a));
              const v: unknown = Reflect.get(target, p, receiver);
              return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
            },
          })
        : storeA;
    const opts = { partnerId: '10000', appId: '10019', maxEncounters: 4, clock, pollIntervalMs: 1000, sleep: () => Promise.resolve() };
    const a = new Submitter({ ...opts, store: viewA, client: apiA, instanceId: 'host-a' });
    const b = new Submitter({ ...opts, store: storeB, client: apiB, instanceId: 'host-b' });

    if (pause === 'repost') {
      // A's first POSTs are lost on the way: sent, unanswered; its next step is a GET
      reg.dropNext = 2;
      const first = await a.flush();
      assert.deepEqual([first.created, first.unanswered], [2, 2]);
      now += 2000;
    }
    const aRun = a.flush();
    await g.there;
    // A is paused past its lease; a newer revision lands; B takes over and submits
    now += 6 * 60_000;
    await ingestAll(storeB, 2);
    const byB = await b.submitNow(10 * 60_000);
    assert.equal(byB.leader, true);
    // A resumes with what it held in memory
    g.open();
    const resumed = (await aRun) as { posted: number; created: number };
    // and the next revision goes through the instance that holds the lease
    await ingestAll(storeA, 3);
    const aAgain = await a.flush();
    await b.submitNow(10 * 60_000);
    const states = (await storeB.records({ limit: 100 })).map((r) => r.state);
    return {
      takenTwice: [...reg.taken].filter(([, n]) => n > 1).map(([id]) => id),
      backwards: reg.backwards,
      states: [...new Set(states)],
      revisions: [...new Set(reg.revision.values())],
      afterResume: { posted: resumed.posted, created: resumed.created },
      leaderAfter: aAgain.leader,
    };
  } finally {
    await storeA.close();
    await storeB.close();
  }
}

const validator = () => new CdsrValidator({ now: new Date(START), valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });

function cases(backing: string, fresh: () => Promise<{ open: () => Promise<Store>; drop: () => Promise<void> } | string>): void {
  describe(`fencing across instances (${backing})`, () => {
    for (const pause of ['batch', 'post', 'repost'] as const) {
      it(`the lease holder paused past its lease (${pause === 'batch' ? 'a batch built, not stored' : pause === 'post' ? 'a transaction read, not POSTed' : "NRDR's 404 in hand, not re-POSTed"}) sends nothing when it resumes`, async (t) => {
        const db = await fresh();
        if (typeof db === 'string') return t.skip(db);
        try {
          // paused at its POST, it had stored its batches before (B sent them, under its own epoch)
          const created = pause === 'post' ? 2 : 0;
          assert.deepEqual(await scenario(db.open, pause), {
            takenTwice: [],
            backwards: [],
            states: ['accepted'],
            revisions: [3],
            afterResume: { posted: 0, created },
            leaderAfter: false,
          });
        } finally {
          await db.drop();
        }
      });
    }
  });
}

cases('SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-fencing-'));
  return Promise.resolve({
    open: () => openStore({ kind: 'sqlite', file: join(dir, 'store.sqlite') }, validator()),
    drop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

cases('PostgreSQL', async () => {
  const pg = await freshPgDatabase('cdsr_fencing', { migrated: true });
  if (typeof pg === 'string') return pg;
  return { open: () => openStore({ kind: 'postgres', url: pg.url }, validator()), drop: () => pg.drop() };
});
