// SQLite writes a message's derived rows (records, order index, orphans, ledger, message index,
// and the counters and guesses their triggers keep) after its answer, a batch at a time
// (sql-store.ts, derive 'later'). What must hold: the answers and the rows are those of a store
// that writes them with the message ('with-message', as PostgreSQL does); a read or another write
// sees every message answered before it; a stop between an answer and its rows loses nothing (the
// queue is written at the next opening).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { SqliteExecutor } from './sqlite-executor.js';
import { SqlStore } from './sql-store.js';
import type { IngestResult } from './store.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { copyMigratedSqlite } from '../../test/sqlite-template.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const sample = (f: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', f), 'utf8');
const ORM = sample('01-orm-new.hl7');
const ORU = sample('04-oru-final.hl7');
/** A day: so long that only a read or a write makes the store write the derived rows (no timer in a test). */
const NEVER_BY_TIMER = 24 * 3600 * 1000;

/** Order n of encounter e at minute m (its CDS time 09:m:15), as an ORM or its result. */
const order = (text: string, n: number, e: number, m: number, control: string) =>
  text
    .replaceAll('ORD1001', `ORD7${n}`)
    .replaceAll('ACC2001', `ACC7${n}`)
    .replaceAll('V0001', `V7${e}`)
    .replaceAll('20261102093015', `2026110209${String(m % 60).padStart(2, '0')}15`)
    .replace(/\|MSG000\d\|/, `|${control}|`);

/** A feed reaching what the merge decides: results before their orders, collisions, updates, errors, resends, a type not handled. */
function feed(): { control: string; raw: string }[] {
  const out: { control: string; raw: string }[] = [];
  for (let n = 0; n < 24; n++) {
    const e = n % 4;
    // every third order's result comes first and waits for it
    if (n % 3 === 0) out.push({ control: `R${n}`, raw: order(ORU, n, e, n, `R${n}`) });
    out.push({ control: `O${n}`, raw: order(ORM, n, e, n, `O${n}`) });
    // another order at the same consultation time of the same encounter: a collision (AE)
    if (n % 5 === 0) out.push({ control: `C${n}`, raw: order(ORM, n + 100, e, n, `C${n}`) });
    if (n % 4 === 1) out.push({ control: `O${n}`, raw: order(ORM, n, e, n, `O${n}`) });
    if (n % 6 === 2) out.push({ control: `X${n}`, raw: order(ORM, n, e, n, `X${n}`).replace('ORC|NW|', 'ORC|XO|').replace('CT HEAD WO', 'CT HEAD W') });
    if (n % 7 === 3)
      out.push({
        control: `E${n}`,
        raw: order(ORM, n, e, n, `E${n}`)
          .replace(/\rOBR\|[^\r]*/, '')
          .replace(/\rORC\|[^\r]*/, ''),
      });
  }
  // a result whose order never comes: it waits
  out.push({ control: 'R99', raw: order(ORU, 99, 1, 59, 'R99') });
  out.push({ control: 'ADT1', raw: ORM.replace('|ORM^O01^ORM_O01|', '|ADT^A08^ADT_A01|').replace(/\|MSG000\d\|/, '|ADT1|') });
  return out;
}

/** Every table the derived rows are in, and the messages' statuses, as SQL reads them beside the store. */
function rows(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const all = (sql: string) => db.prepare(sql).all();
    return {
      messages: all('SELECT id, status, problems FROM inbound_messages ORDER BY id'),
      encounters: all('SELECT encounter_key, fields, consultation_defaults FROM encounters ORDER BY encounter_key'),
      consultations: all('SELECT encounter_key, consultation_key, fields, cancelled, state, missing, problems, content_hash FROM consultations ORDER BY 1, 2'),
      index: all('SELECT order_key, encounter_key, consultation_key FROM order_index ORDER BY order_key'),
      orphans: all('SELECT order_key, seq, source_id FROM orphans ORDER BY order_key, seq, source_id'),
      orders: all('SELECT id, encounter_key, consultation_key, hold, detail, first_seen, last_seen FROM orders ORDER BY id'),
      numbers: all('SELECT facility_id, number, order_id FROM order_numbers ORDER BY 1, 2'),
      links: all('SELECT order_id, message_id FROM order_messages ORDER BY 1, 2'),
      messageEncounters: all('SELECT encounter_key, message_id FROM message_encounters ORDER BY 1, 2'),
      counters: all('SELECT name, k, n FROM store_counters WHERE n <> 0 ORDER BY 1, 2'),
      guesses: all('SELECT * FROM record_guesses ORDER BY 1, 2, 3'),
    };
  } finally {
    db.close();
  }
}

