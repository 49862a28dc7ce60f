// `cdsr-adapter backup` while `serve` runs and messages keep arriving, then `restore` into a fresh
// data directory: every message acknowledged before the backup began is in the restored store, with
// its status, and the ledger adds up; restore refuses a store a service holds, and a file that is
// not a cdsr-adapter database.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CdsrValidator } from '../cdsr/validate.js';
import { openStore } from '../store/open.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';
import { freshPgDatabase } from '../../test/pg.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

/** The sample as order n: its own control id, encounter, order numbers and consultation. */
function message(n: number): string {
  const id = String(n).padStart(4, '0');
  return ORM.replace('MSG0001', `MSG${id}`)
    .replace('V0001', `V${id}`)
    .replaceAll('ORD1001', `ORD${id}`)
    .replaceAll('ACC2001', `ACC${id}`)
    .replace('0c2f1b7d4e01', `0c2f1b7d${id}`);
}

/** The environment of every command: the shipped tables, no store chosen yet. */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), CDSR_TIMEZONE: 'UTC' };
  delete e.CDSR_DATABASE_URL;
  return e;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    p.on('close', (status) => done({ status, stdout, stderr }));
  });
}

describe('cdsr-adapter backup and restore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-backup-'));
  let child: ChildProcess | undefined;
  after(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('SQLite: backs up online while messages arrive; restore brings back every message acknowledged before it', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const base = env();
    const serving = {
      ...base,
      PORT: String(port),
      HOST: '127.0.0.1',
      CDSR_DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'warn',
      CDSR_SEND_API_KEYS: 'send-key',
      CDSR_OPERATE_API_KEYS: 'operate-key',
      CDSR_SUBMIT_INTERVAL_S: '3600',
    };
    const proc = spawn(process.execPath, [CLI, 'serve'], { env: serving, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const exited = new Promise<number | null>((ok) => proc.on('exit', (code) => ok(code)));
    let up = false;
    for (let i = 0; i < 400 && !up; i++) {
      up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(up, 'serve answers');

    // two senders feed distinct orders until told to stop; each AA is noted with its control id
    const acked: string[] = [];
    let next = 1;
    let stop = false;
    const feed = async () => {
      while (!stop) {
        const n = next++;
        const r = await fetch(`http://127.0.0.1:${port}/hl7v2`, {
          method: 'POST',
          body: message(n),
          headers: { 'content-type': 'application/hl7-v2', authorization: 'Bearer send-key' },
        });
        const text = await r.text();
        assert.match(text, new RegExp(`\\rMSA\\|AA\\|MSG${String(n).padStart(4, '0')}\\r$`));
        acked.push(`MSG${String(n).padStart(4, '0')}`);
      }
    };
    const feeders = [feed(), feed()];
    while (acked.length < 20) await new Promise((r) => setTimeout(r, 10));

    const copy = join(dir, 'copy.sqlite');
    const ackedBefore = [...acked];
    const backup = await run(['backup', copy], { ...base, CDSR_DATA_DIR: join(dir, 'data') });
    // the service went on acknowledging while the copy was made
    assert.ok(acked.length > ackedBefore.length, `${acked.length - ackedBefore.length} acknowledged during the backup`);
    stop = true;
    await Promise.all(feeders);
    assert.equal(backup.stderr, '');
    assert.equal(backup.status, 0);
    const m =
      /^backed up (.+) to (.+): (\d+) pages, (\d+) bytes\nschema version (\d+), last message id (\d+)\nmessages: (\d+) \((\d+) applied\)\norders: (\d+) \((\d+) reported\)\n(?:messages whose records the service writes when it opens the store: (\d+)\n)?$/.exec(
        backup.stdout,
      );
    assert.ok(m, backup.stdout);
    assert.equal(m[1], `${join(dir, 'data')}/cdsr-adapter.sqlite`);
    assert.equal(m[2], copy);
    const copied = Number(m[7]);
    assert.ok(copied >= ackedBefore.length, `${copied} copied, ${ackedBefore.length} acknowledged before the backup`);
    // the messages answered last may have their orders written after the copy was taken (SQLite
    // writes them after the answer): the copy keeps them queued, written when the service opens it
    const queued = Number(m[11] ?? 0);
    const orders = copied - queued;
    assert.deepEqual([Number(m[6]), Number(m[8]), Number(m[9]), Number(m[10])], [copied, copied, orders, orders]);
    assert.equal(Number(m[4]), Number(m[3]) * 4096);
    assert.ok(!existsSync(`${copy}-wal`), 'the copy is a single file');

    // restore refuses the store a service holds, and a file that is no cdsr-adapter database
    const refused = await run(['restore', copy], { ...base, CDSR_DATA_DIR: join(dir, 'data') });
    assert.deepEqual(
      [refused.status, refused.stdout, refused.stderr],
      [
        2,
        '',
        'cdsr-adapter: a running service holds this store (its "service" lease); stop it before restoring. If no service runs (it was killed), the lease lapses within a minute.\n',
      ],
    );
    const junk = join(dir, 'junk.sqlite');
    writeFileSync(junk, 'not a database at all, but long enough to be read as a header by SQLite.'.repeat(10));
    const notDb = await run(['restore', junk], { ...base, CDSR_DATA_DIR: join(dir, 'restored') });
    assert.deepEqual(
      [notDb.status, notDb.stdout, notDb.stderr],
      [2, '', `cdsr-adapter: ${junk} is not a cdsr-adapter database (not an SQLite database); nothing restored\n`],
    );
    const plain = join(dir, 'plain.sqlite');
    new Database(plain).exec('CREATE TABLE t (x)').close();
    const newer = join(dir, 'newer.sqlite');
    copyFileSync(copy, newer);
    new Database(newer).exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', '2030-01-01')").close();
    for (const [file, why] of [
      [plain, 'no schema_migrations table'],
      [newer, `its schema version 9999 is newer than this build's ${m[5]}: restore it with the build that wrote it`],
    ] as const) {
      const r = await run(['restore', file], { ...base, CDSR_DATA_DIR: join(dir, 'restored') });
      assert.deepEqual([r.status, r.stdout, r.stderr], [2, '', `cdsr-adapter: ${file} is not a cdsr-adapter database (${why}); nothing restored\n`]);
    }
    assert.ok(!existsSync(join(dir, 'restored', 'cdsr-adapter.sqlite')));

    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    child = undefined;

    const restored = await run(['restore', copy], { ...base, CDSR_DATA_DIR: join(dir, 'restored') });
    assert.equal(restored.stderr, '');
    assert.deepEqual(
      [restored.status, restored.stdout],
      [
        0,
        `restored ${copy} to ${join(dir, 'restored', 'cdsr-adapter.sqlite')}\n` +
          `schema version ${m[5]}, last message id ${copied}\nmessages: ${copied} (${copied} applied)\norders: ${orders} (${orders} reported)\n` +
          (queued > 0 ? `messages whose records the service writes when it opens the store: ${queued}\n` : ''),
      ],
    );

    const store = await openStore({ kind: 'sqlite', file: join(dir, 'restored', 'cdsr-adapter.sqlite') }, new CdsrValidator({ now: new Date() }));
    try {
      const present = new Map((await store.messages({ limit: 100_000 })).map((x) => [x.controlId, x.status]));
      assert.equal(present.size, copied);
      for (const id of ackedBefore) assert.equal(present.get(id), 'applied', id);
      const gauges = await store.ledgerGauges();
      assert.deepEqual(gauges.byState, { reported: present.size });
      // a restored store is free for offline commands: the service's presence was not restored
      assert.equal(await store.lease('service', 'test', new Date(), 1000), true);
    } finally {
      await store.close();
    }
  });

  it('PostgreSQL: pg_dump --format=custom and pg_restore --clean, the URL never printed', { timeout: 60_000 }, async (t) => {
    const from = await freshPgDatabase('cdsr_backup_from', { migrated: true });
    if (typeof from === 'string') return t.skip(from);
    const into = await freshPgDatabase('cdsr_backup_into', { migrated: true });
    if (typeof into === 'string') return t.skip(into);
    try {
      const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
      const validator = new CdsrValidator({ now: new Date(), valueSets: tables.valueSets });
      const source = await openStore({ kind: 'postgres', url: from.url }, validator);
      for (const n of [1, 2, 3]) {
        const raw = message(n);
        const r = await source.ingest(
          { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `MSG000${n}`, contentType: 'application/hl7-v2', raw, receivedAt: new Date() },
          mapHl7Text(raw, tables),
        );
        assert.equal(r.status, 'applied');
      }
      await source.close();
      // a password in the URL goes to pg_dump in its environment and shows nowhere
      const withPassword = (url: string) => {
        const u = new URL(url);
        u.password = 'sekrit-pw';
        return u.toString();
      };
      const dump = join(dir, 'copy.pgdump');
      const backup = await run(['backup', dump], { ...env(), CDSR_DATABASE_URL: withPassword(from.url) });
      assert.deepEqual([backup.status, backup.stderr], [0, '']);
      assert.match(backup.stdout, new RegExp(`^backed up the database at CDSR_DATABASE_URL to ${dump} with pg_dump \\(custom format\\): \\d+ bytes\n$`));
      assert.equal(readFileSync(dump).subarray(0, 5).toString('latin1'), 'PGDMP');

      // refused while a service holds the target
      const target = await openStore({ kind: 'postgres', url: into.url }, validator);
      assert.equal(await target.lease('service', 'a-service', new Date(), 60_000), true);
      const refused = await run(['restore', dump], { ...env(), CDSR_DATABASE_URL: into.url });
      assert.deepEqual(
        [refused.status, refused.stdout, refused.stderr],
        [
          2,
          '',
          'cdsr-adapter: a running service holds this store (its "service" lease); stop it before restoring. If no service runs (it was killed), the lease lapses within a minute.\n',
        ],
      );
      await target.releaseLease('service', 'a-service');
      await target.close();

      const restored = await run(['restore', dump], { ...env(), CDSR_DATABASE_URL: withPassword(into.url) });
      assert.deepEqual(
        [restored.status, restored.stderr, restored.stdout],
        [0, '', `restored ${dump} into the database at CDSR_DATABASE_URL with pg_restore\n`],
      );
      assert.ok(!`${backup.stdout}${restored.stdout}`.includes('sekrit-pw'));
      const back = await openStore({ kind: 'postgres', url: into.url }, validator);
      try {
        assert.deepEqual(
          (await back.messages({ limit: 10 })).map((x) => [x.controlId, x.status]),
          [
            ['MSG0001', 'applied'],
            ['MSG0002', 'applied'],
            ['MSG0003', 'applied'],
          ],
        );
        assert.deepEqual((await back.ledgerGauges()).byState, { reported: 3 });
      } finally {
        await back.close();
      }
    } finally {
      await from.drop();
      await into.drop();
    }
  });
});
