// The one place that reads process.env: every environment variable, its default and its check.
// A bad value stops start-up with a message naming the variable.
import { isIP } from 'node:net';
import { z } from 'zod';
import { AdapterError } from './cdsr/errors.js';
import { isTimeZone } from './cdsr/batch.js';
import {
  activeProfile,
  PREFIXED_PROFILES,
  PROFILE_NAMES,
  PROFILE_SETTINGS,
  PROFILE_URL_SETTINGS,
  profileIssues,
  profileVariable,
  type ProfileSource,
  type ProfileVariable,
} from './profile.js';

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const optionalUrl = optionalText.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), { message: 'must be an http(s) URL' });

const list = optionalText.transform((v) =>
  v === undefined
    ? []
    : v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
);

const port = z.coerce.number().int().min(1).max(65535);

/** An address or range proxy-addr takes: an IP, an IP/prefix, or one of its named ranges. */
function isProxyAddress(v: string): boolean {
  if (v === 'loopback' || v === 'linklocal' || v === 'uniquelocal') return true;
  const [ip, bits, more] = v.split('/');
  const family = isIP(ip ?? '');
  if (family === 0 || more !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

function isKey32(v: string): boolean {
  return /^[A-Za-z0-9+/_-]+={0,2}$/.test(v) && Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64').length === 32;
}

/** The path of the adapter that receives ACR Connect's answer to a sign-in. */
export const SIGNIN_CALLBACK_PATH = '/auth/acr/callback';

/** CDSR_TEST_NRDR_BASE_URL, CDSR_PRODUCTION_ACR_CLIENT_SECRET…: each profile's own settings. */
const PROFILE_VARIABLES = Object.fromEntries(
  PREFIXED_PROFILES.flatMap((p) => PROFILE_SETTINGS.map((s) => [profileVariable(p, s), PROFILE_URL_SETTINGS.has(s) ? optionalUrl : optionalText])),
) as Record<ProfileVariable, typeof optionalText>;

/** A variable that looks like a profile's but names no setting (a typo would otherwise be ignored in silence). */
function unknownProfileVariables(env: Readonly<Record<string, string | undefined>>): string[] {
  // CDSR_TEST_PG_URL: the development suite's PostgreSQL (docs/development.md), not a profile's
  const known = new Set<string>([...Object.keys(PROFILE_VARIABLES), 'CDSR_TEST_PG_URL']);
  return Object.keys(env)
    .filter((k) => /^CDSR_(TEST|PRODUCTION)_/.test(k) && !known.has(k))
    .sort()
    .map((k) => `${k}: is not a profile setting (a profile's settings: CDSR_<PROFILE>_ followed by ${PROFILE_SETTINGS.join(', ')})`);
}

const EnvSchema = z
  .object({
    PORT: port.default(8780),
    HOST: z.string().min(1).default('127.0.0.1'),
    CDSR_DATA_DIR: z.string().min(1).default('./data'),
    CDSR_DATABASE_URL: optionalText,
    CDSR_MAPPINGS_DIR: z.string().min(1).default('./mappings'),
    CDSR_DEFAULT_FACILITY_ID: optionalText,
    CDSR_INBOUND_API_KEYS: list,
    // keys by role (docs/operations.md "Roles and keys"); CDSR_INBOUND_API_KEYS are send + operate
    CDSR_SEND_API_KEYS: list,
    CDSR_OPERATE_API_KEYS: list,
    CDSR_VIEW_API_KEYS: list,
    CDSR_METRICS_API_KEYS: list,
    // the key the command line presents to the running service (replay, resubmit, submit, status)
    CDSR_API_KEY: optionalText,
    // what one credential may send (admission.ts): messages and bytes a second, each with a burst
    // of CDSR_SEND_BURST_S seconds; 0 turns a limit off. Past it: 429 / AR with Retry-After
    CDSR_SEND_RATE: z.coerce.number().min(0).max(1_000_000).default(1000),
    CDSR_SEND_BYTES_RATE: z.coerce
      .number()
      .int()
      .min(0)
      .default(10 * 1024 * 1024),
    CDSR_SEND_BURST_S: z.coerce.number().min(1).max(3600).default(10),
    // the store's size past which no message is taken (503, the sender queues); 0: no ceiling
    CDSR_MAX_STORE_BYTES: z.coerce.number().int().min(0).default(0),
    // PostgreSQL: the longest a statement of a transaction may wait (a lock) or run; past it 503
    CDSR_PG_STATEMENT_TIMEOUT_S: z.coerce.number().min(0.1).max(3600).default(10),
    CDSR_MLLP_PORT: port.optional(),
    // MLLP has no credentials: it listens on loopback unless told otherwise, and then only for listed senders
    CDSR_MLLP_HOST: z.string().min(1).default('127.0.0.1'),
    CDSR_MLLP_ALLOW: list,
    CDSR_MLLP_IDLE_S: z.coerce.number().int().min(1).max(86_400).default(600),
    CDSR_MLLP_FRAME_TIMEOUT_S: z.coerce.number().int().min(1).max(3600).default(30),
    CDSR_MLLP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(10_000).default(100),
    // one address may not take every MLLP slot; frames held by all connections together (bytes)
    CDSR_MLLP_MAX_PER_SOURCE: z.coerce.number().int().min(1).max(10_000).default(10),
    CDSR_MLLP_MAX_BUFFERED_BYTES: z.coerce
      .number()
      .int()
      .min(1024 * 1024)
      .max(4 * 1024 * 1024 * 1024)
      .default(64 * 1024 * 1024),
    // the HTTP listener: a request (headers and body) must arrive within this time; connections at most
    CDSR_HTTP_REQUEST_TIMEOUT_S: z.coerce.number().int().min(1).max(3600).default(30),
    CDSR_HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(100_000).default(1000),
    // one address may not take every HTTP slot (behind a reverse proxy, every connection comes from it)
    CDSR_HTTP_MAX_PER_SOURCE: z.coerce.number().int().min(1).max(100_000).default(100),
    // an idle keep-alive connection is closed after CDSR_HTTP_KEEPALIVE_S; the headers must arrive
    // within CDSR_HTTP_HEADERS_TIMEOUT_S and hold at most CDSR_HTTP_MAX_HEADER_BYTES (431 past it)
    CDSR_HTTP_KEEPALIVE_S: z.coerce.number().int().min(1).max(3600).default(5),
    CDSR_HTTP_HEADERS_TIMEOUT_S: z.coerce.number().int().min(1).max(3600).default(10),
    CDSR_HTTP_MAX_HEADER_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(16 * 1024),
    CDSR_TLS_CERT_FILE: optionalText,
    CDSR_TLS_KEY_FILE: optionalText,
    // the TLS proxies in front of the listener (addresses or CIDR ranges): only from these are
    // X-Forwarded-For and X-Forwarded-Proto believed (the source address of a wrong key, a
    // request that came over TLS and so gets a Secure cookie)
    CDSR_TRUST_PROXY: list.refine((v) => v.every(isProxyAddress), {
      message: 'must list IP addresses or CIDR ranges (10.0.0.5, 10.0.0.0/8) or loopback, linklocal, uniquelocal',
    }),
    // wrong keys (the API's and the console sign-in's): this many from one address within the
    // window, and that address is answered 429 until the oldest of them leaves the window
    CDSR_AUTH_MAX_FAILURES: z.coerce.number().int().min(1).max(10_000).default(10),
    CDSR_AUTH_FAILURE_WINDOW_S: z.coerce.number().int().min(1).max(86_400).default(300),
    // the console's session: forgotten after this long unused, and this long after the sign-in whatever its use
    CDSR_SESSION_IDLE_MINUTES: z.coerce.number().int().min(1).max(10_080).default(480),
    CDSR_SESSION_MAX_HOURS: z.coerce.number().int().min(1).max(720).default(12),
    // the folder the test bench's draft mappings folders must be inside (unset: no draft folders)
    CDSR_BENCH_DRAFTS_DIR: optionalText,
    CDSR_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(100 * 1024 * 1024)
      .default(1024 * 1024),
    // HL7 texts of CDSR_MAP_WORKER_MIN_BYTES or more are parsed and mapped in one of CDSR_MAP_WORKERS
    // worker threads (0: none, all in the main thread); one taking longer than CDSR_MAP_TIMEOUT_S fails alone
    CDSR_MAP_WORKERS: z.coerce.number().int().min(0).max(16).default(2),
    CDSR_MAP_WORKER_MIN_BYTES: z.coerce
      .number()
      .int()
      .min(0)
      .max(100 * 1024 * 1024)
      .default(64 * 1024),
    CDSR_MAP_TIMEOUT_S: z.coerce.number().int().min(1).max(3600).default(60),
    // how far V8 lets the heap of `serve` grow between full collections, in percent of what was live
    // after the last one (src/server/heap-growth.ts); 0 = V8's own factor (up to 300 %)
    CDSR_HEAP_GROWTH_PERCENT: z.coerce.number().int().min(0).max(300).default(50),
    CDSR_SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
    // SQLite: a message's records, order index, ledger and message index written after its answer,
    // a batch of messages at a time ('later'), or in its own transaction before it ('with-message')
    CDSR_SQLITE_DERIVE: z.enum(['later', 'with-message']).default('later'),
    // days a raw message is kept once it will not be replayed; 0 keeps them for ever
    CDSR_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
    // PostgreSQL: after a purge, rewrite the tables that held the purged text (VACUUM FULL, which
    // locks them meanwhile) so that no byte of it stays in the data files; off: plain VACUUM
    CDSR_RETENTION_REWRITE: z.enum(['full', 'off']).default('full'),
    // Unset: the built-in sandbox's ids (the spec's sample PartnerID 10000 and test AppID 10019).
    NRDR_BASE_URL: optionalUrl,
    NRDR_PARTNER_ID: optionalText,
    NRDR_APP_ID: optionalText,
    ACR_TOKEN_URL: optionalUrl,
    ACR_CLIENT_ID: optionalText,
    ACR_CLIENT_SECRET: optionalText,
    ACR_REFRESH_TOKEN: optionalText,
    ACR_TOKEN: optionalText,
    // the interactive sign-in (authorization code): docs/operations.md "Signing in to ACR Connect"
    ACR_AUTHORIZE_URL: optionalUrl,
    ACR_REDIRECT_URL: optionalUrl,
    ACR_APP_NAME: optionalText,
    ACR_SCOPE: optionalText,
    ACR_SIGNIN_WARN_HOURS: z.coerce.number().min(0).max(8760).default(72),
    // seals the kept sign-in: base64 of 32 bytes (openssl rand -base64 32)
    CDSR_SECRET_KEY: optionalText.refine((v) => v === undefined || isKey32(v), {
      message: 'must be base64 of 32 bytes (make one with: openssl rand -base64 32)',
    }),
    // NRDR reads Transaction_DateTime as the site's local time (facilities.csv may set one per facility)
    CDSR_TIMEZONE: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === '' ? Intl.DateTimeFormat().resolvedOptions().timeZone : v.trim()))
      .refine((v) => isTimeZone(v), { message: 'must be an IANA time zone such as America/Chicago' }),
    CDSR_SUBMIT_INTERVAL_S: z.coerce.number().int().min(1).max(86_400).default(60),
    // how long the submitter lease lasts without renewal (unset: 3 × the interval, at least 60 s);
    // renewed once a round, so it must outlast the interval (checked below)
    CDSR_SUBMIT_LEASE_S: z.coerce.number().int().max(86_400).optional(),
    // this instance as the submitter lease names it (default: host, port and data directory): a restart under the same id takes its lease back at once
    CDSR_INSTANCE_ID: optionalText.refine((v) => v === undefined || v.length <= 200, { message: 'must be at most 200 characters' }),
    CDSR_SANDBOX_PORT: port.optional(),
    CDSR_BATCH_MAX_ENCOUNTERS: z.coerce.number().int().min(1).max(10_000).default(100),
    // a transaction NRDR answered Failed (an error at NRDR, not a verdict on the data): its records
    // are sent again under a new Transaction_ID this many times for the same content; 0 = never
    // (they stay needs-review for an operator): docs/nrdr-answers.md
    CDSR_RESEND_FAILED: z.coerce.number().int().min(0).max(10).default(0),
    FHIR_SERVER_URL: optionalUrl,
    FHIR_SERVER_TOKEN: optionalText,
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // the connection profile (src/profile.ts): which NRDR environment, with its own variables
    CDSR_PROFILE: optionalText.pipe(z.enum(PROFILE_NAMES).optional()),
    ...PROFILE_VARIABLES,
  })
  .superRefine((c, ctx) => {
    for (const i of profileIssues(c)) ctx.addIssue({ code: 'custom', path: [i.variable], message: i.message });
    const loopback = c.HOST === '127.0.0.1' || c.HOST === '::1' || c.HOST === 'localhost';
    const anyKey = [c.CDSR_INBOUND_API_KEYS, c.CDSR_SEND_API_KEYS, c.CDSR_OPERATE_API_KEYS, c.CDSR_VIEW_API_KEYS, c.CDSR_METRICS_API_KEYS].some(
      (k) => k.length > 0,
    );
    if (!loopback && !anyKey) {
      ctx.addIssue({
        code: 'custom',
        path: ['CDSR_SEND_API_KEYS'],
        message: `keys must be set (CDSR_SEND_API_KEYS, CDSR_OPERATE_API_KEYS…) when HOST (${c.HOST}) is not a loopback address: senders must authenticate`,
      });
    }
    const mllpLoopback = c.CDSR_MLLP_HOST === '127.0.0.1' || c.CDSR_MLLP_HOST === '::1' || c.CDSR_MLLP_HOST === 'localhost';
    if (!mllpLoopback && c.CDSR_MLLP_ALLOW.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['CDSR_MLLP_ALLOW'],
        message: `must list the sender addresses allowed when CDSR_MLLP_HOST (${c.CDSR_MLLP_HOST}) is not a loopback address: MLLP has no credentials`,
      });
    }
    if ((c.CDSR_TLS_CERT_FILE === undefined) !== (c.CDSR_TLS_KEY_FILE === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.CDSR_TLS_CERT_FILE === undefined ? 'CDSR_TLS_CERT_FILE' : 'CDSR_TLS_KEY_FILE'],
        message: 'TLS needs both CDSR_TLS_CERT_FILE and CDSR_TLS_KEY_FILE',
      });
    }
    if (c.NRDR_BASE_URL !== undefined) {
      // talking to the real registry: every id and one credential flow must be given
      if (c.NRDR_PARTNER_ID === undefined)
        ctx.addIssue({ code: 'custom', path: ['NRDR_PARTNER_ID'], message: 'must be set when NRDR_BASE_URL is set (the PartnerID ACR gave you)' });
      if (c.NRDR_APP_ID === undefined)
        ctx.addIssue({ code: 'custom', path: ['NRDR_APP_ID'], message: 'must be set when NRDR_BASE_URL is set (the AppID ACR gave you)' });
      const oauth = c.ACR_TOKEN_URL !== undefined && c.ACR_CLIENT_ID !== undefined && (c.ACR_CLIENT_SECRET !== undefined || c.ACR_REFRESH_TOKEN !== undefined);
      if (c.ACR_TOKEN === undefined && !oauth && c.ACR_AUTHORIZE_URL === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['ACR_TOKEN_URL'],
          message:
            'NRDR_BASE_URL needs ACR Connect credentials: ACR_TOKEN_URL + ACR_CLIENT_ID + ACR_CLIENT_SECRET (or ACR_REFRESH_TOKEN), ACR_TOKEN, or the sign-in (ACR_AUTHORIZE_URL + ACR_TOKEN_URL + ACR_CLIENT_ID + ACR_REDIRECT_URL)',
        });
      }
    }
    if (c.ACR_AUTHORIZE_URL !== undefined) {
      for (const v of ['ACR_TOKEN_URL', 'ACR_CLIENT_ID', 'ACR_REDIRECT_URL'] as const) {
        if (c[v] === undefined) ctx.addIssue({ code: 'custom', path: [v], message: 'must be set when ACR_AUTHORIZE_URL is set (the sign-in needs it)' });
      }
    }
    if (c.ACR_REDIRECT_URL !== undefined) {
      const u = URL.canParse(c.ACR_REDIRECT_URL) ? new URL(c.ACR_REDIRECT_URL) : undefined;
      if (u && u.protocol !== 'https:' && !LOOPBACK.has(u.hostname)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ACR_REDIRECT_URL'],
          message: 'must be an https URL (ACR Connect sends sign-ins only to https; http only on a loopback address)',
        });
      }
      if (u && !u.pathname.endsWith(SIGNIN_CALLBACK_PATH)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ACR_REDIRECT_URL'],
          message: `must end with ${SIGNIN_CALLBACK_PATH} (the adapter's page that receives the sign-in), e.g. https://adapter.example.org${SIGNIN_CALLBACK_PATH}`,
        });
      }
    }
    if (c.CDSR_SUBMIT_LEASE_S !== undefined && c.CDSR_SUBMIT_LEASE_S <= c.CDSR_SUBMIT_INTERVAL_S) {
      ctx.addIssue({
        code: 'custom',
        path: ['CDSR_SUBMIT_LEASE_S'],
        message: `must be longer than CDSR_SUBMIT_INTERVAL_S (${c.CDSR_SUBMIT_INTERVAL_S}): the lease is renewed once a round, and would run out between rounds`,
      });
    }
    if (c.CDSR_DATABASE_URL !== undefined && !/^postgres(ql)?:\/\//.test(c.CDSR_DATABASE_URL)) {
      ctx.addIssue({ code: 'custom', path: ['CDSR_DATABASE_URL'], message: 'must be a postgres:// URL' });
    }
  });

