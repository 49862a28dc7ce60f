// Restart between "stored" and "answered": a real `serve` process stores a transaction and POSTs
// it; the sandbox takes it and holds its answer; the process is killed with SIGKILL. Restarted on
// the same data directory (the same instance id), the adapter takes its own submitter lease back
// at once (not after it runs out), asks NRDR about the transaction (GET) before anything else and
// does not POST it again; the record ends accepted. The sandbox refuses a reused Transaction_ID
// (CD2014) during the restart, so a second POST would also show as rejected records.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH } from '../sandbox/server.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for a condition the test cannot be told about (another process), for at most `ms`. */
async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (await ok()) return;
  throw new Error(`timed out waiting for ${what}`);
}

describe('restart between stored and answered', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-restart-'));
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('killed while the POST answer is held: restarted, it asks with GET first and never POSTs again', async () => {
    const sandbox = await buildSandbox({ facilities: ['100000'], partners: { '10000': ['10019'] }, faults: { stepMs: 50, holdPostAnswer: true } });
    // what reached the sandbox, in order: "POST <id>" / "GET <id>"
    const asked: string[] = [];
    sandbox.app.addHook('preHandler', (req, _reply, done) => {
      if (req.url.startsWith(SANDBOX_PATH)) {
        const id =
          req.method === 'POST'
            ? ((JSON.parse(String(req.body)) as { Transaction_ID?: string }).Transaction_ID ?? '')
            : ((req.query as { id?: string }).id ?? '');
        asked.push(`${req.method} ${id}`);
      }
      done();
    });
    const nrdr = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const serve = () => {
      const c = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
        env: {
          ...process.env,
          PORT: String(port),
          HOST: '127.0.0.1',
          CDSR_DATA_DIR: dir,
          CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'),
          CDSR_SUBMIT_INTERVAL_S: '1',
          NRDR_BASE_URL: `${nrdr}${SANDBOX_PATH}`,
          NRDR_PARTNER_ID: '10000',
          NRDR_APP_ID: '10019',
          ACR_TOKEN_URL: `${nrdr}${SANDBOX_TOKEN_PATH}`,
          ACR_CLIENT_ID: DEFAULT_CLIENT.clientId,
          ACR_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      children.push(c);
      return c;
    };
    const ready = () =>
      until('the service to be ready', async () => {
        try {
          return (await fetch(`${url}/readyz`)).ok;
        } catch {
          return false;
        }
      });
    try {
      const first = serve();
      await ready();
      const ack = await (await fetch(`${url}/hl7v2`, { method: 'POST', body: ORM, headers: { 'content-type': 'application/hl7-v2' } })).text();
      assert.match(ack, /\rMSA\|AA\|MSG0001/);

      // the POST reached NRDR, which stored the transaction; its answer is held: kill the adapter now
      await until('the POST to be held at the sandbox', () => sandbox.held.count === 1);
      const [txId] = [...sandbox.registry.transactions.keys()];
      assert.ok(txId);
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      assert.deepEqual(asked, [`POST ${txId}`]);

      // on disk: stored, its POST claimed (sent, unanswered), NRDR's answer never recorded; the dead process's lease still runs
      const db = new Database(join(dir, 'cdsr-adapter.sqlite'));
      let dead: { holder: string; epoch: number; expires_at: string } | undefined;
      try {
        assert.deepEqual(db.prepare('SELECT transaction_id, status, nrdr_status, attempts FROM transactions').all(), [
          { transaction_id: txId, status: 'sent', nrdr_status: null, attempts: 1 },
        ]);
        assert.deepEqual(db.prepare('SELECT state FROM consultations').all(), [{ state: 'submitted' }]);
        dead = db.prepare("SELECT holder, epoch, expires_at FROM leases WHERE name = 'submitter'").get() as typeof dead;
        assert.ok(dead && Date.parse(dead.expires_at) > Date.now() + 30_000, JSON.stringify(dead));
      } finally {
        db.close();
      }
      Object.assign(sandbox.faults, { holdPostAnswer: false, refuseReusedId: true });
      sandbox.held.release();

      const second = serve();
      await ready();
      // its first round, long before the dead lease would have run out
      await until(
        'the record to be accepted',
        async () => {
          const r = (await (await fetch(`${url}/api/records`)).json()) as { records: { state: string }[] };
          return r.records[0]?.state === 'accepted';
        },
        20_000,
      );
      const again = new Database(join(dir, 'cdsr-adapter.sqlite'), { readonly: true });
      try {
        // the same instance took its lease back: the epoch moved on (fencing out the dead process)
        assert.deepEqual(again.prepare("SELECT holder, epoch FROM leases WHERE name = 'submitter'").get(), { holder: dead.holder, epoch: dead.epoch + 1 });
      } finally {
        again.close();
      }
      const tx = (await (await fetch(`${url}/api/transactions/${txId}`)).json()) as { status: string; nrdrStatus: string; accepted: number };
      assert.deepEqual([tx.status, tx.nrdrStatus, tx.accepted], ['done', 'Posted', 1]);
      // after the restart: GETs only, the first of them before anything else
      const afterRestart = asked.slice(1);
      assert.ok(afterRestart.length > 0);
      assert.deepEqual([...new Set(afterRestart)], [`GET ${txId}`]);
      assert.equal(sandbox.registry.postsById.get(txId), 1);
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));
    } finally {
      await sandbox.app.close();
    }
  });
});
