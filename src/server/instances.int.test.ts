// Two `serve` processes on one PostgreSQL database, both taking messages and both submitting every
// second to one NRDR stand-in, while orders, results and updates arrive at either: every
// consultation is sent once per content version, and the registry ends holding what a single
// offline mapping of the same messages gives. The same with the submitter paused (SIGSTOP) mid-round
// past a 2 s lease and a registry answering every request in 1 s: the other instance takes over,
// and neither a Transaction_ID, nor a content version, nor an older revision goes out late. A third
// instance that would bring its own built-in sandbox is refused. Skipped with the reason when no
// PostgreSQL answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
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

function serve(port: number, env: Record<string, string>, logLines?: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', logLines ? 'pipe' : 'ignore', 'pipe'],
  });
  if (logLines) {
    let rest = '';
    child.stdout?.on('data', (c: Buffer) => {
      const lines = (rest + c.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      lines.forEach(logLines);
    });
  }
  return child;
}

/** The encounters and consultations one offline mapping of these files (in this order) gives, keyed as the sandbox keys them. */
function offline(files: readonly string[]): Record<string, { Consultations: Record<string, Record<string, string>> }> {
  const txs = mapFiles(files, {
    tables: loadMappings(join(REPO_ROOT, 'mappings')).tables!,
    partnerId: '10000',
    appId: '10019',
    maxEncounters: 100,
    now: new Date(),
  }).transactions;
  const want: Record<string, { Consultations: Record<string, Record<string, string>> }> = {};
  for (const tx of txs) {
    for (const e of tx.Encounters) {
      const { Consultations, ...fields } = e;
      want[`${tx.Facility_ID}|${e.Unique_Encounter_ID}`] = {
        ...fields,
        Consultations: Object.fromEntries(
          Consultations.map((c) => [`${c.CDS_Consultation_Date} ${c.CDS_Consultation_Time}`, c as unknown as Record<string, string>]),
        ),
      };
    }
  }
  return want;
}

/** A consultation as the registry keeps it: the values given (empty ones are not sent as changes). */
const given = (c: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(c).flatMap(([k, v]) => (typeof v === 'string' || typeof v === 'number' ? (String(v) === '' ? [] : [[k, String(v)]]) : [])));

async function stopped(children: readonly ChildProcess[]): Promise<void> {
  // a paused child cannot act on SIGTERM until it runs again
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGCONT');
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
}

