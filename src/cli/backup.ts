// `cdsr-adapter backup FILE` and `cdsr-adapter restore FILE`. SQLite: the backup is online (SQLite's
// backup API on a connection of its own, a WAL reader beside the service's writer) and the restore
// offline (refused while a service holds the store). PostgreSQL: the site's pg_dump / pg_restore.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../config.js';
import { errorMessage } from '../cdsr/errors.js';
import { ledgerGauges } from '../store/ledger.js';
import { MIGRATIONS } from '../store/migrations.js';
import type { Queryable, Row, SqlValue } from '../store/sql.js';
import { CdsrValidator } from '../cdsr/validate.js';
import { openStore, type StoreTarget } from '../store/open.js';
import type { SqlStore } from '../store/sql-store.js';
import { SERVICE_LEASE } from '../server/service-lease.js';
import type { CliIo } from './validate.js';
import { EXIT_OK, EXIT_UNREADABLE } from './validate.js';

const STORE_FILE = 'cdsr-adapter.sqlite';
const RESTORE_HOLDER = `restore-${process.pid}`;

export function storeFile(config: Config): string {
  return join(config.CDSR_DATA_DIR, STORE_FILE);
}

/** What a copy holds, read from the copy itself. */
interface Contents {
  readonly schemaVersion: number;
  readonly lastMessageId: number;
  readonly messages: Record<string, number>;
  readonly orders: Record<string, number>;
  /** Messages stored and answered whose records, orders and index the service writes when it opens the store (SQLite writes them after the answer). */
  readonly queued: number;
}

export async function runBackup(config: Config, file: string, io: CliIo): Promise<number> {
  if (config.CDSR_DATABASE_URL !== undefined) return pgBackup(config.CDSR_DATABASE_URL, file, io);
  const source = storeFile(config);
  if (!existsSync(source)) {
    io.err(`cdsr-adapter: no database in ${config.CDSR_DATA_DIR} (${STORE_FILE}): nothing to back up\n`);
    return EXIT_UNREADABLE;
  }
  const target = resolve(file);
  if (!existsSync(dirname(target))) {
    io.err(`cdsr-adapter: ${dirname(target)}: no such directory\n`);
    return EXIT_UNREADABLE;
  }
  // written beside the target and renamed into place: a backup cut short never leaves a half file under its name
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  rmSync(temp, { force: true });
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // every page in one step: one read transaction, a consistent snapshot while the service writes on
    // (copied in small steps, each write of the service would restart the copy)
    const done = await db.backup(temp, { progress: () => 0x7fffffff });
    const copy = new Database(temp);
    let contents: Contents;
    try {
      // a single self-contained file (the service turns WAL on again when it opens a restored copy)
      copy.pragma('journal_mode = DELETE');
      contents = await contentsOf(copy);
    } finally {
      copy.close();
    }
    syncFile(temp);
    renameSync(temp, target);
    syncFile(dirname(target));
    const bytes = statSync(target).size;
    io.out(`backed up ${config.CDSR_DATA_DIR}/${STORE_FILE} to ${target}: ${done.totalPages} pages, ${bytes} bytes\n${describe(contents)}`);
    return EXIT_OK;
  } catch (e) {
    rmSync(temp, { force: true });
    io.err(`cdsr-adapter: backup failed: ${errorMessage(e)}\n`);
    return EXIT_UNREADABLE;
  } finally {
    db.close();
  }
}

