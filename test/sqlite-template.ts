// A migrated SQLite database to copy. Migrating a new database file costs about 100 ms, nearly all
// of it waiting for fsync (each migration step and the checkpoint at closing, under
// synchronous=FULL); a copy of a database migrated once per process costs a few milliseconds.
// The migrations still run from nothing: once per process here, and in every case of the store
// suites (sqlite.int.test.ts, postgres.int.test.ts), which do not use this.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { openStore } from '../src/store/open.js';
import { SqliteExecutor } from '../src/store/sqlite-executor.js';
import { SqlStore } from '../src/store/sql-store.js';

let template: Promise<string> | undefined;

function migrateOnce(): Promise<string> {
  return (template ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-template-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'db.sqlite');
    const store = await openStore({ kind: 'sqlite', file }, new CdsrValidator({ now: new Date(0) }));
    await store.close();
    // closing the last connection checkpoints the WAL into the file and removes it
    if (existsSync(`${file}-wal`)) throw new Error(`the template database ${file} kept its WAL after closing`);
    return file;
  })());
}

/** Writes a migrated, empty database at `file` (its directory made if need be). */
export async function copyMigratedSqlite(file: string): Promise<void> {
  const from = await migrateOnce();
  mkdirSync(dirname(file), { recursive: true });
  copyFileSync(from, file);
}

let image: Promise<Buffer> | undefined;

/**
 * A migrated, empty database in memory: a copy of an image migrated once per process (running the
 * migrations into a new in-memory database costs 10–15 ms of CPU, which the property tests paid for
 * each of their runs).
 */
export async function migratedMemoryExecutor(): Promise<SqliteExecutor> {
  const bytes = await (image ??= (async () => {
    const x = new SqliteExecutor({ file: ':memory:' });
    const store = await SqlStore.open(x, { validator: new CdsrValidator({ now: new Date(0) }) });
    const b = x.serialize();
    await store.close();
    return b;
  })());
  return new SqliteExecutor({ file: ':memory:', image: bytes });
}

/** A store on a migrated, empty database in memory (migratedMemoryExecutor). */
export async function migratedMemoryStore(validator: CdsrValidator): Promise<SqlStore> {
  return SqlStore.open(await migratedMemoryExecutor(), { validator });
}
