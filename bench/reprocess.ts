// Reprocessing at scale, as a user runs it: N distinct HL7 messages (ORM and ORU of one order per
// encounter) sent to `serve` in its own process, then POST /api/reprocess {"all": true} (a dry run)
// and {"all": true, "apply": true}, each followed by GET until done: time, messages/s, serve's peak RSS.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderTable } from '../src/cli/table.js';
import { cell, dryRunTarget, worklistTarget } from './targets.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { freshPg, outcomes, peakRssMb, rssMb, startServe, templates, type Running } from './product.js';

export interface ReprocessBenchRow {
  readonly store: 'sqlite' | 'postgres';
  readonly phase: string;
  readonly messages: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** serve's peak RSS during the phase (VmHWM after resetting it, else the highest sampled VmRSS). */
  readonly peakRssMb: number;
  /** Messages/s over the ingest rate of the same messages in the same run (undefined for the ingest itself). */
  readonly ratio?: number;
  /** The run's summary, counts only. */
  readonly summary?: string;
  readonly units?: number;
}

export interface ReprocessBenchResult {
  readonly rows: ReprocessBenchRow[];
  readonly notes: string[];
}

interface RunView {
  readonly id: number;
  readonly status: string;
  readonly total: number;
  readonly done: number;
  readonly error: string | null;
  readonly summary: {
    units: number;
    unchanged: number;
    byChange: Record<string, number>;
    messages: Record<string, number>;
    skipped: string[];
    resend: number;
    retractions: number;
  };
}

const DIST = join(PACKAGE_ROOT, 'dist');
const CONNECTIONS = 50;

/** Peak RSS of a process from now on: the kernel's high-water mark reset (clear_refs 5), else sampling. */
function peakMeter(pid: number): { stop(): number } {
  let reset = false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    reset = true;
  } catch {
    // not Linux, or not allowed: the sampled maximum alone
  }
  let sampled = rssMb(pid);
  const timer = setInterval(() => (sampled = Math.max(sampled, rssMb(pid))), 200);
  return {
    stop: () => {
      clearInterval(timer);
      sampled = Math.max(sampled, rssMb(pid));
      return reset ? Math.max(sampled, peakRssMb(pid)) : sampled;
    },
  };
}

