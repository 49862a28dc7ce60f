// Crash test of reprocessing: `serve` in a child process is killed with SIGKILL partway through an
// applied run; restarted on the same data, it resumes the run from its cursor and ends with every
// record changed exactly once, the summary adding up, and every message still stored.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';

const ENCOUNTERS = 200;
const ORDERS_PER_ENCOUNTER = 3;
const TOTAL = ENCOUNTERS * ORDERS_PER_ENCOUNTER;
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

/**
 * Order i of encounter floor(i / 3): the OBX carries G-code G1015 and a Z segment G1014. The shipped
 * tables read the OBX (records ready with G1015); the edit puts ZDS-2 first (G1014). Ready records
 * are not what the service re-derives by itself after a reload (only held ones are), so the change
 * reaches them through the run this test asks for, the one it kills.
 */
function message(i: number): string {
  const e = Math.floor(i / ORDERS_PER_ENCOUNTER);
  const ts = new Date(Date.UTC(2026, 10, 2, 0, 0, 0) + i * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return ORM.replaceAll('MSG0001', `RPC${i}`)
    .replaceAll('ORD1001', `RORD${i}`)
    .replaceAll('ACC2001', `RACC${i}`)
    .replaceAll('V0001', `RV${e}`)
    .replaceAll('MRN0001', `RMRN${e}`)
    .replaceAll('20261102093015', ts)
    .replaceAll('9a55-0c2f1b7d4e01', `9a55-${i.toString(16).padStart(12, '0')}`)
    .replace('||G1014||', '||G1015||')
    .replace(/\r?$/, '\rZDS|1|G1014\r')
    .replace(/\r\r+/g, '\r');
}

interface Serve {
  readonly child: ChildProcess;
  /** What it logged so far (pino JSON lines). */
  log(): string;
}

/**
 * `instance`: the submitter's instance id. The first process takes the submitter lease at its first
 * round (for three days at this interval); the restarted one runs under another id, so it never
 * holds the lease and submits nothing: the records' states are the run's doing alone.
 */
function start(dir: string, port: number, instance: string): Serve {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      CDSR_DATA_DIR: join(dir, 'data'),
      CDSR_MAPPINGS_DIR: join(dir, 'mappings'),
      // one round at start, then none while the test runs
      CDSR_SUBMIT_INTERVAL_S: '86400',
      CDSR_INSTANCE_ID: instance,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  return { child, log: () => out };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((ok) => (child.exitCode !== null || child.signalCode !== null ? ok() : child.once('exit', () => ok())));
}

async function ready(url: string, serve: Serve): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (serve.child.exitCode !== null) throw new Error(`serve exited with ${serve.child.exitCode}: ${serve.log().slice(-2000)}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('serve did not become ready');
}

/** Polls `check` (every 50 ms, at most `tries` times) until it returns a value. */
async function until<T>(what: string, check: () => Promise<T | undefined>, tries = 600): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

interface Run {
  id: number;
  who: string;
  status: string;
  total: number;
  done: number;
  summary: { units: number; unchanged: number; byChange: Record<string, number>; messages: Record<string, number>; skipped: string[] };
}

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, init);
  const text = await r.text();
  if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${r.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Counts of one /metrics family by label value, zeros left out. */
async function metric(url: string, name: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Object.fromEntries(
    [...text.matchAll(new RegExp(`^${name}\\{\\w+="([\\w-]+)"\\} (\\d+)$`, 'gm'))].filter((m) => m[2] !== '0').map((m) => [m[1]!, Number(m[2])]),
  );
}

describe('reprocessing crash safety', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-reprocess-crash-'));
  let serve: Serve | undefined;
  after(async () => {
    if (serve) {
      serve.child.kill('SIGTERM');
      await exited(serve.child);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it(`SIGKILL partway through an applied run over ${TOTAL} messages: the restart resumes it and every record changes once`, async (t) => {
    cpSync(join(REPO_ROOT, 'mappings'), join(dir, 'mappings'), { recursive: true });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    serve = start(dir, port, 'first');
    await ready(url, serve);

    // four senders at once, as an interface engine with a few channels
    let next = 0;
    const acks: string[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < TOTAL) {
          const i = next++;
          const text = await (await fetch(`${url}/hl7v2`, { method: 'POST', body: message(i), headers: { 'content-type': 'application/hl7-v2' } })).text();
          acks.push(/\rMSA\|(A[AER])\|/.exec(text)?.[1] ?? 'none');
        }
      }),
    );
    assert.deepEqual(
      acks.filter((a) => a !== 'AA'),
      [],
    );
    assert.deepEqual(await metric(url, 'cdsr_records'), { ready: TOTAL });
    const before = await json<{ consultations: { fields: Record<string, { value: string }> }[] }>(`${url}/api/records/100000/RV0`);
    assert.equal(before.consultations[0]?.fields['CDS_Vendor']?.value, 'G1015');

    // the table edit: the Z segment's G-code first; the hot reload makes generation 2
    const yamlFile = join(dir, 'mappings', 'hl7v2.yaml');
    const yaml = readFileSync(yamlFile, 'utf8');
    const edited = yaml.replace('  CDS_Vendor:\n    from: OBX[3.1=CDS-GCODE]-5\n', '  CDS_Vendor:\n    from: [ZDS-2, "OBX[3.1=CDS-GCODE]-5"]\n');
    assert.notEqual(edited, yaml, 'the CDS_Vendor rule of the shipped tables is not where the test expects it');
    writeFileSync(yamlFile, edited);
    await until('the reload', async () => ((await json<{ generation: number }>(`${url}/api/mappings`)).generation === 2 ? true : undefined));
    // the service's own run after a reload takes the held records: none here, so it changes nothing;
    // waited for so that the run below is the only one in the lane
    const auto = await until('the run after the reload', async () =>
      (await json<{ runs: Run[] }>(`${url}/api/reprocess`)).runs.find((r) => r.who === 'reload' && r.status === 'done'),
    );
    assert.equal(auto.summary.units, 0);

    const posted = await json<{ run: Run }>(`${url}/api/reprocess`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ all: true, apply: true }),
    });
    const id = posted.run.id;
    assert.equal(posted.run.total, ENCOUNTERS);
    // polled as fast as answers come (no sleep): a unit takes milliseconds; killed once a quarter
    // of the units are done, so that the restart has committed units behind it and units ahead
    let atKill: Run | undefined;
    for (let i = 0; i < 100_000 && atKill === undefined; i++) {
      const { run } = await json<{ run: Run }>(`${url}/api/reprocess/${id}?limit=1`);
      if (run.status !== 'running')
        assert.fail(
          `run ${id} ended (${run.status}, ${run.done}/${run.total}) before it could be killed midway: make its units slower (more messages per encounter)`,
        );
      if (run.done >= ENCOUNTERS / 4 && run.done < run.total) atKill = run;
    }
    assert.ok(atKill, 'the run made no progress');
    serve.child.kill('SIGKILL');
    await exited(serve.child);

    serve = start(dir, port, 'restarted');
    await ready(url, serve);
    const end = await until(
      'the resumed run to end',
      async () => {
        const { run } = await json<{ run: Run }>(`${url}/api/reprocess/${id}?limit=1`);
        return run.status === 'running' ? undefined : run;
      },
      1200,
    );
    t.diagnostic(`killed at ${atKill.done}/${atKill.total} units; after the restart the run ended ${end.status} at ${end.done}/${end.total}`);
    assert.equal(end.status, 'done');
    const resumedLogged = await until(
      'the resume in the log',
      () => Promise.resolve(serve!.log().includes('"event":"reprocess_resumed"') ? true : undefined),
      100,
    );
    assert.ok(resumedLogged);

    // each unit counted once: every encounter, every consultation changed, nothing else
    assert.equal(end.done, ENCOUNTERS);
    assert.equal(end.total, ENCOUNTERS);
    assert.equal(end.summary.units, ENCOUNTERS);
    assert.deepEqual(end.summary.byChange, { changed: TOTAL });
    assert.equal(end.summary.unchanged, 0);
    assert.deepEqual(end.summary.messages, {});
    assert.deepEqual(end.summary.skipped, []);
    // and what it recorded of them, one change per consultation
    let changes = 0;
    let cursor: string | null = '0';
    for (let page = 0; page < 20 && cursor !== null; page++) {
      const r: { changes: unknown[]; next: string | null } = await json(`${url}/api/reprocess/${id}?limit=1000&after=${cursor}`);
      changes += r.changes.length;
      cursor = r.next;
    }
    assert.equal(changes, TOTAL);

    // every record as it must be: ready, with the Z segment's G-code
    assert.deepEqual(await metric(url, 'cdsr_records'), { ready: TOTAL });
    const listed = await json<{ records: { state: string }[] }>(`${url}/api/records?state=ready&limit=1000`);
    assert.equal(listed.records.length, TOTAL);
    for (let e = 0; e < ENCOUNTERS; e++) {
      const r = await json<{ consultations: { state: string; fields: Record<string, { value: string }> }[] }>(`${url}/api/records/100000/RV${e}`);
      assert.equal(r.consultations.length, ORDERS_PER_ENCOUNTER, `RV${e}`);
      for (const c of r.consultations) {
        assert.equal(c.state, 'ready', `RV${e}`);
        assert.equal(c.fields['CDS_Vendor']?.value, 'G1014', `RV${e}`);
      }
    }
    // and no message lost or doubled
    assert.deepEqual(await metric(url, 'cdsr_inbound_messages'), { applied: TOTAL });
    const messages = await json<{ messages: { controlId: string; status: string }[] }>(`${url}/api/messages?limit=1000`);
    assert.equal(new Set(messages.messages.map((m) => m.controlId)).size, TOTAL);
    assert.ok(messages.messages.every((m) => m.status === 'applied'));
  });
});