export type Config = z.infer<typeof EnvSchema>;

/** The PartnerID and AppID in force: the connection profile's (src/profile.ts), or the sandbox's. */
export function nrdrIds(c: ProfileSource): { partnerId: string; appId: string } {
  const p = activeProfile(c);
  return { partnerId: p.partnerId, appId: p.appId };
}

/**
 * The redirect URL of the sign-in: ACR_REDIRECT_URL, else (for the built-in sandbox) this
 * listener on loopback.
 */
export function acrRedirectUrl(c: Pick<Config, 'ACR_REDIRECT_URL' | 'HOST' | 'PORT' | 'CDSR_TLS_CERT_FILE'>): string {
  if (c.ACR_REDIRECT_URL !== undefined) return c.ACR_REDIRECT_URL;
  const host = c.HOST === '0.0.0.0' || c.HOST === '::' || LOOPBACK.has(c.HOST) ? '127.0.0.1' : c.HOST;
  return `${c.CDSR_TLS_CERT_FILE !== undefined ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${c.PORT}${SIGNIN_CALLBACK_PATH}`;
}

export class ConfigError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', message, options);
  }
}

export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const r = EnvSchema.safeParse(env);
  const unknown = unknownProfileVariables(env);
  if (r.success && unknown.length === 0) return r.data;
  const lines = [...(r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)), ...unknown];
  throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
}
