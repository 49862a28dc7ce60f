// The store contract on PostgreSQL: runs when CDSR_TEST_PG_URL is set or a server answers on
// 127.0.0.1:5432 (database "test"), each case on a database of its own copied from a migrated
// template (test/pg.ts); skipped with the reason otherwise. Plus migrating an empty database, and
// concurrency across two store instances (on a new schema: both migrate it).
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freshPgDatabase } from '../../test/pg.js';
import { CdsrValidator } from '../cdsr/validate.js';
import { errorMessage } from '../cdsr/errors.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { orderIdentity } from '../mapping/merge.js';
import type { MapOutcome } from '../mapping/outcome.js';
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';
import { openStore } from './open.js';
import { StoreUnavailableError, storedText } from './sql.js';
import { inlined, PostgresExecutor } from './postgres-executor.js';
import fc from 'fast-check';
import { MIGRATIONS } from './migrations.js';
import { storeSuite, type StoreBacking } from './store.suite.js';
import { reprocessSuite } from './reprocess.suite.js';
import { runs } from '../../test/runs.js';

const url = process.env.CDSR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const shown = url.replace(/\/\/[^@]*@/, '//');
const newSchema = () => `cdsr_test_${randomBytes(5).toString('hex')}`;

/** Why PostgreSQL tests cannot run here, or undefined when a server answers. */
async function unreachable(): Promise<string | undefined> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await probe.connect();
    await probe.end();
    return undefined;
  } catch (e) {
    return `PostgreSQL tests skipped: no server at ${shown} (${errorMessage(e)}); set CDSR_TEST_PG_URL to run them`;
  }
}

async function dropSchema(schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}