/** What a `serve` needs to share the database and submit every second to the sandbox. */
function submitterEnv(dbUrl: URL, sandboxUrl: string): Record<string, string> {
  return {
    CDSR_DATABASE_URL: dbUrl.toString(),
    NRDR_BASE_URL: `${sandboxUrl}${SANDBOX_PATH}`,
    NRDR_PARTNER_ID: '10000',
    NRDR_APP_ID: '10019',
    ACR_TOKEN_URL: `${sandboxUrl}${SANDBOX_TOKEN_PATH}`,
    ACR_CLIENT_ID: DEFAULT_CLIENT.clientId,
    ACR_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
    CDSR_SUBMIT_INTERVAL_S: '1',
  };
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
  it(
    'two serve processes submitting while updates land: one send per content version; the registry equals one offline mapping',
    { timeout: 240_000 },
    async (t) => {
      const fresh = await freshPgDatabase('cdsr_instances');
      if (typeof fresh === 'string') return t.skip(fresh);
      const dbUrl = new URL(fresh.url);
      const sandbox = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, clients: [DEFAULT_CLIENT], faults: { stepMs: 50 } });
      const sandboxUrl = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
      const children: ChildProcess[] = [];
      const dir = mkdtempSync(join(tmpdir(), 'cdsr-instances-'));
      const check = new pg.Client({ connectionString: dbUrl.toString() });
      try {
        const env = submitterEnv(dbUrl, sandboxUrl);
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
        await check.connect();
        // the updates land after a submission round has sent some of the orders (waited for, not timed)
        await until('a first transaction', async () => Number((await check.query<{ n: string }>('SELECT COUNT(*) AS n FROM transactions')).rows[0]!.n) > 0);
        for (let i = 0; i < N; i++) await post(urls[(i + 1) % 2]!, all[i]![1]!);
        for (let i = 0; i < N; i++) await post(urls[i % 2]!, all[i]![2]!);
        const states = async () =>
          (await check.query<{ state: string; n: string }>('SELECT state, COUNT(*) AS n FROM consultations GROUP BY state ORDER BY state')).rows.map(
            (r) => `${r.state} ${r.n}`,
          );
        await until('every consultation accepted', async () => {
          const open = await check.query<{ n: string }>("SELECT COUNT(*) AS n FROM transactions WHERE status IN ('created', 'posted')");
          return (await states()).join() === `accepted ${N}` && Number(open.rows[0]!.n) === 0;
        });
        // each content of a consultation went out once
        const sent = await check.query<{ k: string; n: string }>(
          'SELECT encounter_key || consultation_key || content_hash AS k, COUNT(*) AS n FROM transaction_records GROUP BY 1 HAVING COUNT(*) > 1',
        );
        assert.deepEqual(sent.rows, []);
        // one submitter at a time: every transaction came from the lease holder of its moment
        const leases = await check.query<{ name: string }>('SELECT name FROM leases ORDER BY name');
        assert.deepEqual(
          leases.rows.map((r) => r.name).filter((n) => n === 'submitter'),
          ['submitter'],
        );
        // the registry holds what one offline mapping of the same messages gives
        const files = all.flat().map((m, k) => {
          const f = join(dir, `${String(k).padStart(3, '0')}.hl7`);
          writeFileSync(f, m);
          return f;
        });
        const order = [...all.map((m) => m[0]!), ...all.map((m) => m[1]!), ...all.map((m) => m[2]!)].map((m) => files[all.flat().indexOf(m)]!);
        const held = (await fetch(`${sandboxUrl}/sandbox/registry`).then((r) => r.json())) as { encounters: Record<string, unknown>; transactions: unknown[] };
        assert.deepEqual(held.encounters, offline(order));
        t.diagnostic(`${held.transactions.length} transactions; ${(await states()).join(', ')}`);
      } finally {
        await stopped(children);
        await check.end().catch(() => undefined);
        await sandbox.app.close();
        rmSync(dir, { recursive: true, force: true });
        await fresh.drop();
      }
    },
  );

  it(
    'the submitter paused past its lease, and a registry answering in 1 s: no Transaction_ID POSTed twice, no content version sent twice, no older revision after a newer one, no order lost',
    { timeout: 420_000 },
    async (t) => {
      const fresh = await freshPgDatabase('cdsr_fencing');
      if (typeof fresh === 'string') return t.skip(fresh);
      const began = Date.now();
      const dbUrl = new URL(fresh.url);
      // every API answer 1 s late (the POST is stored after the wait, as a slow registry would). The
      // lease is the shortest the configuration allows (longer than the 1 s between rounds), and the
      // answers as slow as make a round outlast it: the scenario at its quickest
      const sandbox = await buildSandbox({
        facilities: ['100000'],
        partners: { '10000': ['10019'] },
        clients: [DEFAULT_CLIENT],
        faults: { delayMs: 1000, stepMs: 50 },
      });
      // what the registry stored, and each id it said it does not know (404), in the order it did so
      const seen: { kind: 'stored' | 'unknown'; id: string; body?: unknown }[] = [];
      const submit = sandbox.registry.submit.bind(sandbox.registry);
      sandbox.registry.submit = (body: unknown) => {
        const id = (body as { Transaction_ID?: unknown }).Transaction_ID;
        seen.push({ kind: 'stored', id: typeof id === 'string' ? id : '', body });
        return submit(body);
      };
      const lookup = sandbox.registry.lookup.bind(sandbox.registry);
      sandbox.registry.lookup = (id, q) => {
        const found = lookup(id, q);
        if (!found) seen.push({ kind: 'unknown', id });
        return found;
      };
      const sandboxUrl = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
      const children: ChildProcess[] = [];
      const dir = mkdtempSync(join(tmpdir(), 'cdsr-fencing-'));
      const check = new pg.Client({ connectionString: dbUrl.toString() });
      try {
        const names = ['fence-a', 'fence-b'];
        const leaseLost = [0, 0];
        const urls: string[] = [];
        for (let k = 0; k < 2; k++) {
          const port = await freePort();
          const env = {
            ...submitterEnv(dbUrl, sandboxUrl),
            CDSR_DATA_DIR: join(dir, names[k]!),
            CDSR_INSTANCE_ID: names[k]!,
            CDSR_SUBMIT_LEASE_S: '2',
            CDSR_BATCH_MAX_ENCOUNTERS: '2',
            LOG_LEVEL: 'warn',
          };
          children.push(serve(port, env, (line) => void (line.includes('"event":"lease_lost"') ? leaseLost[k]!++ : undefined)));
          urls.push(`http://127.0.0.1:${port}`);
        }
        for (const u of urls) await until(`${u} ready`, async () => (await fetch(`${u}/readyz`).catch(() => undefined))?.ok === true);
        await check.connect();
        const lease = async () => (await check.query<{ holder: string; epoch: number }>("SELECT holder, epoch FROM leases WHERE name = 'submitter'")).rows[0];

        // orders, then updates, then results, some a second, to either instance (never to the paused
        // one): each round finds new records, and a batch of two encounters at most makes a round
        // of several 1 s POSTs outlast the 2 s lease now and then without any pause
        const all = Array.from({ length: N }, (_, i) => messages(i));
        let paused = -1;
        const feed = (async () => {
          let k = 0;
          for (let j = 0; j < 3; j++) {
            for (let i = 0; i < N; i++, k++) {
              await post(urls[paused === k % 2 ? 1 - paused : k % 2]!, all[i]![j]!);
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        })();
        feed.catch(() => undefined); // awaited below; a failure is not left unhandled meanwhile
        // the holder in the middle of a round: a POST it claimed under its epoch, not yet answered
        let epoch = 0;
        let holder = -1;
        await until('a POST claimed by the lease holder and not yet answered', async () => {
          const r = await check.query<{ holder: string; epoch: number }>(
            "SELECT l.holder, l.epoch FROM leases l JOIN transactions t ON t.sent_epoch = l.epoch AND t.status = 'sent' WHERE l.name = 'submitter' LIMIT 1",
          );
          if (r.rows.length === 0) return false;
          holder = names.indexOf(r.rows[0]!.holder);
          epoch = r.rows[0]!.epoch;
          return true;
        });
        paused = holder;
        const other = 1 - paused;
        children[paused]!.kill('SIGSTOP');
        const pausedAt = Date.now();
        try {
          await until(
            'the takeover',
            async () => {
              const l = await lease();
              return l !== undefined && l.holder === names[other] && l.epoch > epoch;
            },
            120,
          );
        } catch {
          assert.fail(
            `the lease of ${names[paused]} (paused, epoch ${epoch}) was not taken over by ${names[other]} within 120 s: ${JSON.stringify(await lease())}`,
          );
        }
        const takeoverMs = Date.now() - pausedAt;
        const taken = (await lease())!;
        const pausedName = names[paused]!;
        paused = -1;
        children[holder]!.kill('SIGCONT');
        await feed;

        const states = async () =>
          (await check.query<{ state: string; n: string }>('SELECT state, COUNT(*) AS n FROM consultations GROUP BY state ORDER BY state')).rows.map(
            (r) => `${r.state} ${r.n}`,
          );
        await until(
          'every consultation accepted',
          async () => {
            const open = await check.query<{ n: string }>("SELECT COUNT(*) AS n FROM transactions WHERE status IN ('created', 'sent', 'posted')");
            return (await states()).join() === `accepted ${N}` && Number(open.rows[0]!.n) === 0;
          },
          240,
        );
        const held = (await fetch(`${sandboxUrl}/sandbox/registry`).then((r) => r.json())) as {
          encounters: Record<string, unknown>;
          postsById: Record<string, number>;
        };
        const stored = seen.flatMap((s, seq) => (s.kind === 'stored' ? [{ ...s, seq }] : []));
        // no fault switch is on: every POST that arrived was stored, and the sandbox's own counts say so
        const perId: Record<string, number> = {};
        for (const s of stored) perId[s.id] = (perId[s.id] ?? 0) + 1;
        assert.deepEqual(perId, held.postsById);

        // 0 Transaction_IDs POSTed twice, unless NRDR had said first that it does not know the id
        const twice = Object.keys(held.postsById).filter((id) => held.postsById[id]! > 1);
        const after404 = twice.filter((id) => {
          const second = stored.filter((s) => s.id === id)[1]!;
          return seen.some((s, seq) => s.kind === 'unknown' && s.id === id && seq < second.seq);
        });
        assert.deepEqual(
          twice.filter((id) => !after404.includes(id)),
          [],
          'Transaction_IDs POSTed twice without a 404 first',
        );

        // 0 content versions in two POSTed transactions (the store's content hashes)
        const versions = await check.query<{ k: string; ids: string[] }>(
          `SELECT encounter_key || ' ' || consultation_key || ' ' || content_hash AS k, array_agg(transaction_id ORDER BY transaction_id) AS ids
           FROM transaction_records WHERE transaction_id = ANY($1) GROUP BY 1 HAVING COUNT(*) > 1`,
          [Object.keys(held.postsById)],
        );
        assert.deepEqual(versions.rows, []);

        // each consultation's revision in a POST, read at the sandbox against offline mappings of
        // the orders, then the updates, then the results: never one older than one stored before it
        const file = (i: number, j: number) => {
          const f = join(dir, `${String(i).padStart(3, '0')}-${j}.hl7`);
          writeFileSync(f, all[i]![j]!);
          return f;
        };
        const files = all.map((_, i) => [0, 1, 2].map((j) => file(i, j)));
        const stages = [1, 2, 3].map((n) => offline(Array.from({ length: n }, (_, j) => files.map((f) => f[j]!)).flat()));
        const latest = new Map<string, { rank: number; id: string }>();
        const older: string[] = [];
        const twiceSent: string[] = [];
        const unknown: string[] = [];
        for (const s of stored) {
          const tx = s.body as { Facility_ID: string; Encounters: { Unique_Encounter_ID: string; Consultations: Record<string, string>[] }[] };
          for (const e of tx.Encounters) {
            for (const c of e.Consultations) {
              const key = `${tx.Facility_ID}|${e.Unique_Encounter_ID} ${c.CDS_Consultation_Date} ${c.CDS_Consultation_Time}`;
              const rank = stages.findIndex((st) =>
                isDeepStrictEqual(
                  given(st[`${tx.Facility_ID}|${e.Unique_Encounter_ID}`]?.Consultations[`${c.CDS_Consultation_Date} ${c.CDS_Consultation_Time}`] ?? {}),
                  given(c),
                ),
              );
              if (rank < 0) unknown.push(`${key} in ${s.id}`);
              const before = latest.get(key);
              if (before && rank < before.rank) older.push(`${key}: revision ${rank + 1} in ${s.id} after revision ${before.rank + 1} in ${before.id}`);
              if (before && rank === before.rank && s.id !== before.id) twiceSent.push(`${key}: revision ${rank + 1} in ${before.id} and ${s.id}`);
              if (!before || rank >= before.rank) latest.set(key, { rank, id: s.id });
            }
          }
        }
        assert.deepEqual(unknown, [], 'consultations sent with content no stage of the messages gives');
        assert.deepEqual(older, [], 'older revisions stored after newer ones');
        assert.deepEqual(twiceSent, [], 'revisions sent in two transactions');

        // 0 orders lost: every consultation accepted (above), and the registry holds what one offline mapping gives
        assert.deepEqual(held.encounters, stages[2]);
        assert.equal(latest.size, N);
        t.diagnostic(
          `paused ${pausedName} at epoch ${epoch}; ${names[1 - holder]} took over at epoch ${taken.epoch} after ${(takeoverMs / 1000).toFixed(1)} s; final epoch ${(await lease())!.epoch}; ` +
            `${stored.length} POSTs of ${Object.keys(held.postsById).length} Transaction_IDs (${after404.length} again after a 404); lease_lost logged ${leaseLost.join('/')}; ${((Date.now() - began) / 1000).toFixed(1)} s`,
        );
      } finally {
        await stopped(children);
        await check.end().catch(() => undefined);
        await sandbox.app.close();
        rmSync(dir, { recursive: true, force: true });
        await fresh.drop();
      }
    },
  );

  it('a second instance that would bring its own built-in sandbox to the same database is refused at start-up', { timeout: 120_000 }, async (t) => {
    const fresh = await freshPgDatabase('cdsr_sandboxes');
    if (typeof fresh === 'string') return t.skip(fresh);
    const { admin, name: db } = fresh;
    const dbUrl = new URL(fresh.url);
    const first = serve(await freePort(), { CDSR_DATABASE_URL: dbUrl.toString() });
    try {
      await until('the first instance ready', async () => {
        const r = await admin.query<{ n: string }>('SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1', [db]);
        if (Number(r.rows[0]!.n) === 0) return false;
        const l = new pg.Client({ connectionString: dbUrl.toString() });
        await l.connect();
        try {
          return (
            (await l.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'leases'")).rowCount === 1 &&
            (await l.query("SELECT 1 FROM leases WHERE name = 'builtin-sandbox'")).rowCount === 1
          );
        } finally {
          await l.end();
        }
      });
      const second = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
        env: {
          ...process.env,
          PORT: String(await freePort()),
          HOST: '127.0.0.1',
          CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'),
          LOG_LEVEL: 'error',
          CDSR_DATABASE_URL: dbUrl.toString(),
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      second.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
      assert.deepEqual(
        [code, stderr],
        [
          2,
          'cdsr-adapter: NRDR_BASE_URL: not set, and another instance on this database already submits to its own built-in sandbox; run one `cdsr-adapter sandbox` and point every instance at it with NRDR_BASE_URL\n',
        ],
      );
    } finally {
      first.kill('SIGTERM');
      await new Promise((r) => (first.exitCode !== null ? r(null) : first.once('exit', r)));
      await fresh.drop();
    }
  });
});
