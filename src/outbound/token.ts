// ACR Connect tokens: a static token (tests, a token obtained elsewhere), or OAuth2 client
// credentials / refresh token against the token URL. A token is reused until shortly before it
// expires; concurrent callers share one request for a new one. A refresh token ACR rotates is
// kept sealed in the store (when given one), so a restart or another instance renews with the
// rotated token rather than with ACR_REFRESH_TOKEN, which ACR no longer takes.
import { createHash } from 'node:crypto';
import { AdapterError, errorMessage } from '../cdsr/errors.js';
import type { CredentialStore } from '../store/store.js';
import type { SecretBox } from './secret-box.js';

export interface TokenProvider {
  token(): Promise<string>;
  /** `token` was refused (401): unless a newer one is already in hand, the next token() fetches one. */
  invalidate(token?: string): void;
  readonly fetched: number;
}

export class TokenError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOKEN', message, options);
  }
}

export class StaticToken implements TokenProvider {
  readonly fetched = 0;
  constructor(private readonly value: string) {}
  token(): Promise<string> {
    return Promise.resolve(this.value);
  }
  invalidate(): void {}
}

export interface OAuthOptions {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly refreshToken?: string;
  readonly clock?: () => Date;
  /** Renew this long before expiry. */
  readonly skewSeconds?: number;
  readonly timeoutMs?: number;
}

/** The stored credential that holds the refresh token rotated from ACR_REFRESH_TOKEN. */
export const REFRESH_CREDENTIAL = 'acr-refresh-token';
const SEALED_REFRESH = 'acr-refresh-token';

/**
 * Names the configured refresh token a kept one was rotated from, without revealing it: a new
 * value in ACR_REFRESH_TOKEN starts afresh, the same value yields to what was rotated from it.
 */
export function refreshOrigin(configured: string): string {
  return createHash('sha256').update('cdsr-adapter ACR_REFRESH_TOKEN\u0000').update(configured).digest('base64url').slice(0, 16);
}

/** Where rotated refresh tokens are kept: the store's credentials, sealed under CDSR_SECRET_KEY. */
export interface RefreshTokenKeep {
  readonly store: CredentialStore;
  readonly box: SecretBox;
  readonly log?: { warn(o: object, m: string): void };
}

export class OAuthTokenProvider implements TokenProvider {
  private current?: { value: string; expiresAt: number };
  private inFlight?: Promise<string>;
  private refresh?: string;
  private keep?: RefreshTokenKeep;
  /** Version of the kept refresh token this process last read or wrote (0: none). */
  private keptVersion = 0;
  /** Where a refusal of the refresh token is said (the service's log). */
  private log?: { warn(o: object, m: string): void };
  /** The fingerprint of the refresh token whose refusal was last said: said once, not at every retry. */
  private refusalSaid?: string;
  fetched = 0;

  constructor(private readonly opts: OAuthOptions) {
    if (opts.refreshToken !== undefined) this.refresh = opts.refreshToken;
  }

  /** From now on a refresh token ACR rotates is written to the store, and one kept there is used. */
  keepRotatedIn(keep: RefreshTokenKeep): void {
    this.keep = keep;
    if (keep.log) this.log = keep.log;
  }

  /** A refresh token ACR refuses is said here (once per token), beside the error of each request for a token. */
  reportTo(log: { warn(o: object, m: string): void }): void {
    this.log = log;
  }

  /**
   * ACR refused the refresh token presented: said once for that token (by its fingerprint, never
   * the token), unless another process has kept a newer one meanwhile (the next request uses it).
   */
  private async sayRefused(presented: string, status: number, body: unknown): Promise<void> {
    const said = refreshOrigin(presented);
    if (this.refusalSaid === said) return;
    const k = this.keep;
    const row = k ? await k.store.credential(REFRESH_CREDENTIAL).catch(() => undefined) : undefined;
    if (row && row.version !== this.keptVersion && row.meta.origin === refreshOrigin(this.opts.refreshToken ?? '')) return;
    this.refusalSaid = said;
    this.log?.warn(
      { event: 'acr_refresh_token_refused', status, code: oauthErrorCode(body) ?? null },
      'ACR refused the refresh token: nothing is submitted until a new one is put in ACR_REFRESH_TOKEN (or an operator signs in at /auth/acr/start)',
    );
  }

  private get refreshFlow(): boolean {
    return this.refresh !== undefined && this.opts.clientSecret === undefined;
  }

