// The ACR Connect sign-in pages: /auth/acr/start (operators) sends the browser to ACR Connect,
// /auth/acr/callback receives the code (open: the one-time state is its credential), /api/auth
// shows who is signed in and until when. Pages and logs never carry a code or a token.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AdapterError } from '../cdsr/errors.js';
import { SignInError } from '../outbound/acr-signin.js';
import type { AppOptions } from './deps.js';
import { arr, bool, errorAnswer, int, nullable, obj, route, str, textAnswer } from './schema.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(reply: FastifyReply, status: number, title: string, paragraphs: readonly string[]) {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`,
    );
}

/** Why there is no sign-in, naming the variables of the profile in force (CDSR_TEST_… under test). */
const notConfigured = (profile: string | undefined): string => {
  const p = profile === 'test' ? 'CDSR_TEST_' : '';
  return `No ACR Connect sign-in is configured: set ${p}ACR_AUTHORIZE_URL, ${p}ACR_TOKEN_URL, ${p}ACR_CLIENT_ID and ${p}ACR_REDIRECT_URL (docs/operations.md "Signing in to ACR Connect").`;
};

const html = (d: string) => textAnswer(`an HTML page: ${d}`);
const when = (d: string) => nullable(str(d));
const PROFILE = nullable(
  obj(
    {
      name: str('the connection profile in force: test, production or sandbox'),
      selectedBy: str('CDSR_PROFILE, or default (from NRDR_BASE_URL set or not)'),
      nrdrUrl: nullable(str('the NRDR endpoint; null: the built-in sandbox')),
      partnerId: str('PartnerID'),
      appId: str('AppID'),
      facilityId: nullable(str('the facility every transaction is sent as (test); null: the records’ own')),
      deidentified: bool('records leave only through the de-identification step (test)'),
    },
    'the connection profile in force (never a secret)',
    ['name', 'selectedBy', 'nrdrUrl', 'partnerId', 'appId', 'facilityId', 'deidentified'],
  ),
);
const SIGN_IN_STATUS = obj({
  profile: PROFILE,
  configured: bool('a sign-in is configured (ACR_AUTHORIZE_URL…)'),
  keySet: bool('CDSR_SECRET_KEY is set: a sign-in can be kept'),
  appName: str('the application name ACR Connect shows'),
  state: str('signed-out, signed-in, refused, expired or unreadable'),
  signedIn: bool('a sign-in is kept and usable'),
  subject: when('the JWT subject (<facility>_<user>)'),
  facilityId: when('the facility of the subject'),
  user: when('the user of the subject'),
  amr: arr(str('how the user signed in')),
  signedInAt: when('when'),
  refreshedAt: when('last renewal'),
  rotations: int('refresh tokens rotated since the sign-in'),
  accessExpiresAt: when('expiry of the kept access token'),
  refreshExpiresAt: when('expiry of the sign-in (its refresh token)'),
  expiringSoon: bool('the sign-in expires within ACR_SIGNIN_WARN_HOURS'),
  warnBeforeSeconds: int('the warning lead time'),
  lastError: when('the last refusal, by code'),
  message: str('why there is no sign-in'),
});

