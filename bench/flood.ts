// The floods of issue 25 against `cdsr-adapter serve` in its own process, with a legitimate sender
// beside each, and the RSS of `serve` sampled all along. Not a test: it prints what it saw.
//   node dist/bench/flood.js            (or BENCH_FLOOD=1 npm run bench)
// Settings: BENCH_FLOOD_FRAMES (1 MB MLLP frames pipelined on 4 connections, default 6000),
// BENCH_FLOOD_SECONDS (the length of the timed floods, default 30).
// The flooding connections come from 127.0.0.2 and the legitimate sender from 127.0.0.1 (Linux
// routes all of 127.0.0.0/8 to loopback), so the caps per source address apply as they would to
// two hosts.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderTable } from '../src/cli/table.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { freePort, rssMb, startServe, type Running } from './product.js';

const ATTACKER = '127.0.0.2';
const SENDER = '127.0.0.1';
const ORM = readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

export interface FloodOptions {
  /** 1 MB frames sent on the four flooding connections together. */
  readonly frames: number;
  /** Length of the floods that run for a time (the trickle, the idle HTTP sockets). */
  readonly seconds: number;
}

export interface FloodRow {
  readonly scenario: string;
  readonly attack: string;
  /** What the legitimate sender got: "answered of sent". */
  readonly legit: string;
  readonly rssPeakMb: number;
  readonly seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS of `serve` every 250 ms, until stopped; the highest seen. */
function sampleRss(pid: number | undefined): { stop(): number } {
  let peak = rssMb(pid);
  const t = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 250);
  return {
    stop: () => {
      clearInterval(t);
      return Math.max(peak, rssMb(pid));
    },
  };
}

/** A connection from `from`; undefined when it could not be made. */
function open(port: number, from: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1', localAddress: from }, () => resolve(sock));
    sock.once('error', () => resolve(undefined));
  });
}

/**
 * The legitimate MLLP sender: one ORM a second on a connection of its own (opened again when it is
 * lost, as Mirth does), each waited for 5 s; counts answered and sent.
 */
function mllpSender(port: number): { stop(): Promise<{ sent: number; answered: number }> } {
  let running = true;
  let sent = 0;
  let answered = 0;
  const loop = (async () => {
    let sock: Socket | undefined;
    let got = '';
    while (running) {
      const started = Date.now();
      if (!sock || sock.destroyed) {
        got = '';
        sock = await open(port, SENDER);
        sock?.on('data', (c: Buffer) => (got += c.toString('latin1')));
        sock?.on('error', () => undefined);
      }
      sent++;
      if (sock) {
        const id = `LEGIT${sent}`;
        sock.write(`\x0b${ORM.replace('MSG0001', id)}\x1c\r`);
        const s = sock;
        const ok = await new Promise<boolean>((resolve) => {
          const done = (v: boolean) => {
            clearInterval(poll);
            clearTimeout(timer);
            resolve(v);
          };
          const poll = setInterval(() => {
            if (new RegExp(`MSA\\|AA\\|${id}[\\r\\x1c|]`).test(got)) done(true);
            else if (s.destroyed) done(false);
          }, 5);
          const timer = setTimeout(() => done(false), 5000);
        });
        if (ok) answered++;
        else sock.destroy();
        got = '';
      }
      await sleep(Math.max(0, 1000 - (Date.now() - started)));
    }
    sock?.destroy();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { sent, answered };
    },
  };
}

