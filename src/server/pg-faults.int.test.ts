// PostgreSQL faults under load, as deployed: `serve` in its own process on a database of its own
// while four senders post; the database's connections of that service are terminated several
// times (as a restart or a failover does). The process stays up, the requests in flight are
// answered 503 (or fail) and resent by the senders, nothing acknowledged is lost, everything ends
// stored once. Skipped with the reason when no PostgreSQL answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';
import { freshPgDatabase } from '../../test/pg.js';

const TOTAL = 300;
const KILL_EVERY = 25;
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

const message = (i: number) =>
  ORM.replaceAll('MSG0001', `PGF${i}`)
    .replaceAll('ORD1001', `PGFORD${i}`)
    .replaceAll('ACC2001', `PGFACC${i}`)
    .replaceAll('V0001', `PGFV${i % 30}`)
    .replaceAll('20261102093015', new Date(Date.UTC(2026, 10, 2) + i * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14));

async function send(url: string, i: number): Promise<string> {
  try {
    const r = await fetch(`${url}/hl7v2`, { method: 'POST', body: message(i), headers: { 'content-type': 'application/hl7-v2' } });
    const text = await r.text();
    const code = /\rMSA\|(A[AER])\|/.exec(text)?.[1];
    return code === 'AA' && r.status === 200 ? 'AA' : `${code ?? ''}http${r.status}`;
  } catch {
    return 'none';
  }
}

describe('PostgreSQL faults under load', () => {
  it(`terminated connections during ${TOTAL} messages: the process stays up, nothing acknowledged is lost`, { timeout: 180_000 }, async (t) => {
    const fresh = await freshPgDatabase('cdsr_faults');
    if (typeof fresh === 'string') return t.skip(fresh);
    const { admin, name: db } = fresh;
    const dbUrl = new URL(fresh.url);
    let child: ChildProcess | undefined;
    let over = false; // set when the test ends, so the killer never outlives a failed run
    try {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
        env: {
          ...process.env,
          PORT: String(port),
          HOST: '127.0.0.1',
          CDSR_DATABASE_URL: dbUrl.toString(),
          CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'),
          LOG_LEVEL: 'error',
          CDSR_SUBMIT_INTERVAL_S: '3600',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let exited: string | undefined;
      child.once('exit', (code, signal) => (exited = `exit ${code ?? ''} ${signal ?? ''}`));
      // a loaded machine may take many seconds to start it: waited for, not raced
      let ready = false;
      for (let i = 0; i < 1200 && !ready && exited === undefined; i++) {
        ready = (await fetch(`${url}/readyz`).catch(() => undefined))?.ok ?? false;
        if (!ready) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(ready, `the service did not become ready (${exited ?? 'still starting after 60 s'})`);
      const acked = new Set<number>();
      let resent = 0;
      let next = 0;
      const worker = async () => {
        while (next < TOTAL) {
          const i = next++;
          // a sender resends until it gets its AA (as Mirth's queue does)
          for (let attempt = 0; ; attempt++) {
            const answer = await send(url, i);
            if (answer === 'AA') {
              acked.add(i);
              break;
            }
            resent++;
            if (attempt > 200) throw new Error(`message ${i} never acknowledged (last answer: ${answer})`);
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      };
      // the connections are terminated after every KILL_EVERY acknowledgements, not on a timer: on a
      // loaded machine a timer could kill faster than anything commits and the run would never end
      let terminated = 0;
      let rounds = 0;
      const killer = async () => {
        for (let at = KILL_EVERY; at < TOTAL; at += KILL_EVERY) {
          while (acked.size < at && !over) await new Promise((r) => setTimeout(r, 10));
          const r = await admin.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
          terminated += r.rowCount ?? 0;
          rounds++;
        }
      };
      await Promise.all([worker(), worker(), worker(), worker(), killer()]);
      assert.equal(exited, undefined, `the service ended: ${exited ?? ''}`);
      assert.equal(acked.size, TOTAL);
      assert.equal(rounds, Math.ceil(TOTAL / KILL_EVERY) - 1, 'every round of terminations ran');
      assert.ok(terminated > 0, 'no connection was terminated: the test proved nothing');
      const check = new pg.Client({ connectionString: dbUrl.toString() });
      await check.connect();
      try {
        const applied = await check.query<{ n: string; d: string }>(
          "SELECT COUNT(*) AS n, COUNT(DISTINCT control_id) AS d FROM inbound_messages WHERE status = 'applied'",
        );
        const consultations = await check.query<{ n: string }>('SELECT COUNT(*) AS n FROM consultations');
        const orders = await check.query<{ n: string }>('SELECT COUNT(*) AS n FROM orders WHERE hold IS NULL AND consultation_key IS NOT NULL');
        assert.deepEqual(
          [Number(applied.rows[0]!.n), Number(applied.rows[0]!.d), Number(consultations.rows[0]!.n), Number(orders.rows[0]!.n)],
          [TOTAL, TOTAL, TOTAL, TOTAL],
        );
      } finally {
        await check.end();
      }
      t.diagnostic(`${terminated} connections terminated in ${rounds} rounds, ${resent} resends, ${acked.size} acknowledged, the service up throughout`);
    } finally {
      over = true;
      // killed, and its end waited for (the database is dropped WITH (FORCE) after it)
      if (child && child.exitCode === null && child.signalCode === null) {
        const ended = new Promise((r) => child?.once('exit', r));
        child.kill('SIGKILL');
        await ended;
      }
      await fresh.drop();
    }
  });
});
