// PostgreSQL for process-level tests: a database of their own on the test server
// (CDSR_TEST_PG_URL, else 127.0.0.1:5432/test), or the reason there is none (the test skips).
//
// A database can start empty or migrated. Migrating costs about 0.5 s of server time (23 steps);
// a migrated one is a copy of a template database migrated once per migration list on this server
// (named by the list's hash, so a changed list makes a new one and runs of other branches keep
// theirs), made by `CREATE DATABASE … TEMPLATE`, about 0.25 s. The migrations still run from
// nothing: when the template is made, in the cases that ask for an empty database, and in the
// concurrency cases of postgres.int.test.ts (two stores migrating one new schema).
//
// A migrated database a test is done with is emptied and kept for the process's next one, rather
// than dropped: `DROP DATABASE` makes the server take a checkpoint (every dirty page of every test
// database on the server written and synced), and a copy writes the whole template (8.5 MB) through
// the WAL. With the suite's PostgreSQL files side by side, those made a property file take 106 s
// instead of its 14 s alone. Emptied means as a copy would be: every table truncated, the
// template's own rows put back, every sequence where the template has it, the database's settings
// and statistics reset, no session left on it. A database whose schema no longer matches the
// template's (a test that altered it) is dropped instead. What is kept is dropped when the test
// file ends. `{ reuse: false }` asks for a copy of its own (a test that reads the database's files).
import { createHash, randomBytes } from 'node:crypto';
import { after } from 'node:test';
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
 * What a migrated database must look like to be handed out again: its schema's fingerprint, the
 * template's own rows (the migrations' bookkeeping) and its sequences' positions. Read once per
 * process, from the first copy, before a test has it.
 */
interface Pristine {
  readonly schema: string;
  readonly tables: readonly string[];
  readonly rows: ReadonlyMap<string, string>;
  readonly sequences: readonly { readonly name: string; readonly last: string; readonly called: boolean }[];
}
let pristine: Promise<Pristine> | undefined;
/** Emptied migrated databases waiting for this process's next test. */
const kept: string[] = [];

/** The user schema's shape: tables and their columns, indexes, constraints, triggers, functions, sequences, views and types. */
const SCHEMA_FINGERPRINT = `
  WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema')
  SELECT md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) AS fp FROM (
    SELECT 'n ' || nspname AS x FROM pg_namespace WHERE oid IN (SELECT oid FROM ns)
    UNION ALL
    SELECT 'r ' || c.relnamespace::regnamespace || '.' || c.relname || ' ' || c.relkind::text || c.relpersistence::text || coalesce(c.reloptions::text, '') || ' ' ||
      coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
                FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
      FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT 'i ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT 'c ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT 't ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'f ' || pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace IN (SELECT oid FROM ns) AND prokind IN ('f', 'p')
    UNION ALL
    SELECT 'v ' || c.relname || ' ' || pg_get_viewdef(c.oid) FROM pg_class c WHERE c.relkind IN ('v', 'm') AND c.relnamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT 's ' || seqrelid::regclass || ' ' || seqtypid::regtype || ' ' || seqstart || ' ' || seqincrement || ' ' || seqmax || ' ' || seqmin || ' ' || seqcycle FROM pg_sequence
    UNION ALL
    SELECT 'y ' || t.typname || ' ' || t.typtype::text || ' ' || coalesce((SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid), '')
      FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM ns) AND t.typtype IN ('e', 'd')
    UNION ALL
    SELECT 'e ' || extname FROM pg_extension
  ) parts`;

const USER_TABLES = `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 1`;
const USER_SEQUENCES = `SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS name FROM pg_sequences ORDER BY 1`;

/** `run` on a connection of its own to `url`, closed after it. */
export async function withClient<T>(url: string, run: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    return await run(c);
  } finally {
    await c.end();
  }
}

