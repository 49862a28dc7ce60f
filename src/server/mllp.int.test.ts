// The MLLP listener: framed messages in, framed ACKs out, in order, split across TCP chunks.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, Socket, type Server, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { READ_MARGIN, startMllp, type MllpOptions } from './mllp.js';

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

/** Opens a connection from `from` (any of 127.0.0.0/8 on Linux) once it is accepted. */
function openFrom(server: Server, from: string): Promise<Socket> {
  return new Promise((resolve) => {
    const sock = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', localAddress: from }, () => resolve(sock));
    sock.on('error', () => undefined);
  });
}

/** Resolves when the socket is closed. */
const closed = (sock: Socket): Promise<void> => new Promise((ok) => (sock.destroyed ? ok() : sock.once('close', () => ok())));

/** Connects, writes, and resolves with what came back when the adapter closes the connection. */
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

  it(
    'pipelined frames whose ACKs are not read: each connection holds one frame and one read at most, a sender on another connection is answered, then every frame is answered in order',
    { timeout: 60_000 },
    async () => {
      const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
      const maxFrameBytes = 256 * 1024;
      const server = await startMllp(deps, options({ maxFrameBytes, maxBufferedBytes: 2 * 1024 * 1024 }), quiet);
      const FRAMES = 40;
      const frame = (c: number, i: number) => Buffer.concat([Buffer.from(`\x0bP${c}-${i}|`), Buffer.alloc(200 * 1024, 0x41), Buffer.from('\x1c\r')]);
      try {
        // three senders write 40 frames of 200 KB each (24 MB together) at once and read nothing
        const floods = await Promise.all([1, 2, 3].map(() => openFrom(server, '127.0.0.1')));
        floods.forEach((sock, c) => {
          sock.pause();
          for (let i = 0; i < FRAMES; i++) sock.write(frame(c, i));
        });
        const ack = await ackOn(server, `\x0b${ORM.replace('MSG0001', 'L1')}\x1c\r`);
        assert.match(ack, /\rMSA\|AA\|L1/);
        // now the floods read their ACKs: every frame answered (AR: not HL7), in order
        const answered = await Promise.all(
          floods.map(
            (sock) =>
              new Promise<number>((resolve) => {
                let got = '';
                sock.on('data', (c: Buffer) => {
                  got += c.toString('utf8');
                  const n = got.split('\x1c\r').length - 1;
                  if (n === FRAMES) {
                    sock.destroy();
                    resolve(n);
                  }
                });
                sock.resume();
              }),
          ),
        );
        assert.deepEqual(answered, [FRAMES, FRAMES, FRAMES]);
        const b = server.buffered();
        assert.ok(b.peakPerConnection <= maxFrameBytes + READ_MARGIN, `one connection held ${b.peakPerConnection} bytes`);
        assert.ok(b.peak <= 3 * (maxFrameBytes + READ_MARGIN) + 8 * 1024, `all held ${b.peak} bytes`);
        // the floods were held, not read whole: at least one frame was kept while it was processed
        assert.ok(b.peakPerConnection >= 200 * 1024, `one connection held ${b.peakPerConnection} bytes`);
      } finally {
        await new Promise<void>((ok) => server.close(() => ok()));
      }
    },
  );

  it(
    'a sender that does not read its ACKs is not read either: processing stops once its ACKs fill the socket, resumes when it reads, and every frame is answered exactly, in order',
    { timeout: 60_000 },
    async (t) => {
      const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
      let processed = 0;
      const server = await startMllp(deps, options(), { info: () => void processed++, warn: () => undefined });
      let serverSide: Socket | undefined;
      server.on('connection', (c: Socket) => (serverSide = c));
      // a loopback connection's kernel buffers take a few MB of ACKs before the listener's socket
      // says "full" (about 4 MB on Linux with the default tcp_wmem / tcp_rmem; no API of Node
      // makes them smaller), which small ACKs never reach in a test: each ACK here is 64 kB, its
      // MSA-2 echoing a 64 kB MSH-10, so 200 of them (13 MB) are well past that
      const FRAMES = 200;
      const id = (i: number) => `K${i}-${'X'.repeat(64 * 1024)}`;
      const sock = await openFrom(server, '127.0.0.1');
      try {
        // the sender writes every frame at once and reads nothing
        sock.pause();
        for (let i = 0; i < FRAMES; i++) sock.write(`\x0b${ORM.replace('MSG0001', id(i))}\x1c\r`);
        for (let i = 0; i < 3000 && server.buffered().waitingForAcks === 0 && processed < FRAMES; i++) await new Promise((r) => setTimeout(r, 10));
        const held = { processed, read: serverSide?.bytesRead, waiting: server.buffered().waitingForAcks };
        assert.ok(
          held.processed < FRAMES && held.waiting === 1,
          `${held.processed} of ${FRAMES} frames processed while no ACK was read; waiting for ACKs: ${held.waiting}`,
        );
        t.diagnostic(`processing held after ${held.processed} of ${FRAMES} frames (${held.read} bytes read)`);
        // held: the sender's writes back up, and through many turns of the event loop (each polls
        // the sockets) the listener reads and processes nothing more
        assert.ok(sock.writableLength > 0);
        for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
        assert.deepEqual({ processed, read: serverSide?.bytesRead, waiting: server.buffered().waitingForAcks }, held);
        // the sender reads: every frame is answered, in order, each ACK naming its own control id
        const chunks: Buffer[] = [];
        let ends = 0;
        const acks = await new Promise<string[]>((resolve) => {
          sock.on('data', (c: Buffer) => {
            chunks.push(c);
            for (const b of c) if (b === 0x1c) ends++;
            if (ends === FRAMES) resolve(Buffer.concat(chunks).toString('utf8').split('\x1c\r').slice(0, -1));
          });
          sock.resume();
        });
        assert.deepEqual(
          acks.map((a, i) => (a.startsWith('\x0bMSH|') && a.split('\r')[1] === `MSA|AA|${id(i)}` ? 'exact' : a.slice(0, 120))),
          Array.from({ length: FRAMES }, () => 'exact'),
        );
        assert.deepEqual([processed, server.buffered().waitingForAcks], [FRAMES, 0]);
      } finally {
        sock.destroy();
        await new Promise<void>((ok) => server.close(() => ok()));
      }
    },
  );

  it(
    'the bytes of all connections are bounded together: past CDSR_MLLP_MAX_BUFFERED_BYTES a connection waits, and every frame is answered',
    { timeout: 60_000 },
    async () => {
      const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
      const server = await startMllp(deps, options({ maxFrameBytes: 512 * 1024, maxBufferedBytes: 1024 * 1024 }), quiet);
      try {
        // eight connections each send four 450 KB frames at once: 14 MB against a budget of 1 MB
        const port = (server.address() as AddressInfo).port;
        const answers = await Promise.all(
          Array.from(
            { length: 8 },
            (_, c) =>
              new Promise<string[]>((resolve) => {
                const sock = connect(port, '127.0.0.1');
                let got = '';
                sock.on('data', (d: Buffer) => {
                  got += d.toString('utf8');
                  const acks = got.split('\x1c\r').slice(0, -1);
                  if (acks.length < 4) return;
                  sock.destroy();
                  resolve(acks.map((a) => /\rMSA\|(A[AER])\|/.exec(a)?.[1] ?? a));
                });
                for (let i = 0; i < 4; i++) sock.write(Buffer.concat([Buffer.from(`\x0bB${c}-${i}|`), Buffer.alloc(450 * 1024, 0x41), Buffer.from('\x1c\r')]));
              }),
          ),
        );
        assert.deepEqual(
          answers,
          Array.from({ length: 8 }, () => ['AR', 'AR', 'AR', 'AR']),
        );
        const b = server.buffered();
        // the budget, plus what the connections let through past it had read at once (one read each)
        assert.ok(b.peak <= 1024 * 1024 + 512 * 1024 + 8 * READ_MARGIN, `all held ${b.peak} bytes`);
        assert.equal(b.bytes, 0);
      } finally {
        await new Promise<void>((ok) => server.close(() => ok()));
      }
    },
  );

  it('bytes that are not a frame do not keep a connection: closed at the frame timeout however often they come', { timeout: 30_000 }, async () => {
    const logs: string[] = [];
    const log = { info: (_o: object, m: string) => logs.push(m), warn: (_o: object, m: string) => logs.push(m) };
    const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
    const server = await startMllp(deps, options({ idleMs: 60_000, frameMs: 300 }), log);
    try {
      const sock = await openFrom(server, '127.0.0.1');
      const drip = setInterval(() => sock.write('x'), 20);
      await closed(sock);
      clearInterval(drip);
      assert.deepEqual(logs, ['MLLP frame not ended in time; connection closed']);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });

  it('line ends between frames do not restart the idle clock: it counts from the last ACK', { timeout: 30_000 }, async () => {
    const logs: string[] = [];
    const log = { info: (_o: object, m: string) => logs.push(m), warn: () => undefined };
    const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
    const server = await startMllp(deps, options({ idleMs: 400, frameMs: 60_000 }), log);
    try {
      const sock = await openFrom(server, '127.0.0.1');
      let got = '';
      sock.on('data', (c: Buffer) => (got += c.toString('utf8')));
      await new Promise<void>((ok) => {
        sock.on('data', () => got.endsWith('\x1c\r') && ok());
        sock.write(`\x0b${ORM.replace('MSG0001', 'I1')}\x1c\r`);
      });
      assert.match(got, /\rMSA\|AA\|I1/);
      const drip = setInterval(() => sock.write('\r\n'), 20);
      await closed(sock);
      clearInterval(drip);
      assert.deepEqual(
        logs.filter((l) => !l.startsWith('hl7v2')),
        ['MLLP connection idle; closed'],
      );
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });

  it('past CDSR_MLLP_MAX_PER_SOURCE an address is refused at once (one line a minute), another address is answered', { timeout: 30_000 }, async () => {
    const warned: object[] = [];
    const log = { info: () => undefined, warn: (o: object) => warned.push(o) };
    const deps = { store: s.store, mappings: s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') };
    let now = 0;
    const server = await startMllp(deps, options({ maxConnections: 10, maxPerSource: 2, now: () => now }), log);
    try {
      const held = [await openFrom(server, '127.0.0.2'), await openFrom(server, '127.0.0.2')];
      // the server counts them once accepted
      for (let i = 0; i < 100 && (await new Promise<number>((ok) => server.getConnections((_e, n) => ok(n)))) < 2; i++)
        await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < 3; i++) await closed(await openFrom(server, '127.0.0.2'));
      now += 60_000;
      await closed(await openFrom(server, '127.0.0.2'));
      const ack = await ackOn(await openFrom(server, '127.0.0.1'), `\x0b${ORM.replace('MSG0001', 'S1')}\x1c\r`);
      assert.match(ack, /\rMSA\|AA\|S1/);
      const line = { event: 'mllp_refused', reason: 'CDSR_MLLP_MAX_PER_SOURCE', source: '127.0.0.2', limit: 2 };
      assert.deepEqual(warned, [
        { ...line, refused: 1 },
        { ...line, refused: 3 },
      ]);
      // the ones held are still served
      assert.match(await ackOn(held[0]!, `\x0b${ORM.replace('MSG0001', 'S2')}\x1c\r`), /\rMSA\|AA\|S2/);
      held[1]!.destroy();
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});
