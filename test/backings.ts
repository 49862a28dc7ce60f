// The two backings of the store's property tests (counters, guesses, error-groups .int.test.ts): a
// fresh, migrated database for each run, on SQLite (in memory, a copy of an image migrated once
// per process: test/sqlite-template.ts) and on PostgreSQL (a copy of the template database migrated
// once per server: test/pg.ts), or the reason there is none (the test skips). Migrating each run's
// database from nothing was most of those files' time, and the migrations are not what the runs
// check: a test that checks a migration undoes it over the rows its run left and runs it again.
import { freshPgDatabase } from './pg.js';
import { migratedMemoryExecutor } from './sqlite-template.js';
import { PostgresExecutor } from '../src/store/postgres-executor.js';
import type { Executor } from '../src/store/sql.js';

export interface Backing {
  readonly name: 'SQLite' | 'PostgreSQL';
  /** A fresh migrated database's executor, and how to drop it; or why there is none. */
  open(): Promise<{ db: Executor; drop: () => Promise<void> } | string>;
}

export const sqliteBacking: Backing = { name: 'SQLite', open: async () => ({ db: await migratedMemoryExecutor(), drop: () => Promise.resolve() }) };

/** PostgreSQL databases named `prefix_…` (dropped by `drop`). */
export function postgresBacking(prefix: string): Backing {
  return {
    name: 'PostgreSQL',
    open: async () => {
      const fresh = await freshPgDatabase(prefix, { migrated: true });
      if (typeof fresh === 'string') return fresh;
      // no wait for the WAL's flush at each commit, as in postgres.int.test.ts (what the runs check
      // is what a commit does, not that it survives the server's crash): each commit waited about
      // 12 ms on the loaded test machine, 4 without
      await fresh.admin.query(`ALTER DATABASE ${fresh.name} SET synchronous_commit = off`);
      return { db: await PostgresExecutor.open({ url: fresh.url }), drop: () => fresh.drop() };
    },
  };
}

/** Why a backing's tests skip ('' when its database answers): one database opened and dropped. */
export async function skipReason(backing: Backing): Promise<string> {
  const probe = await backing.open();
  if (typeof probe === 'string') return probe;
  await probe.db.close();
  await probe.drop();
  return '';
}
