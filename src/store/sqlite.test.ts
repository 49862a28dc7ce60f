// The Store contract on SQLite (a temporary file), plus what only SQLite has (WAL).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite.js';
import { storeSuite } from './store.suite.js';
import { CdsrValidator } from '../cdsr/validate.js';

const dir = mkdtempSync(join(tmpdir(), 'cdsr-store-'));
const file = join(dir, 'db.sqlite');

storeSuite('SqliteStore', () =>
  Promise.resolve({
    open: (validator) => Promise.resolve(new SqliteStore({ file, validator })),
    versions: () => {
      const db = new Database(file, { readonly: true });
      try {
        return Promise.resolve((db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version));
      } finally {
        db.close();
      }
    },
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  }),
);

describe('SqliteStore only', () => {
  it('runs in WAL mode', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cdsr-wal-'));
    const s = new SqliteStore({ file: join(d, 'x.sqlite'), validator: new CdsrValidator({ now: new Date() }) });
    await s.close();
    const db = new Database(join(d, 'x.sqlite'), { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    rmSync(d, { recursive: true, force: true });
  });
});