/** Sends exactly `count` requests at 50 connections (the bench's load generator in its own process). */
function load(url: string, spec: string, count: number): Promise<{ requests: number; seconds: number; non2xx: number; firstStatus?: string }> {
  return new Promise((resolve, reject) => {
    // the time limit only bounds a stuck run; the count ends it
    const child = spawn(process.execPath, [join(DIST, 'bench', 'loadgen.js'), url, spec, String(CONNECTIONS), '3600', '0', '0', String(count)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', () => {
      try {
        const r = JSON.parse(out) as { requests: number; reqPerSec: number; non2xx: number; firstStatus?: string };
        resolve({ requests: r.requests, seconds: r.requests / r.reqPerSec, non2xx: r.non2xx, ...(r.firstStatus ? { firstStatus: r.firstStatus } : {}) });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

/** POSTs a run and polls it until it is no longer running; the time is from the POST to the answer saying done. */
async function reprocess(serve: Running, body: object): Promise<{ run: RunView; seconds: number; peakRssMb: number }> {
  const meter = peakMeter(serve.child.pid ?? 0);
  const t0 = performance.now();
  const posted = await fetch(`${serve.url}/api/reprocess`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (posted.status !== 202) throw new Error(`POST /api/reprocess answered ${posted.status}: ${await posted.text()}`);
  const { run } = (await posted.json()) as { run: RunView };
  // bounded: two hours of polls at 100 ms, far beyond any run this bench makes
  for (let i = 0; i < 72_000; i++) {
    const r = (await (await fetch(`${serve.url}/api/reprocess/${run.id}?limit=1`)).json()) as { run: RunView };
    if (r.run.status !== 'running') {
      const seconds = (performance.now() - t0) / 1000;
      if (r.run.status !== 'done') throw new Error(`reprocessing run ${run.id} ${r.run.status}: ${r.run.error ?? ''}`);
      return { run: r.run, seconds, peakRssMb: meter.stop() };
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  meter.stop();
  throw new Error(`reprocessing run ${run.id} did not end`);
}

const counts = (r: Record<string, number>): string =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

export async function benchReprocess(o: { messages: number; postgres: boolean }): Promise<ReprocessBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-reprocess-'));
  const rows: ReprocessBenchRow[] = [];
  const notes: string[] = [];
  // an ORM and the ORU of its order, each pair a new encounter, patient and order
  const spec = join(dir, 'orm-oru.json');
  const t = templates();
  writeFileSync(spec, JSON.stringify([t.mix[0], t.mix[1]]));
  const errorSpec = join(dir, 'orm-unmapped.json');
  const orm = t.mix[0]!;
  if (!orm.body.includes('|CT|SC') || !orm.body.includes('70450^CT HEAD WO CONTRAST^CPT'))
    throw new Error('the sample order no longer carries its procedure as 70450 and its modality as |CT|SC');
  const unmappedBody = orm.body.replace('|CT|SC', '|ZZ|SC').replace('70450^CT HEAD WO CONTRAST^CPT', '99999^LOCAL PROCEDURE^CPT');
  writeFileSync(errorSpec, JSON.stringify([{ ...orm, body: unmappedBody }]));

  const one = async (store: ReprocessBenchRow['store'], env: Record<string, string>) => {
    const work = mkdtempSync(join(dir, `${store}-`));
    cpSync(join(PACKAGE_ROOT, 'mappings'), join(work, 'mappings'), { recursive: true });
    // no submission round during the measurement: the figures are reprocessing's alone
    const serve = await startServe(work, { CDSR_SUBMIT_INTERVAL_S: '86400', ...env });
    try {
      const loadMeter = peakMeter(serve.child.pid ?? 0);
      const loaded = await load(serve.url, spec, o.messages);
      const ingest = loaded.requests / loaded.seconds;
      rows.push({
        store,
        phase: `ingest (HTTP, ${CONNECTIONS} connections)`,
        messages: loaded.requests,
        seconds: loaded.seconds,
        perSecond: ingest,
        peakRssMb: loadMeter.stop(),
      });
      if (loaded.non2xx > 0) notes.push(`${store}: ${loaded.non2xx} messages refused while loading (${loaded.firstStatus ?? ''})`);
      notes.push(`${store} after loading: ${await outcomes(serve.url)}`);
      for (const [phase, body] of [
        ['dry run {"all": true}', { all: true }],
        ['apply {"all": true, "apply": true}', { all: true, apply: true }],
      ] as const) {
        const r = await reprocess(serve, body);
        const s = r.run.summary;
        rows.push({
          store,
          phase,
          messages: loaded.requests,
          seconds: r.seconds,
          perSecond: loaded.requests / r.seconds,
          peakRssMb: r.peakRssMb,
          ratio: loaded.requests / r.seconds / ingest,
          units: s.units,
          summary: `units ${s.units}, unchanged ${s.unchanged}, byChange: ${counts(s.byChange)}, messages: ${counts(s.messages)}, skipped ${s.skipped.length}`,
        });
        // the tables did not change: a run over everything must find nothing to change
        const changed = Object.values(s.byChange).reduce((a, b) => a + b, 0) + Object.values(s.messages).reduce((a, b) => a + b, 0);
        notes.push(`${store} ${phase}: ${changed === 0 ? '0 changes, as the tables are unchanged' : `${changed} CHANGES although the tables are unchanged`}`);
      }
      notes.push(`${store} after reprocessing: ${await outcomes(serve.url)}`);

      // the analyst's error queue at the same scale: as many orders again, each with a modality no
      // crosswalk row maps (AE), then the worklist and its dry run against the tables on disk
      const unmapped = await load(serve.url, errorSpec, o.messages);
      if (unmapped.non2xx > 0) notes.push(`${store}: ${unmapped.non2xx} unmapped orders refused while loading (${unmapped.firstStatus ?? ''})`);
      const w0 = performance.now();
      const worklist = await fetch(`${serve.url}/api/worklist`);
      if (worklist.status !== 200) throw new Error(`GET /api/worklist answered ${worklist.status}`);
      const listed = (await worklist.json()) as { rows: unknown[]; messages: number };
      const listSeconds = (performance.now() - w0) / 1000;
      rows.push({
        store,
        phase: `worklist (GET: ${listed.rows.length} rows)`,
        messages: listed.messages,
        seconds: listSeconds,
        perSecond: unmapped.requests / listSeconds,
        peakRssMb: 0,
      });
      const meter = peakMeter(serve.child.pid ?? 0);
      const d0 = performance.now();
      const dry = await fetch(`${serve.url}/api/worklist/dry-run`, { method: 'POST' });
      if (dry.status !== 200) throw new Error(`POST /api/worklist/dry-run answered ${dry.status}: ${await dry.text()}`);
      const answer = (await dry.json()) as { messages: number; wouldResolve: number; stillError: number };
      const drySeconds = (performance.now() - d0) / 1000;
      rows.push({
        store,
        phase: 'dry run of the error queue (worklist)',
        messages: answer.messages,
        seconds: drySeconds,
        perSecond: answer.messages / drySeconds,
        peakRssMb: meter.stop(),
        ratio: answer.messages / drySeconds / ingest,
        summary: `messages ${answer.messages}, would resolve ${answer.wouldResolve}, still error ${answer.stillError}`,
      });
    } finally {
      await serve.stop();
    }
  };

  try {
    await one('sqlite', {});
    if (o.postgres) {
      const db = await freshPg();
      if (typeof db === 'string') notes.push(`PostgreSQL skipped: ${db}`);
      else {
        try {
          await one('postgres', { CDSR_DATABASE_URL: db.url });
        } finally {
          await db.drop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, notes };
}

/** The bench's table of reprocessing figures, with the run summaries and notes under it. */
export async function renderReprocess(o: { messages: number; postgres: boolean }): Promise<string> {
  const r = await benchReprocess(o);
  const table = renderTable(
    [
      `REPROCESS (BENCH_REPROCESS_MESSAGES, loaded through HTTP at ${CONNECTIONS} connections)`,
      'STORE',
      'MESSAGES',
      'UNITS',
      'SECONDS',
      'MSG/S',
      'SERVE PEAK RSS',
      'VS INGEST',
      'TARGET',
    ],
    r.rows.map((x) => [
      x.phase,
      x.store,
      String(x.messages),
      x.units === undefined ? '' : String(x.units),
      x.seconds.toFixed(1),
      Math.round(x.perSecond).toString(),
      x.peakRssMb === 0 ? '' : `${x.peakRssMb.toFixed(0)} MB`,
      x.ratio === undefined ? '' : `${Math.round(x.ratio * 100)} % of ingest`,
      x.phase.startsWith('dry run') ? cell(dryRunTarget(x.messages, x.seconds)) : x.phase.startsWith('worklist') ? cell(worklistTarget(x.seconds)) : '',
    ]),
  );
  const lines = [...r.rows.filter((x) => x.summary !== undefined).map((x) => `${x.store} ${x.phase} summary: ${x.summary ?? ''}`), ...r.notes];
  return `${table}\n${lines.map((l) => `${l}\n`).join('')}`;
}
