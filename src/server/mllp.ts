// The optional MLLP listener (CDSR_MLLP_PORT): the same processing and ACKs as POST /hl7v2 over
// a TCP connection, framed VT … FS CR. Messages of one connection are answered in order.
import { createServer, type Server, type Socket } from 'node:net';
import { safeReason } from '../inbound/outcome.js';
import type { IngestDeps } from '../inbound/context.js';
import { ingestHl7 } from '../inbound/hl7.js';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
/** A frame larger than this closes the connection (the sender is not speaking MLLP). */
const MAX_FRAME = 16 * 1024 * 1024;

export interface MllpLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export function startMllp(deps: IngestDeps, port: number, host: string, log: MllpLog): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let buffer = Buffer.alloc(0);
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const start = buffer.indexOf(VT);
        if (start === -1) {
          buffer = Buffer.alloc(0);
          return;
        }
        const end = buffer.indexOf(FS, start + 1);
        if (end === -1) {
          if (buffer.length > MAX_FRAME) {
            log.warn({ event: 'mllp_frame_too_large', bytes: buffer.length }, 'MLLP frame too large; connection closed');
            socket.destroy();
          }
          return;
        }
        const raw = buffer.subarray(start + 1, end).toString('utf8');
        buffer = buffer.subarray(buffer[end + 1] === CR ? end + 2 : end + 1);
        chain = chain
          .then(async () => {
            const r = await ingestHl7(deps, raw, { contentType: 'mllp', auth: `mllp:${socket.remoteAddress ?? ''}` });
            log.info({ event: 'mllp', messageId: r.messageId, status: r.status, ack: r.code }, 'hl7v2 message (MLLP)');
            if (!socket.destroyed) socket.write(Buffer.concat([Buffer.from([VT]), Buffer.from(r.ack, 'utf8'), Buffer.from([FS, CR])]));
          })
          // a failure here must not end the process: no ACK is sent (the sender resends after its
          // timeout), the connection is closed, the others go on
          .catch((e: unknown) => {
            log.warn({ event: 'mllp_failed', error: safeReason(e) }, 'MLLP message not answered; connection closed');
            socket.destroy();
          });
      }
    });
    socket.on('error', () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
