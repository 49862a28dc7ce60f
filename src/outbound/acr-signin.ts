// The ACR Connect sign-in: an operator signs in once (OAuth2 authorization code with PKCE and
// state); the refresh token is kept in the store sealed under CDSR_SECRET_KEY and rotated, the new
// one written before the access token it came with is used, so a restart or another instance
// carries on with the same sign-in. Its public state (who, when, expiries) is kept beside it.
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { AdapterError, errorMessage, type ErrorCode } from '../cdsr/errors.js';
import type { CredentialRow, CredentialStore } from '../store/store.js';
import type { SecretBox } from './secret-box.js';
import { TokenError, type TokenProvider } from './token.js';

export const SIGNIN_CREDENTIAL = 'acr-signin';
const PENDING_PREFIX = 'acr-pending:';
const SEALED_SIGNIN = 'acr-signin';
const SEALED_PENDING = 'acr-pending';

/** The code of a sign-in failure by the HTTP status of the page that says so (the status is the code's, errors.ts). */
const SIGNIN_CODE = { 400: 'SIGNIN', 409: 'SIGNIN_CONFLICT', 502: 'SIGNIN_UPSTREAM', 503: 'SIGNIN_UNAVAILABLE' } as const satisfies Record<number, ErrorCode>;

/** A sign-in that cannot start or complete: refused (400), written twice (409), ACR Connect answering wrong (502), not possible now (503). */
export class SignInError extends AdapterError {
  constructor(message: string, status: keyof typeof SIGNIN_CODE, options?: { cause?: unknown }) {
    super(SIGNIN_CODE[status], message, options);
  }
}

/** Where ACR Connect (or the sandbox) signs users in and issues tokens. */
export interface SignInEndpoints {
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret?: string;
}

/** One form POST to the token endpoint; rejects when no answer came. */
export type TokenPost = (url: string, form: URLSearchParams, auth?: { username: string; password: string }) => Promise<{ status: number; body: unknown }>;

const axiosPost: TokenPost = async (url, form, auth) => {
  // loaded at the first request, not at start (see axiosTransport in nrdr-client.ts)
  const { default: axios } = await import('axios');
  const r = await axios.post<unknown>(url, form.toString(), {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    ...(auth ? { auth } : {}),
    timeout: 15_000,
    validateStatus: () => true,
  });
  return { status: r.status, body: r.data };
};

export interface AcrSignInOptions extends SignInEndpoints {
  readonly redirectUrl: string;
  readonly scope?: string;
  /** Shown on the adapter's sign-in pages (ACR shows the name it registered on its own). */
  readonly appName: string;
  readonly store: CredentialStore;
  /** undefined: CDSR_SECRET_KEY is not set, and the sign-in refuses to start. */
  readonly box: SecretBox | undefined;
  readonly clock: () => Date;
  /** Warn this long before the sign-in (its refresh token) expires. */
  readonly warnBeforeMs: number;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  readonly post?: TokenPost;
  /** A started sign-in must come back within this time. */
  readonly pendingTtlMs?: number;
  /** Renew the access token this long before it expires. */
  readonly skewSeconds?: number;
}

const SignInMetaSchema = z.object({
  state: z.enum(['signed-in', 'refused']),
  subject: z.string(),
  facilityId: z.string().nullable(),
  user: z.string().nullable(),
  amr: z.array(z.string()),
  signedInAt: z.string(),
  refreshedAt: z.string().nullable(),
  rotations: z.number().int(),
  accessExpiresAt: z.string(),
  refreshExpiresAt: z.string().nullable(),
  lastError: z.string().nullable(),
});
type SignInMeta = z.infer<typeof SignInMetaSchema>;

const SealedSchema = z.object({ refreshToken: z.string(), accessToken: z.string(), accessExpiresAt: z.number() });
type Sealed = z.infer<typeof SealedSchema>;

const TokenAnswerSchema = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.number().optional(),
  refresh_expires_in: z.number().optional(),
});

/** What /api/auth shows: who signed in, when, and when it runs out. Never a token. */
export interface SignInStatus {
  readonly configured: true;
  /** CDSR_SECRET_KEY set: a sign-in can be started and kept. */
  readonly keySet: boolean;
  readonly appName: string;
  readonly state: 'signed-out' | 'signed-in' | 'refused' | 'expired' | 'unreadable';
  readonly signedIn: boolean;
  readonly subject: string | null;
  readonly facilityId: string | null;
  readonly user: string | null;
  readonly amr: readonly string[];
  readonly signedInAt: string | null;
  readonly refreshedAt: string | null;
  readonly rotations: number;
  readonly accessExpiresAt: string | null;
  readonly refreshExpiresAt: string | null;
  /** The sign-in expires within the warning lead time (ACR_SIGNIN_WARN_HOURS): sign in again. */
  readonly expiringSoon: boolean;
  readonly warnBeforeSeconds: number;
  readonly lastError: string | null;
}

