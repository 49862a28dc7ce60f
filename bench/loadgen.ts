// A small HTTP load generator run as its own process by the load bench: C connections, each
// sending requests one after another for D seconds; every body gets a fresh number in place of
// "{n}" (so each request is a new message). Prints {requests, reqPerSec, p50, p99, non2xx} (ms).
import { Agent, request } from 'node:http';

const [url = '', connections = '1', seconds = '5', bodyB64 = '', contentType = 'application/hl7-v2'] = process.argv.slice(2);
const template = Buffer.from(bodyB64, 'base64').toString('utf8');
const c = Number(connections);
const agent = new Agent({ keepAlive: true, maxSockets: c });
const latencies: number[] = [];
let non2xx = 0;
let n = 0;
const end = Date.now() + Number(seconds) * 1000;

function once(): Promise<void> {
  const body = template.replaceAll('{n}', String(++n));
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        if ((res.statusCode ?? 0) >= 300) non2xx++;
        resolve();
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function worker(): Promise<void> {
  while (Date.now() < end) await once();
}

const t0 = Date.now();
await Promise.all(Array.from({ length: c }, worker));
const elapsed = (Date.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
agent.destroy();
console.log(JSON.stringify({ requests: latencies.length, reqPerSec: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), non2xx }));
