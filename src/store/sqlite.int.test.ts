// The store contract on SQLite (a temporary file per case), plus what only the SQLite executor
// does: WAL, and group commit where one failing transaction rolls back alone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from './open.js';
import { SqliteExecutor } from './sqlite-executor.js';
import { storeSuite, type StoreBacking } from './store.suite.js';
import { reprocessSuite } from './reprocess.suite.js';
import { StoreUnavailableError } from './sql.js';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { CdsrValidator } from '../cdsr/validate.js';
import { NOW } from '../../test/helpers.js';
import { copyMigratedSqlite } from '../../test/sqlite-template.js';

// each case on a copy of a database migrated once (test/sqlite-template.ts): migrating a new file
// costs about 100 ms of fsyncs, a copy a few; the migration from nothing is checked below. The
// contract is about what the rows say, so a commit does not wait for the disk (synchronous=NORMAL):
// an fsync per write was most of the suite's time on a busy disk. FULL, the default, is checked below.
const sqliteBacking = (): Promise<StoreBacking> =>
  Promise.resolve(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-store-'));
    const file = join(dir, 'db.sqlite');
    await copyMigratedSqlite(file);
    return {
      open: (validator) => openStore({ kind: 'sqlite', file, synchronous: 'NORMAL' }, validator),
      query: async (sql) => {
        const x = new SqliteExecutor({ file });
        try {
          return /^\s*select/i.test(sql) ? await x.all(sql) : (await x.run(sql), []);
        } finally {
          await x.close();
        }
      },
      drop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    };
  });
storeSuite('SQLite', sqliteBacking);
reprocessSuite('SQLite', sqliteBacking);

