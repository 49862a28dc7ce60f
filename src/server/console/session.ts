// Console sign-in: the operator presents an API key once in a form; the console keeps a session
// (random id in an HttpOnly SameSite=Strict cookie, never the key) with a CSRF token for its forms.
// A session ends when unused for its idle time (CDSR_SESSION_IDLE_MINUTES) and, used or not, at
// its absolute lifetime after the sign-in (CDSR_SESSION_MAX_HOURS): a cookie taken from a browser
// does not stay good for as long as someone keeps using it.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'cdsr_console';
/** The defaults of CDSR_SESSION_IDLE_MINUTES and CDSR_SESSION_MAX_HOURS. */
export const SESSION_IDLE_MS = 8 * 3600 * 1000;
export const SESSION_MAX_MS = 12 * 3600 * 1000;
const MAX_SESSIONS = 1000;

export interface SessionLimits {
  /** Unused this long, a session is forgotten. */
  readonly idleMs: number;
  /** This long after its creation, a session is forgotten however recently used. */
  readonly maxMs: number;
}

export interface Session {
  readonly id: string;
  /** The key's label (`operate#1`) or `open` when the adapter has no keys: who the audit names. */
  readonly who: string;
  readonly csrf: string;
  readonly createdAt: number;
  lastUsed: number;
}

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly now: () => number,
    readonly limits: SessionLimits = { idleMs: SESSION_IDLE_MS, maxMs: SESSION_MAX_MS },
  ) {}

  create(who: string): Session {
    if (this.byId.size >= MAX_SESSIONS) {
      // the least recently used goes first
      const oldest = [...this.byId.values()].sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (oldest) this.byId.delete(oldest.id);
    }
    const at = this.now();
    const s: Session = { id: randomBytes(32).toString('base64url'), who, csrf: randomBytes(24).toString('base64url'), createdAt: at, lastUsed: at };
    this.byId.set(s.id, s);
    return s;
  }

  find(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    const now = this.now();
    if (now - s.lastUsed > this.limits.idleMs || now - s.createdAt >= this.limits.maxMs) {
      this.byId.delete(id);
      return undefined;
    }
    s.lastUsed = now;
    return s;
  }

  end(id: string): void {
    this.byId.delete(id);
  }
}

/** The CSRF token a form sent equals the session's (compared in constant time). */
export function csrfMatches(s: Session, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(s.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** Seconds the browser keeps the cookie: until the session's absolute end (the server forgets it then whatever the browser does). */
export function cookieMaxAgeS(limits: SessionLimits): number {
  return Math.floor(limits.maxMs / 1000);
}

export function sessionCookie(id: string, secure: boolean, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${id}; Path=/ui; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}; Max-Age=${maxAgeS}`;
}
