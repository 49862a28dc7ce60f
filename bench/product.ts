// The product under load, as a user runs it: `cdsr-adapter serve` in its own process (the shipped
// tables and configuration, info logging to a file, the built-in sandbox submitting), the load
// generator in another, distinct encounters and orders in every request (ORM alone, and a mix of
// ORM, ORU and FHIR Bundles). Beside it, in the same run, the ceilings it is compared to: a bare
// fastify route, and the same route with one durable commit per body (SQLite FULL; PostgreSQL).
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { errorMessage } from '../src/cdsr/errors.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import type { LoadTemplate } from './loadgen.js';

export interface ProductRow {
  readonly store: 'sqlite' | 'postgres';
  readonly name: string;
  readonly connections: number;
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  /**
   * CPU time of the process answering (user + system, all its threads) per request the load
   * generator completed in the timed phase, in microseconds; undefined where /proc cannot be read.
   * Unlike requests per second it does not move with what else the machine runs.
   */
  readonly cpuUsPerMsg?: number;
  /** The ceiling this row is compared to, and the ratio (undefined for the ceilings themselves). */
  readonly ceiling?: string;
  readonly ratio?: number;
  readonly note?: string;
}

export interface SoakRow {
  readonly store: string;
  readonly seconds: number;
  readonly requests: number;
  /**
   * RSS of `serve` after a 30-second warm-up and at the end; its peak is the kernel's high-water
   * mark (VmHWM: every page it ever held at once, between samples too), read before it stops.
   */
  readonly rssStartMb: number;
  readonly rssEndMb: number;
  readonly rssPeakMb: number;
  /** The NRDR sandbox (its own process: it keeps every submitted record in memory, as a registry does): at the end and its peak. */
  readonly sandboxRssEndMb: number;
  readonly sandboxRssPeakMb: number;
  readonly non2xx: number;
  /** CPU time of `serve` (user + system, all its threads) per request of the timed phase, in microseconds (what GC costs shows here). */
  readonly cpuUsPerMsg?: number;
  /** RSS of `serve` sampled every 10 s of the timed phase (MB): a slope is a leak, a plateau a size. */
  readonly trace: readonly number[];
}

const DIST = join(PACKAGE_ROOT, 'dist');
const sample = (p: string) => readFileSync(join(PACKAGE_ROOT, 'samples', p), 'utf8');

/** Each request a new encounter, patient, order and consultation time. */
export function templates(): { orm: LoadTemplate[]; mix: LoadTemplate[] } {
  const hl7 = (text: string, msg: string) =>
    text
      .replaceAll(msg, 'B{n}')
      .replaceAll('ORD1001', 'ORD{g}')
      .replaceAll('ACC2001', 'ACC{g}')
      .replaceAll('V0001', 'V{g}')
      .replaceAll('MRN0001', 'MRN{g}')
      .replaceAll('20261102093015', '20261102{t}')
      .replaceAll('9a55-0c2f1b7d4e01', '9a55-{u}');
  const orm: LoadTemplate = { path: '/hl7v2', contentType: 'application/hl7-v2', body: hl7(sample('hl7v2/01-orm-new.hl7'), 'MSG0001') };
  const oru: LoadTemplate = { path: '/hl7v2', contentType: 'application/hl7-v2', body: hl7(sample('hl7v2/04-oru-final.hl7'), 'MSG0004') };
  const bundle: LoadTemplate = {
    path: '/fhir',
    contentType: 'application/fhir+json',
    body: sample('fhir/03-bundle-transaction.json')
      .replaceAll('bundle-0001', 'bundle-{n}')
      .replaceAll('ORD1001', 'FORD{g}')
      .replaceAll('ACC2001', 'FACC{g}')
      .replaceAll('V0001', 'FV{g}')
      .replaceAll('MRN0001', 'FMRN{g}')
      .replaceAll('pat-0001', 'pat-{g}')
      .replaceAll('enc-0001', 'enc-{g}')
      .replaceAll('cov-0001', 'cov-{g}')
      .replaceAll('sr-1001', 'sr-{g}')
      .replaceAll('9a55-0c2f1b7d4e01', '9a55-{u}'),
  };
  return { orm: [orm], mix: [orm, oru, bundle] };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** A figure of /proc/PID/status in MB; 0 when it cannot be read (not Linux, the process ended). */
function statusMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === undefined) return 0;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The process's RSS now, MB; 0 once it has ended. */
export const rssMb = (pid: number | undefined): number => statusMb(pid, 'VmRSS');