export async function runRestore(config: Config, file: string, io: CliIo): Promise<number> {
  if (config.CDSR_DATABASE_URL !== undefined) return pgRestore(config.CDSR_DATABASE_URL, file, io);
  const source = resolve(file);
  const checked = await checkCopy(source);
  if (typeof checked === 'string') {
    io.err(`cdsr-adapter: ${file} is not a cdsr-adapter database (${checked}); nothing restored\n`);
    return EXIT_UNREADABLE;
  }
  const target = storeFile(config);
  if (existsSync(target)) {
    // a service keeps its open file: replacing it under the service would lose what it writes next
    let store: SqlStore;
    try {
      store = await openTarget({ kind: 'sqlite', file: target });
    } catch (e) {
      // whether a service holds a database that cannot be opened is unknown: the operator decides
      io.err(
        `cdsr-adapter: the database in ${config.CDSR_DATA_DIR} cannot be opened (${errorMessage(e)}); ` +
          `with no service running, move ${STORE_FILE} (and its -wal, -shm) aside and restore again\n`,
      );
      return EXIT_UNREADABLE;
    }
    try {
      if (!(await takenFromService(store, io))) return EXIT_UNREADABLE;
    } finally {
      // closing the last connection checkpoints its WAL into the file that is about to be replaced
      await store.close();
    }
  }
  const temp = join(dirname(target), `.${STORE_FILE}.${process.pid}.restore`);
  try {
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(source, temp);
    const copy = new Database(temp);
    try {
      // the copy of a running store holds that service's presence: it does not run on the restored one
      if (copy.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'leases'").get() !== undefined)
        copy.prepare('DELETE FROM leases WHERE name = ?').run(SERVICE_LEASE);
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    syncFile(temp);
    // the old database's WAL and shared memory must not be read against the restored file
    for (const extra of ['-wal', '-shm', '-journal']) rmSync(`${target}${extra}`, { force: true });
    renameSync(temp, target);
    syncFile(dirname(target));
  } catch (e) {
    rmSync(temp, { force: true });
    io.err(`cdsr-adapter: restore failed: ${errorMessage(e)}\n`);
    return EXIT_UNREADABLE;
  }
  io.out(`restored ${source} to ${target}\n${describe(checked)}`);
  return EXIT_OK;
}

/**
 * The store, only to ask for its lease: opened without the service's modules (this command starts
 * in a fraction of the time) and without tables (nothing is judged or written but the lease).
 */
/** Takes the store's service lease for the restore; false (and says why) while a running service holds it. */
async function takenFromService(store: SqlStore, io: CliIo): Promise<boolean> {
  if (await store.lease(SERVICE_LEASE, RESTORE_HOLDER, new Date(), 10 * 60_000)) return true;
  io.err(
    `cdsr-adapter: a running service holds this store (its "${SERVICE_LEASE}" lease); stop it before restoring. ` +
      'If no service runs (it was killed), the lease lapses within a minute.\n',
  );
  return false;
}

function openTarget(target: StoreTarget): Promise<SqlStore> {
  return openStore(target, new CdsrValidator({ now: () => new Date() }));
}

/** The copy's contents, or why it is not a database of this build. */
async function checkCopy(file: string): Promise<Contents | string> {
  if (!existsSync(file)) return 'no such file';
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    return `cannot be opened: ${errorMessage(e)}`;
  }
  try {
    try {
      db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
    } catch {
      return 'not an SQLite database';
    }
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() === undefined) return 'no schema_migrations table';
    const newest = Math.max(...MIGRATIONS.map((m) => m.version));
    const version = Number((db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0);
    if (version > newest) return `its schema version ${version} is newer than this build's ${newest}: restore it with the build that wrote it`;
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') return `damaged: ${String(check)}`;
    return await contentsOf(db);
  } catch (e) {
    return errorMessage(e);
  } finally {
    db.close();
  }
}

async function contentsOf(db: Database.Database): Promise<Contents> {
  const messages: Record<string, number> = {};
  for (const r of db.prepare('SELECT status, COUNT(*) AS n FROM inbound_messages GROUP BY status ORDER BY status').all() as { status: string; n: number }[])
    messages[r.status] = r.n;
  const gauges = await ledgerGauges(queryable(db));
  return {
    schemaVersion: Number((db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v),
    lastMessageId: Number((db.prepare('SELECT MAX(id) AS id FROM inbound_messages').get() as { id: number | null }).id ?? 0),
    messages,
    orders: Object.fromEntries(Object.entries(gauges.byState).sort(([a], [b]) => a.localeCompare(b))),
    // a copy of a store older than the queue has none
    queued:
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'derive_queue'").get() === undefined
        ? 0
        : Number((db.prepare('SELECT COUNT(*) AS n FROM derive_queue').get() as { n: number }).n),
  };
}

/** The ledger's queries on a plain connection (the copy is no store: nothing is migrated or written). */
function queryable(db: Database.Database): Queryable {
  return {
    all: (sql: string, params: readonly SqlValue[] = []) => Promise.resolve(db.prepare(sql).all(...params) as Row[]),
    get: (sql: string, params: readonly SqlValue[] = []) => Promise.resolve(db.prepare(sql).get(...params) as Row | undefined),
    run: () => Promise.reject(new Error('the copy is read only')),
  };
}

function describe(c: Contents): string {
  const counts = (m: Record<string, number>) => {
    const parts = Object.entries(m).map(([k, n]) => `${n} ${k}`);
    return parts.length === 0 ? 'none' : parts.join(', ');
  };
  const total = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  return (
    `schema version ${c.schemaVersion}, last message id ${c.lastMessageId}\n` +
    `messages: ${total(c.messages)} (${counts(c.messages)})\n` +
    `orders: ${total(c.orders)} (${counts(c.orders)})\n` +
    (c.queued > 0 ? `messages whose records the service writes when it opens the store: ${c.queued}\n` : '')
  );
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// PostgreSQL: the site's own tools. The URL goes to them in the environment (PG* variables), never
// on a command line others can read, and is never printed.

function pgEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (u.hostname) env.PGHOST = decodeURIComponent(u.hostname.replace(/^\[|\]$/g, ''));
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (database) env.PGDATABASE = database;
  for (const [k, v] of u.searchParams) {
    if (k === 'sslmode') env.PGSSLMODE = v;
    if (k === 'options') env.PGOPTIONS = v;
    if (k === 'host') env.PGHOST = v;
  }
  return env;
}

function hasTool(name: string): boolean {
  const r = spawnSync(name, ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

function runTool(name: string, args: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  return new Promise((done) => {
    const child = spawn(name, args, { env, stdio: ['ignore', 'inherit', 'pipe'] });
    child.stderr.on('data', (c: Buffer) => io.err(c.toString('utf8')));
    child.on('error', (e) => {
      io.err(`cdsr-adapter: ${name}: ${errorMessage(e)}\n`);
      done(EXIT_UNREADABLE);
    });
    child.on('exit', (code) => done(code ?? EXIT_UNREADABLE));
  });
}

async function pgBackup(url: string, file: string, io: CliIo): Promise<number> {
  if (!hasTool('pg_dump')) {
    io.err('cdsr-adapter: pg_dump is not on PATH: PostgreSQL backups use the PostgreSQL client tools (install them, or back up as the site does)\n');
    return EXIT_UNREADABLE;
  }
  const target = resolve(file);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  const code = await runTool('pg_dump', ['--format=custom', '--no-owner', '--file', temp], pgEnv(url), io);
  if (code !== 0) {
    rmSync(temp, { force: true });
    io.err(`cdsr-adapter: pg_dump failed (exit ${code}); nothing written to ${target}\n`);
    return EXIT_UNREADABLE;
  }
  syncFile(temp);
  renameSync(temp, target);
  io.out(`backed up the database at CDSR_DATABASE_URL to ${target} with pg_dump (custom format): ${statSync(target).size} bytes\n`);
  return EXIT_OK;
}

async function pgRestore(url: string, file: string, io: CliIo): Promise<number> {
  if (!hasTool('pg_restore')) {
    io.err('cdsr-adapter: pg_restore is not on PATH: PostgreSQL restores use the PostgreSQL client tools\n');
    return EXIT_UNREADABLE;
  }
  if (!existsSync(file)) {
    io.err(`cdsr-adapter: ${file}: no such file\n`);
    return EXIT_UNREADABLE;
  }
  const store = await openTarget({ kind: 'postgres', url });
  try {
    if (!(await takenFromService(store, io))) return EXIT_UNREADABLE;
  } finally {
    await store.close();
  }
  const env = pgEnv(url);
  const code = await runTool(
    'pg_restore',
    ['--clean', '--if-exists', '--no-owner', '--single-transaction', '--dbname', env.PGDATABASE ?? 'postgres', file],
    env,
    io,
  );
  if (code !== 0) {
    io.err(`cdsr-adapter: pg_restore failed (exit ${code})\n`);
    return EXIT_UNREADABLE;
  }
  io.out(`restored ${resolve(file)} into the database at CDSR_DATABASE_URL with pg_restore\n`);
  return EXIT_OK;
}
