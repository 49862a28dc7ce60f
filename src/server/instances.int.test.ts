// Two `serve` processes on one PostgreSQL database, both taking messages and both submitting every
// second to one NRDR stand-in, while orders, results and updates arrive at either: every
// consultation is sent once per content version, and the registry ends holding what a single
// offline mapping of the same messages gives. A third instance that would bring its own built-in
// sandbox is refused. Skipped with the reason when no PostgreSQL answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadMappings } from '../mapping/load.js';
import { mapFiles } from '../mapping/map-files.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH } from '../sandbox/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';
import { freshPgDatabase } from '../../test/pg.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const ORU = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '04-oru-final.hl7'), 'utf8');
const N = 24;

const ids = (raw: string, i: number, msg: string) =>
  raw
    .replaceAll('ORD1001', `IORD${i}`)
    .replaceAll('ACC2001', `IACC${i}`)
    .replaceAll('V0001', `IV${i % 8}`)
    .replaceAll('20261102093015', new Date(Date.UTC(2026, 10, 2, 8) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14))
    .replace(/\|(MSG\d+)\|P\|/, `|${msg}|P|`);
/** The order, an update of it (another exam name), and its result: three content versions. */
const messages = (i: number) => [
  ids(ORM, i, `IO${i}`),
  ids(ORM, i, `IU${i}`).replace('20261102093500', '20261102100000').replaceAll('CT HEAD WO CONTRAST', 'CT HEAD WO CONTRAST UPDATED'),
  ids(ORU, i, `IR${i}`),
];

