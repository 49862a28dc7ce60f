// The MLLP listener: framed messages in, framed ACKs out, in order, split across TCP chunks.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, Socket, type Server, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { startMllp, type MllpOptions } from './mllp.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const quiet = { info: () => undefined, warn: () => undefined };
const options = (o: Partial<MllpOptions> = {}): MllpOptions => ({
  port: 0,
  host: '127.0.0.1',
  allow: [],
  maxFrameBytes: 1024 * 1024,
  idleMs: 60_000,
  maxConnections: 100,
  ...o,
});

/** Connects, writes, and resolves with what came back when the adapter closes the connection. */
/** Sends one frame on `sock` (a new connection to `server` when given a server) and reads its ACK. */
function ackOn(target: Server | Socket, frame: string): Promise<string> {
  const sock = target instanceof Socket ? target : connect((target.address() as AddressInfo).port, '127.0.0.1');
  return new Promise<string>((resolve) => {
    let got = '';
    sock.on('data', (c: Buffer) => {
      got += c.toString('utf8');
      if (got.includes('\x1c\r')) {
        sock.end();
        resolve(got);
      }
    });
    sock.write(frame);
  });
}

function closedAfter(server: Server, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
    let got = '';
    sock.on('data', (c: Buffer) => (got += c.toString('utf8')));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got));
    if (bytes.length > 0) sock.write(bytes);
  });
}

describe('MLLP listener', () => {
  let s: TestServer;
  let mllp: Server;
  before(async () => {
    s = await startTestServer();
    mllp = await startMllp({ store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') }, options(), quiet);
  });
  after(async () => {
    await new Promise<void>((ok) => mllp.close(() => ok()));
    await s.close();
  });

  it('answers a message refused for its MSH-2 with MSA-2 = MSH-10 read by splitting the MSH on MSH-1', async () => {
    const odd = ORM.replace('MSH|^~\\&|', 'MSH|^~\\\\&|').replace('MSG0001', '102');
    const ack = await ackOn(mllp, `\x0b${odd}\x1c\r`);
    assert.deepEqual(
      ack
        .slice(1, -2)
        .split('\r')
        .filter((l) => l !== '')
        .map((l) => l.replace(/\|CDSR\d+\|/, '|CDSR#|')),
      [
        'MSH|^~\\&|CDSR|ACR|EHR|GENHOSP|20261123060000+0000||ACK^O01^ACK|CDSR#|P|2.5.1',
        'MSA|AR|102',
        'ERR|||100^Segment sequence error^HL70357|E||||HL7_INVALID: MSH-2 "\\S\\\\R\\\\E\\\\E\\\\T\\" does not hold distinct encoding characters',
      ],
    );
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
    const server = await startMllp(deps, options(), { info: () => undefined, warn: (_o, m) => logs.push(m) });
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

  it('bounds: a frame past the limit, a sender not allowed and a silent connection are closed; others go on', async () => {
    const logs: string[] = [];
    const log = { info: (_o: object, m: string) => logs.push(m), warn: (_o: object, m: string) => logs.push(m) };
    const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
    const small = await startMllp(deps, options({ maxFrameBytes: 4096, idleMs: 300 }), log);
    const fenced = await startMllp(deps, options({ allow: ['10.9.9.9'] }), log);
    try {
      assert.equal(await closedAfter(small, Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(10_000, 0x41)])), '');
      assert.equal(await closedAfter(fenced, `\x0b${ORM}\x1c\r`), '');
      // a connection that sends nothing is closed after the idle time
      assert.equal(await closedAfter(small, ''), '');
      assert.deepEqual(logs, ['MLLP frame larger than CDSR_BODY_LIMIT_BYTES; connection closed', 'MLLP connection refused', 'MLLP connection idle; closed']);
      // and a good frame is still answered
      const ack = await ackOn(small, `\x0b${ORM.replace('MSG0001', 'B1')}\x1c\r`);
      assert.match(ack, /\rMSA\|AA\|B1/);
    } finally {
      await new Promise<void>((ok) => small.close(() => ok()));
      await new Promise<void>((ok) => fenced.close(() => ok()));
    }
  });

  it(
    'a frame that trickles in (a byte every 100 ms, never idle) is closed at the frame timeout; a quick frame on the same listener is answered',
    { timeout: 30_000 },
    async () => {
      const logs: string[] = [];
      const log = { info: (_o: object, m: string) => logs.push(m), warn: (_o: object, m: string) => logs.push(m) };
      const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
      const server = await startMllp(deps, options({ idleMs: 10_000, frameMs: 1000 }), log);
      try {
        const closed = await new Promise<string>((resolve) => {
          const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
          let got = '';
          let i = 0;
          const drip = setInterval(() => sock.write(i++ === 0 ? '\x0bMSH' : 'A'), 100);
          sock.on('data', (c: Buffer) => (got += c.toString('utf8')));
          sock.on('error', () => undefined);
          sock.on('close', () => {
            clearInterval(drip);
            resolve(got);
          });
        });
        assert.equal(closed, '');
        assert.deepEqual(logs, ['MLLP frame not ended in time; connection closed']);
        const ack = await ackOn(server, `\x0b${ORM.replace('MSG0001', 'F1')}\x1c\r`);
        assert.match(ack, /\rMSA\|AA\|F1/);
      } finally {
        await new Promise<void>((ok) => server.close(() => ok()));
      }
    },
  );

  it('connections past CDSR_MLLP_MAX_CONNECTIONS are closed unanswered; the one held is still answered', { timeout: 30_000 }, async () => {
    const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
    const server = await startMllp(deps, options({ maxConnections: 1 }), quiet);
    try {
      const port = (server.address() as AddressInfo).port;
      const held = connect(port, '127.0.0.1');
      await new Promise<void>((ok) => held.once('connect', () => ok()));
      // the server counts it once accepted
      for (let i = 0; i < 100 && (await new Promise<number>((ok) => server.getConnections((_e, n) => ok(n)))) < 1; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(await closedAfter(server, `\x0b${ORM.replace('MSG0001', 'C2')}\x1c\r`), '');
      const ack = await ackOn(held, `\x0b${ORM.replace('MSG0001', 'C1')}\x1c\r`);
      assert.match(ack, /\rMSA\|AA\|C1/);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});