/** What the routes need of the sign-in. */
export interface SignInService {
  begin(): Promise<string>;
  complete(params: Readonly<Record<string, string | undefined>>): Promise<SignInStatus>;
  status(): Promise<SignInStatus>;
  signOut(): Promise<void>;
}

const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');
const pendingName = (state: string) => `${PENDING_PREFIX}${s256(state)}`;
/** An OAuth error code as sent (a token of letters), never free text that might echo a value. */
const oauthCode = (v: unknown) => (typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v) ? v : undefined);

export class AcrSignIn implements SignInService, TokenProvider {
  private current?: { sealed: Sealed; version: number };
  private refused?: string;
  private inFlight?: Promise<string>;
  private warned?: string;
  fetched = 0;

  constructor(private readonly opts: AcrSignInOptions) {}

  private now(): number {
    return this.opts.clock().getTime();
  }

  private box(): SecretBox {
    if (!this.opts.box)
      throw new SignInError(
        'CDSR_SECRET_KEY is not set: the sign-in cannot be kept safely, so it is not started (set a base64 key of 32 bytes: openssl rand -base64 32)',
        503,
      );
    return this.opts.box;
  }

  private post(form: URLSearchParams): Promise<{ status: number; body: unknown }> {
    form.set('client_id', this.opts.clientId);
    const auth = this.opts.clientSecret !== undefined ? { username: this.opts.clientId, password: this.opts.clientSecret } : undefined;
    return (this.opts.post ?? axiosPost)(this.opts.tokenUrl, form, auth);
  }