/** The legitimate HTTP sender: POST /hl7v2 and GET /healthz once a second each, each waited for 5 s. */
function httpSender(url: string): { stop(): Promise<{ sent: number; answered: number; health: number; healthOk: number }> } {
  let running = true;
  const c = { sent: 0, answered: 0, health: 0, healthOk: 0 };
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const id = `HLEGIT${++c.sent}`;
      c.health++;
      const [post, health] = await Promise.all([
        fetch(`${url}/hl7v2`, {
          method: 'POST',
          headers: { 'content-type': 'application/hl7-v2' },
          body: ORM.replace('MSG0001', id),
          signal: AbortSignal.timeout(5000),
        })
          .then(async (r) => r.status === 200 && new RegExp(`MSA\\|AA\\|${id}[\\r|]`).test(await r.text()))
          .catch(() => false),
        fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) })
          .then((r) => r.status === 200)
          .catch(() => false),
      ]);
      if (post) c.answered++;
      if (health) c.healthOk++;
      await sleep(Math.max(0, 1000 - (Date.now() - started)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return c;
    },
  };
}

/**
 * `frames` 1 MB frames pipelined on four connections: written as fast as serve reads them, the
 * ACKs read (`readAcks`) or never read. A flood that serve stops reading (its ACKs unread) ends
 * when no frame has gone out for 10 s.
 */
async function pipelined(serve: Running, port: number, frames: number, readAcks: boolean): Promise<FloodRow> {
  const payload = Buffer.concat([Buffer.from('\x0b'), Buffer.alloc(1_000_000, 0x41), Buffer.from('\x1c\r')]);
  const rss = sampleRss(serve.child.pid);
  const legit = mllpSender(port);
  const started = Date.now();
  let written = 0;
  let acks = 0;
  let lastProgress = Date.now();
  const socks = (await Promise.all([0, 1, 2, 3].map(() => open(port, ATTACKER)))).filter((s): s is Socket => s !== undefined);
  const flows = socks.map(async (sock, c) => {
    sock.on('error', () => undefined);
    if (readAcks) sock.on('data', (d: Buffer) => (acks += d.toString('latin1').split('\x1c').length - 1));
    else sock.pause();
    const mine = Math.floor(frames / socks.length) + (c < frames % socks.length ? 1 : 0);
    for (let i = 0; i < mine && !sock.destroyed; i++) {
      const flushed = sock.write(payload);
      written++;
      lastProgress = Date.now();
      if (!flushed)
        await new Promise<void>((ok) => {
          const done = () => {
            clearInterval(stall);
            sock.off('drain', done);
            sock.off('close', done);
            ok();
          };
          sock.once('drain', done);
          sock.once('close', done);
          // serve no longer reads this sender (its ACKs are not read): the flood is over
          const stall = setInterval(() => Date.now() - lastProgress > 10_000 && (sock.destroy(), done()), 500);
        });
    }
  });
  await Promise.all(flows);
  const writtenAll = written;
  // the senders that read their ACKs wait for the last ones
  if (readAcks) for (let i = 0; i < 600 && acks < writtenAll; i++) await sleep(100);
  const seconds = (Date.now() - started) / 1000;
  for (const s of socks) s.destroy();
  const l = await legit.stop();
  const taken = readAcks ? `${writtenAll} written, ${acks} answered` : `${writtenAll} written, ACKs unread`;
  return {
    scenario: `MLLP: ${frames} × 1 MB pipelined, 4 connections, ${readAcks ? 'ACKs read' : 'ACKs never read'}`,
    attack: taken,
    legit: `${l.answered} of ${l.sent}`,
    rssPeakMb: rss.stop(),
    seconds,
  };
}

/** `n` connections from the attacker, each kept open by `keep` and opened again as soon as it closes. */
function swarm(port: number, n: number, keep: (sock: Socket) => () => void): { stop(): { opened: number } } {
  let running = true;
  let opened = 0;
  const live = new Set<Socket>();
  const one = () => {
    if (!running) return;
    opened++;
    const sock = connect({ port, host: '127.0.0.1', localAddress: ATTACKER });
    live.add(sock);
    let stopKeeping = () => undefined as void;
    sock.once('connect', () => (stopKeeping = keep(sock)));
    sock.on('error', () => undefined);
    sock.once('close', () => {
      stopKeeping();
      live.delete(sock);
      // opened again at once (on the next turn, so a refusal does not recurse)
      setImmediate(one);
    });
  };
  for (let i = 0; i < n; i++) one();
  return {
    stop: () => {
      running = false;
      for (const s of live) s.destroy();
      return { opened };
    },
  };
}