  /** The refresh token to present: one kept in the store (rotated from this same configured token, by any process) wins. */
  private async refreshToUse(): Promise<string | undefined> {
    const k = this.keep;
    const configured = this.opts.refreshToken;
    if (!k || configured === undefined) return this.refresh;
    const row = await k.store.credential(REFRESH_CREDENTIAL);
    if (!row) return this.refresh;
    if (row.meta.origin !== refreshOrigin(configured)) {
      // rotated from another value: ACR_REFRESH_TOKEN was changed since, and the new value wins
      this.keptVersion = row.version;
      return this.refresh;
    }
    if (row.version === this.keptVersion) return this.refresh;
    try {
      this.refresh = k.box.open(row.sealed, SEALED_REFRESH);
    } catch (e) {
      throw new TokenError(
        `the refresh token kept in the store cannot be opened (${e instanceof AdapterError ? e.code : 'unreadable'}): set the CDSR_SECRET_KEY it was sealed with, or put a new refresh token in ACR_REFRESH_TOKEN`,
        { cause: e },
      );
    }
    this.keptVersion = row.version;
    return this.refresh;
  }

  /** Writes a rotated refresh token before its access token is used; a failed write is logged, the token kept in memory. */
  private async keepRotated(token: string): Promise<void> {
    const k = this.keep;
    const configured = this.opts.refreshToken;
    if (!k || configured === undefined) return;
    const at = new Date(this.now());
    try {
      for (let i = 0; i < 3; i++) {
        const v = await k.store.putCredential(
          REFRESH_CREDENTIAL,
          { sealed: k.box.seal(token, SEALED_REFRESH), meta: { origin: refreshOrigin(configured), rotatedAt: at.toISOString() } },
          this.keptVersion,
          at,
        );
        if (v !== false) {
          this.keptVersion = v;
          return;
        }
        // written by another process meanwhile: what ACR just gave this one is the newest
        this.keptVersion = (await k.store.credential(REFRESH_CREDENTIAL))?.version ?? 0;
      }
      throw new Error('the stored refresh token kept changing under this process');
    } catch (e) {
      k.log?.warn(
        { event: 'acr_refresh_token_not_kept', error: errorMessage(e) },
        'the rotated ACR refresh token could not be written to the store: a restart would renew with an old one',
      );
    }
  }

  private now(): number {
    return (this.opts.clock ?? (() => new Date()))().getTime();
  }

  token(): Promise<string> {
    const skew = (this.opts.skewSeconds ?? 30) * 1000;
    if (this.current && this.now() < this.current.expiresAt - skew) return Promise.resolve(this.current.value);
    this.inFlight ??= this.fetch().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  invalidate(token?: string): void {
    if (token === undefined || this.current?.value === token) this.current = undefined;
  }

  private async fetch(): Promise<string> {
    const form = new URLSearchParams();
    const presented = this.refreshFlow ? await this.refreshToUse() : undefined;
    if (presented !== undefined) {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', presented);
      form.set('client_id', this.opts.clientId);
    } else {
      form.set('grant_type', 'client_credentials');
    }
    const auth = this.opts.clientSecret !== undefined ? { username: this.opts.clientId, password: this.opts.clientSecret } : undefined;
    let data: { access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
    try {
      // loaded at the first request, not at start (see axiosTransport in nrdr-client.ts)
      const { default: axios } = await import('axios');
      const r = await axios.post(this.opts.tokenUrl, form.toString(), {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        ...(auth ? { auth } : {}),
        timeout: this.opts.timeoutMs ?? 15_000,
        validateStatus: () => true,
      });
      if (presented !== undefined && (r.status === 400 || r.status === 401)) await this.sayRefused(presented, r.status, r.data);
      if (r.status !== 200)
        throw new TokenError(
          `the token endpoint answered ${r.status}${presented !== undefined && (r.status === 400 || r.status === 401) ? refusedRefresh(r.data) : ''}`,
        );
      data = r.data as typeof data;
    } catch (e) {
      throw e instanceof TokenError ? e : new TokenError(`the token endpoint cannot be reached: ${errorMessage(e)}`);
    }
    if (typeof data.access_token !== 'string') throw new TokenError('the token endpoint answered without an access_token');
    if (typeof data.refresh_token === 'string') {
      const rotated = data.refresh_token !== presented;
      this.refresh = data.refresh_token;
      if (rotated && presented !== undefined) await this.keepRotated(data.refresh_token);
    }
    let expiresAt = this.now() + (typeof data.expires_in === 'number' ? data.expires_in * 1000 : 300_000);
    const { decodeJwt } = await import('jose');
    try {
      const exp = decodeJwt(data.access_token).exp;
      if (typeof exp === 'number') expiresAt = exp * 1000;
    } catch {
      // not a JWT: expires_in it is
    }
    this.fetched++;
    this.current = { value: data.access_token, expiresAt };
    return data.access_token;
  }
}

/** What to do when ACR refuses the refresh token (its OAuth error code only, never free text). */
function refusedRefresh(body: unknown): string {
  const code = oauthErrorCode(body);
  const shown = code !== undefined ? ` ${code}` : '';
  return `${shown}: ACR refused the refresh token; put a new one in ACR_REFRESH_TOKEN (or sign in at /auth/acr/start)`;
}

/** The OAuth error code of an answer, when it is a token of letters (never free text that might echo a value). */
function oauthErrorCode(body: unknown): string | undefined {
  const code = (body as { error?: unknown } | null)?.error;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
}
