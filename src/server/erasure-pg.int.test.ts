// Retention on PostgreSQL erases: after a round, no byte of a purged message (the patient's name,
// address, MRN, birth date) nor of a purged FHIR resource is left in the files of the tables that
// held them (the table, its TOAST table and every index, every segment, old files and new), read
// from the data directory after a CHECKPOINT, nor in any other file of the database (the planner's
// statistics sample short texts). Before the purge the same scan finds them, so it can fail. What the WAL still holds is counted and shown (a diagnostic, not asserted: the server
// recycles its segments on its own schedule; docs/operations.md says so). Skipped with the reason
// when no PostgreSQL answers or its data directory cannot be read from here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { REPO_ROOT } from '../../test/helpers.js';
import { freshPgDatabase } from '../../test/pg.js';
import { postHl7, SERVER_NOW, withTestServer } from '../../test/server.js';
import { PURGED_TABLES } from '../store/postgres-executor.js';
import { purgeAndReclaim } from './main.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8')
  .replace(/\r?\n/g, '\r')
  .trimEnd();

const MARK = /ZQXMARK\d{4}/g;
const marker = (i: number) => `ZQXMARK${String(i).padStart(4, '0')}`;

/** Every file of a relation: its segments (`path`, `path.1`, …) and forks (`_fsm`, `_vm`), when they exist. */
function filesOf(dataDir: string, path: string): string[] {
  const full = join(dataDir, path);
  const dir = join(full, '..');
  const base = full.slice(dir.length + 1);
  const mine = new RegExp(`^${base}(_fsm|_vm|_init)?(\\.\\d+)?$`);
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => mine.test(f))
        .map((f) => join(dir, f))
    : [];
}

/** The markers in these files, each file read whole (latin1: a byte is a character). */
function markersIn(files: readonly string[]): string[] {
  return files.flatMap((f) => (existsSync(f) ? (readFileSync(f).toString('latin1').match(MARK) ?? []) : []));
}

/** The files of the purged tables now: each table, its TOAST table, and the indexes of both. */
async function relationPaths(db: pg.Client): Promise<string[]> {
  const r = await db.query<{ path: string }>(
    `WITH t AS (SELECT oid, reltoastrelid FROM pg_class WHERE oid = ANY($1::regclass[])),
          rel AS (SELECT oid FROM t UNION SELECT reltoastrelid FROM t WHERE reltoastrelid <> 0)
     SELECT pg_relation_filepath(oid) AS path FROM (SELECT oid FROM rel UNION SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM rel)) x
     ORDER BY 1`,
    [PURGED_TABLES],
  );
  return r.rows.map((x) => x.path);
}

