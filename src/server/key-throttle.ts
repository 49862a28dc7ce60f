// Wrong keys, counted per source address: the API's bearer keys and the console's sign-in share
// one count, so guessing a key costs the same wherever it is tried. After CDSR_AUTH_MAX_FAILURES
// wrong keys within CDSR_AUTH_FAILURE_WINDOW_S, every key from that address is refused with 429
// (a right one too: otherwise the guessing would go on, only answered differently) until the
// oldest failure leaves the window. Each wrong key is written to the access audit, by a short hash
// of it, never the key; the refusals while throttled are not (their number is bounded by nothing
// the attacker does not choose, the audit's size would be).
import { createHash } from 'node:crypto';
import { AdapterError } from '../cdsr/errors.js';
import type { Store } from '../store/store.js';

/** Sources remembered at most: past this, the source whose last failure is oldest is forgotten first. */
const MAX_SOURCES = 10_000;

export interface ThrottleSettings {
  /** Wrong keys from one address within the window before it is refused. */
  readonly maxFailures: number;
  readonly windowMs: number;
}

/** How the audit names a wrong key: the first 8 hex digits of its SHA-256 (enough to see the same key tried again, not to find it). */
export function keyFingerprint(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 8)}`;
}

export class KeyThrottle {
  /** Per source address, the times of its failures within the window, oldest first. */
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly settings: ThrottleSettings,
    private readonly now: () => number,
  ) {}

  /** The failures of `source` still within the window (older ones forgotten). */
  private recent(source: string): number[] {
    const times = this.failures.get(source);
    if (times === undefined) return [];
    const since = this.now() - this.settings.windowMs;
    const kept = times.filter((t) => t > since);
    if (kept.length === 0) this.failures.delete(source);
    else this.failures.set(source, kept);
    return kept;
  }

  /** Seconds until `source` may present a key again; undefined when it may now. */
  retryAfter(source: string): number | undefined {
    const times = this.recent(source);
    if (times.length < this.settings.maxFailures) return undefined;
    // the failure that must leave the window for the count to fall below the limit
    const oldest = times[times.length - this.settings.maxFailures]!;
    return Math.max(1, Math.ceil((oldest + this.settings.windowMs - this.now()) / 1000));
  }

  /** Counts a wrong key from `source`; answers the failures within the window, this one included. */
  fail(source: string): number {
    const times = this.recent(source);
    if (times.length === 0 && this.failures.size >= MAX_SOURCES) {
      let oldest: [string, number] | undefined;
      for (const [s, t] of this.failures) if (oldest === undefined || t[t.length - 1]! < oldest[1]) oldest = [s, t[t.length - 1]!];
      if (oldest) this.failures.delete(oldest[0]);
    }
    // only the last maxFailures matter to the limit
    const kept = [...times, this.now()].slice(-this.settings.maxFailures);
    this.failures.set(source, kept);
    return kept.length;
  }
}

/** Where a wrong key was presented: the console's sign-in form, or a route of the API (its method and pattern, never the URL). */
export type KeyPlace = { readonly console: true } | { readonly method: string; readonly route: string };

/**
 * Counts a wrong key and writes it to the access audit: who is the key's fingerprint (or "no key"
 * for an empty sign-in form), what says where, from which address, and the count in the window.
 */
export async function recordWrongKey(
  throttle: KeyThrottle,
  store: Pick<Store, 'audit'>,
  at: Date,
  o: { readonly source: string; readonly key: string; readonly place: KeyPlace },
): Promise<void> {
  const n = throttle.fail(o.source);
  const where = 'console' in o.place ? 'console sign-in' : `${o.place.method} ${o.place.route}`;
  const { maxFailures, windowMs } = throttle.settings;
  const wait = throttle.retryAfter(o.source);
  const limit = wait !== undefined ? `; keys from this address refused for ${wait} s` : '';
  await store.audit({
    at,
    who: o.key === '' ? 'no key' : `wrong key ${keyFingerprint(o.key)}`,
    what: `key refused (${where}) from ${o.source}: ${n} of ${maxFailures} in ${Math.round(windowMs / 1000)} s${limit}`,
  });
}

/** The refusal of an address past its wrong keys: 429, with the seconds to wait (the Retry-After header; retryAfter in the API's answer). */
export function tooManyFailures(retryAfterS: number): AdapterError {
  return new AdapterError('TOO_MANY_FAILURES', undefined, { details: { retryAfter: retryAfterS } });
}