describe('SQLite executor', () => {
  const withDb = async (fn: (x: SqliteExecutor) => Promise<void>, syncFile?: (fd: number) => Promise<void>) => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-sqlite-'));
    const x = new SqliteExecutor({ file: join(dir, 'x.sqlite'), ...(syncFile ? { syncFile } : {}) });
    try {
      await fn(x);
    } finally {
      await x.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('migrates a new database file from nothing to the last migration, once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-migrate-'));
    const file = join(dir, 'db.sqlite');
    try {
      // what each opening ran, for the start-up log: all of them, then none
      const ran: number[][] = [];
      for (let open = 0; open < 2; open++) {
        const s = await openStore({ kind: 'sqlite', file }, new CdsrValidator({ now: NOW }));
        ran.push(s.migrated.map((m) => m.version));
        await s.close();
      }
      assert.deepEqual(ran, [MIGRATIONS.map((m) => m.version), []]);
      const x = new SqliteExecutor({ file });
      try {
        assert.deepEqual(
          (await x.all('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version)),
          MIGRATIONS.map((m) => m.version),
        );
      } finally {
        await x.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs in WAL mode, durable by default: SQLite at NORMAL and the WAL synced by the lane', () =>
    withDb((x) => {
      assert.equal(x.pragma('journal_mode'), 'wal');
      assert.equal(x.pragma('synchronous'), 1);
      // savepoint journals in memory (no temporary file per transaction), deleted text overwritten
      assert.equal(x.pragma('temp_store'), 2);
      assert.equal(x.pragma('secure_delete'), 1);
      return Promise.resolve();
    }));

  it('resolves a commit only once the WAL file is synced, and no read sees it before', async () => {
    const syncs: { fd: number; done: () => void }[] = [];
    const synced = (fd: number) => new Promise<void>((ok) => syncs.push({ fd, done: ok }));
    await withDb(async (x) => {
      let resolved = false;
      const committed = x.transaction((q) => q.run('CREATE TABLE t (v TEXT NOT NULL)')).then(() => (resolved = true));
      // the first commit syncs the directory (the WAL's name), then the WAL
      while (syncs.length < 1) await new Promise<void>((ok) => setImmediate(ok));
      syncs[0]!.done();
      while (syncs.length < 2) await new Promise<void>((ok) => setImmediate(ok));
      assert.equal(resolved, false);
      syncs[1]!.done();
      await committed;
      assert.equal(resolved, true);
      // later commits sync the WAL alone; a read asked meanwhile waits for the sync
      let readDone = false;
      const write = x.transaction((q) => q.run("INSERT INTO t (v) VALUES ('a')"));
      while (syncs.length < 3) await new Promise<void>((ok) => setImmediate(ok));
      const read = x.all('SELECT v FROM t').then((rows) => ((readDone = true), rows));
      for (let i = 0; i < 5; i++) await new Promise<void>((ok) => setImmediate(ok));
      assert.equal(readDone, false);
      assert.equal(syncs[2]!.fd, syncs[1]!.fd);
      syncs[2]!.done();
      await write;
      assert.deepEqual(await read, [{ v: 'a' }]);
    }, synced);
  });

  it('a failed sync refuses the batch and everything after it as unavailable, until a restart', async () => {
    let fail = false;
    await withDb(
      async (x) => {
        await x.run('CREATE TABLE t (v TEXT NOT NULL)');
        fail = true;
        await assert.rejects(
          x.transaction((q) => q.run("INSERT INTO t (v) VALUES ('a')")),
          (e: unknown) => e instanceof StoreUnavailableError && /failed to sync a commit \(EIO\); restart the adapter/.test(e.message),
        );
        fail = false;
        await assert.rejects(x.all('SELECT v FROM t'), StoreUnavailableError);
        await assert.rejects(
          x.transaction((q) => q.run("INSERT INTO t (v) VALUES ('b')")),
          StoreUnavailableError,
        );
      },
      (fd) => (fail ? Promise.reject(new Error('EIO')) : Promise.resolve(void fd)),
    );
  });

  it('groups concurrent transactions into one commit; a failing one rolls back alone', () =>
    withDb(async (x) => {
      await x.run('CREATE TABLE t (v TEXT NOT NULL)');
      const results = await Promise.allSettled([
        x.transaction(async (q) => void (await q.run('INSERT INTO t (v) VALUES (?)', ['a']))),
        x.transaction(async (q) => {
          await q.run('INSERT INTO t (v) VALUES (?)', ['b']);
          throw new Error('this one fails');
        }),
        x.transaction(async (q) => void (await q.run('INSERT INTO t (v) VALUES (?)', ['c']))),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.deepEqual(
        (await x.all('SELECT v FROM t ORDER BY v')).map((r) => r.v),
        ['a', 'c'],
      );
    }));

  it('a read waits for the open transaction instead of seeing its rows', () =>
    withDb(async (x) => {
      await x.run('CREATE TABLE t (v TEXT NOT NULL)');
      let read: Promise<unknown> | undefined;
      await x.transaction(async (q) => {
        await q.run('INSERT INTO t (v) VALUES (?)', ['a']);
        read = x.all('SELECT COUNT(*) AS n FROM t');
        await q.run('INSERT INTO t (v) VALUES (?)', ['b']);
      });
      assert.deepEqual(await read, [{ n: 2 }]);
    }));

  it('a closed store answers unavailable (the sender retries), not a crash', () =>
    withDb(async (x) => {
      await x.close();
      await assert.rejects(
        x.transaction(() => Promise.resolve()),
        StoreUnavailableError,
      );
      await assert.rejects(x.all('SELECT 1'), StoreUnavailableError);
    }));

  it('a statement error of ours is not "unavailable": it is the caller\'s to keep as AE', () =>
    withDb(async (x) => {
      await assert.rejects(
        x.run('INSERT INTO nowhere VALUES (1)'),
        (e: unknown) => e instanceof Error && !(e instanceof StoreUnavailableError) && /no such table/.test(e.message),
      );
    }));

  it('reclaims the space of deleted rows a step at a time: a transaction that arrives meanwhile is committed before the reclaim ends', () =>
    withDb(async (x) => {
      assert.equal(x.pragma('auto_vacuum'), 2);
      await x.run('CREATE TABLE t (v TEXT NOT NULL)');
      await x.transaction(async (q) => {
        for (let i = 0; i < 400; i++) await q.run('INSERT INTO t (v) VALUES (?)', [String(i).repeat(20_000).slice(0, 40_000)]);
      });
      const full = await x.sizeBytes();
      await x.run('DELETE FROM t');
      assert.equal(await x.sizeBytes(), full);
      assert.ok(Number(x.pragma('freelist_count')) > 3000);
      const order: string[] = [];
      const reclaim = x.reclaimSpace().then(() => order.push('reclaimed'));
      const ingest = x.run('INSERT INTO t (v) VALUES (?)', ['new']).then(() => order.push('ingested'));
      await Promise.all([reclaim, ingest]);
      assert.deepEqual(order, ['ingested', 'reclaimed']);
      assert.equal(x.pragma('freelist_count'), 0);
      assert.ok(full - (await x.sizeBytes()) > 15_000_000, `${full} → ${await x.sizeBytes()}`);
      assert.deepEqual(await x.all('SELECT v FROM t'), [{ v: 'new' }]);
    }));

  it('a database made before incremental vacuum is converted once, at opening, its rows kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-sqlite-'));
    const file = join(dir, 'old.sqlite');
    try {
      const old = new Database(file);
      old.pragma('journal_mode = WAL');
      old.exec("CREATE TABLE t (v TEXT NOT NULL); INSERT INTO t (v) VALUES ('kept')");
      assert.equal(old.pragma('auto_vacuum', { simple: true }), 0);
      old.close();
      const x = new SqliteExecutor({ file });
      try {
        assert.deepEqual([x.pragma('auto_vacuum'), x.pragma('journal_mode')], [2, 'wal']);
        assert.deepEqual(await x.all('SELECT v FROM t'), [{ v: 'kept' }]);
      } finally {
        await x.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads reports on a connection in a thread of its own: a write commits while a long report runs, and a report sees what was committed', () =>
    withDb(async (x) => {
      await x.run('CREATE TABLE t (v TEXT NOT NULL)');
      await x.run("INSERT INTO t (v) VALUES ('a')");
      assert.deepEqual(await x.reports.all('SELECT v FROM t ORDER BY v'), [{ v: 'a' }]);
      // a report of most of a second of CPU (a count to 4 million), then a write asked after it
      // (on one connection the write would wait for the whole report, however long)
      const order: string[] = [];
      const long = x.reports.get('WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 4000000) SELECT COUNT(*) AS n FROM c').then((r) => {
        order.push('report');
        return r;
      });
      await x.run("INSERT INTO t (v) VALUES ('b')");
      order.push('write');
      assert.deepEqual(await long, { n: 4_000_000 });
      assert.deepEqual(order, ['write', 'report']);
      assert.deepEqual(await x.reports.all('SELECT v FROM t ORDER BY v'), [{ v: 'a' }, { v: 'b' }]);
      // a statement error is the caller's, not "unavailable"
      await assert.rejects(x.reports.all('SELECT nope FROM t'), (e: Error) => !(e instanceof StoreUnavailableError) && /no such column: nope/.test(e.message));
      await assert.rejects(x.reports.run('DELETE FROM t'), /read-only/);
    }));

  it('an in-memory database reads its reports on its one connection', async () => {
    const x = new SqliteExecutor({ file: ':memory:' });
    try {
      await x.run('CREATE TABLE t (v TEXT NOT NULL)');
      await x.run("INSERT INTO t (v) VALUES ('a')");
      assert.deepEqual(await x.reports.all('SELECT v FROM t'), [{ v: 'a' }]);
    } finally {
      await x.close();
    }
  });
});
