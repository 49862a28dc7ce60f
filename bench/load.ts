// HTTP load on loopback: POST /hl7v2 with the ORM sample (each request its own control id and
// order, committed with synchronous=FULL) next to a bare fastify POST route, in the same run;
// the load generator (bench/loadgen.ts) is a separate process.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import Fastify from 'fastify';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { buildApp } from '../src/server/app.js';
import { MappingHolder } from '../src/mapping/holder.js';
import { openStore } from '../src/store/open.js';
import { PACKAGE_ROOT } from '../src/paths.js';

export interface LoadRow {
  readonly name: string;
  readonly connections: number;
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
}

export async function benchLoad(seconds = 5): Promise<LoadRow[]> {
  const orm = readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-load-'));
  cpSync(join(PACKAGE_ROOT, 'mappings'), join(dir, 'mappings'), { recursive: true });
  const quiet = { info: () => undefined, warn: () => undefined };
  const mappings = MappingHolder.load(join(dir, 'mappings'), quiet).holder!;
  const store = await openStore(
    { kind: 'sqlite', file: join(dir, 'db.sqlite') },
    new CdsrValidator({ now: () => new Date(), valueSets: mappings.current.valueSets, fieldLimits: mappings.current.fieldLimits }),
  );
  const app = await buildApp({ config: { CDSR_INBOUND_API_KEYS: [], CDSR_BODY_LIMIT_BYTES: 1 << 20, LOG_LEVEL: 'warn' }, store, mappings, clock: () => new Date() });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const bare = Fastify();
  bare.addContentTypeParser('application/hl7-v2', { parseAs: 'string' }, (_r, b, done) => done(null, b));
  bare.post('/hl7v2', async (_req, reply) => reply.type('x-application/hl7-v2+er7').send('MSA|AA|X\r'));
  const bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' });

  // the load generator runs in its own process (the other core); each request carries a fresh
  // control id and order number, so each is a new message to store and merge
  const body = Buffer.from(orm.replaceAll('MSG0001', 'L{n}').replaceAll('ORD1001', 'LORD{n}').replaceAll('ACC2001', 'LACC{n}')).toString('base64');
  const gen = join(PACKAGE_ROOT, 'dist', 'bench', 'loadgen.js');
  const run = (name: string, target: string, connections: number): Promise<LoadRow> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [gen, `${target}/hl7v2`, String(connections), String(seconds), body], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
      child.on('error', reject);
      child.on('close', () => {
        try {
          const r = JSON.parse(out) as { reqPerSec: number; p50: number; p99: number; non2xx: number };
          resolve({ name, connections, reqPerSec: r.reqPerSec, p50: r.p50, p99: r.p99, non2xx: r.non2xx });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
  try {
    return [
      await run('bare fastify POST', bareUrl, 1),
      await run('POST /hl7v2 (map + merge + FULL commit)', url, 1),
      await run('bare fastify POST', bareUrl, 50),
      await run('POST /hl7v2 (map + merge + FULL commit)', url, 50),
    ];
  } finally {
    await app.close();
    await bare.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