const pgBacking = async (): Promise<StoreBacking | string> => {
  const why = await unreachable();
  if (why) {
    console.log(why);
    return why;
  }
  // a database of its own per case, a copy of one migrated once (test/pg.ts)
  return async () => {
    const fresh = await freshPgDatabase('cdsr_store', { migrated: true });
    if (typeof fresh === 'string') throw new Error(fresh);
    // no wait for the WAL's flush at each commit (what is checked is what a commit does, not that it
    // survives the server's crash): sessions opened from now on, i.e. the store's
    await fresh.admin.query(`ALTER DATABASE ${fresh.name} SET synchronous_commit = off`);
    return {
      open: (validator) => openStore({ kind: 'postgres', url: fresh.url }, validator),
      query: async (sql) => {
        const c = new pg.Client({ connectionString: fresh.url });
        await c.connect();
        try {
          return (await c.query(sql)).rows as Record<string, unknown>[];
        } finally {
          await c.end();
        }
      },
      drop: () => fresh.drop(),
    };
  };
};
/** Two store instances on one new schema (two adapter instances on one database). */
async function twoStores() {
  const schema = newSchema();
  const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
  const validator = new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z'), valueSets: tables.valueSets });
  const a = await openStore({ kind: 'postgres', url, schema }, validator);
  const b = await openStore({ kind: 'postgres', url, schema }, validator);
  return { schema, tables, a, b, orm: readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8') };
}

// every part waits on the server far more than it computes: the parts run side by side, the
// store and reprocessing cases 4 at a time
describe('PostgreSQL', { concurrency: true }, () => {
  storeSuite('PostgreSQL', pgBacking, 4);
  reprocessSuite('PostgreSQL', pgBacking, 4);

  describe('PostgreSQL migrations', () => {
    it('migrates an empty database from nothing to the last migration, and again on reopen without harm', async (t) => {
      const fresh = await freshPgDatabase('cdsr_migrate');
      if (typeof fresh === 'string') return t.skip(fresh);
      try {
        const validator = new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z') });
        await (await openStore({ kind: 'postgres', url: fresh.url }, validator)).close();
        await (await openStore({ kind: 'postgres', url: fresh.url }, validator)).close();
        const c = new pg.Client({ connectionString: fresh.url });
        await c.connect();
        try {
          const versions = (await c.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => Number(r.version));
          assert.deepEqual(
            versions,
            MIGRATIONS.map((m) => m.version),
          );
        } finally {
          await c.end();
        }
      } finally {
        await fresh.drop();
      }
    });
  });

  describe('PostgreSQL: statements sent together', () => {
    it('a message costs 2 round trips: BEGIN, the locks and every read; then every write with the COMMIT', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const { schema, tables, a, b, orm } = await twoStores();
      const sample = (name: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', name), 'utf8');
      const sent: string[] = [];
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back, and called with its own client
      const query = pg.Client.prototype.query;
      // the other cases of this file run meanwhile: only this schema's connections count
      const ours = (c: pg.Client) => (c as unknown as { connectionParameters?: { options?: string } }).connectionParameters?.options?.includes(schema) === true;
      /** The statements each round trip of one message's ingest sent, and its status. */
      const trips = async (raw: string, controlId: string) => {
        sent.length = 0;
        pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
          const q = args[0];
          if (ours(this)) sent.push(typeof q === 'string' ? q : String((q as { text?: unknown }).text));
          return (query as (...a: unknown[]) => unknown).apply(this, args);
        } as typeof query;
        try {
          const r = await a.ingest(
            { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId, contentType: 'x', raw, receivedAt: new Date() },
            mapHl7Text(raw, tables),
          );
          return { status: r.status, sent: [...sent] };
        } finally {
          pg.Client.prototype.query = query;
        }
      };
      const two = (r: { status: string; sent: string[] }, status: string) => {
        assert.equal(r.status, status);
        assert.equal(r.sent.length, 2, r.sent.map((s) => s.slice(0, 80)).join('\n---\n'));
        assert.match(r.sent[0]!, /^BEGIN;\nSET LOCAL statement_timeout = 10000;\nSELECT pg_advisory_xact_lock/);
        assert.match(r.sent[1]!, /^INSERT INTO inbound_messages \(id, /);
        assert.match(r.sent[1]!, /;\nCOMMIT$/);
      };
      const rt = (text: string, n: number) =>
        text.replaceAll('MSG0001', `RT${n}`).replaceAll('ORD1001', `RTORD${n}`).replaceAll('ACC2001', `RTACC${n}`).replaceAll('V0001', `RTV${n}`);
      try {
        assert.equal((await trips(rt(orm, 0), 'RT0')).status, 'applied');
        // an ORM of a new encounter
        two(await trips(rt(orm, 1), 'RT1'), 'applied');
        // its update, and the update sent again (a resend: recorded as a duplicate)
        const update = rt(sample('02-orm-update.hl7'), 1).replaceAll('MSG0002', 'RT1U');
        two(await trips(update, 'RT1U'), 'applied');
        two(await trips(update, 'RT1U'), 'duplicate');
        // two orders in one message
        two(await trips(sample('07-orm-two-orders.hl7').replaceAll('V0001', 'RTV7'), 'MSG0007'), 'applied');
        // and two OBRs of one message under one placer number (the mapping makes it each one's own: RTORD8:1, RTORD8:2)
        const twice = sample('07-orm-two-orders.hl7')
          .replaceAll('V0001', 'RTV8')
          .replaceAll('MSG0007', 'RT8')
          .replaceAll(/ORD100[56]/g, 'RTORD8')
          .replaceAll('ACC2005', 'RTACC8A')
          .replaceAll('ACC2006', 'RTACC8B');
        two(await trips(twice, 'RT8'), 'applied');
        // a result before its order waits; the order adopts it, under the numbers they share: nothing more to read
        const oru = rt(sample('04-oru-final.hl7'), 2).replaceAll('MSG0004', 'RT2R');
        two(await trips(oru, 'RT2R'), 'applied');
        two(await trips(rt(orm, 2), 'RT2'), 'applied');
        // a waiting result under a number its order does not carry: the adopted record's rows are
        // read in one round trip more, between the two
        two(await trips(rt(sample('04-oru-final.hl7'), 3).replaceAll('MSG0004', 'RT3R'), 'RT3R'), 'applied');
        const adopting = await trips(rt(orm, 3).replaceAll('RTACC3', 'RTACC3B'), 'RT3');
        assert.equal(adopting.sent.length, 3, adopting.sent.map((s) => s.slice(0, 80)).join('\n---\n'));
        assert.match(
          adopting.sent[1]!,
          /^INSERT INTO inbound_messages \(id, [^]*;\nSELECT order_key, seq, record FROM orphans WHERE order_key IN \('[^']*\|RTACC3'\) ORDER BY order_key, seq$/,
        );
        assert.match(adopting.sent[2]!, /;\nCOMMIT$/);
        // ids are taken only for what is new: a message's and an order's, none for an order seen before
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          const col = async (sql: string) => (await c.query<{ id: string }>(sql)).rows.map((r) => Number(r.id));
          assert.deepEqual(await col(`SELECT id FROM ${schema}.inbound_messages ORDER BY id`), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
          // RT0, RT1, the two of 07, the two of RT8, RT2 (its result), RT3 (its result)
          assert.deepEqual(await col(`SELECT id FROM ${schema}.orders ORDER BY id`), [1, 2, 3, 4, 5, 6, 7, 8]);
        } finally {
          await c.end();
        }
        assert.deepEqual((await a.ledgerGauges()).byState, { reported: 8 });
      } finally {
        pg.Client.prototype.query = query;
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    });

    it('values with quotes, backslashes and any Unicode, sent as literals, are stored and found as they are', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const { schema, tables, a, b, orm } = await twoStores();
      // HL7's escape \E\ is a backslash in the value
      const odd = "O'Br\\E\\ien; DROP TABLE orders; --é😀";
      const value = odd.replaceAll('\\E\\', '\\');
      const raw = orm.replaceAll('V0001', `V${odd}`).replaceAll('ORD1001', `ORD${odd}`).replaceAll('ACC2001', `ACC${odd}`);
      const meta = { channel: 'hl7v2' as const, sender: `EHR'\\${value}`, controlId: `C'\\${value}`, contentType: 'x', raw, receivedAt: new Date() };
      try {
        const first = await a.ingest(meta, mapHl7Text(raw, tables));
        assert.equal(first.status, 'applied');
        // the twin lookup finds it by the same values: a resend
        assert.deepEqual(await b.ingest(meta, mapHl7Text(raw, tables)), {
          messageId: first.messageId + 1,
          status: 'duplicate',
          duplicateOf: first.messageId,
          problems: [],
        });
        const m = await b.message(first.messageId);
        assert.deepEqual([m?.sender, m?.controlId, m?.raw], [meta.sender, meta.controlId, raw]);
        const [rec] = await b.records({ limit: 10 });
        assert.equal((await b.record(rec!.encounterKey))?.encounterId, `V${value}`);
        const { orders } = await b.orders({ limit: 10 });
        assert.deepEqual(
          orders.map((o) => [o.encounterId, [...o.orderNumbers].sort(), o.state]),
          [[`V${value}`, [`ACC${value}`, `ORD${value}`].sort(), 'reported']],
        );
        // an update found by those numbers, in the same order and consultation
        const update = raw.replace('ORC|NW|', 'ORC|XO|').replace('|20261102093500||ORM', '|20261102101000||ORM');
        assert.equal((await a.ingest({ ...meta, controlId: 'C2' }, mapHl7Text(update, tables))).status, 'applied');
        assert.equal((await b.orders({ limit: 10 })).orders.length, 1);
        assert.equal((await b.records({ limit: 10 })).length, 1);
      } finally {
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    });

    it('a deferred statement that fails fails its transaction: nothing of it is kept', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const schema = newSchema();
      const x = await PostgresExecutor.open({ url, schema });
      try {
        await x.run('CREATE TABLE t (v TEXT NOT NULL)');
        await assert.rejects(
          x.transaction(async (q) => {
            await q.defer?.('INSERT INTO t (v) VALUES (?)', ['kept?']);
            await q.defer?.('INSERT INTO t (v) VALUES (?)', [null]);
          }),
          /null value in column "v"/,
        );
        await assert.rejects(
          x.transaction(async (q) => {
            await q.defer?.('INSERT INTO t (v) VALUES (?)', ['kept?']);
            await q.defer?.('INSERT INTO nowhere (v) VALUES (?)', ['x']);
            return q.get('SELECT COUNT(*) AS n FROM t');
          }),
          /relation "nowhere" does not exist/,
        );
        assert.deepEqual(await x.all('SELECT v FROM t'), []);
        // and the pool's connection is fit for the next transaction
        await x.transaction((q) => q.run('INSERT INTO t (v) VALUES (?)', ['next']));
        assert.deepEqual(await x.all('SELECT v FROM t'), [{ v: 'next' }]);
      } finally {
        await x.close();
        await dropSchema(schema);
      }
    });

    it('a write of the second round trip that fails fails the message: nothing of it is kept (no AA), and the message sent again is applied', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const { schema, tables, a, b, orm } = await twoStores();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const count = async (table: string) => Number((await admin.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${schema}.${table}`)).rows[0]!.n);
      const meta = { channel: 'hl7v2' as const, sender: 'EHR^GENHOSP', controlId: 'MSG0001', contentType: 'x', raw: orm, receivedAt: new Date() };
      try {
        // the ledger's last write, in the COMMIT's round trip, refused
        await admin.query(`CREATE FUNCTION ${schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`);
        await admin.query(`CREATE TRIGGER refuse BEFORE INSERT ON ${schema}.order_messages FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse()`);
        await assert.rejects(a.ingest(meta, mapHl7Text(orm, tables)), /^error: refused by the test$/);
        for (const table of ['inbound_messages', 'encounters', 'consultations', 'order_index', 'orders', 'order_numbers', 'message_encounters'])
          assert.equal(await count(table), 0, table);
        await admin.query(`DROP TRIGGER refuse ON ${schema}.order_messages`);
        // not a resend of anything: applied, under the next id of the sequence
        const again = await b.ingest(meta, mapHl7Text(orm, tables));
        assert.deepEqual([again.status, again.messageId], ['applied', 2]);
        assert.deepEqual([await count('inbound_messages'), await count('orders'), await count('order_messages')], [1, 1, 1]);
      } finally {
        await admin.end();
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    });

    it('a transaction a failed statement ended is not reported committed, even when the failure was caught', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const schema = newSchema();
      const x = await PostgresExecutor.open({ url, schema });
      try {
        await x.run('CREATE TABLE t (v TEXT NOT NULL)');
        // the server ends the transaction at the failure and answers its COMMIT with ROLLBACK
        await assert.rejects(
          x.transaction(async (q) => {
            await q.run('INSERT INTO t (v) VALUES (?)', ['kept?']);
            const caught = await q.get('SELECT 1 / 0 AS n').catch((e: unknown) => errorMessage(e));
            assert.equal(caught, 'division by zero');
          }),
          /^Error: the transaction was rolled back at its COMMIT \(one of its statements had failed\)$/,
        );
        assert.deepEqual(await x.all('SELECT v FROM t'), []);
        // and with writes waiting to go with the COMMIT
        await assert.rejects(
          x.transaction(async (q) => {
            await q.get('SELECT 1 / 0 AS n').catch(() => undefined);
            await q.defer?.('INSERT INTO t (v) VALUES (?)', ['kept?']);
          }),
          /current transaction is aborted/,
        );
        assert.deepEqual(await x.all('SELECT v FROM t'), []);
      } finally {
        await x.close();
        await dropSchema(schema);
      }
    });

    it('any text written in as a literal reads back as sent (property, against the server)', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await fc.assert(
          // any code point, a lone surrogate (fast-check's 'binary' draws none) and a NUL among them
          fc.asyncProperty(
            fc.string({
              unit: fc.oneof(
                fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
                fc.constantFrom('\uD800', '\uDC00', '\u0000'),
              ),
              maxLength: 40,
            }),
            async (v) => {
              const r = await c.query<{ v: string }>(inlined('SELECT CAST(? AS TEXT) AS v', [v]));
              assert.equal(r.rows[0]!.v, storedText(v));
            },
          ),
          { numRuns: runs(300) },
        );
      } finally {
        await c.end();
      }
    });
  });

  describe('PostgreSQL: the statement timeout and migrations', () => {
    it('migrations are not bounded by the statement timeout (a 1 ms bound still migrates a new schema)', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const schema = newSchema();
      const store = await openStore({ kind: 'postgres', url, schema, statementTimeoutMs: 1 }, new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z') }));
      await store.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const versions = (await c.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`)).rows.map((r) =>
          Number(r.version),
        );
        assert.deepEqual(
          versions,
          MIGRATIONS.map((m) => m.version),
        );
      } finally {
        await c.end();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL: a lock on the messages table', () => {
    it('a message waits at most the statement timeout, then the store is unavailable (503); the ping says not ready while the lock is held', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const schema = newSchema();
      const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
      const store = await openStore({ kind: 'postgres', url, schema, statementTimeoutMs: 2000 }, new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z') }));
      const blocker = new pg.Client({ connectionString: url });
      await blocker.connect();
      const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
      const ingest = () =>
        store.ingest({ channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: 'MSG0001', contentType: 'x', raw, receivedAt: new Date() }, mapHl7Text(raw, tables));
      try {
        await store.ping();
        // what a migration or a DBA's LOCK TABLE takes: rows can be read, not written
        await blocker.query(`SET search_path = ${schema}`);
        await blocker.query('BEGIN');
        await blocker.query('LOCK TABLE inbound_messages IN SHARE MODE');
        await assert.rejects(store.ping(), /lock/);
        await assert.rejects(ingest(), (e: unknown) => e instanceof StoreUnavailableError && (e.cause as { code?: string }).code === '57014');
        await blocker.query('COMMIT');
        await store.ping();
        assert.equal((await ingest()).status, 'applied');
      } finally {
        await blocker.end();
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL: the ledger under concurrency', () => {
    it('an error message’s orders are locked by their numbers: an ORM of the same order from another instance meanwhile finds its order (one order, not two)', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const { schema, tables, a, b, orm } = await twoStores();
      const tag = randomBytes(4).toString('hex').toUpperCase();
      const raw = orm.replaceAll('ORD1001', `LKORD${tag}`).replaceAll('ACC2001', `LKACC${tag}`).replaceAll('V0001', `LKV${tag}`);
      const mapped = mapHl7Text(raw, tables);
      assert.equal(mapped.disposition, 'mapped');
      const identity = mapped.disposition === 'mapped' ? orderIdentity(mapped.records[0]!) : undefined;
      // the same order held in the error queue (what a second OBR that cannot be mapped makes of it)
      const held: MapOutcome = {
        disposition: 'error',
        problems: [{ code: 'MAP_NO_ORDER', message: 'held by the test', severity: 'error', scope: 'file', path: '' }],
        orders: [identity!],
      };
      const meta = (controlId: string) => ({ channel: 'hl7v2' as const, sender: 'EHR^GENHOSP', controlId, contentType: 'x', raw, receivedAt: new Date() });
      // a table lock holds every message's writes (not its reads) until it is let go: both
      // messages have read what they need before either writes
      const blocker = new pg.Client({ connectionString: url });
      await blocker.connect();
      // who waits, seen from a connection of its own (a transaction sees the activity as it was at its first look)
      const watcher = new pg.Client({ connectionString: url });
      await watcher.connect();
      const waiting = async (marker: string): Promise<void> => {
        for (let i = 0; i < 1000; i++) {
          const r = await watcher.query<{ n: string }>(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 IN query) > 0",
            [marker],
          );
          if (Number(r.rows[0]!.n) > 0) return;
          await new Promise((ok) => setTimeout(ok, 5));
        }
        throw new Error(`no statement of ${marker} waits`);
      };
      try {
        await blocker.query(`SET search_path = ${schema}`);
        await blocker.query('BEGIN');
        await blocker.query('LOCK TABLE orders IN SHARE MODE');
        const first = a.ingest(meta(`LKE${tag}`), held);
        await waiting(`LKE${tag}`);
        const second = b.ingest(meta(`LKM${tag}`), mapped);
        await waiting(`LKM${tag}`);
        await blocker.query('COMMIT');
        assert.deepEqual([(await first).status, (await second).status], ['error', 'applied']);
        const { orders } = await a.orders({ limit: 10 });
        assert.deepEqual(
          orders.map((o) => [[...o.orderNumbers].sort(), o.state]),
          [[[`LKACC${tag}`, `LKORD${tag}`], 'reported']],
        );
      } finally {
        await blocker.end();
        await watcher.end();
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL under concurrency', () => {
    it('200 messages for 10 encounters, 20 at a time from two stores, all merged once', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const { schema, tables, a, b, orm } = await twoStores();
      try {
        const jobs = Array.from({ length: 200 }, (_, i) => {
          const ts = new Date(Date.UTC(2026, 10, 2) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
          const raw = orm
            .replaceAll('MSG0001', `P${i}`)
            .replaceAll('ORD1001', `PORD${i}`)
            .replaceAll('ACC2001', `PACC${i}`)
            .replaceAll('V0001', `PV${i % 10}`)
            .replaceAll('20261102093015', ts);
          return () =>
            (i % 2 ? a : b).ingest(
              { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `P${i}`, contentType: 'x', raw, receivedAt: new Date() },
              mapHl7Text(raw, tables),
            );
        });
        for (let i = 0; i < jobs.length; i += 20) await Promise.all(jobs.slice(i, i + 20).map((j) => j()));
        const recs = await a.records({ limit: 1000 });
        assert.equal(recs.length, 200);
        assert.equal(new Set(recs.map((r) => r.encounterId)).size, 10);
        assert.deepEqual((await a.counts()).messages, { applied: 200 });
        assert.deepEqual((await a.ledgerGauges()).byState, { reported: 200 });
      } finally {
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL: submissions under concurrent changes', () => {
    it('two instances batching while results and updates land: nothing sent twice for one content, nothing stale marked sent', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const { schema, tables, a, b, orm } = await twoStores();
      const msg = (i: number, version: number) => {
        const raw = orm
          .replaceAll('MSG0001', `S${i}v${version}`)
          .replaceAll('ORD1001', `SORD${i}`)
          .replaceAll('ACC2001', `SACC${i}`)
          .replaceAll('V0001', `SV${i % 8}`)
          .replaceAll('20261102093015', new Date(Date.UTC(2026, 10, 2) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14))
          .replace('20261102093500', `2026110210${String(version).padStart(2, '0')}00`)
          // every version a content of its own
          .replaceAll('CT HEAD WO CONTRAST', `CT HEAD WO CONTRAST V${version}`);
        return (s: typeof a) =>
          s.ingest({ channel: 'hl7v2', sender: 'EHR', controlId: `S${i}v${version}`, contentType: 'x', raw, receivedAt: new Date() }, mapHl7Text(raw, tables));
      };
      let n = 0;
      const batchOnce = async (s: typeof a) => {
        const ready = await s.wireEncounters('ready', 1000);
        for (const r of ready) {
          const id = `T${++n}`;
          await s.createTransaction(transactionFor(id, [r.wire]), [r], new Date());
        }
      };
      try {
        for (let i = 0; i < 40; i++) await msg(i, 0)(a);
        // updates land while both instances batch
        const writer = (async () => {
          for (let version = 1; version <= 4; version++) for (let i = 0; i < 40; i++) await msg(i, version)(version % 2 ? a : b);
        })();
        const batchers = [a, b].map(async (s) => {
          for (let round = 0; round < 15; round++) await batchOnce(s);
        });
        await Promise.all([writer, ...batchers]);
        await batchOnce(a);
        // every consultation's last sent content is its current content
        const recs = await a.records({ limit: 1000 });
        assert.equal(recs.length, 40);
        assert.deepEqual([...new Set(recs.map((r) => r.state))], ['submitted']);
        const sent = new Map<string, string[]>();
        for (
          let after: string | undefined, page;
          (page = await a.transactions({ limit: 200, ...(after !== undefined ? { after } : {}) })).length > 0;
          after = page[page.length - 1]!.transactionId
        ) {
          for (const tx of page)
            for (const r of tx.records)
              sent.set(`${r.encounterKey} ${r.consultationKey}`, [...(sent.get(`${r.encounterKey} ${r.consultationKey}`) ?? []), r.contentHash]);
        }
        for (const [key, hashes] of sent) assert.equal(new Set(hashes).size, hashes.length, `${key} sent twice with one content`);
        for (const r of recs) assert.ok(sent.has(`${r.encounterKey} ${r.consultationKey}`), `${r.encounterKey} ${r.consultationKey} never sent`);
        const current = await a.wireEncounters('submitted', 1000);
        for (const c of current)
          assert.equal(
            sent.get(`${c.encounterKey} ${c.consultationKey}`)?.at(-1),
            c.contentHash,
            `${c.encounterKey} ${c.consultationKey}: a stale content was marked sent`,
          );
        t.diagnostic(`${n} batches tried, ${[...sent.values()].reduce((x, h) => x + h.length, 0)} sent`);
      } finally {
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    });
  });
});