function serve(port: number, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

async function until(what: string, ok: () => Promise<boolean>, seconds = 90): Promise<void> {
  for (let i = 0; i < seconds * 5; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not happen in ${seconds} s`);
}

async function post(url: string, body: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = await fetch(`${url}/hl7v2`, { method: 'POST', body, headers: { 'content-type': 'application/hl7-v2' } }).catch(() => undefined);
    if (r?.status === 200 && /\rMSA\|AA\|/.test(await r.text())) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('a message was never acknowledged');
}

describe('several instances on one PostgreSQL database', () => {
  it('two serve processes submitting while updates land: one send per content version; the registry equals one offline mapping', { timeout: 240_000 }, async (t) => {
    const fresh = await freshPgDatabase('cdsr_instances');
    if (typeof fresh === 'string') return t.skip(fresh);
    const dbUrl = new URL(fresh.url);
    const sandbox = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, clients: [DEFAULT_CLIENT], faults: { stepMs: 50 } });
    const sandboxUrl = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
    const children: ChildProcess[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-instances-'));
    const check = new pg.Client({ connectionString: dbUrl.toString() });
    try {
      const env = {
        CDSR_DATABASE_URL: dbUrl.toString(),
        NRDR_BASE_URL: `${sandboxUrl}${SANDBOX_PATH}`,
        NRDR_PARTNER_ID: '10000',
        NRDR_APP_ID: '10019',
        ACR_TOKEN_URL: `${sandboxUrl}${SANDBOX_TOKEN_PATH}`,
        ACR_CLIENT_ID: DEFAULT_CLIENT.clientId,
        ACR_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
        CDSR_SUBMIT_INTERVAL_S: '1',
      };
      const urls: string[] = [];
      for (let k = 0; k < 2; k++) {
        const port = await freePort();
        children.push(serve(port, env));
        urls.push(`http://127.0.0.1:${port}`);
      }
      for (const u of urls) await until(`${u} ready`, async () => (await fetch(`${u}/readyz`).catch(() => undefined))?.ok === true);
      // orders, then updates and results, to either instance, while both submit every second
      const all = Array.from({ length: N }, (_, i) => messages(i));
      for (let i = 0; i < N; i++) await post(urls[i % 2]!, all[i]![0]!);
      await new Promise((r) => setTimeout(r, 1500));
      for (let i = 0; i < N; i++) await post(urls[(i + 1) % 2]!, all[i]![1]!);
      for (let i = 0; i < N; i++) await post(urls[i % 2]!, all[i]![2]!);
      await check.connect();
      const states = async () => (await check.query<{ state: string; n: string }>('SELECT state, COUNT(*) AS n FROM consultations GROUP BY state ORDER BY state')).rows.map((r) => `${r.state} ${r.n}`);
      await until('every consultation accepted', async () => {
        const open = await check.query<{ n: string }>("SELECT COUNT(*) AS n FROM transactions WHERE status IN ('created', 'posted')");
        return (await states()).join() === `accepted ${N}` && Number(open.rows[0]!.n) === 0;
      });
      // each content of a consultation went out once
      const sent = await check.query<{ k: string; n: string }>('SELECT encounter_key || consultation_key || content_hash AS k, COUNT(*) AS n FROM transaction_records GROUP BY 1 HAVING COUNT(*) > 1');
      assert.deepEqual(sent.rows, []);
      // one submitter at a time: every transaction came from the lease holder of its moment
      const leases = await check.query<{ name: string }>('SELECT name FROM leases ORDER BY name');
      assert.deepEqual(leases.rows.map((r) => r.name).filter((n) => n === 'submitter'), ['submitter']);
      // the registry holds what one offline mapping of the same messages gives
      const files = all.flat().map((m, k) => {
        const f = join(dir, `${String(k).padStart(3, '0')}.hl7`);
        writeFileSync(f, m);
        return f;
      });
      const order = [...all.map((m) => m[0]!), ...all.map((m) => m[1]!), ...all.map((m) => m[2]!)].map((m) => files[all.flat().indexOf(m)]!);
      const expected = mapFiles(order, { tables: loadMappings(join(REPO_ROOT, 'mappings')).tables!, partnerId: '10000', appId: '10019', maxEncounters: 100, now: new Date() }).transactions;
      const want: Record<string, unknown> = {};
      for (const tx of expected) {
        for (const e of tx.Encounters) {
          const { Consultations, ...fields } = e;
          want[`${tx.Facility_ID}|${e.Unique_Encounter_ID}`] = { ...fields, Consultations: Object.fromEntries(Consultations.map((c) => [`${c.CDS_Consultation_Date} ${c.CDS_Consultation_Time}`, c])) };
        }
      }
      const held = (await fetch(`${sandboxUrl}/sandbox/registry`).then((r) => r.json())) as { encounters: Record<string, unknown>; transactions: unknown[] };
      assert.deepEqual(held.encounters, want);
      t.diagnostic(`${held.transactions.length} transactions; ${(await states()).join(', ')}`);
    } finally {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
      await check.end().catch(() => undefined);
      await sandbox.app.close();
      rmSync(dir, { recursive: true, force: true });
      await fresh.drop();
    }
  });

  it('a second instance that would bring its own built-in sandbox to the same database is refused at start-up', { timeout: 120_000 }, async (t) => {
    const fresh = await freshPgDatabase('cdsr_sandboxes');
    if (typeof fresh === 'string') return t.skip(fresh);
    const { admin, name: db } = fresh;
    const dbUrl = new URL(fresh.url);
    const first = serve(await freePort(), { CDSR_DATABASE_URL: dbUrl.toString() });
    try {
      await until('the first instance ready', async () => {
        const r = await admin.query<{ n: string }>("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1", [db]);
        if (Number(r.rows[0]!.n) === 0) return false;
        const l = new pg.Client({ connectionString: dbUrl.toString() });
        await l.connect();
        try {
          return (await l.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'leases'")).rowCount === 1 && (await l.query("SELECT 1 FROM leases WHERE name = 'builtin-sandbox'")).rowCount === 1;
        } finally {
          await l.end();
        }
      });
      const second = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
        env: { ...process.env, PORT: String(await freePort()), HOST: '127.0.0.1', CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), LOG_LEVEL: 'error', CDSR_DATABASE_URL: dbUrl.toString() },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      second.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
      assert.deepEqual([code, stderr], [
        2,
        'cdsr-adapter: NRDR_BASE_URL: not set, and another instance on this database already submits to its own built-in sandbox; run one `cdsr-adapter sandbox` and point every instance at it with NRDR_BASE_URL\n',
      ]);
    } finally {
      first.kill('SIGTERM');
      await new Promise((r) => (first.exitCode !== null ? r(null) : first.once('exit', r)));
      await fresh.drop();
    }
  });
});
