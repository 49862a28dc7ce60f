// The test databases' reuse (test/pg.ts): a migrated database a test is done with is handed to the
// process's next test only as a fresh copy of the template would be, and never when its schema was
// changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { freshPgDatabase, withClient, type FreshPgDatabase } from './pg.js';

/** Every table's rows, every sequence's position and the database's own settings. */
function contents(db: FreshPgDatabase): Promise<Record<string, unknown>> {
  return withClient(db.url, async (c) => {
    const out: Record<string, unknown> = {};
    const tables = await c.query<{ t: string }>(
      "SELECT quote_ident(table_name) AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    );
    for (const { t } of tables.rows) out[t] = (await c.query(`SELECT * FROM ${t} ORDER BY 1`)).rows;
    const seqs = await c.query<{ s: string }>('SELECT quote_ident(sequencename) AS s FROM pg_sequences ORDER BY 1');
    for (const { s } of seqs.rows) out[s] = (await c.query(`SELECT last_value, is_called FROM ${s}`)).rows[0];
    out['settings'] = (
      await db.admin.query('SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1', [db.name])
    ).rows;
    return out;
  });
}

const exec = (db: FreshPgDatabase, sql: string): Promise<void> => withClient(db.url, async (c) => void (await c.query(sql)));

test('a migrated database is reused only as a fresh copy would be, and dropped when its schema changed', async (t) => {
  const first = await freshPgDatabase('cdsr_reuse', { migrated: true });
  if (typeof first === 'string') return t.skip(first);
  const pristine = await contents(first);
  assert.ok(Array.isArray(pristine['schema_migrations']) && pristine['schema_migrations'].length > 0, 'the template has rows of its own');
  // rows changed, added and removed, sequences moved, a setting given, a session left open
  const open = new pg.Client({ connectionString: first.url });
  await open.connect();
  open.on('error', () => undefined);
  await exec(
    first,
    `DELETE FROM schema_migrations WHERE version = (SELECT min(version) FROM schema_migrations);
     INSERT INTO store_counters (name, k, n) VALUES ('test', 'x', 7);
     UPDATE store_counters SET n = n + 5;
     SELECT nextval('orders_id_seq'), nextval('inbound_messages_id_seq');`,
  );
  await first.admin.query(`ALTER DATABASE ${first.name} SET work_mem = '8MB'`);
  assert.notDeepEqual(await contents(first), pristine);
  await first.drop();

  const second = await freshPgDatabase('cdsr_reuse', { migrated: true });
  assert.ok(typeof second !== 'string');
  assert.equal(second.name, first.name, 'the emptied database is handed out again');
  assert.deepEqual(await contents(second), pristine);
  // a changed schema: not reused, dropped
  await exec(second, 'ALTER TABLE leases ADD COLUMN extra integer');
  await second.drop();
  const third = await freshPgDatabase('cdsr_reuse', { migrated: true });
  assert.ok(typeof third !== 'string');
  assert.notEqual(third.name, second.name);
  assert.equal((await third.admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [second.name])).rowCount, 0, 'the changed one is dropped');
  assert.deepEqual(await contents(third), pristine);
  // one asked not to be reused is dropped too
  await third.drop();
  const own = await freshPgDatabase('cdsr_reuse', { migrated: true, reuse: false });
  assert.ok(typeof own !== 'string');
  assert.notEqual(own.name, third.name);
  await own.drop();
  const after = await freshPgDatabase('cdsr_reuse', { migrated: true });
  assert.ok(typeof after !== 'string');
  assert.equal(after.name, third.name, 'the one kept is still there');
  assert.equal((await after.admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [own.name])).rowCount, 0);
  await after.drop();
  await open.end().catch(() => undefined);
});