/** The process's peak RSS so far (VmHWM), MB; 0 once it has ended. */
export const peakRssMb = (pid: number | undefined): number => statusMb(pid, 'VmHWM');

export interface Running {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

/**
 * `cdsr-adapter sandbox` in its own process, as a site rehearsing certification runs it; resolves
 * with the variables it prints that point `serve` at it.
 */
export async function startSandbox(dir: string): Promise<Running & { env: Record<string, string> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(DIST, 'src', 'cli.js'), 'sandbox', '--port', String(port)], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      CDSR_DATA_DIR: join(dir, 'data'),
      CDSR_MAPPINGS_DIR: join(dir, 'mappings'),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const env = await new Promise<Record<string, string>>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (!out.includes('what it holds')) return;
      const wanted = ['NRDR_BASE_URL', 'ACR_TOKEN_URL', 'ACR_CLIENT_ID', 'ACR_CLIENT_SECRET', 'NRDR_PARTNER_ID', 'NRDR_APP_ID'];
      resolve(Object.fromEntries([...out.matchAll(/([A-Z_]+)=(\S+)/g)].filter((m) => wanted.includes(m[1]!)).map((m) => [m[1]!, m[2]!])));
    });
    child.once('exit', (code) => reject(new Error(`the sandbox exited with ${code}`)));
  });
  return { url: env.NRDR_BASE_URL ?? '', child, env, stop: stopper(child) };
}

/**
 * `cdsr-adapter serve` as `npm start` runs it, in a data directory of its own; node given the options
 * of `BENCH_SERVE_NODE_OPTIONS` (a heap setting to try, a probe to load) and the arguments of
 * `BENCH_SERVE_NODE_ARGS` (space-separated), for those NODE_OPTIONS refuses (`--cpu-prof
 * --cpu-prof-dir=DIR`: a profile written when serve stops).
 */
export async function startServe(dir: string, extraEnv: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const log = createWriteStream(join(dir, 'serve.log'));
  const nodeArgs = (process.env.BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const nodeOptions = process.env.BENCH_SERVE_NODE_OPTIONS;
  const child = spawn(process.execPath, [...nodeArgs, join(DIST, 'src', 'cli.js'), 'serve'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      CDSR_DATA_DIR: join(dir, 'data'),
      CDSR_MAPPINGS_DIR: join(dir, 'mappings'),
      LOG_LEVEL: 'info',
      // the bench measures what the service can take, not the rate a credential is allowed
      CDSR_SEND_RATE: '0',
      CDSR_SEND_BYTES_RATE: '0',
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
      // the build's two ways of writing a message's derived rows, compared in one build
      ...(process.env.CDSR_SQLITE_DERIVE !== undefined ? { CDSR_SQLITE_DERIVE: process.env.CDSR_SQLITE_DERIVE } : {}),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}; see ${join(dir, 'serve.log')}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('serve did not become ready within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, stop: stopper(child) };
}

async function startCeiling(mode: string, arg: string): Promise<Running> {
  const child = spawn(process.execPath, [join(DIST, 'bench', 'ceiling.js'), mode, arg], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /LISTENING (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`ceiling ${mode} exited with ${code}`)));
  });
  return { url, child, stop: stopper(child) };
}

interface GenResult {
  readonly requests: number;
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly firstStatus?: string;
  readonly next: number;
  /** CPU microseconds of the process under load during the timed phase (when its pid was given). */
  readonly cpuUs?: number | null;
}

/** Numbers already used by earlier runs against one store (every run sends fresh encounters); a fresh store starts at 0, the ORM of the first group, so that no ORU waits for an order never sent. */
let nextN = 0;

