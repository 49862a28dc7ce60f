// Limits at the HTTP door, over a real socket: a body sent too slowly is cut at the request
// timeout instead of holding the connection; junk that is not HL7 is counted, its start
// kept, not stored whole.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { withTestServer } from '../../test/server.js';
import { REJECTED_KEPT } from '../inbound/hl7.js';

describe('HTTP limits', () => {
  it('a slow body is not held: the connection is closed at CDSR_HTTP_REQUEST_TIMEOUT_S', { timeout: 30_000 }, async () => {
    await withTestServer(async (s) => {
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
    }, { listen: true, requestTimeoutS: 1 });
  });

  it('a body that is not HL7 is kept only by its start and its size', async () => {
    await withTestServer(async (s) => {
      const junk = 'x'.repeat(50_000);
      const r = await s.fetch('/hl7v2', { method: 'POST', body: junk, headers: { 'content-type': 'application/hl7-v2' } });
      assert.equal(r.status, 400);
      const [m] = await s.store.messages({ status: 'rejected' });
      const stored = await s.store.message(m!.id);
      assert.equal(stored?.raw, `${'x'.repeat(REJECTED_KEPT)}\n[50000 characters; the first ${REJECTED_KEPT} kept]`);
    });
  });
});
