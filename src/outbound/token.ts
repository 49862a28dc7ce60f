// ACR Connect tokens: a static token (tests, a token obtained elsewhere), or OAuth2 client
// credentials / refresh token against the token URL. A token is reused until shortly before it
// expires; concurrent callers share one request for a new one.
import axios from 'axios';
import { decodeJwt } from 'jose';
import { AdapterError, errorMessage } from '../cdsr/errors.js';

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

export class OAuthTokenProvider implements TokenProvider {
  private current?: { value: string; expiresAt: number };
  private inFlight?: Promise<string>;
  private refresh?: string;
  fetched = 0;

  constructor(private readonly opts: OAuthOptions) {
    if (opts.refreshToken !== undefined) this.refresh = opts.refreshToken;
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
    if (this.refresh !== undefined && this.opts.clientSecret === undefined) {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', this.refresh);
      form.set('client_id', this.opts.clientId);
    } else {
      form.set('grant_type', 'client_credentials');
    }
    const auth = this.opts.clientSecret !== undefined ? { username: this.opts.clientId, password: this.opts.clientSecret } : undefined;
    let data: { access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
    try {
      const r = await axios.post(this.opts.tokenUrl, form.toString(), {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        ...(auth ? { auth } : {}),
        timeout: this.opts.timeoutMs ?? 15_000,
        validateStatus: () => true,
      });
      if (r.status !== 200) throw new TokenError(`the token endpoint answered ${r.status}`);
      data = r.data as typeof data;
    } catch (e) {
      throw e instanceof TokenError ? e : new TokenError(`the token endpoint cannot be reached: ${errorMessage(e)}`);
    }
    if (typeof data.access_token !== 'string') throw new TokenError('the token endpoint answered without an access_token');
    if (typeof data.refresh_token === 'string') this.refresh = data.refresh_token;
    let expiresAt = this.now() + (typeof data.expires_in === 'number' ? data.expires_in * 1000 : 300_000);
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
