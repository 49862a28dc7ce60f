// PostgreSQL for process-level tests: a database of their own on the test server
// (CDSR_TEST_PG_URL, else 127.0.0.1:5432/test), or the reason there is none (the test skips).
//
// A database can start empty or migrated. Migrating costs about 0.5 s of server time (23 steps);
// a migrated one is a copy of a template database migrated once per migration list on this server
// (named by the list's hash, so a changed list makes a new one and runs of other branches keep
// theirs), made by `CREATE DATABASE … TEMPLATE`, about 0.25 s. The migrations still run from
// nothing: when the template is made, in the cases that ask for an empty database, and in the
// concurrency cases of postgres.int.test.ts (two stores migrating one new schema).
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { errorMessage } from '../src/cdsr/errors.js';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { openStore } from '../src/store/open.js';

export const PG_ADMIN_URL = process.env.CDSR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface FreshPgDatabase {
  /** The URL of the new database. */
  readonly url: string;
  readonly name: string;
  /** A connection to the server (for pg_terminate_backend and the like). */
  readonly admin: pg.Client;
  drop(): Promise<void>;
}

const urlOf = (name: string): string => {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
};

/** The template's name: the migration list's hash, so that a changed list never finds an old template. */
export const PG_TEMPLATE = `cdsr_tpl_${createHash('sha256').update(JSON.stringify(MIGRATIONS)).digest('hex').slice(0, 16)}`;

let template: Promise<void> | undefined;

/**
 * Makes the migrated template unless the server has it. Test processes run side by side (and other
 * checkouts on the same server): one makes it at a time, under an advisory lock, and it appears
 * under its name only once migrated and closed (built under another name, then renamed).
 */
function migratedTemplate(admin: pg.Client): Promise<void> {
  return (template ??= (async () => {
    const lock = `'${PG_TEMPLATE}'`;
    await admin.query(`SELECT pg_advisory_lock(hashtext(${lock}))`);
    try {
      const had = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [PG_TEMPLATE]);
      if (had.rowCount) return;
      const building = `${PG_TEMPLATE}_b`;
      // left by a process that died while building
      await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${building}`);
      const store = await openStore({ kind: 'postgres', url: urlOf(building) }, new CdsrValidator({ now: new Date(0) }));
      await store.close();
      // a copy needs no other session on its template: none is left after closing, but make sure
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [building]);
      await admin.query(`ALTER DATABASE ${building} RENAME TO ${PG_TEMPLATE}`);
    } finally {
      await admin.query(`SELECT pg_advisory_unlock(hashtext(${lock}))`);
    }
  })());
}

/**
 * A new database, empty or (`migrated`) at the last migration, as openStore leaves it. Ask for an
 * empty one where migrating is part of what the test checks.
 */
export async function freshPgDatabase(prefix: string, opts: { migrated?: boolean } = {}): Promise<FreshPgDatabase | string> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 10_000 });
  try {
    await admin.connect();
  } catch (e) {
    return `no PostgreSQL at ${PG_ADMIN_URL.replace(/\/\/[^@]*@/, '//')} (${errorMessage(e)}); set CDSR_TEST_PG_URL to run it`;
  }
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  if (opts.migrated) {
    await migratedTemplate(admin);
    // the small template copied through the WAL (the default strategy), no checkpoint
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${PG_TEMPLATE}`);
  } else {
    await admin.query(`CREATE DATABASE ${name}`);
  }
  return {
    url: urlOf(name),
    name,
    admin,
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    },
  };
}