/** `cpuPid`: the process whose CPU time the generator reads around its timed phase. */
function generate(url: string, spec: string, connections: number, seconds: number, warmup = 1, cpuPid?: number): Promise<GenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(DIST, 'bench', 'loadgen.js'), url, spec, String(connections), String(seconds), String(warmup), String(nextN)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...(cpuPid !== undefined ? { LOADGEN_CPU_PID: String(cpuPid) } : {}) },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', () => {
      try {
        const r = JSON.parse(out) as GenResult;
        nextN = r.next;
        resolve(r);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

export async function freshPg(): Promise<{ url: string; drop(): Promise<void> } | string> {
  const adminUrl = process.env.CDSR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch (e) {
    return `no PostgreSQL at ${adminUrl.replace(/\/\/[^@]*@/, '//')} (${errorMessage(e)}); set CDSR_TEST_PG_URL`;
  }
  const name = `cdsr_bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    },
  };
}

export interface ProductBenchOptions {
  readonly seconds: number;
  readonly connections: readonly number[];
  readonly postgres: boolean;
  readonly soakSeconds: number;
}

/** What the service made of the load, from its own /metrics: messages by status, orders by state. */
export async function outcomes(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const pick = (name: string) =>
    [...text.matchAll(new RegExp(`^${name}\\{\\w+="(\\w+)"\\} (\\d+)$`, 'gm'))]
      .filter((m) => m[2] !== '0')
      .map((m) => `${m[1]} ${m[2]}`)
      .join(', ');
  return `messages: ${pick('cdsr_inbound_messages') || 'none'}; orders: ${pick('cdsr_orders') || 'none'}; records: ${pick('cdsr_records') || 'none'}`;
}

export async function benchProduct(o: ProductBenchOptions): Promise<{ rows: ProductRow[]; soak: SoakRow[]; skipped: string[]; outcomes: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-product-'));
  const rows: ProductRow[] = [];
  const soak: SoakRow[] = [];
  const skipped: string[] = [];
  const seen: string[] = [];
  const t = templates();
  const specs = { orm: join(dir, 'orm.json'), mix: join(dir, 'mix.json') };
  writeFileSync(specs.orm, JSON.stringify(t.orm));
  writeFileSync(specs.mix, JSON.stringify(t.mix));
  const measure = async (
    store: ProductRow['store'],
    name: string,
    target: Running,
    spec: string,
    c: number,
    ceiling?: { name: string; row: ProductRow | undefined },
  ) => {
    const r = await generate(target.url, spec, c, o.seconds, 1, target.child.pid);
    const row: ProductRow = {
      store,
      name,
      connections: c,
      reqPerSec: r.reqPerSec,
      p50: r.p50,
      p99: r.p99,
      non2xx: r.non2xx,
      ...(typeof r.cpuUs === 'number' && r.requests > 0 ? { cpuUsPerMsg: r.cpuUs / r.requests } : {}),
      ...(ceiling?.row ? { ceiling: ceiling.name, ratio: r.reqPerSec / ceiling.row.reqPerSec } : {}),
      ...(r.firstStatus ? { note: r.firstStatus.replace(/\s+/g, ' ').slice(0, 80) } : {}),
    };
    rows.push(row);
    return row;
  };

  /** A data directory with the shipped tables for a fresh store, whose first group starts with the ORM. */
  const freshWork = (name: string): string => {
    const work = mkdtempSync(join(dir, `${name}-`));
    cpSync(join(PACKAGE_ROOT, 'mappings'), join(work, 'mappings'), { recursive: true });
    nextN = 0;
    return work;
  };

  const product = async (store: ProductRow['store'], env: Record<string, string>, commitCeiling: Map<number, ProductRow>, bare: Map<number, ProductRow>) => {
    const work = freshWork(store);
    const serve = await startServe(work, env);
    try {
      for (const [label, spec] of [
        ['serve: ORM, a new encounter each', specs.orm],
        ['serve: ORM + ORU + FHIR Bundle mix', specs.mix],
      ] as const) {
        for (const c of o.connections) {
          // one connection is bounded by the serial durable commit; many by the HTTP stack
          const ceiling = c === 1 ? { name: 'route + commit', row: commitCeiling.get(c) } : { name: 'bare route', row: bare.get(c) };
          await measure(store, label, serve, spec, c, ceiling);
        }
      }
      seen.push(`${store}: ${await outcomes(serve.url)}`);
    } finally {
      await serve.stop();
    }
    if (o.soakSeconds > 0) await soakRun(store, env);
  };

  const soakRun = (store: ProductRow['store'], env: Record<string, string>) => soakOnce(dir, specs.mix, store, env, o.soakSeconds, soak, seen);

  try {
    const bare = new Map<number, ProductRow>();
    const sqliteCommit = new Map<number, ProductRow>();
    {
      const b = await startCeiling('bare', '');
      try {
        for (const c of o.connections) bare.set(c, await measure('sqlite', 'ceiling: bare fastify route', b, specs.orm, c));
      } finally {
        await b.stop();
      }
      const s = await startCeiling('sqlite-commit', mkdtempSync(join(dir, 'ceiling-')));
      try {
        for (const c of o.connections) sqliteCommit.set(c, await measure('sqlite', 'ceiling: route + SQLite FULL commit', s, specs.orm, c));
      } finally {
        await s.stop();
      }
    }
    await product('sqlite', {}, sqliteCommit, bare);

    if (o.postgres) {
      const db = await freshPg();
      if (typeof db === 'string') skipped.push(`PostgreSQL: ${db}`);
      else {
        try {
          const pgCommit = new Map<number, ProductRow>();
          const p = await startCeiling('pg-commit', db.url);
          try {
            for (const c of o.connections) pgCommit.set(c, await measure('postgres', 'ceiling: route + PostgreSQL INSERT', p, specs.orm, c));
          } finally {
            await p.stop();
          }
          await product('postgres', { CDSR_DATABASE_URL: db.url }, pgCommit, bare);
        } finally {
          await db.drop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, soak, skipped, outcomes: seen };
}

/**
 * Memory over a long run: serve submitting to a sandbox of its own (the built-in one keeps every
 * record it was sent in serve's memory), the mix at 10 connections after a 30-second warm-up, RSS
 * sampled every 10 s and the peak read from the kernel (VmHWM) before each process stops.
 * `CDSR_HEAP_GROWTH_PERCENT` is passed on to serve (0: V8's own factor, to compare).
 */
async function soakOnce(
  dir: string,
  spec: string,
  store: ProductRow['store'],
  env: Record<string, string>,
  seconds: number,
  soak: SoakRow[],
  seen: string[],
): Promise<void> {
  const work = mkdtempSync(join(dir, `${store}-soak-`));
  cpSync(join(PACKAGE_ROOT, 'mappings'), join(work, 'mappings'), { recursive: true });
  nextN = 0;
  const sandbox = await startSandbox(work);
  try {
    const growth = process.env.CDSR_HEAP_GROWTH_PERCENT;
    const serve = await startServe(work, {
      ...env,
      ...sandbox.env,
      ...(growth !== undefined ? { CDSR_HEAP_GROWTH_PERCENT: growth } : {}),
    });
    try {
      await generate(serve.url, spec, 10, 30, 0);
      const start = rssMb(serve.child.pid);
      const trace: number[] = [];
      const sampler = setInterval(() => trace.push(rssMb(serve.child.pid)), 10_000);
      try {
        const r = await generate(serve.url, spec, 10, seconds, 0, serve.child.pid);
        const end = rssMb(serve.child.pid);
        soak.push({
          store,
          seconds,
          requests: r.requests,
          rssStartMb: start,
          rssEndMb: end,
          rssPeakMb: Math.max(peakRssMb(serve.child.pid), end, ...trace),
          sandboxRssEndMb: rssMb(sandbox.child.pid),
          sandboxRssPeakMb: peakRssMb(sandbox.child.pid),
          non2xx: r.non2xx,
          ...(typeof r.cpuUs === 'number' && r.requests > 0 ? { cpuUsPerMsg: r.cpuUs / r.requests } : {}),
          trace,
        });
      } finally {
        clearInterval(sampler);
      }
      seen.push(`${store} soak: ${await outcomes(serve.url)}`);
    } finally {
      await serve.stop();
    }
  } finally {
    await sandbox.stop();
  }
}

/** The soak alone (`BENCH_ONLY=soak`): SQLite, and PostgreSQL when asked for and a server answers. */
export async function benchSoak(o: { seconds: number; postgres: boolean }): Promise<{ soak: SoakRow[]; skipped: string[]; outcomes: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-soak-'));
  const soak: SoakRow[] = [];
  const skipped: string[] = [];
  const seen: string[] = [];
  const spec = join(dir, 'mix.json');
  writeFileSync(spec, JSON.stringify(templates().mix));
  try {
    await soakOnce(dir, spec, 'sqlite', {}, o.seconds, soak, seen);
    if (o.postgres) {
      const db = await freshPg();
      if (typeof db === 'string') skipped.push(`PostgreSQL: ${db}`);
      else {
        try {
          await soakOnce(dir, spec, 'postgres', { CDSR_DATABASE_URL: db.url }, o.seconds, soak, seen);
        } finally {
          await db.drop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { soak, skipped, outcomes: seen };
}
