// ACR Connect's interactive sign-in, as the sandbox plays it: the authorize endpoint with a login
// page naming the registered application, a single-use code bound to the client, the redirect
// URL and the PKCE challenge, and refresh tokens that rotate (a used one is refused). Users sign
// in as `<Facility_ID>_<user>` (the token's `sub`) with a password (`amr: ["password"]`).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const SANDBOX_AUTHORIZE_PATH = '/connect/authorize';

export interface SandboxUser {
  readonly facilityId: string;
  readonly username: string;
  readonly password: string;
}

/** The client registration the sign-in needs: where codes may be sent, and the name users see. */
export interface ConnectClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly partnerId: string;
  readonly redirectUris?: readonly string[];
  readonly appName?: string;
}

export interface GrantedUser {
  readonly user: SandboxUser;
  readonly amr: readonly string[];
}

interface PendingCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly challenge: string;
  readonly user: SandboxUser;
  readonly expiresAt: number;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export type GrantAnswer =
  { readonly ok: true; readonly granted: GrantedUser } | { readonly ok: false; readonly error: string; readonly error_description: string };

export class ConnectAuth {
  private readonly codes = new Map<string, PendingCode>();
  /** Codes issued and exchanged, for tests. */
  readonly counts = { codes: 0, exchanged: 0, refused: 0 };

  constructor(
    private readonly clients: readonly ConnectClient[],
    private readonly users: readonly SandboxUser[],
    private readonly clock: () => Date,
    private readonly codeTtlMs = 60_000,
  ) {}

  /** The parameters of an authorize request, checked as ACR would; a page to show when they cannot be trusted. */
  private check(q: Readonly<Record<string, string | undefined>>): { client: ConnectClient; redirectUri: string } | { page: string } | { redirect: string } {
    const client = this.clients.find((c) => c.clientId === q.client_id);
    if (!client) return { page: 'Unknown client_id: this application is not registered with ACR Connect.' };
    // never redirect to a URL the client did not register
    if (!q.redirect_uri || !(client.redirectUris ?? []).includes(q.redirect_uri)) {
      return { page: 'The redirect_uri is not the one registered for this application.' };
    }
    const back = (error: string, description: string) => {
      const u = new URL(q.redirect_uri!);
      u.searchParams.set('error', error);
      u.searchParams.set('error_description', description);
      if (q.state) u.searchParams.set('state', q.state);
      return { redirect: u.toString() };
    };
    if (q.response_type !== 'code') return back('unsupported_response_type', 'response_type must be code');
    if (!q.state) return back('invalid_request', 'state is required');
    if (!q.code_challenge || q.code_challenge_method !== 'S256')
      return back('invalid_request', 'PKCE is required: code_challenge with code_challenge_method S256');
    return { client, redirectUri: q.redirect_uri };
  }

  private loginPage(client: ConnectClient, q: Readonly<Record<string, string | undefined>>, error?: string): string {
    const hidden = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope']
      .filter((k) => q[k] !== undefined)
      .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(q[k]!)}">`)
      .join('\n');
    const app = escapeHtml(client.appName ?? client.clientId);
    return `<!doctype html>
<html><head><meta charset="utf-8"><title>ACR Connect sandbox: sign in</title></head>
<body>
<h1>ACR Connect (sandbox, not ACR)</h1>
<p><strong>${app}</strong> asks to submit data to NRDR on your behalf.</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${SANDBOX_AUTHORIZE_PATH}">
${hidden}
<label>Facility ID <input name="facility" autocomplete="organization"></label>
<label>User name <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
<p>Sandbox users: any registered Facility_ID, user <code>operator</code>, password <code>sandbox</code>.</p>
</body></html>
`;
  }

  private static errorPage(reply: FastifyReply, status: number, text: string) {
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html><html><head><meta charset="utf-8"><title>ACR Connect sandbox: error</title></head><body><h1>Sign-in refused</h1><p>${escapeHtml(text)}</p></body></html>\n`,
      );
  }

  register(app: FastifyInstance): void {
    app.get<{ Querystring: Record<string, string | undefined> }>(SANDBOX_AUTHORIZE_PATH, (req, reply) => {
      const c = this.check(req.query);
      if ('page' in c) return ConnectAuth.errorPage(reply, 400, c.page);
      if ('redirect' in c) return reply.redirect(c.redirect, 302);
      return reply.type('text/html; charset=utf-8').send(this.loginPage(c.client, req.query));
    });
    app.post(SANDBOX_AUTHORIZE_PATH, (req, reply) => {
      const form = Object.fromEntries(new URLSearchParams(typeof req.body === 'string' ? req.body : ''));
      const c = this.check(form);
      if ('page' in c) return ConnectAuth.errorPage(reply, 400, c.page);
      if ('redirect' in c) return reply.redirect(c.redirect, 302);
      const user = this.users.find((u) => u.facilityId === form.facility && u.username === form.username && same(u.password, form.password ?? ''));
      if (!user)
        return reply
          .code(401)
          .type('text/html; charset=utf-8')
          .send(this.loginPage(c.client, form, 'Wrong facility, user name or password.'));
      const code = randomBytes(32).toString('base64url');
      this.codes.set(code, {
        clientId: c.client.clientId,
        redirectUri: c.redirectUri,
        challenge: form.code_challenge!,
        user,
        expiresAt: this.clock().getTime() + this.codeTtlMs,
      });
      this.counts.codes++;
      const back = new URL(c.redirectUri);
      back.searchParams.set('code', code);
      back.searchParams.set('state', form.state!);
      return reply.redirect(back.toString(), 302);
    });
  }

  /** The authorization_code grant, for a client already authenticated by the token endpoint. */
  exchange(form: URLSearchParams, clientId: string): GrantAnswer {
    const refuse = (description: string): GrantAnswer => {
      this.counts.refused++;
      return { ok: false, error: 'invalid_grant', error_description: description };
    };
    const code = form.get('code') ?? '';
    const pending = this.codes.get(code);
    // single use: gone on the first exchange, whatever its outcome
    this.codes.delete(code);
    if (!pending) return refuse('the code is unknown or was already used');
    if (this.clock().getTime() > pending.expiresAt) return refuse('the code has expired');
    if (pending.clientId !== clientId) return refuse('the code was issued to another client');
    if (pending.redirectUri !== (form.get('redirect_uri') ?? '')) return refuse('redirect_uri differs from the one the code was issued for');
    const verifier = form.get('code_verifier') ?? '';
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !same(s256(verifier), pending.challenge))
      return refuse('code_verifier does not match the code_challenge');
    this.counts.exchanged++;
    return { ok: true, granted: { user: pending.user, amr: ['password'] } };
  }
}