describe('retention on PostgreSQL', () => {
  it('no byte of a purged message or of the FHIR resources it brought is left in the files of the tables that held them', { timeout: 120_000 }, async (t) => {
    // a copy of its own: a database another case emptied keeps that case's sampled values in pg_statistic
    const fresh = await freshPgDatabase('cdsr_erasure', { migrated: true, reuse: false });
    if (typeof fresh === 'string') return t.skip(fresh);
    const db = new pg.Client({ connectionString: fresh.url });
    try {
      const dataDir = (await fresh.admin.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
      try {
        accessSync(join(dataDir, 'base'), constants.R_OK | constants.X_OK);
      } catch (e) {
        return t.skip(`the data directory ${dataDir} cannot be read from this process (${(e as Error).message}); run the test as its owner or root`);
      }
      await db.connect();
      // an autovacuum ANALYZE started by the purge holds a snapshot, and a row version dead for a
      // snapshot still open is copied by the rewrite: the reclaim is tested alone
      for (const table of PURGED_TABLES) await db.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)`);
      await withTestServer(
        async (s) => {
          for (let i = 0; i < 40; i++) {
            // the marker as the patient's name, address, MRN and birth date; a long note that does
            // not compress moves every fourth text into the TOAST table (out of line past about 2 kB)
            const note = i % 4 === 0 ? `\rNTE|1||${randomBytes(4500).toString('base64')}` : '';
            const raw = ORM.replace('MSG0001', `R${i}`)
              .replace('TESTPATIENT', marker(i))
              .replace('1 TEST ST', `${marker(i)} ST`)
              .replace('MRN0001', marker(i))
              .replace('19700101', `1970${marker(i)}`)
              .replace('V0001', `RV${i}`);
            assert.match((await postHl7(s, `${raw}${note}`)).text, new RegExp(`\\rMSA\\|AA\\|R${i}\\r`));
          }
          const bundle = readFileSync(join(REPO_ROOT, 'samples', 'fhir', '03-bundle-transaction.json'), 'utf8').replaceAll('TESTPATIENT', marker(9999));
          const fhir = await s.fetch('/fhir', { method: 'POST', body: bundle, headers: { 'content-type': 'application/fhir+json' } });
          assert.equal(fhir.status, 200);
          assert.ok(await s.store.resource('Patient/pat-0001'));
          // status changes write new row versions too: each text is in several; and the statistics
          // ANALYZE takes (autovacuum's, here by hand) sample short texts
          for (const table of PURGED_TABLES) await db.query(`ANALYZE ${table}`);
          const before = await relationPaths(db);
          const scan = async (paths: readonly string[]) => {
            await fresh.admin.query('CHECKPOINT');
            return markersIn(paths.flatMap((p) => filesOf(dataDir, p)));
          };
          const found = new Set(await scan(before));
          assert.equal(found.size, 41, `markers before the purge: ${[...found].sort().join(' ')}`);
          assert.ok(found.has(marker(9999)));
          const logged: Record<string, unknown>[] = [];
          const log = {
            info: (o: object) => void logged.push(o as Record<string, unknown>),
            warn: (o: object) => void logged.push(o as Record<string, unknown>),
          };
          await purgeAndReclaim(s.store, 30, new Date(SERVER_NOW.getTime() + 30 * 86_400_000 + 1), log);
          assert.deepEqual(
            logged.map((l) => [l.event, l.purged, l.reclaim, typeof l.reclaimMs]),
            [['retention', 42, 'rewrite', 'number']],
          );
          const after = await relationPaths(db);
          // rewritten: new files, and the old ones emptied (unlinked at the next checkpoint)
          assert.deepEqual(
            after.filter((p) => before.includes(p)),
            [],
          );
          assert.deepEqual(await scan([...before, ...after]), []);
          assert.equal(await s.store.resource('Patient/pat-0001'), undefined);
          // nor anywhere else in the database's files: the statistics ANALYZE sampled (pg_statistic) included
          const dbOid = (await db.query<{ oid: number }>('SELECT oid FROM pg_database WHERE datname = current_database()')).rows[0]!.oid;
          const dbDir = join(dataDir, 'base', String(dbOid));
          const holding = readdirSync(dbDir).filter((f) => markersIn([join(dbDir, f)]).length > 0);
          // named by their relations when any is left (a file is a relation's filenode, or a segment or fork of one)
          const named = await db.query<{ file: string; relname: string }>(
            `SELECT f AS file, COALESCE((SELECT relname FROM pg_class WHERE pg_relation_filenode(oid)::text = split_part(split_part(f, '.', 1), '_', 1)), '?') AS relname
               FROM unnest($1::text[]) f`,
            [holding],
          );
          assert.deepEqual(
            named.rows.map((r) => `${r.file} (${r.relname})`),
            [],
          );
          // the WAL still has them until the server recycles its segments (docs/operations.md): shown
          const walDir = join(dataDir, 'pg_wal');
          const wal = readdirSync(walDir).filter((f) => /^[0-9A-F]{24}$/.test(f));
          t.diagnostic(`WAL segments holding a marker: ${wal.filter((f) => markersIn([join(walDir, f)]).length > 0).length} of ${wal.length}`);
        },
        { postgresUrl: fresh.url },
      );
    } finally {
      await db.end().catch(() => undefined);
      await fresh.drop();
    }
  });
});
