// The load generator of the benches, run as its own process (the other core): C connections, each
// sending requests one after another for D seconds, after a warm-up that is not counted.
// Usage: loadgen.js BASE_URL SPEC.json CONNECTIONS SECONDS [WARMUP_SECONDS] [FIRST_N] [MAX_REQUESTS]
// With MAX_REQUESTS the timed phase also ends once that many requests were sent (a fixed load:
// the reprocessing bench stores exactly that many messages).
// SPEC.json is a list of {path, contentType, body}; request n uses template n % k and replaces
// "{n}" by n (unique per request), "{g}" by floor(n / k) (the group: an ORM, its ORU and a FHIR
// order of one group share their numbers), "{t}" by a clock time hhmmss derived from the group and
// "{u}" by the group as 12 hex digits (the tail of a UUID).
// Prints {requests, reqPerSec, p50, p99, non2xx, firstStatus, next} (ms); `next` is the first n
// not used, so a later run continues with fresh encounters. With LOADGEN_CPU_PID set, also
// `cpuUs`: the CPU time (user + system, all its threads) that process spent during the timed phase,
// in microseconds, read from /proc/<pid>/stat at its start and end (null where /proc cannot be read).
import { readFileSync } from 'node:fs';
import { cpuMicros } from './cpu.js';
import { Agent, request } from 'node:http';

export interface LoadTemplate {
  readonly path: string;
  readonly contentType: string;
  readonly body: string;
}

const [base = '', specFile = '', connections = '1', seconds = '5', warmup = '1', first = '0', maxRequests = ''] = process.argv.slice(2);
const templates = JSON.parse(readFileSync(specFile, 'utf8')) as LoadTemplate[];
const k = templates.length;
const c = Number(connections);
const agent = new Agent({ keepAlive: true, maxSockets: c });
let n = Number(first);
let non2xx = 0;
let firstStatus: string | undefined;

const hhmmss = (g: number): string => {
  const s = g % 86_400;
  return [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60].map((x) => String(x).padStart(2, '0')).join('');
};

function once(latencies: number[] | undefined): Promise<void> {
  const i = n++;
  const t = templates[i % k]!;
  const g = Math.floor(i / k);
  const body = t.body
    .replaceAll('{n}', String(i))
    .replaceAll('{g}', String(g))
    .replaceAll('{t}', hhmmss(g))
    .replaceAll('{u}', g.toString(16).padStart(12, '0'));
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${t.path}`,
      { method: 'POST', agent, headers: { 'content-type': t.contentType, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text.length < 500 ? (text += d.toString('utf8')) : undefined));
        res.on('end', () => {
          latencies?.push(Number(process.hrtime.bigint() - started) / 1e6);
          if ((res.statusCode ?? 0) >= 300) {
            non2xx++;
            firstStatus ??= `${res.statusCode ?? 0} ${text.slice(0, 200)}`;
          }
          resolve();
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function phase(secs: number, latencies?: number[], last = Infinity): Promise<number> {
  const end = Date.now() + secs * 1000;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (Date.now() < end && n < last) await once(latencies);
    }),
  );
  return (Date.now() - t0) / 1000;
}

await phase(Number(warmup));
non2xx = 0;
const latencies: number[] = [];
const cpuPid = process.env.LOADGEN_CPU_PID;
const cpu0 = cpuPid ? cpuMicros(Number(cpuPid)) : undefined;
const elapsed = await phase(Number(seconds), latencies, maxRequests === '' ? Infinity : n + Number(maxRequests));
const cpu1 = cpuPid ? cpuMicros(Number(cpuPid)) : undefined;
const cpuUs = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : null;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
agent.destroy();
console.log(
  JSON.stringify({
    requests: latencies.length,
    reqPerSec: latencies.length / elapsed,
    p50: q(0.5),
    p99: q(0.99),
    non2xx,
    firstStatus,
    next: n,
    ...(cpuPid ? { cpuUs } : {}),
  }),
);
