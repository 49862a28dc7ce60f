// Whether a message is taken at all, before it is read: a rate per credential (messages and bytes
// a second, each a token bucket that refills over time and holds a burst), and a ceiling on the
// size of the store. A refusal is an answer the sender's queue understands ("send again later":
// HTTP 429 or 503 with Retry-After, an AR over MLLP); nothing refused was acknowledged, so nothing
// is lost. The clock is injected (tests move it); the store's size is read at most every few
// seconds, not for every message.

export interface AdmissionLimits {
  /** Messages a second per credential (CDSR_SEND_RATE); 0: no limit. */
  readonly messagesPerSecond: number;
  /** Bytes of message text a second per credential (CDSR_SEND_BYTES_RATE); 0: no limit. */
  readonly bytesPerSecond: number;
  /** The burst each bucket holds, in seconds of its rate (CDSR_SEND_BURST_S). */
  readonly burstSeconds: number;
  /** The store's size past which no message is taken (CDSR_MAX_STORE_BYTES); 0: no ceiling. */
  readonly maxStoreBytes: number;
}

export type RefusalReason = 'rate' | 'store_full';

export interface Refusal {
  readonly reason: RefusalReason;
  readonly code: 'RATE_LIMITED' | 'STORE_FULL';
  /** What the sender is told (names the setting, never a value of the message). */
  readonly message: string;
  /** Seconds after which sending again can succeed. */
  readonly retryAfterS: number;
  /** 429 for a rate, 503 for a full store. */
  readonly httpStatus: 429 | 503;
}

export interface AdmissionGauges {
  readonly storeBytes: number | undefined;
  readonly maxStoreBytes: number;
  readonly refused: Readonly<Record<RefusalReason, number>>;
}

/** Share of the ceiling past which a warning is logged (once per crossing). */
export const STORE_WARN_SHARE = 0.9;
/** How long a reading of the store's size is used. */
const SIZE_FRESH_MS = 5_000;
/** Credentials not heard from for this long are forgotten (their buckets are full again anyway). */
const FORGET_MS = 10 * 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class Admission {
  private readonly buckets = new Map<string, { messages: Bucket; bytes: Bucket }>();
  private size: { bytes: number; at: number } | undefined;
  private reading: Promise<number> | undefined;
  private warned = false;
  private readonly refusedCount: Record<RefusalReason, number> = { rate: 0, store_full: 0 };
  private lastSweep = 0;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly storeSize: () => Promise<number>,
    private readonly clock: () => number,
    private readonly warn: (what: { storeBytes: number; maxStoreBytes: number }) => void = () => undefined,
  ) {}

  /** Undefined when the message may be taken (and its tokens are spent); else why not. */
  async admit(credential: string, bytes: number): Promise<Refusal | undefined> {
    const full = await this.storeFull();
    if (full) return this.refuse(full);
    const rate = this.spend(credential, bytes);
    return rate ? this.refuse(rate) : undefined;
  }

  gauges(): AdmissionGauges {
    return { storeBytes: this.size?.bytes, maxStoreBytes: this.limits.maxStoreBytes, refused: { ...this.refusedCount } };
  }

  private refuse(r: Refusal): Refusal {
    this.refusedCount[r.reason]++;
    return r;
  }

  private async storeFull(): Promise<Refusal | undefined> {
    const max = this.limits.maxStoreBytes;
    if (max <= 0) return undefined;
    const now = this.clock();
    if (!this.size || now - this.size.at >= SIZE_FRESH_MS) {
      // one reading for everyone asking meanwhile
      this.reading ??= this.storeSize().finally(() => (this.reading = undefined));
      this.size = { bytes: await this.reading, at: now };
    }
    const bytes = this.size.bytes;
    if (bytes >= max * STORE_WARN_SHARE && !this.warned) this.warn({ storeBytes: bytes, maxStoreBytes: max });
    this.warned = bytes >= max * STORE_WARN_SHARE;
    if (bytes < max) return undefined;
    return {
      reason: 'store_full',
      code: 'STORE_FULL',
      message: `the store has reached its ceiling (CDSR_MAX_STORE_BYTES, ${max} bytes): nothing more is taken until space is freed (retention, a larger ceiling); send it again later`,
      retryAfterS: 60,
      httpStatus: 503,
    };
  }

  private spend(credential: string, bytes: number): Refusal | undefined {
    const { messagesPerSecond: mps, bytesPerSecond: bps, burstSeconds } = this.limits;
    if (mps <= 0 && bps <= 0) return undefined;
    const now = this.clock();
    this.sweep(now);
    let b = this.buckets.get(credential);
    if (!b) {
      b = { messages: { tokens: mps * burstSeconds, at: now }, bytes: { tokens: bps * burstSeconds, at: now } };
      this.buckets.set(credential, b);
    }
    const fill = (bucket: Bucket, rate: number) => {
      bucket.tokens = Math.min(rate * burstSeconds, bucket.tokens + ((now - bucket.at) / 1000) * rate);
      bucket.at = now;
    };
    fill(b.messages, mps);
    fill(b.bytes, bps);
    // a message larger than the whole burst could never pass: it is measured against a full bucket
    const byteCost = Math.min(bytes, bps * burstSeconds);
    const short: string[] = [];
    let wait = 0;
    if (mps > 0 && b.messages.tokens < 1) {
      short.push(`${mps} messages a second (CDSR_SEND_RATE)`);
      wait = Math.max(wait, (1 - b.messages.tokens) / mps);
    }
    if (bps > 0 && b.bytes.tokens < byteCost) {
      short.push(`${bps} bytes a second (CDSR_SEND_BYTES_RATE)`);
      wait = Math.max(wait, (byteCost - b.bytes.tokens) / bps);
    }
    if (short.length > 0) {
      return {
        reason: 'rate',
        code: 'RATE_LIMITED',
        message: `this credential (${credential}) sends faster than ${short.join(' and ')}: send it again later`,
        retryAfterS: Math.max(1, Math.ceil(wait)),
        httpStatus: 429,
      };
    }
    if (mps > 0) b.messages.tokens -= 1;
    if (bps > 0) b.bytes.tokens -= byteCost;
    return undefined;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < FORGET_MS) return;
    this.lastSweep = now;
    for (const [k, b] of this.buckets) if (now - b.messages.at >= FORGET_MS) this.buckets.delete(k);
  }
}
