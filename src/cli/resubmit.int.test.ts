// `cdsr-adapter resubmit` and `replay --url` against a running service (a real port), with the key
// from CDSR_API_KEY; offline `replay` refused while a service holds the store.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings } from '../mapping/load.js';
import { openStore } from '../store/open.js';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { postHl7, SERVER_NOW, withTestServer } from '../../test/server.js';
import { SERVICE_LEASE } from '../server/main.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const roles = { CDSR_OPERATE_API_KEYS: ['op-key'], CDSR_SEND_API_KEYS: ['send-key'] };

/** The CLI as a child process (async: the test server answers in this process meanwhile). */
function run(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: { ...process.env, CDSR_API_KEY: 'op-key', ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('close', (status) => done({ status, stdout, stderr }));
  });
}

describe('cdsr-adapter resubmit and replay --url', () => {
  it('resubmit sends a rejected encounter again through the service; the wrong key is named', async () => {
    await withTestServer(
      async (s) => {
        assert.equal((await postHl7(s, ORM, { authorization: 'Bearer send-key' })).status, 200);
        const ready = await s.store.wireEncounters('ready', 10);
        await s.store.createTransaction(
          {
            Transaction_ID: 'T-REJ',
            Transaction_DateTime: '11/23/2026 06:00:00',
            Num_of_Encounters_Included: 1,
            Facility_ID: '100000',
            PartnerID: '10000',
            AppID: '10019',
            CDSR_File_Version_Num: '1.0',
            Encounters: ready.map((r) => r.wire),
          },
          ready,
          SERVER_NOW,
        );
        await s.store.recordResults(
          'T-REJ',
          ready.map((r) => ({ ...r, result: 'rejected' as const, problems: [] })),
          SERVER_NOW,
        );

        const wrong = await run(['resubmit', '--url', s.url, '--facility', '100000'], { CDSR_API_KEY: 'nope' });
        assert.deepEqual(
          [wrong.status, wrong.stdout, wrong.stderr],
          [2, '', `cdsr-adapter: ${s.url} refused the key (401): set CDSR_API_KEY to an operate key of the service\n`],
        );

        const r = await run(['resubmit', '--url', s.url, '--facility', '100000', '--encounter', 'V0001', '--reason', 'registered']);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(
          r.stdout,
          'ENCOUNTER  CONSULTATION         REJECTED IN\nV0001      11/02/2026 09:30:15  T-REJ\n1 record(s) back to ready: they go in the next submission (cdsr-adapter submit sends now)\n',
        );
        assert.equal((await s.store.record('100000|V0001'))?.consultations[0]?.history[0]?.why, 'resubmit: registered');

        const none = await run(['resubmit', '--url', s.url]);
        assert.deepEqual([none.status, none.stdout], [0, 'no rejected record to send again\n']);
        const half = await run(['resubmit', '--url', s.url, '--encounter', 'V0001']);
        assert.deepEqual([half.status, half.stderr], [2, 'cdsr-adapter: --encounter needs --facility (an encounter is known by both)\n']);
      },
      { roles, listen: true },
    );
  });

  it('replay --url replays the error queue with the tables in force of the service', async () => {
    await withTestServer(
      async (s) => {
        assert.equal((await postHl7(s, ORM.replace('|CT|SC', '|ZZ|SC').replace('^CPT|', '^L|'), { authorization: 'Bearer send-key' })).status, 200);
        const before = await run(['replay', '--url', s.url]);
        assert.deepEqual([before.status, before.stdout], [1, 'replayed 1 message(s): 1 error\n']);
        appendFileSync(join(s.mappingsDir, 'crosswalks', 'modality.csv'), 'ZZ,88,\n');
        assert.equal(s.mappings.reload().ok, true);
        const after = await run(['replay', '--url', s.url]);
        assert.deepEqual([after.status, after.stdout], [0, 'replayed 1 message(s): 1 applied\n']);
      },
      { roles, listen: true },
    );
  });

  it('offline replay is refused while a service holds the store, and runs once it is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-offline-'));
    try {
      const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
      const store = await openStore(
        { kind: 'sqlite', file: join(dir, 'cdsr-adapter.sqlite') },
        new CdsrValidator({ now: SERVER_NOW, valueSets: tables.valueSets }),
      );
      assert.equal(await store.lease(SERVICE_LEASE, 'a-service', new Date(), 60_000), true);
      const env = { CDSR_DATA_DIR: dir, CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), PORT: '8780', HOST: '127.0.0.1' };
      const refused = await run(['replay'], env);
      assert.deepEqual(
        [refused.status, refused.stdout, refused.stderr],
        [
          2,
          '',
          'cdsr-adapter: a running service holds this store (its "service" lease); replay through it instead: cdsr-adapter replay --url http://127.0.0.1:8780 (with CDSR_API_KEY set to an operate key). If no service runs (it was killed), the lease lapses within a minute.\n',
        ],
      );
      await store.releaseLease(SERVICE_LEASE, 'a-service');
      const ran = await run(['replay'], env);
      assert.deepEqual(
        [ran.status, ran.stdout, ran.stderr],
        [0, 'replayed 0 message(s)\n', `offline: the store in ${dir}, the tables in ${join(REPO_ROOT, 'mappings')}\n`],
      );
      // the command gave the lease back: a service starting now takes it
      assert.equal(await store.lease(SERVICE_LEASE, 'a-service', new Date(), 60_000), true);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