const queueLength = (file: string): number => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM derive_queue').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('SQLite: derived rows written after the answer', () => {
  let tables: MappingTables;
  let validator: CdsrValidator;
  const dirs: string[] = [];
  before(() => {
    tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    validator = new CdsrValidator({ now: NOW, valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const fresh = async (): Promise<string> => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-derive-'));
    dirs.push(dir);
    const file = join(dir, 'db.sqlite');
    await copyMigratedSqlite(file);
    return file;
  };
  const open = (file: string, derive: 'later' | 'with-message', oneByOne = false) =>
    SqlStore.open(new SqliteExecutor({ file, synchronous: 'NORMAL' }), {
      validator,
      derive,
      deriveDelayMs: NEVER_BY_TIMER,
      // a write of one message's rows after each answer: answers decided while some pending messages are written and others not
      ...(oneByOne ? { deriveBatch: 1, deriveBudgetMs: 0 } : {}),
    });
  /** The feed into a store, `together` messages asked at once (they share group commits). */
  const send = async (s: SqlStore, together: number): Promise<IngestResult[]> => {
    const out: IngestResult[] = [];
    const messages = feed();
    for (let i = 0; i < messages.length; i += together) {
      const part = messages.slice(i, i + together);
      out.push(
        ...(await Promise.all(
          part.map((m, j) =>
            s.ingest(
              {
                channel: 'hl7v2',
                sender: 'EHR^GENHOSP',
                controlId: m.control,
                contentType: 'application/hl7-v2',
                raw: m.raw,
                receivedAt: new Date(NOW.getTime() + (i + j) * 1000),
              },
              mapHl7Text(m.raw, tables),
            ),
          ),
        )),
      );
    }
    return out;
  };

  it('the answers and every derived row are those of a store that writes them with each message: one at a time, 7 at once, 7 at once written one by one', async () => {
    const inlineFile = await fresh();
    const inline = await open(inlineFile, 'with-message');
    const expected = await send(inline, 1);
    await inline.close();
    // the feed reaches what it is about
    const statuses: string[] = expected.map((r) => r.status);
    assert.ok(
      ['applied', 'error', 'duplicate', 'ignored'].every((s) => statuses.includes(s)),
      statuses.join(' '),
    );
    assert.ok(expected.some((r) => r.problems.some((p) => p.code === 'MERGE_COLLISION')));
    assert.ok(rows(inlineFile).orphans.length > 0);
    for (const [together, oneByOne] of [
      [1, false],
      [7, false],
      [7, true],
    ] as const) {
      const file = await fresh();
      const s = await open(file, 'later', oneByOne);
      assert.deepEqual(await send(s, together), expected);
      // not all written yet (no timer runs in this test)
      assert.ok(queueLength(file) > 0);
      // a read through the store writes them first
      await s.messages({ limit: 1 });
      assert.equal(queueLength(file), 0);
      assert.equal(s.derivedOtherwise, 0);
      await s.close();
      assert.deepEqual(rows(file), rows(inlineFile), `${together} at once${oneByOne ? ', one by one' : ''}`);
    }
  });

  it('a read sees every message answered before it, on the store connection and on the reports thread; a write runs over their rows', async () => {
    const file = await fresh();
    const s = await open(file, 'later');
    try {
      const r = await s.ingest(
        { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: 'A1', contentType: 'x', raw: order(ORM, 1, 1, 1, 'A1'), receivedAt: NOW },
        mapHl7Text(order(ORM, 1, 1, 1, 'A1'), tables),
      );
      assert.equal(r.status, 'applied');
      // answered and durable, its records not written yet
      assert.deepEqual([queueLength(file), rows(file).consultations.length, rows(file).messages.length], [1, 0, 1]);
      // the counters are read in the reports thread, on a connection of its own
      assert.deepEqual((await s.counts()).records, { ready: 1 });
      assert.equal(queueLength(file), 0);

      await s.ingest(
        { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: 'A2', contentType: 'x', raw: order(ORM, 2, 1, 2, 'A2'), receivedAt: NOW },
        mapHl7Text(order(ORM, 2, 1, 2, 'A2'), tables),
      );
      assert.equal(queueLength(file), 1);
      // a write of another kind: its transaction writes them before its own work
      await s.lease('a-lease', 'me', NOW, 1000);
      assert.deepEqual([queueLength(file), rows(file).consultations.length], [0, 2]);
      assert.deepEqual(
        (await s.record('100000|V71'))?.consultations.map((c) => c.state),
        ['ready', 'ready'],
      );
    } finally {
      await s.close();
    }
  });

  it("an answer waits for the sync of its message's row; the derived rows, written after it, are not synced on their own (the next answer's sync covers them)", async () => {
    const file = await fresh();
    let hold = false;
    let syncs = 0;
    const held: (() => void)[] = [];
    const syncFile = () => {
      syncs++;
      return hold ? new Promise<void>((ok) => held.push(ok)) : Promise.resolve();
    };
    const tick = () => new Promise<void>((ok) => setImmediate(ok));
    const s = await SqlStore.open(new SqliteExecutor({ file, syncFile }), { validator, deriveDelayMs: NEVER_BY_TIMER });
    const ingest = (n: number) =>
      s.ingest(
        { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `S${n}`, contentType: 'x', raw: order(ORM, n, n, n, `S${n}`), receivedAt: NOW },
        mapHl7Text(order(ORM, n, n, n, `S${n}`), tables),
      );
    try {
      hold = true;
      let answered = false;
      const answer = ingest(1).then((r) => ((answered = true), r));
      while (held.length === 0) await tick();
      for (let i = 0; i < 5; i++) await tick();
      // committed, the sync not done: no answer yet
      assert.deepEqual([answered, queueLength(file)], [false, 1]);
      held.shift()!();
      assert.equal((await answer).status, 'applied');
      hold = false;
      const before = syncs;
      // a read writes the derived rows: committed, not synced
      assert.equal((await s.records({})).length, 1);
      assert.deepEqual([syncs, queueLength(file)], [before, 0]);
      assert.equal((await ingest(2)).status, 'applied');
      assert.equal(syncs, before + 1);
    } finally {
      await s.close();
    }
  });

  it('a stop between the answers and their rows loses nothing: the next opening writes the queue, as the messages would have', async () => {
    const inlineFile = await fresh();
    const inline = await open(inlineFile, 'with-message');
    const expected = await send(inline, 1);
    await inline.close();

    const file = await fresh();
    const executor = new SqliteExecutor({ file, synchronous: 'NORMAL' });
    const s = await SqlStore.open(executor, { validator, deriveDelayMs: NEVER_BY_TIMER });
    assert.deepEqual(await send(s, 5), expected);
    // stopped as a kill would: the connection closed, nothing written after the answers
    await executor.close();
    const queued = queueLength(file);
    assert.equal(queued, expected.filter((r) => r.status === 'applied' || r.status === 'error').length);
    assert.equal(rows(file).consultations.length, 0);
    // the next opening writes them before anything is read
    const again = await open(file, 'later');
    await again.close();
    assert.equal(queueLength(file), 0);
    assert.deepEqual(rows(file), rows(inlineFile));
  });
});
