// The optional MLLP listener (CDSR_MLLP_PORT): the same processing and ACKs as POST /hl7v2 over
// a TCP connection, framed VT … FS CR. Messages of one connection are answered in order. MLLP has
// no credentials, so the listener is bounded: its own bind address (loopback by default), an
// allow-list of senders when it is not loopback, a frame size limit, connection caps (in total and
// per source address), and three clocks:
// - idle: counted from the connection's start or its last ACK; bytes that never make a frame do not
//   restart it;
// - frame: a frame begun (or bytes between frames that are not one) must end in time, however its
//   bytes trickle in; the clock stops while the listener itself is not reading (see below);
// - none while a frame is processed: that time is ours.
// Back-pressure: a connection is not read while its frames wait to be processed (one at a time, in
// order) or while its ACKs are not read by the sender, so what one connection holds is bounded by
// the frame limit plus one read; what all connections hold together is bounded by
// maxBufferedBytes (a connection past it waits until frames of others are done).
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { IngestDeps } from '../inbound/context.js';
import { ingestHl7 } from '../inbound/hl7.js';
import { safeReason } from '../inbound/outcome.js';
import { SourceSlots, plainAddress } from './source-slots.js';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
const LF = 0x0a;
/** The most one socket read delivers (libuv reads 64 KB at a time): what a connection may hold past its frame. */
export const READ_MARGIN = 64 * 1024;

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
  /** A connection that sends no frame this long after its start or its last ACK is closed. */
  readonly idleMs: number;
  /** A frame begun, or bytes that are not one, must end within this time (default 30 s). */
  readonly frameMs?: number;
  readonly maxConnections: number;
  /** Connections at once from one address (default: maxConnections). */
  readonly maxPerSource?: number;
  /** Bytes held by all connections together (frames under way, waiting or in processing) before reading pauses (default 64 MB). */
  readonly maxBufferedBytes?: number;
  /** The clock of the once-a-minute refusal line (tests). */
  readonly now?: () => number;
}

/** What the listener holds, for tests and the flood bench. */
export interface MllpBuffered {
  /** Bytes of frames held now, all connections. */
  readonly bytes: number;
  /** The most held at once, all connections together. */
  readonly peak: number;
  /** The most one connection held at once. */
  readonly peakPerConnection: number;
  /** Connections not read now because their sender does not read its ACKs (the socket's write buffer is full). */
  readonly waitingForAcks: number;
}

export type MllpServer = Server & { readonly buffered: () => MllpBuffered };

/** One connection as the shared byte budget sees it. */
interface Held {
  /** Bytes of this connection's frames (under way, waiting, in processing). */
  bytes: number;
  /** Reading resumed by the budget. */
  wake(): void;
}

/**
 * The bytes all connections hold. A connection that reads past the limit waits; waiters are woken
 * when frames are done and the total is under the limit again. When nothing is being processed
 * (no frame will be done to free bytes), the waiter holding most is let through alone, so frames
 * under way cannot hold each other up for ever.
 */
class Budget {
  total = 0;
  peak = 0;
  peakOne = 0;
  /** Connections processing a frame: each will give bytes back. */
  working = 0;
  privileged: Held | undefined;
  private readonly waiting = new Set<Held>();

  constructor(private readonly limit: number) {}

  add(h: Held, n: number): void {
    h.bytes += n;
    this.total += n;
    if (this.total > this.peak) this.peak = this.total;
    if (h.bytes > this.peakOne) this.peakOne = h.bytes;
  }

  /** Whether `h` may go on reading; otherwise it is put to wait. */
  mayRead(h: Held): boolean {
    if (this.total <= this.limit || this.privileged === h) return true;
    this.waiting.add(h);
    this.settle();
    return this.privileged === h;
  }

  give(h: Held, n: number): void {
    h.bytes -= n;
    this.total -= n;
    this.settle();
  }

