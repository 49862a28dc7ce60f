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
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';
import { openStore } from './open.js';
import { StoreUnavailableError } from './sql.js';
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
    it('an ORM for a new encounter costs 10 round trips (the writes whose counts nobody reads go with the next read or the COMMIT)', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const { schema, tables, a, b, orm } = await twoStores();
      const sent: string[] = [];
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be put back, and called with its own client
      const query = pg.Client.prototype.query;
      try {
        const ingest = (n: number) => {
          const raw = orm.replaceAll('MSG0001', `RT${n}`).replaceAll('ORD1001', `RTORD${n}`).replaceAll('ACC2001', `RTACC${n}`).replaceAll('V0001', `RTV${n}`);
          return a.ingest(
            { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `RT${n}`, contentType: 'x', raw, receivedAt: new Date() },
            mapHl7Text(raw, tables),
          );
        };
        await ingest(0);
        // the other cases of this file run meanwhile: only this schema's connections count
        const ours = (c: pg.Client) =>
          (c as unknown as { connectionParameters?: { options?: string } }).connectionParameters?.options?.includes(schema) === true;
        pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
          const q = args[0];
          if (ours(this)) sent.push(typeof q === 'string' ? q : String((q as { text?: unknown }).text));
          return (query as (...a: unknown[]) => unknown).apply(this, args);
        } as typeof query;
        assert.equal((await ingest(1)).status, 'applied');
        pg.Client.prototype.query = query;
        // BEGIN, the locks and the twin lookup; the message; four reads of the merge; the stored
        // consultations; the order's numbers; the new order; then every write with the COMMIT
        assert.equal(sent.length, 10, sent.map((s) => s.slice(0, 60)).join('\n'));
        assert.match(sent[0]!, /^BEGIN;\nSET LOCAL statement_timeout = 10000;\nSELECT pg_advisory_xact_lock/);
        assert.match(sent.at(-1)!, /;\nCOMMIT$/);
        assert.deepEqual((await a.ledgerGauges()).byState, { reported: 2 });
      } finally {
        pg.Client.prototype.query = query;
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

    it('any text written in as a literal reads back as sent (property, against the server)', async (t) => {
      const why = await unreachable();
      if (why) return t.skip(why);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await fc.assert(
          fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), async (v) => {
            const r = await c.query<{ v: string }>(inlined('SELECT CAST(? AS TEXT) AS v', [v]));
            assert.equal(r.rows[0]!.v, v.replaceAll('\u0000', '\uFFFD'));
          }),
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
