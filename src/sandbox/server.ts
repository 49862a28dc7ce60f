// The NRDR sandbox: the CDSR transactions API and an ACR Connect-style OAuth2 token endpoint on
// loopback, with the routes, status codes, error bodies and status progression of the CDSR
// spec (docs/cdsr-spec.md), and switches for the faults a site must survive (5xx, delays, short-lived tokens,
// dropped connections) and for the odd answers of switches.ts.
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { SignJWT, jwtVerify } from 'jose';
import { Registry, type RegistryOptions } from './registry.js';
import { DEFAULT_ANSWERS, EXAM_ID_FORMS, HeldAnswers, sendPostAnswer, TRANSACTION_DATETIME_FORMS, type AnswerSwitches } from './switches.js';
import { ConnectAuth, type ConnectClient, type GrantedUser, type SandboxUser } from './connect.js';
import { isReadableZone } from './check.js';
export { SANDBOX_AUTHORIZE_PATH, type SandboxUser } from './connect.js';
export type { ValueLists } from './check.js';

export const SANDBOX_PATH = '/NonPQRSapi/cdsr/transactions';
export const SANDBOX_TOKEN_PATH = '/connect/token';

/** A registered client; `redirectUris` and `appName` are what the interactive sign-in needs. */
export type SandboxClient = ConnectClient;

/** The transport faults below, and the answer switches of switches.ts. */
export interface Faults extends AnswerSwitches {
  /** Share of API requests answered 503 (0..1). */
  failRate: number;
  /** Share of API requests whose connection is dropped without an answer (0..1). */
  dropRate: number;
  /** Added to every API answer. */
  delayMs: number;
  /** Lifetime of issued access tokens. */
  tokenTtlSeconds: number;
  /** Time between status stages (Received → Validation… → Loading → final). */
  stepMs: number;
  /** A token is refused (invalid_token) after this many uses; 0 = never. */
  tokenMaxUses: number;
  /** Lifetime of a refresh token (a sign-in lasts this long without use). */
  refreshTtlSeconds: number;
  /** A signed-in user's `amr` claim: `["password"]` (RFC 8176), or `"password"` as the spec's sample token has it. */
  amrForm: 'array' | 'string';
}

export interface SandboxOptions extends Omit<RegistryOptions, 'clock' | 'answers'> {
  readonly clients?: readonly SandboxClient[];
  readonly faults?: Partial<Faults>;
  readonly clock?: () => Date;
  /** Seed of the fault dice, for repeatable runs. */
  readonly seed?: number;
  /** Who may sign in at the authorize page (default: `operator` / `sandbox` at every registered facility). */
  readonly users?: readonly SandboxUser[];
}

export const DEFAULT_CLIENT: SandboxClient = { clientId: 'sandbox-client', clientSecret: 'sandbox-secret', partnerId: '10000' };

export interface Sandbox {
  readonly app: FastifyInstance;
  readonly registry: Registry;
  readonly faults: Faults;
  /** Counters of what was asked, for tests. */
  readonly counts: { posts: number; gets: number; tokens: number; failed: number; dropped: number; unauthorized: number };
  /** POST answers held by `holdPostAnswer`. */
  readonly held: HeldAnswers;
  /** API requests by the `sub` of their bearer token (a client id, or `<facility>_<user>` after a sign-in). */
  readonly bearers: Record<string, number>;
  readonly connect: ConnectAuth;
}

function errorBody(code: string, description: string) {
  return { error_code: code, error_description: description };
}

