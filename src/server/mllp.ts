// The optional MLLP listener (CDSR_MLLP_PORT): the same processing and ACKs as POST /hl7v2 over
// a TCP connection, framed VT … FS CR. Messages of one connection are answered in order. MLLP has
// no credentials, so the listener is bounded: its own bind address (loopback by default), an
// allow-list of senders when it is not loopback, a frame size limit, an idle timeout, a frame
// timeout (a frame sent a byte at a time is not held) and a connection cap.
import { createServer, type Server, type Socket } from 'node:net';
import type { IngestDeps } from '../inbound/context.js';
import { ingestHl7 } from '../inbound/hl7.js';
import { safeReason } from '../inbound/outcome.js';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

export interface MllpLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MllpOptions {
  readonly port: number;
  readonly host: string;
  /** Sender addresses taken; empty: any (only on loopback, as the configuration checks). */
  readonly allow: readonly string[];
  /** A frame larger than this closes the connection (the HTTP body limit). */
  readonly maxFrameBytes: number;
  /** A connection silent this long is closed. */
  readonly idleMs: number;
  /** A frame begun must end within this time, however its bytes trickle in (default 60 s). */
  readonly frameMs?: number;
  readonly maxConnections: number;
}

const plain = (address: string | undefined): string => (address ?? '').replace(/^::ffff:/, '');

export function startMllp(deps: IngestDeps, o: MllpOptions, log: MllpLog): Promise<Server> {
  const allowed = new Set(o.allow.map(plain));
  const server = createServer((socket: Socket) => {
    if (allowed.size > 0 && !allowed.has(plain(socket.remoteAddress))) {
      log.warn({ event: 'mllp_refused', reason: 'sender not in CDSR_MLLP_ALLOW' }, 'MLLP connection refused');
      socket.destroy();
      return;
    }
    socket.setTimeout(o.idleMs, () => {
      log.info({ event: 'mllp_idle' }, 'MLLP connection idle; closed');
      socket.destroy();
    });
    // the bytes of the frame under way, kept as chunks (no copy per chunk), and their length
    let chunks: Buffer[] = [];
    let pending = 0;
    let inFrame = false;
    let frameTimer: NodeJS.Timeout | undefined;
    socket.on('close', () => clearTimeout(frameTimer));
    let chain = Promise.resolve();
    const answer = (raw: string) => {
      chain = chain
        .then(async () => {
          const r = await ingestHl7(deps, raw, { contentType: 'mllp', auth: `mllp:${plain(socket.remoteAddress)}` });
          log.info({ event: 'mllp', messageId: r.messageId, status: r.status, ack: r.code }, 'hl7v2 message (MLLP)');
          if (!socket.destroyed) socket.write(Buffer.concat([Buffer.from([VT]), Buffer.from(r.ack, 'utf8'), Buffer.from([FS, CR])]));
        })
        // a failure here must not end the process: no ACK is sent (the sender resends after its
        // timeout), the connection is closed, the others go on
        .catch((e: unknown) => {
          log.warn({ event: 'mllp_failed', error: safeReason(e) }, 'MLLP message not answered; connection closed');
          socket.destroy();
        });
    };
    socket.on('data', (data: Buffer) => {
      let chunk = data;
      while (chunk.length > 0) {
        if (!inFrame) {
          const start = chunk.indexOf(VT);
          if (start === -1) return; // bytes between frames (a stray CR): dropped
          inFrame = true;
          frameTimer = setTimeout(() => {
            log.info({ event: 'mllp_frame_timeout' }, 'MLLP frame not ended in time; connection closed');
            socket.destroy();
          }, o.frameMs ?? 60_000);
          chunk = chunk.subarray(start + 1);
          continue;
        }
        const end = chunk.indexOf(FS);
        if (end === -1) {
          chunks.push(chunk);
          pending += chunk.length;
          if (pending > o.maxFrameBytes) {
            log.warn(
              { event: 'mllp_frame_too_large', bytes: pending, limit: o.maxFrameBytes },
              'MLLP frame larger than CDSR_BODY_LIMIT_BYTES; connection closed',
            );
            socket.destroy();
          }
          return;
        }
        const raw = Buffer.concat([...chunks, chunk.subarray(0, end)]).toString('utf8');
        chunks = [];
        pending = 0;
        inFrame = false;
        clearTimeout(frameTimer);
        chunk = chunk.subarray(chunk[end + 1] === CR ? end + 2 : end + 1);
        answer(raw);
      }
    });
    socket.on('error', () => socket.destroy());
  });
  server.maxConnections = o.maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}
