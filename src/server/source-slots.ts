// Connections per source address, for the HTTP and MLLP listeners: one sender that opens
// connections as fast as they are closed must not take the slots of the others. A connection past
// the cap of its address is closed at once; the refusal is logged once per address per minute (a
// flood would otherwise write a line per connection), by address and count, nothing of a message.
import type { Socket } from 'node:net';

/** The address as the sender wrote it (an IPv4 sender on a dual-stack socket arrives as ::ffff:a.b.c.d). */
export const plainAddress = (address: string | undefined): string => (address ?? '').replace(/^::ffff:/, '');

export interface SourceRefusal {
  readonly source: string;
  /** Connections refused from this address since its last line (this one included). */
  readonly refused: number;
  readonly limit: number;
}

const LOG_EVERY_MS = 60_000;

export class SourceSlots {
  private readonly open = new Map<string, number>();
  /** Per address refused since its last log line: when that line was written, and how many since. */
  private readonly logged = new Map<string, { at: number; refused: number }>();

  constructor(
    private readonly max: number,
    private readonly onRefused: (r: SourceRefusal) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a slot for the socket (given back when it closes); false, and the socket destroyed, past the cap. */
  take(socket: Socket): boolean {
    const source = plainAddress(socket.remoteAddress);
    const n = this.open.get(source) ?? 0;
    if (n >= this.max) {
      socket.destroy();
      this.refused(source);
      return false;
    }
    this.open.set(source, n + 1);
    socket.once('close', () => {
      const left = (this.open.get(source) ?? 1) - 1;
      if (left === 0) this.open.delete(source);
      else this.open.set(source, left);
    });
    return true;
  }

  /** Connections held now from this address. */
  held(source: string): number {
    return this.open.get(source) ?? 0;
  }

  private refused(source: string): void {
    const now = this.now();
    const seen = this.logged.get(source);
    if (seen && now - seen.at < LOG_EVERY_MS) {
      seen.refused++;
      return;
    }
    // addresses not heard from for a minute are forgotten, so a flood from many addresses does not grow the map for ever
    if (this.logged.size >= 1000) for (const [k, v] of this.logged) if (now - v.at >= LOG_EVERY_MS) this.logged.delete(k);
    this.logged.set(source, { at: now, refused: 0 });
    this.onRefused({ source, refused: (seen?.refused ?? 0) + 1, limit: this.max });
  }
}