// mulberry32: a small seeded generator, so that fault runs can be repeated
function dice(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What is wrong with the reading switches of a patch (a zone the sandbox cannot read, a form it does not know), if anything. */
export function readingProblem(patch: Partial<AnswerSwitches>): string | undefined {
  if (patch.todayZone !== undefined && (typeof patch.todayZone !== 'string' || !isReadableZone(patch.todayZone))) {
    return `todayZone must be UTC, UTC+hh[:mm], UTC-hh[:mm] or an IANA time zone, not ${JSON.stringify(patch.todayZone)}`;
  }
  if (patch.transactionDateTime !== undefined && !(TRANSACTION_DATETIME_FORMS as readonly unknown[]).includes(patch.transactionDateTime)) {
    return `transactionDateTime must be one of ${TRANSACTION_DATETIME_FORMS.join(', ')}, not ${JSON.stringify(patch.transactionDateTime)}`;
  }
  if (patch.examIdForm !== undefined && !(EXAM_ID_FORMS as readonly unknown[]).includes(patch.examIdForm)) {
    return `examIdForm must be one of ${EXAM_ID_FORMS.join(', ')}, not ${JSON.stringify(patch.examIdForm)}`;
  }
  return undefined;
}

export function buildSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const clock = opts.clock ?? (() => new Date());
  const faults: Faults = {
    failRate: 0,
    dropRate: 0,
    delayMs: 0,
    tokenTtlSeconds: 3600,
    stepMs: 200,
    tokenMaxUses: 0,
    refreshTtlSeconds: 30 * 86_400,
    amrForm: 'array',
    ...DEFAULT_ANSWERS,
    ...opts.faults,
  };
  const wrong = readingProblem(faults);
  if (wrong !== undefined) return Promise.reject(new Error(`sandbox: ${wrong}`));
  const registry = new Registry({ ...opts, clock, answers: faults });
  const held = new HeldAnswers();
  const uses = new Map<string, number>();
  const clients = opts.clients ?? [DEFAULT_CLIENT];
  const secret = randomBytes(32);
  const refreshTokens = new Map<string, { client: SandboxClient; granted?: GrantedUser; expiresAt: number }>();
  const users = opts.users ?? opts.facilities.map((facilityId) => ({ facilityId, username: 'operator', password: 'sandbox' }));
  const connect = new ConnectAuth(clients, users, clock);
  const bearers: Record<string, number> = {};
  const roll = dice(opts.seed ?? 1);
  const counts = { posts: 0, gets: 0, tokens: 0, failed: 0, dropped: 0, unauthorized: 0 };
  const app = Fastify({ logger: false });
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const issue = async (client: SandboxClient, granted?: GrantedUser) => {
    counts.tokens++;
    const now = Math.floor(clock().getTime() / 1000);
    // a signed-in user: sub <facility>_<user>, and how they proved it
    const user = granted ? { facility: granted.user.facilityId, amr: faults.amrForm === 'string' ? granted.amr.join(' ') : granted.amr, auth_time: now } : {};
    const token = await new SignJWT({ client_id: client.clientId, partner: client.partnerId, scope: ['openid', 'cdsr'], ...user })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('nrdr-sandbox')
      .setSubject(granted ? `${granted.user.facilityId}_${granted.user.username}` : client.clientId)
      .setJti(randomBytes(9).toString('base64url'))
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + faults.tokenTtlSeconds)
      .sign(secret);
    const refresh = randomBytes(24).toString('base64url');
    refreshTokens.set(refresh, { client, ...(granted ? { granted } : {}), expiresAt: clock().getTime() + faults.refreshTtlSeconds * 1000 });
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: faults.tokenTtlSeconds,
      refresh_token: refresh,
      refresh_expires_in: faults.refreshTtlSeconds,
      scope: 'openid cdsr',
    };
  };

  app.post(SANDBOX_TOKEN_PATH, async (req, reply) => {
    const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
    let id = form.get('client_id') ?? '';
    let sec = form.get('client_secret') ?? '';
    const basic = req.headers.authorization;
    if (typeof basic === 'string' && basic.startsWith('Basic ')) {
      const [u = '', p = ''] = Buffer.from(basic.slice(6), 'base64').toString('utf8').split(':');
      id = decodeURIComponent(u);
      sec = decodeURIComponent(p);
    }
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') {
      const c = clients.find((x) => x.clientId === id && x.clientSecret === sec);
      if (!c) return reply.code(401).send({ error: 'invalid_client' });
      return issue(c);
    }
    if (grant === 'authorization_code') {
      const c = clients.find((x) => x.clientId === id && x.clientSecret === sec);
      if (!c) return reply.code(401).send({ error: 'invalid_client' });
      const r = connect.exchange(form, c.clientId);
      if (!r.ok) return reply.code(400).send({ error: r.error, error_description: r.error_description });
      return issue(c, r.granted);
    }
    if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const entry = refreshTokens.get(presented);
      // rotation: a refresh token is good for one use; the answer carries the next one
      refreshTokens.delete(presented);
      if (!entry || clock().getTime() > entry.expiresAt || (id !== '' && id !== entry.client.clientId)) {
        return reply.code(400).send({ error: 'invalid_grant', error_description: 'the refresh token is unknown, expired or already used' });
      }
      return issue(entry.client, entry.granted);
    }
    return reply.code(400).send({ error: 'unsupported_grant_type' });
  });

  /** Applies the fault switches; true when the request is already answered (or dropped). */
  const misbehave = async (req: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    if (faults.delayMs > 0) await new Promise((r) => setTimeout(r, faults.delayMs));
    const r = roll();
    if (r < faults.dropRate) {
      counts.dropped++;
      req.raw.socket.destroy();
      await reply.hijack();
      return true;
    }
    if (r < faults.dropRate + faults.failRate) {
      counts.failed++;
      await reply.code(503).send(errorBody('server_error', 'The service is temporarily unavailable'));
      return true;
    }
    return false;
  };

  const authorize = async (req: FastifyRequest, reply: FastifyReply): Promise<string | undefined> => {
    const h = req.headers.authorization;
    if (typeof h !== 'string' || !h.startsWith('Bearer ') || h.slice(7).trim() === '') {
      counts.unauthorized++;
      await reply.code(401).send(errorBody('missing_token', 'Token is not provided in the request header'));
      return undefined;
    }
    try {
      const token = h.slice(7).trim();
      const { payload } = await jwtVerify(token, secret, { issuer: 'nrdr-sandbox', currentDate: clock() });
      const n = (uses.get(token) ?? 0) + 1;
      uses.set(token, n);
      if (faults.tokenMaxUses > 0 && n > faults.tokenMaxUses) throw new Error('used up');
      const sub = typeof payload.sub === 'string' ? payload.sub : '';
      bearers[sub] = (bearers[sub] ?? 0) + 1;
      return typeof payload.partner === 'string' ? payload.partner : '';
    } catch {
      counts.unauthorized++;
      await reply.code(401).send(errorBody('invalid_token', 'Token is invalid or expired'));
      return undefined;
    }
  };

  app.post(SANDBOX_PATH, async (req, reply) => {
    counts.posts++;
    registry.countPost(req.body);
    if (await misbehave(req, reply)) return reply;
    const partner = await authorize(req, reply);
    if (partner === undefined) return reply;
    let body: unknown;
    try {
      body = JSON.parse(typeof req.body === 'string' ? req.body : '');
    } catch {
      return reply.code(400).send(errorBody('data_error', "Transaction data is missing or doesn't have valid JSON representation"));
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return reply.code(400).send(errorBody('data_error', "Transaction data is missing or doesn't have valid JSON representation"));
    }
    const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
    const facility = text((body as { Facility_ID?: unknown }).Facility_ID);
    const bodyPartner = (body as { PartnerID?: unknown }).PartnerID;
    if (bodyPartner !== undefined && text(bodyPartner) !== partner) {
      return reply
        .code(403)
        .send(errorBody('no_permission', `Authenticated user doesn't have permissions to upload transaction data for facility ${facility}`));
    }
    const t = registry.submit(body);
    const answer = registry.status(t, faults.stepMs);
    // stored first, answered later (or never, if the client is gone by then)
    if (faults.holdPostAnswer) await held.hold();
    if (faults.dropPostAnswer) {
      counts.dropped++;
      req.raw.socket.destroy();
      await reply.hijack();
      return reply;
    }
    if (faults.gatewayErrorAfterPost) {
      counts.failed++;
      return reply
        .code(502)
        .type('text/html')
        .send('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>');
    }
    return sendPostAnswer(reply, answer, faults.postAnswer);
  });

  app.get<{ Querystring: Record<string, string | undefined> }>(SANDBOX_PATH, async (req, reply) => {
    counts.gets++;
    if (await misbehave(req, reply)) return reply;
    if ((await authorize(req, reply)) === undefined) return reply;
    const id = req.query.id;
    if (id === undefined || id === '') return reply.code(400).send(errorBody('missing_param', 'Missing transaction ID parameter'));
    const t = registry.lookup(id, req.query);
    if (!t) {
      return reply.code(404).send(errorBody('invalid_param', `Transaction ${id} does not exist`));
    }
    return registry.status(t, faults.stepMs);
  });

  // For rehearsal and tests: what the registry holds, and the fault switches.
  app.get('/sandbox/registry', () => ({
    encounters: Object.fromEntries([...registry.encounters].map(([k, e]) => [k, { ...e.fields, Consultations: Object.fromEntries(e.consultations) }])),
    transactions: [...registry.transactions.values()].map((t) => ({ id: t.id, facilityId: t.facilityId, final: t.final, submissions: t.submissions })),
    counts,
    postsById: Object.fromEntries(registry.postsById),
    held: held.count,
    bearers,
    signIn: connect.counts,
  }));
  app.post<{ Body: string }>('/sandbox/faults', (req, reply) => {
    const patch = JSON.parse(typeof req.body === 'string' && req.body !== '' ? req.body : '{}') as Partial<Faults>;
    const wrong = readingProblem(patch);
    if (wrong !== undefined) return reply.code(400).send(errorBody('invalid_param', wrong));
    Object.assign(faults, patch);
    if (!faults.holdPostAnswer) held.release();
    return faults;
  });
  app.addHook('preClose', (done) => {
    held.release();
    done();
  });

  connect.register(app);
  return Promise.resolve({ app, registry, faults, counts, held, bearers, connect });
}
