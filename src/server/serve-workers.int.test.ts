// `serve` as shipped: the older CDSR_INBOUND_API_KEYS work (send + operate) with a start-up
// warning naming them; a large HL7 message is mapped by the process's own mapping worker (the
// compiled worker script found beside the pool) and answered AA once stored; a shutdown ends the
// workers with the process; a credential's byte rate (CDSR_SEND_BYTES_RATE) refuses the next large
// message with 429 and Retry-After, counted in /metrics.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort } from '../../test/server.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8')
  .replace(/\r?\n/g, '\r')
  .trimEnd();

describe('serve with the older inbound keys and its mapping workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-serve-'));
  let child: ChildProcess | undefined;
  after(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('warns about CDSR_INBOUND_API_KEYS, maps a 300 KB message in a worker (AA), and stops on SIGTERM', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const env = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      CDSR_DATA_DIR: join(dir, 'data'),
      CDSR_MAPPINGS_DIR: join(REPO_ROOT, 'mappings'),
      LOG_LEVEL: 'info',
      CDSR_INBOUND_API_KEYS: 'old-key',
      CDSR_MAP_WORKERS: '1',
      CDSR_SUBMIT_INTERVAL_S: '3600',
      // 400 KB of burst: one 300 KB message, not two; refilled at 1 KB a second, so that the second
      // is refused however slowly a busy machine gets to it (200 s would let it through)
      CDSR_SEND_BYTES_RATE: '1000',
      CDSR_SEND_BURST_S: '400',
    };
    const proc = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli.js'), 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const exited = new Promise<number | null>((ok) => proc.on('exit', (code) => ok(code)));
    for (let i = 0; i < 400 && !out.includes('cdsr-adapter listening'); i++) await new Promise((r) => setTimeout(r, 50));
    const events = () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level?: number; event?: string; variable?: string; msg?: string });
    assert.deepEqual(
      events()
        .filter((e) => e.event === 'config' && e.level === 40)
        .map((e) => [e.variable, e.msg]),
      [
        [
          'CDSR_INBOUND_API_KEYS',
          'CDSR_INBOUND_API_KEYS give send and operate rights together; give Mirth a key of CDSR_SEND_API_KEYS and operators keys of CDSR_OPERATE_API_KEYS',
        ],
      ],
    );
    const big = `${ORM}\r${Array.from({ length: 1200 }, (_, i) => `NTE|${i + 1}||${'n'.repeat(240)}`).join('\r')}\r`;
    assert.ok(big.length > 300_000);
    const post = (key: string) =>
      fetch(`http://127.0.0.1:${port}/hl7v2`, { method: 'POST', body: big, headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${key}` } });
    assert.equal((await post('wrong')).status, 401);
    const r = await post('old-key');
    assert.equal(r.status, 200);
    assert.match(await r.text(), /\rMSA\|AA\|MSG0001\r$/);
    // the same key also operates (reads the stored message)
    const list = (await (await fetch(`http://127.0.0.1:${port}/api/messages`, { headers: { authorization: 'Bearer old-key' } })).json()) as {
      messages: { id: number; status: string; controlId: string }[];
    };
    assert.deepEqual(
      list.messages.map((m) => [m.id, m.status, m.controlId]),
      [[1, 'applied', 'MSG0001']],
    );
    const again = await fetch(`http://127.0.0.1:${port}/hl7v2`, {
      method: 'POST',
      body: big.replace('MSG0001', 'MSG0002'),
      headers: { 'content-type': 'application/hl7-v2', authorization: 'Bearer old-key' },
    });
    assert.equal(again.status, 429);
    assert.match(again.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.match(await again.text(), /\rMSA\|AR\|MSG0002\rERR\|.*RATE_LIMITED: this credential \(key#1\) sends faster than 1000 bytes a second/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer old-key' } })).text();
    assert.match(metrics, /^cdsr_messages_refused_total\{reason="rate"\} 1$/m);
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
