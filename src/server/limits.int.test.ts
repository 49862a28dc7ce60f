// Limits at the HTTP door, over a real socket: a body sent too slowly is cut at the request
// timeout instead of holding the connection; junk that is not HL7 is counted, its start
// kept, not stored whole; one address cannot take every connection.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withTestServer, type TestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

/** Writes `bytes` on a new connection; resolves with what came back and how long until the adapter closed it. */
function untilClosed(s: TestServer, bytes: string): Promise<{ answer: string; ms: number }> {
  const { port } = new URL(s.url);
  const start = Date.now();
  return new Promise((resolve) => {
    const sock = connect(Number(port), '127.0.0.1');
    let answer = '';
    sock.on('data', (c: Buffer) => (answer += c.toString('utf8')));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ answer, ms: Date.now() - start }));
    sock.write(bytes);
  });
}
import { REJECTED_KEPT } from '../inbound/hl7.js';

describe('HTTP limits', () => {
  it('a slow body is not held: the connection is closed at CDSR_HTTP_REQUEST_TIMEOUT_S', { timeout: 30_000 }, async () => {
    await withTestServer(
      async (s) => {
        const { port } = new URL(s.url);
        const answer = await new Promise<string>((resolve) => {
          const sock = connect(Number(port), '127.0.0.1');
          let got = '';
          sock.on('data', (c: Buffer) => (got += c.toString('utf8')));
          sock.on('error', () => undefined);
          sock.on('close', () => resolve(got));
          // headers promise 10,000 bytes; 10 come, then nothing
          sock.write('POST /hl7v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/hl7-v2\r\nContent-Length: 10000\r\n\r\nMSH|^~\\&|A');
        });
        // closed, with a 408 or without an answer (a sender that sends this slowly reads none)
        assert.ok(answer === '' || /^HTTP\/1\.1 408 /.test(answer), answer);
      },
      { listen: true, requestTimeoutS: 1 },
    );
  });

  it('a body that is not HL7 is kept only by its start and its size', async () => {
    await withTestServer(async (s) => {
      const junk = 'x'.repeat(50_000);
      const r = await s.fetch('/hl7v2', { method: 'POST', body: junk, headers: { 'content-type': 'application/hl7-v2' } });
      assert.equal(r.status, 200);
      const [m] = await s.store.messages({ status: 'rejected' });
      const stored = await s.store.message(m!.id);
      assert.equal(stored?.raw, `${'x'.repeat(REJECTED_KEPT)}\n[50000 characters; the first ${REJECTED_KEPT} kept]`);
    });
  });

  it('headers sent slowly are cut at CDSR_HTTP_HEADERS_TIMEOUT_S, before the request timeout', { timeout: 30_000 }, async () => {
    await withTestServer(
      async (s) => {
        // the request line and one header, then nothing
        const { answer, ms } = await untilClosed(s, 'POST /hl7v2 HTTP/1.1\r\nHost: x\r\n');
        assert.ok(answer === '' || /^HTTP\/1\.1 408 /.test(answer), answer);
        assert.ok(ms < 20_000, `closed after ${ms} ms`);
      },
      { listen: true, requestTimeoutS: 60, http: { CDSR_HTTP_HEADERS_TIMEOUT_S: 1 } },
    );
  });

  it('an idle keep-alive connection is closed at CDSR_HTTP_KEEPALIVE_S', { timeout: 30_000 }, async () => {
    await withTestServer(
      async (s) => {
        const { answer, ms } = await untilClosed(s, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
        assert.match(answer, /^HTTP\/1\.1 200 OK\r\n[\s\S]*keep-alive: timeout=1\r\n[\s\S]*\{"status":"ok"\}$/i);
        // open well past the answer, closed well before fastify's default of 72 s
        assert.ok(ms >= 900 && ms < 20_000, `closed after ${ms} ms`);
      },
      { listen: true, http: { CDSR_HTTP_KEEPALIVE_S: 1 } },
    );
  });

  it('headers larger than CDSR_HTTP_MAX_HEADER_BYTES are answered 431 and the connection closed', async () => {
    await withTestServer(
      async (s) => {
        const { answer } = await untilClosed(s, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`);
        assert.match(answer, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
        // under the limit, the same request is answered
        const ok = await untilClosed(s, `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ${'a'.repeat(3000)}\r\n\r\n`);
        assert.match(ok.answer, /^HTTP\/1\.1 200 OK\r\n/);
      },
      { listen: true, http: { CDSR_HTTP_MAX_HEADER_BYTES: 4096 } },
    );
  });

  it('connections past CDSR_HTTP_MAX_CONNECTIONS are closed unanswered; the ones held go on', { timeout: 30_000 }, async () => {
    await withTestServer(
      async (s) => {
        const { port } = new URL(s.url);
        const open = () =>
          new Promise<Socket>((resolve) => {
            const sock = connect(Number(port), '127.0.0.1', () => resolve(sock));
            sock.on('error', () => undefined);
          });
        const held = [await open(), await open()];
        // the third is dropped by the server: closed, nothing answered
        const third = await untilClosed(s, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal(third.answer, '');
        // a held connection is still served
        const answer = await new Promise<string>((resolve) => {
          let got = '';
          held[0]!.on('data', (c: Buffer) => (got += c.toString('utf8')));
          held[0]!.on('close', () => resolve(got));
          held[0]!.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        });
        assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
        held[1]!.destroy();
      },
      { listen: true, http: { CDSR_HTTP_MAX_CONNECTIONS: 2 } },
    );
  });

  it(
    'past CDSR_HTTP_MAX_PER_SOURCE an address is refused at once (one line a minute); another address is answered, /hl7v2 and /healthz',
    { timeout: 30_000 },
    async () => {
      await withTestServer(
        async (s) => {
          const { port } = new URL(s.url);
          // the flood: idle sockets from 127.0.0.2, more than the whole listener holds; each counted when closed
          let closedOnes = 0;
          let allClosed: () => void = () => undefined;
          const nineClosed = new Promise<void>((ok) => (allClosed = ok));
          const flood = Array.from({ length: 12 }, () => {
            const sock = connect({ port: Number(port), host: '127.0.0.1', localAddress: '127.0.0.2' });
            sock.on('error', () => undefined);
            sock.on('close', () => ++closedOnes === 9 && allClosed());
            return sock;
          });
          await nineClosed;
          assert.equal(closedOnes, 9);
          try {
            // 127.0.0.1 still gets in: a message and the health check
            const hl7 = await fetch(`${s.url}/hl7v2`, {
              method: 'POST',
              headers: { 'content-type': 'application/hl7-v2' },
              body: ORM.replace('MSG0001', 'HP1'),
            });
            assert.equal(hl7.status, 200);
            assert.match(await hl7.text(), /\rMSA\|AA\|HP1\r/);
            const health = await fetch(`${s.url}/healthz`);
            assert.deepEqual([health.status, await health.json()], [200, { status: 'ok' }]);
            const refusals = s
              .logs()
              .split('\n')
              .filter((l) => l.includes('"http_refused"'))
              .map((l) => {
                const { event, source, refused, limit } = JSON.parse(l) as Record<string, unknown>;
                return { event, source, refused, limit };
              });
            assert.deepEqual(refusals, [{ event: 'http_refused', source: '127.0.0.2', refused: 1, limit: 3 }]);
          } finally {
            for (const sock of flood) sock.destroy();
          }
        },
        { listen: true, http: { CDSR_HTTP_MAX_CONNECTIONS: 10, CDSR_HTTP_MAX_PER_SOURCE: 3 } },
      );
    },
  );
});
