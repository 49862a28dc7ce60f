// Crash test: the service runs in a child process and is killed with SIGKILL while clients send
// 1,000 messages (killed after the 700th AA: the messages in flight then are what is tested).
// After a restart every message that got an AA is stored exactly once and merged, and nothing is
// half-applied; resending what got no answer (about 300) completes the set.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';

const TOTAL = 1000;
const KILL_AFTER = 700;
const WORKERS = 4;
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

function message(i: number): string {
  const t = new Date(Date.UTC(2026, 10, 2, 0, 0, 0) + i * 1000);
  const ts = t.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return ORM.replaceAll('MSG0001', `CRASH${i}`)
    .replaceAll('ORD1001', `CORD${i}`)
    .replaceAll('ACC2001', `CACC${i}`)
    .replaceAll('V0001', `CV${i % 50}`)
    .replaceAll('20261102093015', ts);
}

function start(dataDir: string, port: number): ChildProcess {
  return spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CDSR_DATA_DIR: dataDir, CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

async function ready(url: string): Promise<void> {
  // a start costs about 2 s of CPU: on a loaded machine (the suite with both cores busy) it took
  // more than the 10 s this waited, failing the test with nothing wrong; 60 s at most
  for (let i = 0; i < 1200; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not become ready in 60 s');
}

/** Sends message i; 'AA' etc. or 'none' when no answer came. */
async function send(url: string, i: number): Promise<string> {
  try {
    const r = await fetch(`${url}/hl7v2`, { method: 'POST', body: message(i), headers: { 'content-type': 'application/hl7-v2' } });
    const text = await r.text();
    return /\rMSA\|(A[AER])\|/.exec(text)?.[1] ?? `http${r.status}`;
  } catch {
    return 'none';
  }
}

describe('crash safety', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-crash-'));
  let child: ChildProcess | undefined;
  after(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it(`SIGKILL during ${TOTAL} messages loses nothing acknowledged and half-applies nothing`, async (t) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = start(dir, port);
    await ready(url);

    const answers = new Map<number, string>();
    let next = 0;
    let acked = 0;
    let killed = false;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        const a = await send(url, i);
        answers.set(i, a);
        if (a === 'AA') acked++;
        if (!killed && acked >= KILL_AFTER) {
          killed = true;
          child!.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    await new Promise<void>((ok) => (child!.exitCode !== null || child!.signalCode !== null ? ok() : child!.once('exit', () => ok())));
    const aa = [...answers].filter(([, a]) => a === 'AA').map(([i]) => i);
    const unanswered = [...answers].filter(([, a]) => a !== 'AA').map(([i]) => i);
    assert.ok(aa.length >= KILL_AFTER, `only ${aa.length} acknowledged`);
    assert.ok(unanswered.length > 0, 'the kill came too late to test anything');

    // what the kill left answered but not yet merged (SQLite writes a message's records right
    // after its answer): the restart writes it before it answers anything
    const left = new Database(join(dir, 'cdsr-adapter.sqlite'));
    const queued = (left.prepare('SELECT COUNT(*) AS n FROM derive_queue').get() as { n: number }).n;
    left.close();
    // restart on the same data: the store opens (WAL recovery) and answers
    child = start(dir, port);
    await ready(url);
    const db = new Database(join(dir, 'cdsr-adapter.sqlite'), { readonly: true });
    try {
      const applied = db.prepare("SELECT control_id, COUNT(*) AS n FROM inbound_messages WHERE status = 'applied' GROUP BY control_id").all() as {
        control_id: string;
        n: number;
      }[];
      const appliedIds = new Map(applied.map((r) => [r.control_id, r.n]));
      for (const i of aa) assert.equal(appliedIds.get(`CRASH${i}`), 1, `acknowledged CRASH${i} stored ${appliedIds.get(`CRASH${i}`) ?? 0} times`);
      // every stored message is merged, every merged order has its message
      // (each order is indexed by its placer and its accession number: the placers are counted)
      const orders = new Set(
        (db.prepare("SELECT order_key FROM order_index WHERE order_key LIKE '100000|CORD%'").all() as { order_key: string }[]).map((r) => r.order_key),
      );
      for (const id of appliedIds.keys()) assert.ok(orders.has(`100000|CORD${id.slice(5)}`), `${id} stored but not merged`);
      for (const o of orders) assert.ok(appliedIds.has(`CRASH${o.split('|CORD')[1]}`), `${o} merged without its message`);
      const consultations = (db.prepare('SELECT COUNT(*) AS n FROM consultations').get() as { n: number }).n;
      assert.equal(consultations, orders.size);
      // and the ledger has one order for each, reported
      const ledger = db.prepare('SELECT COUNT(*) AS n FROM orders WHERE consultation_key IS NOT NULL AND hold IS NULL').get() as { n: number };
      assert.equal(ledger.n, orders.size);
    } finally {
      db.close();
    }

    // a sender resends what got no answer: everything ends stored once
    for (const i of unanswered) assert.equal(await send(url, i), 'AA');
    // the records of the last answers are written right after them: a read through the service
    // (readyz reads and writes the store) waits for them before the file is read beside it
    await ready(url);
    const db2 = new Database(join(dir, 'cdsr-adapter.sqlite'), { readonly: true });
    try {
      const distinct = (db2.prepare("SELECT COUNT(DISTINCT control_id) AS n FROM inbound_messages WHERE status = 'applied'").get() as { n: number }).n;
      const total = (db2.prepare("SELECT COUNT(*) AS n FROM inbound_messages WHERE status = 'applied'").get() as { n: number }).n;
      const consultations = (db2.prepare('SELECT COUNT(*) AS n FROM consultations').get() as { n: number }).n;
      const dups = (db2.prepare("SELECT COUNT(*) AS n FROM inbound_messages WHERE status = 'duplicate'").get() as { n: number }).n;
      assert.deepEqual([distinct, total, consultations], [TOTAL, TOTAL, TOTAL]);
      t.diagnostic(
        `${aa.length} acknowledged before the kill, ${queued} of them stored but not yet merged, ${unanswered.length} unanswered and resent, ${dups} of those had been stored (answered as duplicates)`,
      );
    } finally {
      db2.close();
    }
  });
});
