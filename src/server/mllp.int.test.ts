// The MLLP listener: framed messages in, framed ACKs out, in order, split across TCP chunks.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Server, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { startMllp } from './mllp.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const quiet = { info: () => undefined, warn: () => undefined };

describe('MLLP listener', () => {
  let s: TestServer;
  let mllp: Server;
  before(async () => {
    s = await startTestServer();
    mllp = await startMllp({ store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') }, 0, '127.0.0.1', quiet);
  });
  after(async () => {
    await new Promise<void>((ok) => mllp.close(() => ok()));
    await s.close();
  });

  it('answers each framed message with a framed ACK, in order, however the bytes are split', async () => {
    const port = (mllp.address() as AddressInfo).port;
    const sock = connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (c: Buffer) => (got += c.toString('utf8')));
    const frames = ['M1', 'M2', 'M3'].map((id) => `\x0b${ORM.replace('MSG0001', id)}\x1c\r`).join('') + '\x0bnot hl7\x1c\r';
    const bytes = Buffer.from(frames);
    for (let i = 0; i < bytes.length; i += 97) sock.write(bytes.subarray(i, i + 97));
    for (let i = 0; i < 100 && got.split('\x1c\r').length <= 4; i++) await new Promise((r) => setTimeout(r, 20));
    sock.end();
    const acks = got.split('\x1c\r').filter((a) => a !== '');
    assert.deepEqual(
      acks.map((a) => [a.startsWith('\x0b'), /\rMSA\|(A[AER])\|([^\r]*)/.exec(a)?.slice(1)]),
      [
        [true, ['AA', 'M1']],
        [true, ['AA', 'M2']],
        [true, ['AA', 'M3']],
        [true, ['AR', '']],
      ],
    );
  });

  it('a failure of ours on one message closes that connection only; the process and the listener go on', async () => {
    const logs: string[] = [];
    let broken = true;
    const deps = {
      store: s.store,
      get mappings() {
        if (broken) throw new TypeError('tables gone');
        return s.mappings;
      },
      clock: () => new Date('2026-11-23T06:00:00Z'),
    };
    const server = await startMllp(deps, 0, '127.0.0.1', { info: () => undefined, warn: (_o, m) => logs.push(m) });
    const port = (server.address() as AddressInfo).port;
    const exchange = () =>
      new Promise<string>((resolve) => {
        const sock = connect(port, '127.0.0.1');
        let got = '';
        sock.on('data', (c: Buffer) => {
          got += c.toString('utf8');
          if (got.includes('\x1c\r')) sock.end();
        });
        sock.on('close', () => resolve(got));
        sock.write(`\x0b${ORM.replace('MSG0001', `X${logs.length}`)}\x1c\r`);
      });
    try {
      assert.equal(await exchange(), '');
      assert.deepEqual(logs, ['MLLP message not answered; connection closed']);
      broken = false;
      assert.match(await exchange(), /\rMSA\|AA\|X1/);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});