function readPristine(url: string): Promise<Pristine> {
  return withClient(url, async (c) => {
    const schema = (await c.query<{ fp: string }>(SCHEMA_FINGERPRINT)).rows[0]!.fp;
    const tables = (await c.query<{ name: string }>(USER_TABLES)).rows.map((r) => r.name);
    const rows = new Map<string, string>();
    for (const t of tables) {
      const got = (await c.query<{ rows: unknown[] | null }>(`SELECT json_agg(t) AS rows FROM ${t} t`)).rows[0]!.rows;
      if (got !== null) rows.set(t, JSON.stringify(got));
    }
    const sequences = [];
    for (const { name } of (await c.query<{ name: string }>(USER_SEQUENCES)).rows) {
      const r = (await c.query<{ last_value: string; is_called: boolean }>(`SELECT last_value, is_called FROM ${name}`)).rows[0]!;
      sequences.push({ name, last: r.last_value, called: r.is_called });
    }
    return { schema, tables, rows, sequences };
  });
}

/**
 * Empties a migrated database as a copy of the template would be, or says it cannot (its schema
 * changed): no session left on it, every table truncated, the template's rows put back (triggers
 * off, as a copy has none of their effects), sequences, settings and statistics reset.
 */
async function emptied(admin: pg.Client, name: string, like: Pristine): Promise<boolean> {
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  await admin.query(`ALTER DATABASE ${name} RESET ALL`);
  return withClient(urlOf(name), async (c) => {
    if ((await c.query<{ fp: string }>(SCHEMA_FINGERPRINT)).rows[0]!.fp !== like.schema) return false;
    await c.query('BEGIN');
    await c.query('SET LOCAL session_replication_role = replica');
    if (like.tables.length > 0) await c.query(`TRUNCATE ${like.tables.join(', ')} RESTART IDENTITY CASCADE`);
    for (const [table, rows] of like.rows) await c.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1)`, [rows]);
    for (const s of like.sequences) await c.query('SELECT setval($1, $2, $3)', [s.name, s.last, s.called]);
    await c.query('COMMIT');
    await c.query('SELECT pg_stat_reset()');
    return true;
  });
}

// what is kept is dropped when the test file ends (one checkpoint per database, not per test)
after(async () => {
  if (kept.length === 0) return;
  await withClient(PG_ADMIN_URL, async (admin) => {
    for (const name of kept.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
});

/**
 * A new database, empty or (`migrated`) at the last migration, as openStore leaves it. Ask for an
 * empty one where migrating is part of what the test checks. A migrated one may be one this
 * process emptied (see above) unless `reuse` is false.
 */
export async function freshPgDatabase(prefix: string, opts: { migrated?: boolean; reuse?: boolean } = {}): Promise<FreshPgDatabase | string> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 10_000 });
  try {
    await admin.connect();
  } catch (e) {
    return `no PostgreSQL at ${PG_ADMIN_URL.replace(/\/\/[^@]*@/, '//')} (${errorMessage(e)}); set CDSR_TEST_PG_URL to run it`;
  }
  const reusable = opts.migrated === true && opts.reuse !== false;
  let name = reusable ? kept.pop() : undefined;
  if (name === undefined) {
    name = `${prefix}_${randomBytes(4).toString('hex')}`;
    if (opts.migrated) {
      await migratedTemplate(admin);
      // the small template copied through the WAL (the default strategy), no checkpoint
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${PG_TEMPLATE}`);
      if (reusable) await (pristine ??= readPristine(urlOf(name)));
    } else {
      await admin.query(`CREATE DATABASE ${name}`);
    }
  }
  const own = name;
  return {
    url: urlOf(own),
    name: own,
    admin,
    drop: async () => {
      try {
        if (reusable && pristine !== undefined && (await emptied(admin, own, await pristine).catch(() => false))) kept.push(own);
        else await admin.query(`DROP DATABASE IF EXISTS ${own} WITH (FORCE)`).catch(() => undefined);
      } finally {
        await admin.end();
      }
    },
  };
}
