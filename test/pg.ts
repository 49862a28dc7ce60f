// PostgreSQL for process-level tests: a database of their own on the test server
// (CDSR_TEST_PG_URL, else 127.0.0.1:5432/test), or the reason there is none (the test skips).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { errorMessage } from '../src/cdsr/errors.js';

export const PG_ADMIN_URL = process.env.CDSR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface FreshPgDatabase {
  /** The URL of the new database. */
  readonly url: string;
  readonly name: string;
  /** A connection to the server (for pg_terminate_backend and the like). */
  readonly admin: pg.Client;
  drop(): Promise<void>;
}

export async function freshPgDatabase(prefix: string): Promise<FreshPgDatabase | string> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch (e) {
    return `no PostgreSQL at ${PG_ADMIN_URL.replace(/\/\/[^@]*@/, '//')} (${errorMessage(e)}); set CDSR_TEST_PG_URL to run it`;
  }
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    admin,
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    },
  };
}