export function registerAuthRoutes(app: FastifyInstance, deps: AppOptions): void {
  const signIn = deps.signIn;
  const NOT_CONFIGURED = notConfigured(deps.profile?.name);

  app.get(
    '/auth/acr/start',
    route('operate', {
      summary: 'start the ACR Connect sign-in: a redirect to ACR Connect (or {authorizeUrl} with Accept: application/json)',
      tags: ['auth'],
      produces: ['text/html', 'application/json'],
      response: {
        200: obj({ authorizeUrl: str('where to send the browser') }),
        302: html('the redirect'),
        404: html('no sign-in configured'),
        503: html('the sign-in cannot start'),
      },
    }),
    async (req, reply) => {
      if (!signIn) return page(reply, 404, 'ACR Connect sign-in', [NOT_CONFIGURED]);
      let url: string;
      try {
        url = await signIn.begin();
      } catch (e) {
        if (e instanceof SignInError) return page(reply, e.status, 'ACR Connect sign-in cannot start', [e.message]);
        throw e;
      }
      req.log.info({ event: 'acr_signin_started', by: req.authKey || 'open' }, 'ACR Connect sign-in started');
      // a script (or the console) may ask for the URL instead of the redirect
      if ((req.headers.accept ?? '').includes('application/json')) return reply.header('cache-control', 'no-store').send({ authorizeUrl: url });
      return reply.header('cache-control', 'no-store').redirect(url, 302);
    },
  );

  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/auth/acr/callback',
    route('open', {
      summary: 'the redirect URL ACR Connect sends the browser back to, with the code and the state (open: the one-time state is its credential)',
      tags: ['auth'],
      // what an authorization server may add besides these is taken and ignored
      querystring: {
        type: 'object',
        properties: {
          code: str('the authorization code'),
          state: str('the state the start gave'),
          error: str('ACR Connect refused'),
          error_description: str('why'),
        },
        additionalProperties: true,
      },
      produces: ['text/html'],
      response: { 200: html('signed in'), 400: html('refused: start again'), 404: html('no sign-in configured') },
    }),
    async (req, reply) => {
      if (!signIn) return page(reply, 404, 'ACR Connect sign-in', [NOT_CONFIGURED]);
      try {
        const s = await signIn.complete(req.query);
        req.log.info({ event: 'acr_signin_completed', outcome: 'signed-in' }, 'ACR Connect sign-in completed');
        return page(reply, 200, 'Signed in to ACR Connect', [
          `Signed in as ${s.subject ?? '(unknown)'}${s.facilityId !== null ? ` (facility ${s.facilityId}, user ${s.user ?? ''})` : ''}${s.amr.length > 0 ? `, by ${s.amr.join(', ')}` : ''}.`,
          `${s.appName} submits to NRDR with this sign-in from now on, across restarts.`,
          s.refreshExpiresAt !== null
            ? `The sign-in lasts until ${s.refreshExpiresAt} unless it is used; sign in again before then if it warns.`
            : 'ACR Connect did not say when the sign-in ends.',
          'You may close this page.',
        ]);
      } catch (e) {
        // codes only: the query holds the code, which is never logged
        const code = e instanceof AdapterError ? e.code : 'INTERNAL';
        req.log.warn({ event: 'acr_signin_completed', outcome: 'refused', code }, 'ACR Connect sign-in refused');
        if (e instanceof AdapterError) return page(reply, e instanceof SignInError ? e.status : 400, 'ACR Connect sign-in failed', [e.message]);
        throw e;
      }
    },
  );

  app.get(
    '/api/auth',
    route('view', { summary: 'the ACR Connect sign-in: who signed in, when, and until when', tags: ['auth'], response: { 200: SIGN_IN_STATUS } }),
    async () => ({
      profile: deps.profile ?? null,
      ...(signIn ? await signIn.status() : { configured: false, signedIn: false, message: NOT_CONFIGURED }),
    }),
  );

  app.delete(
    '/api/auth',
    route('operate', {
      summary: 'forget the ACR Connect sign-in (submissions then use the other credentials, if any)',
      tags: ['auth'],
      response: { 200: SIGN_IN_STATUS, 404: errorAnswer },
    }),
    async (req) => {
      if (!signIn) throw new AdapterError('SIGNIN_NOT_CONFIGURED', NOT_CONFIGURED);
      await signIn.signOut();
      req.log.info({ event: 'acr_signed_out', by: req.authKey || 'open', profile: deps.profile?.name ?? null }, 'ACR Connect sign-in removed');
      return { profile: deps.profile ?? null, ...(await signIn.status()) };
    },
  );
}