  /** Starts a sign-in: the URL of ACR Connect's authorize page to send the operator's browser to. */
  async begin(): Promise<string> {
    const box = this.box();
    const now = this.opts.clock();
    await this.opts.store.purgeCredentials(PENDING_PREFIX, now);
    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + (this.opts.pendingTtlMs ?? 600_000));
    await this.opts.store.putCredential(
      pendingName(state),
      { sealed: box.seal(verifier, SEALED_PENDING), meta: { startedAt: now.toISOString() }, expiresAt },
      0,
      now,
    );
    const u = new URL(this.opts.authorizeUrl);
    u.searchParams.set('response_type', 'code');
    u.searchParams.set('client_id', this.opts.clientId);
    u.searchParams.set('redirect_uri', this.opts.redirectUrl);
    if (this.opts.scope !== undefined) u.searchParams.set('scope', this.opts.scope);
    u.searchParams.set('state', state);
    u.searchParams.set('code_challenge', s256(verifier));
    u.searchParams.set('code_challenge_method', 'S256');
    return u.toString();
  }

  /** The redirect back from ACR Connect: checks the state, exchanges the code, keeps the sign-in. */
  async complete(params: Readonly<Record<string, string | undefined>>): Promise<SignInStatus> {
    const box = this.box();
    const error = params.error !== undefined ? (oauthCode(params.error) ?? 'error') : undefined;
    if (params.state === undefined || params.state === '')
      throw new SignInError('the answer from ACR Connect carries no state: start again at /auth/acr/start', 400);
    const pending = await this.opts.store.takeCredential(pendingName(params.state));
    if (!pending) throw new SignInError('this sign-in is unknown or was already completed (state not recognised): start again at /auth/acr/start', 400);
    if (error !== undefined) throw new SignInError(`ACR Connect did not sign you in (${error}): start again at /auth/acr/start`, 400);
    if (pending.expiresAt !== undefined && Date.parse(pending.expiresAt) < this.now())
      throw new SignInError('this sign-in was started too long ago: start again at /auth/acr/start', 400);
    if (params.code === undefined || params.code === '')
      throw new SignInError('the answer from ACR Connect carries no code: start again at /auth/acr/start', 400);
    const verifier = box.open(pending.sealed, SEALED_PENDING);
    const form = new URLSearchParams({ grant_type: 'authorization_code', code: params.code, redirect_uri: this.opts.redirectUrl, code_verifier: verifier });
    let r: { status: number; body: unknown };
    try {
      r = await this.post(form);
    } catch (e) {
      throw new SignInError(`the ACR Connect token endpoint cannot be reached (${errorMessage(e)}): start again`, 502);
    }
    if (r.status !== 200) {
      const code = oauthCode((r.body as { error?: unknown } | null)?.error);
      throw new SignInError(`ACR Connect refused the sign-in code (HTTP ${r.status}${code ? ` ${code}` : ''}): start again at /auth/acr/start`, 400);
    }
    const answer = TokenAnswerSchema.safeParse(r.body);
    if (!answer.success) throw new SignInError('ACR Connect answered without an access token: start again', 502);
    if (answer.data.refresh_token === undefined) throw new SignInError('ACR Connect gave no refresh token: the sign-in cannot be kept', 502);
    const at = this.opts.clock();
    const claims = this.claims(answer.data.access_token);
    const sealed: Sealed = { refreshToken: answer.data.refresh_token, accessToken: answer.data.access_token, accessExpiresAt: this.accessExpiry(answer.data) };
    const meta: SignInMeta = {
      state: 'signed-in',
      ...claims,
      signedInAt: at.toISOString(),
      refreshedAt: null,
      rotations: 0,
      accessExpiresAt: new Date(sealed.accessExpiresAt).toISOString(),
      refreshExpiresAt: this.refreshExpiry(answer.data)?.toISOString() ?? null,
      lastError: null,
    };
    // a new sign-in replaces whatever was kept, whoever wrote it last
    for (let i = 0; i < 5; i++) {
      const existing = await this.opts.store.credential(SIGNIN_CREDENTIAL);
      const version = await this.write(sealed, meta, existing?.version ?? 0, at);
      if (version !== false) {
        this.current = { sealed, version };
        this.refused = undefined;
        this.warned = undefined;
        this.opts.log.info({ event: 'acr_signed_in', subject: meta.subject, refreshExpiresAt: meta.refreshExpiresAt }, 'signed in to ACR Connect');
        // a sign-in that ends within the warning time says so now, not at the next check
        return this.checkExpiry();
      }
    }
    throw new SignInError('the sign-in could not be stored (written by another instance at the same time): start again', 409);
  }

  private write(sealed: Sealed, meta: SignInMeta, ifVersion: number, at: Date): Promise<number | false> {
    const expiresAt = meta.refreshExpiresAt !== null ? new Date(meta.refreshExpiresAt) : undefined;
    return this.opts.store.putCredential(
      SIGNIN_CREDENTIAL,
      { sealed: this.box().seal(JSON.stringify(sealed), SEALED_SIGNIN), meta, ...(expiresAt ? { expiresAt } : {}) },
      ifVersion,
      at,
    );
  }

  private claims(accessToken: string): Pick<SignInMeta, 'subject' | 'facilityId' | 'user' | 'amr'> {
    let payload: Record<string, unknown> = {};
    try {
      payload = decodeJwt(accessToken);
    } catch {
      // not a JWT: nothing to show but that someone signed in
    }
    const subject = typeof payload.sub === 'string' ? payload.sub : '';
    // ACR Connect's subject is <Facility_ID>_<user>
    const m = /^([^_]+)_(.+)$/.exec(subject);
    // RFC 8176 makes amr an array; the spec's sample token has "amr":"password"
    const amr =
      typeof payload.amr === 'string'
        ? payload.amr.trim() === ''
          ? []
          : [payload.amr]
        : Array.isArray(payload.amr)
          ? payload.amr.filter((x): x is string => typeof x === 'string')
          : [];
    return { subject, facilityId: m?.[1] ?? null, user: m?.[2] ?? null, amr };
  }

  private accessExpiry(a: z.infer<typeof TokenAnswerSchema>): number {
    try {
      const exp = decodeJwt(a.access_token).exp;
      if (typeof exp === 'number') return exp * 1000;
    } catch {
      // not a JWT: expires_in it is
    }
    return this.now() + (a.expires_in ?? 300) * 1000;
  }

  private refreshExpiry(a: z.infer<typeof TokenAnswerSchema>): Date | undefined {
    if (a.refresh_expires_in !== undefined && a.refresh_expires_in > 0) return new Date(this.now() + a.refresh_expires_in * 1000);
    try {
      const exp = a.refresh_token !== undefined ? decodeJwt(a.refresh_token).exp : undefined;
      if (typeof exp === 'number') return new Date(exp * 1000);
    } catch {
      // an opaque refresh token: ACR does not say when it ends
    }
    return undefined;
  }

  private readMeta(row: CredentialRow): SignInMeta | undefined {
    const m = SignInMetaSchema.safeParse(row.meta);
    return m.success ? m.data : undefined;
  }

  /** Whether a sign-in is kept that can give tokens (the NRDR client then prefers it). */
  async active(): Promise<boolean> {
    if (!this.opts.box) return false;
    const row = await this.opts.store.credential(SIGNIN_CREDENTIAL);
    return row !== undefined && this.readMeta(row)?.state === 'signed-in';
  }

  token(): Promise<string> {
    const skew = (this.opts.skewSeconds ?? 30) * 1000;
    const c = this.current;
    if (c && this.now() < c.sealed.accessExpiresAt - skew && c.sealed.accessToken !== this.refused) return Promise.resolve(c.sealed.accessToken);
    this.inFlight ??= this.renew(skew).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  invalidate(token?: string): void {
    if (token === undefined || this.current?.sealed.accessToken === token) {
      this.refused = this.current?.sealed.accessToken;
      this.current = undefined;
    }
  }

  private async load(): Promise<{ row: CredentialRow; sealed: Sealed; meta: SignInMeta }> {
    let box: SecretBox;
    try {
      box = this.box();
    } catch (e) {
      throw new TokenError(errorMessage(e));
    }
    const row = await this.opts.store.credential(SIGNIN_CREDENTIAL);
    if (!row) throw new TokenError('not signed in to ACR Connect: an operator opens /auth/acr/start');
    const meta = this.readMeta(row);
    if (!meta) throw new TokenError('the kept ACR Connect sign-in is unreadable: sign in again at /auth/acr/start');
    if (meta.state === 'refused') throw new TokenError('ACR Connect refused the kept sign-in: an operator signs in again at /auth/acr/start');
    let sealed: Sealed;
    try {
      sealed = SealedSchema.parse(JSON.parse(box.open(row.sealed, SEALED_SIGNIN)));
    } catch (e) {
      throw new TokenError(`the kept ACR Connect sign-in cannot be opened (${e instanceof AdapterError ? e.code : 'unreadable'}): ${errorMessage(e)}`, {
        cause: e,
      });
    }
    return { row, sealed, meta };
  }

  private refreshTokenOf(row: CredentialRow): string | undefined {
    try {
      return SealedSchema.parse(JSON.parse(this.box().open(row.sealed, SEALED_SIGNIN))).refreshToken;
    } catch {
      return undefined;
    }
  }

  private async renew(skew: number): Promise<string> {
    for (let i = 0; i < 3; i++) {
      const { row, sealed, meta } = await this.load();
      // another process (or this one before a restart) may have renewed it already
      if (this.now() < sealed.accessExpiresAt - skew && sealed.accessToken !== this.refused) {
        this.current = { sealed, version: row.version };
        return sealed.accessToken;
      }
      let r: { status: number; body: unknown };
      try {
        r = await this.post(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: sealed.refreshToken }));
      } catch (e) {
        throw new TokenError(`the ACR Connect token endpoint cannot be reached: ${errorMessage(e)}`);
      }
      const at = this.opts.clock();
      if (r.status === 400 || r.status === 401) {
        const code = oauthCode((r.body as { error?: unknown } | null)?.error) ?? `HTTP ${r.status}`;
        // refused: unless another instance rotated it meanwhile, the sign-in is over
        const latest = await this.opts.store.credential(SIGNIN_CREDENTIAL);
        if (latest && latest.version !== row.version) continue;
        await this.opts.store.putCredential(
          SIGNIN_CREDENTIAL,
          { sealed: row.sealed, meta: { ...meta, state: 'refused', lastError: `refresh refused (${code})` } },
          row.version,
          at,
        );
        this.opts.log.warn(
          { event: 'acr_signin_refused', subject: meta.subject, code },
          'ACR Connect refused the kept sign-in: an operator must sign in again',
        );
        throw new TokenError(`ACR Connect refused the kept sign-in (${code}): an operator signs in again at /auth/acr/start`);
      }
      if (r.status !== 200) throw new TokenError(`the ACR Connect token endpoint answered ${r.status}`);
      const answer = TokenAnswerSchema.safeParse(r.body);
      if (!answer.success) throw new TokenError('the ACR Connect token endpoint answered without an access_token');
      const next: Sealed = {
        refreshToken: answer.data.refresh_token ?? sealed.refreshToken,
        accessToken: answer.data.access_token,
        accessExpiresAt: this.accessExpiry(answer.data),
      };
      const rotated = answer.data.refresh_token !== undefined && answer.data.refresh_token !== sealed.refreshToken;
      const nextMeta: SignInMeta = {
        ...meta,
        refreshedAt: at.toISOString(),
        rotations: meta.rotations + (rotated ? 1 : 0),
        accessExpiresAt: new Date(next.accessExpiresAt).toISOString(),
        refreshExpiresAt: rotated ? (this.refreshExpiry(answer.data)?.toISOString() ?? null) : meta.refreshExpiresAt,
        lastError: null,
      };
      // written before the new access token is used: a crash after this keeps the new refresh token
      let version = await this.write(next, nextMeta, row.version, at);
      if (version === false) {
        // changed meanwhile: if nobody else rotated (another instance only found the old token
        // refused, say), the refresh token in hand is the live one and is kept over it
        const latest = await this.opts.store.credential(SIGNIN_CREDENTIAL);
        if (latest && this.refreshTokenOf(latest) === sealed.refreshToken) version = await this.write(next, nextMeta, latest.version, at);
      }
      if (version === false) continue;
      this.current = { sealed: next, version };
      this.fetched++;
      this.opts.log.info(
        { event: 'acr_token_refreshed', subject: meta.subject, rotated, accessExpiresAt: nextMeta.accessExpiresAt },
        'ACR Connect access token renewed',
      );
      return next.accessToken;
    }
    throw new TokenError('the kept ACR Connect sign-in kept changing under this process (other instances renewing it): try again');
  }

  private view(meta: SignInMeta | undefined, unreadable = false): SignInStatus {
    const now = this.now();
    const refreshAt = meta?.refreshExpiresAt ? Date.parse(meta.refreshExpiresAt) : undefined;
    const expired = refreshAt !== undefined && refreshAt <= now;
    const state: SignInStatus['state'] = unreadable
      ? 'unreadable'
      : !meta
        ? 'signed-out'
        : meta.state === 'refused'
          ? 'refused'
          : expired
            ? 'expired'
            : 'signed-in';
    return {
      configured: true,
      keySet: this.opts.box !== undefined,
      appName: this.opts.appName,
      state,
      signedIn: state === 'signed-in',
      subject: meta?.subject ?? null,
      facilityId: meta?.facilityId ?? null,
      user: meta?.user ?? null,
      amr: meta?.amr ?? [],
      signedInAt: meta?.signedInAt ?? null,
      refreshedAt: meta?.refreshedAt ?? null,
      rotations: meta?.rotations ?? 0,
      accessExpiresAt: meta?.accessExpiresAt ?? null,
      refreshExpiresAt: meta?.refreshExpiresAt ?? null,
      expiringSoon: state === 'signed-in' && refreshAt !== undefined && refreshAt - now <= this.opts.warnBeforeMs,
      warnBeforeSeconds: Math.round(this.opts.warnBeforeMs / 1000),
      lastError: meta?.lastError ?? null,
    };
  }

  async status(): Promise<SignInStatus> {
    const row = await this.opts.store.credential(SIGNIN_CREDENTIAL);
    if (!row) return this.view(undefined);
    const meta = this.readMeta(row);
    return this.view(meta, meta === undefined);
  }

  /** Warns once (per sign-in state) when the sign-in is about to expire or has; returns the status. */
  async checkExpiry(): Promise<SignInStatus> {
    const s = await this.status();
    const key = s.state === 'expired' ? `expired|${s.signedInAt}` : s.expiringSoon ? `soon|${s.refreshExpiresAt}` : undefined;
    if (key !== undefined && key !== this.warned) {
      this.warned = key;
      const secondsLeft = s.refreshExpiresAt ? Math.round((Date.parse(s.refreshExpiresAt) - this.now()) / 1000) : null;
      this.opts.log.warn(
        { event: s.state === 'expired' ? 'acr_signin_expired' : 'acr_signin_expiring', subject: s.subject, refreshExpiresAt: s.refreshExpiresAt, secondsLeft },
        s.state === 'expired'
          ? 'the ACR Connect sign-in has expired: an operator signs in again at /auth/acr/start'
          : 'the ACR Connect sign-in expires soon: an operator signs in again at /auth/acr/start',
      );
    }
    return s;
  }

  async signOut(): Promise<void> {
    await this.opts.store.deleteCredential(SIGNIN_CREDENTIAL);
    this.current = undefined;
    this.opts.log.info({ event: 'acr_signed_out' }, 'the ACR Connect sign-in was removed');
  }
}

/**
 * The NRDR client's tokens: the kept sign-in when there is one, else the configured flow (client
 * credentials, refresh token, static token), else an error that says to sign in.
 */
export class PreferSignIn implements TokenProvider {
  constructor(
    private readonly signIn: AcrSignIn,
    private readonly fallback: TokenProvider | undefined,
  ) {}

  get fetched(): number {
    return this.signIn.fetched + (this.fallback?.fetched ?? 0);
  }

  async token(): Promise<string> {
    if ((await this.signIn.active()) || !this.fallback) return this.signIn.token();
    return this.fallback.token();
  }

  invalidate(token?: string): void {
    this.signIn.invalidate(token);
    this.fallback?.invalidate(token);
  }
}