/** 100 MLLP connections sending one byte that is not a frame every 5 s, reopened as they close. */
async function trickle(serve: Running, port: number, seconds: number): Promise<FloodRow> {
  const rss = sampleRss(serve.child.pid);
  const legit = mllpSender(port);
  const s = swarm(port, 100, (sock) => {
    const t = setInterval(() => sock.write('x'), 5000);
    return () => clearInterval(t);
  });
  await sleep(seconds * 1000);
  const { opened } = s.stop();
  const l = await legit.stop();
  return {
    scenario: 'MLLP: 100 connections, a byte that is not a frame every 5 s',
    attack: `${opened} connections opened`,
    legit: `${l.answered} of ${l.sent}`,
    rssPeakMb: rss.stop(),
    seconds,
  };
}

/** 1,100 idle HTTP sockets, reopened as they close. */
async function idleHttp(serve: Running, seconds: number): Promise<FloodRow[]> {
  const port = Number(new URL(serve.url).port);
  const rss = sampleRss(serve.child.pid);
  const legit = httpSender(serve.url);
  const s = swarm(port, 1100, () => () => undefined);
  await sleep(seconds * 1000);
  const { opened } = s.stop();
  const l = await legit.stop();
  const peak = rss.stop();
  const scenario = '1,100 idle HTTP sockets, reopened as they close';
  return [
    { scenario: `HTTP: ${scenario}; POST /hl7v2`, attack: `${opened} connections opened`, legit: `${l.answered} of ${l.sent}`, rssPeakMb: peak, seconds },
    { scenario: `HTTP: ${scenario}; GET /healthz`, attack: '', legit: `${l.healthOk} of ${l.health}`, rssPeakMb: peak, seconds },
  ];
}

export async function runFlood(o: FloodOptions): Promise<FloodRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-flood-'));
  cpSync(join(PACKAGE_ROOT, 'mappings'), join(dir, 'mappings'), { recursive: true });
  const mllpPort = await freePort();
  // the settings: a 10 s idle time (the trickle's byte every 5 s used to keep it alive)
  const serve = await startServe(dir, { CDSR_MLLP_PORT: String(mllpPort), CDSR_MLLP_IDLE_S: '10' });
  const rows: FloodRow[] = [];
  try {
    // what serve holds before any flood, to read the peaks against
    rows.push({ scenario: 'serve started, before the floods (RSS now)', attack: '', legit: '', rssPeakMb: rssMb(serve.child.pid), seconds: 0 });
    rows.push(await pipelined(serve, mllpPort, o.frames, false));
    rows.push(await pipelined(serve, mllpPort, o.frames, true));
    rows.push(await trickle(serve, mllpPort, o.seconds));
    rows.push(...(await idleHttp(serve, o.seconds)));
    if (serve.child.exitCode !== null) throw new Error(`serve exited with ${serve.child.exitCode}; see ${join(dir, 'serve.log')}`);
  } finally {
    await serve.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function renderFlood(rows: readonly FloodRow[]): string {
  return (
    renderTable(
      [
        'FLOODS (issue 25; serve in its own process, attacker 127.0.0.2, sender 127.0.0.1)',
        'ATTACK',
        'LEGITIMATE SENDER ANSWERED',
        'SERVE PEAK RSS',
        'SECONDS',
      ],
      rows.map((r) => [r.scenario, r.attack, r.legit, `${r.rssPeakMb.toFixed(0)} MB`, r.seconds.toFixed(0)]),
    ) + '\n'
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runFlood({ frames: Number(process.env.BENCH_FLOOD_FRAMES ?? 6000), seconds: Number(process.env.BENCH_FLOOD_SECONDS ?? 30) });
  process.stdout.write(renderFlood(rows));
}