  /** `h` closed: its bytes are given back, it waits no more. */
  leave(h: Held): void {
    this.waiting.delete(h);
    if (this.privileged === h) this.privileged = undefined;
    this.give(h, h.bytes);
  }

  frameDone(h: Held): void {
    if (this.privileged === h) this.privileged = undefined;
  }

  settle(): void {
    if (this.waiting.size === 0) return;
    if (this.total <= this.limit) {
      const all = [...this.waiting];
      this.waiting.clear();
      for (const w of all) w.wake();
      return;
    }
    if (this.working > 0 || this.privileged !== undefined) return;
    let most: Held | undefined;
    for (const w of this.waiting) if (!most || w.bytes > most.bytes) most = w;
    if (!most) return;
    this.waiting.delete(most);
    this.privileged = most;
    most.wake();
  }
}

/** Resolves when the socket has written what it buffered, or is closed. */
const drained = (socket: Socket): Promise<void> =>
  new Promise((ok) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      ok();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });

export function startMllp(deps: IngestDeps, o: MllpOptions, log: MllpLog): Promise<MllpServer> {
  const allowed = new Set(o.allow.map(plainAddress));
  const frameMs = o.frameMs ?? 30_000;
  const budget = new Budget(o.maxBufferedBytes ?? 64 * 1024 * 1024);
  let waitingForAcks = 0;
  const slots = new SourceSlots(
    o.maxPerSource ?? o.maxConnections,
    (r) =>
      log.warn(
        { event: 'mllp_refused', reason: 'CDSR_MLLP_MAX_PER_SOURCE', source: r.source, refused: r.refused, limit: r.limit },
        'MLLP connections past the cap of their address refused (logged once a minute per address)',
      ),
    o.now,
  );
  const server = createServer((socket: Socket) => {
    if (allowed.size > 0 && !allowed.has(plainAddress(socket.remoteAddress))) {
      log.warn({ event: 'mllp_refused', reason: 'sender not in CDSR_MLLP_ALLOW' }, 'MLLP connection refused');
      socket.destroy();
      return;
    }
    if (!slots.take(socket)) return;
    const close = (event: string, msg: string) => {
      if (socket.destroyed) return;
      log.info({ event }, msg);
      socket.destroy();
    };

    // idle: from the start or the last ACK
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => close('mllp_idle', 'MLLP connection idle; closed'), o.idleMs);
    };
    const disarmIdle = () => clearTimeout(idleTimer);

    // frame: the time left of the frame under way; it runs only while the connection is read
    let frameLeft: number | undefined;
    let frameStarted = 0;
    let frameHeld = false;
    let frameTimer: NodeJS.Timeout | undefined;
    const runFrameClock = () => {
      if (frameLeft === undefined) return;
      clearTimeout(frameTimer);
      frameHeld = false;
      frameStarted = performance.now();
      frameTimer = setTimeout(() => close('mllp_frame_timeout', 'MLLP frame not ended in time; connection closed'), frameLeft);
    };
    const startFrameClock = () => {
      // bytes that were not a frame before this one: their clock goes on (it is not restarted by a VT)
      if (frameLeft !== undefined) return;
      frameLeft = frameMs;
      runFrameClock();
    };
    const stopFrameClock = () => {
      clearTimeout(frameTimer);
      frameLeft = undefined;
      frameHeld = false;
    };
    const holdFrameClock = () => {
      if (frameLeft === undefined || frameHeld) return;
      clearTimeout(frameTimer);
      frameLeft = Math.max(0, frameLeft - (performance.now() - frameStarted));
      frameHeld = true;
    };

    // reading is paused while this connection's frames are processed, or while it waits for the budget
    const held: Held = { bytes: 0, wake: () => resumeFor('budget') };
    const pausedFor = new Set<'frames' | 'budget'>();
    const pauseFor = (why: 'frames' | 'budget') => {
      if (pausedFor.size === 0) {
        socket.pause();
        // the sender cannot be blamed for the time we do not read (a frame behind the one processed);
        // a wait for the budget is not held off the clock: frames stuck behind others must end too
        if (why === 'frames') holdFrameClock();
      }
      pausedFor.add(why);
    };
    const resumeFor = (why: 'frames' | 'budget') => {
      if (!pausedFor.delete(why) || pausedFor.size > 0 || socket.destroyed) return;
      if (frameHeld) runFrameClock();
      socket.resume();
    };

    // the frame under way, kept as chunks (no copy per chunk); frames complete and waiting
    let chunks: Buffer[] = [];
    let pending = 0;
    let inFrame = false;
    const frames: Buffer[] = [];
    let working = false;

    const work = async () => {
      working = true;
      budget.working++;
      try {
        for (let frame = frames.shift(); frame !== undefined; frame = frames.shift()) {
          disarmIdle();
          const r = await ingestHl7(deps, frame.toString('utf8'), { contentType: 'mllp', auth: `mllp:${plainAddress(socket.remoteAddress)}` });
          log.info({ event: 'mllp', messageId: r.messageId, status: r.status, ack: r.code }, 'hl7v2 message (MLLP)');
          if (socket.destroyed) return;
          const flushed = socket.write(Buffer.concat([Buffer.from([VT]), Buffer.from(r.ack, 'utf8'), Buffer.from([FS, CR])]));
          budget.give(held, frame.length);
          armIdle();
          // a sender that does not read its ACKs is not read either (the idle clock runs meanwhile)
          if (!flushed) {
            waitingForAcks++;
            await drained(socket);
            waitingForAcks--;
          }
          if (socket.destroyed) return;
        }
        resumeFor('frames');
      } catch (e) {
        // a failure here must not end the process: no ACK is sent (the sender resends after its
        // timeout), the connection is closed, the others go on
        log.warn({ event: 'mllp_failed', error: safeReason(e) }, 'MLLP message not answered; connection closed');
        socket.destroy();
      } finally {
        working = false;
        budget.working--;
        budget.settle();
      }
    };

    armIdle();
    socket.on('close', () => {
      disarmIdle();
      stopFrameClock();
      chunks = [];
      frames.length = 0;
      budget.leave(held);
    });
    socket.on('data', (data: Buffer) => {
      let chunk = data;
      while (chunk.length > 0) {
        if (!inFrame) {
          const start = chunk.indexOf(VT);
          // bytes between frames: a CR or LF is dropped; anything else starts the frame clock
          const between = start === -1 ? chunk : chunk.subarray(0, start);
          if (between.some((b) => b !== CR && b !== LF)) startFrameClock();
          if (start === -1) break;
          inFrame = true;
          disarmIdle();
          startFrameClock();
          chunk = chunk.subarray(start + 1);
          continue;
        }
        const end = chunk.indexOf(FS);
        if (end === -1) {
          chunks.push(chunk);
          pending += chunk.length;
          budget.add(held, chunk.length);
          if (pending > o.maxFrameBytes) {
            log.warn(
              { event: 'mllp_frame_too_large', bytes: pending, limit: o.maxFrameBytes },
              'MLLP frame larger than CDSR_BODY_LIMIT_BYTES; connection closed',
            );
            socket.destroy();
            return;
          }
          break;
        }
        const frame = Buffer.concat([...chunks, chunk.subarray(0, end)]);
        budget.add(held, end);
        chunks = [];
        pending = 0;
        inFrame = false;
        stopFrameClock();
        budget.frameDone(held);
        frames.push(frame);
        chunk = chunk.subarray(chunk[end + 1] === CR ? end + 2 : end + 1);
      }
      if (frames.length > 0) {
        pauseFor('frames');
        if (!working) void work();
      }
      if (!budget.mayRead(held)) pauseFor('budget');
    });
    socket.on('error', () => socket.destroy());
  });
  server.maxConnections = o.maxConnections;
  const buffered = (): MllpBuffered => ({ bytes: budget.total, peak: budget.peak, peakPerConnection: budget.peakOne, waitingForAcks });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(Object.assign(server, { buffered })));
  });
}
