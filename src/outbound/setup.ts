// Wiring of the outbound stage from the configuration: the NRDR endpoint and its credentials, the
// client and the submitter on its interval. The built-in sandbox (no NRDR_BASE_URL) is started by
// the command that serves (cli/builtin-sandbox.ts) and handed in as a target: production wiring
// never loads the sandbox.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { acrRedirectUrl, nrdrIds, type Config } from '../config.js';
import type { RecordStore, OutboundLedger, CredentialStore } from '../store/store.js';
import { AcrSignIn, PreferSignIn, type SignInEndpoints } from './acr-signin.js';
import { parseSecretKey, SecretBox } from './secret-box.js';
import { NrdrClient } from './nrdr-client.js';
import { Submitter } from './submitter.js';
import { OAuthTokenProvider, StaticToken, TokenError, type TokenProvider } from './token.js';

type Log = { info(o: object, m: string): void; warn(o: object, m: string): void };

/** Where transactions go: NRDR itself, or a stand-in. */
export interface NrdrTarget {
  readonly baseUrl: string;
  /** undefined: only the interactive sign-in gives tokens. */
  readonly tokens: TokenProvider | undefined;
  /** Where its users sign in (the built-in sandbox's authorize page), unless ACR_AUTHORIZE_URL says otherwise. */
  readonly signIn?: SignInEndpoints;
  /** true: not ACR (the built-in sandbox); said in the start-up log. */
  readonly sandbox: boolean;
  /** Once the store is open: where a refresh token ACR rotates is kept (the ACR_REFRESH_TOKEN flow). */
  keepTokensIn?(store: CredentialStore, log: Log): void;
  close(): Promise<void>;
}

export interface Outbound {
  readonly submitter: Submitter;
  readonly client: NrdrClient;
  readonly target: string;
  close(): Promise<void>;
}

/** NRDR as configured (NRDR_BASE_URL and one ACR Connect credential flow; checked by the config). */
export function configuredNrdr(config: Config): NrdrTarget | undefined {
  if (config.NRDR_BASE_URL === undefined) return undefined;
  const oauth = config.ACR_CLIENT_SECRET !== undefined || config.ACR_REFRESH_TOKEN !== undefined;
  const flow =
    config.ACR_TOKEN !== undefined || !oauth
      ? undefined
      : new OAuthTokenProvider({
          tokenUrl: config.ACR_TOKEN_URL!,
          clientId: config.ACR_CLIENT_ID!,
          ...(config.ACR_CLIENT_SECRET !== undefined ? { clientSecret: config.ACR_CLIENT_SECRET } : {}),
          ...(config.ACR_REFRESH_TOKEN !== undefined ? { refreshToken: config.ACR_REFRESH_TOKEN } : {}),
        });
  const tokens = config.ACR_TOKEN !== undefined ? new StaticToken(config.ACR_TOKEN) : flow;
  // the refresh-token flow (client credentials need nothing kept): ACR rotates the token, and the
  // rotated one must outlive the process, sealed like the sign-in
  const refreshFlow = flow !== undefined && config.ACR_CLIENT_SECRET === undefined;
  const keepTokensIn = (store: CredentialStore, log: Log): void => {
    if (!refreshFlow) return;
    if (config.CDSR_SECRET_KEY === undefined) {
      log.warn(
        { event: 'config', variable: 'CDSR_SECRET_KEY' },
        'ACR_REFRESH_TOKEN is set without CDSR_SECRET_KEY: a refresh token ACR rotates is kept in memory only, and after a restart the one in ACR_REFRESH_TOKEN is presented again (ACR refuses it once rotated)',
      );
      return;
    }
    flow.keepRotatedIn({ store, box: new SecretBox(parseSecretKey(config.CDSR_SECRET_KEY)), log });
  };
  return { baseUrl: config.NRDR_BASE_URL, tokens, sandbox: false, keepTokensIn, close: () => Promise.resolve() };
}

/**
 * The interactive sign-in, when ACR_AUTHORIZE_URL is set or the target offers one (the built-in
 * sandbox); undefined otherwise. Without CDSR_SECRET_KEY it exists but refuses to start.
 */
export function signInFor(config: Config, store: CredentialStore, target: NrdrTarget, log: Log, clock: () => Date = () => new Date()): AcrSignIn | undefined {
  const endpoints: SignInEndpoints | undefined =
    config.ACR_AUTHORIZE_URL !== undefined
      ? {
          authorizeUrl: config.ACR_AUTHORIZE_URL,
          tokenUrl: config.ACR_TOKEN_URL!,
          clientId: config.ACR_CLIENT_ID!,
          ...(config.ACR_CLIENT_SECRET !== undefined ? { clientSecret: config.ACR_CLIENT_SECRET } : {}),
        }
      : target.signIn;
  if (!endpoints) return undefined;
  if (config.CDSR_SECRET_KEY === undefined) {
    // a warning when a sign-in at ACR Connect is configured; with the built-in sandbox only a note
    const say = config.ACR_AUTHORIZE_URL !== undefined ? log.warn.bind(log) : log.info.bind(log);
    say({ event: 'config', variable: 'CDSR_SECRET_KEY' }, 'CDSR_SECRET_KEY is not set: the ACR Connect sign-in cannot be started or used');
  }
  return new AcrSignIn({
    ...endpoints,
    redirectUrl: acrRedirectUrl(config),
    ...(config.ACR_SCOPE !== undefined ? { scope: config.ACR_SCOPE } : {}),
    appName: config.ACR_APP_NAME ?? 'cdsr-adapter',
    store,
    box: config.CDSR_SECRET_KEY !== undefined ? new SecretBox(parseSecretKey(config.CDSR_SECRET_KEY)) : undefined,
    clock,
    warnBeforeMs: config.ACR_SIGNIN_WARN_HOURS * 3600_000,
    log,
  });
}

/** No credential flow but the sign-in, and nobody signed in. */
const NO_TOKEN: TokenProvider = {
  fetched: 0,
  token: () => Promise.reject(new TokenError('no ACR Connect credentials: an operator signs in at /auth/acr/start')),
  invalidate: () => undefined,
};

/**
 * The instance's stable identity for the submitter lease: CDSR_INSTANCE_ID, else the host name,
 * the port and (a digest of) the data directory — the same after a restart of the same service,
 * different for two services on one host.
 */
export function instanceId(config: Pick<Config, 'CDSR_INSTANCE_ID' | 'CDSR_DATA_DIR' | 'PORT'>, host: string = hostname()): string {
  if (config.CDSR_INSTANCE_ID !== undefined) return config.CDSR_INSTANCE_ID;
  const dir = createHash('sha256').update(resolve(config.CDSR_DATA_DIR)).digest('hex').slice(0, 12);
  return `${host}:${config.PORT}:${dir}`;
}

export function startOutbound(
  config: Config,
  store: RecordStore & OutboundLedger,
  target: NrdrTarget,
  log: Log,
  timeZoneOf?: (facilityId: string) => string,
  signIn?: AcrSignIn,
): Outbound {
  const { partnerId, appId } = nrdrIds(config);
  if (target.sandbox) log.warn({ event: 'sandbox', url: target.baseUrl }, 'NRDR_BASE_URL is not set: submitting to the built-in NRDR sandbox, not to ACR');
  else log.info({ event: 'nrdr', url: target.baseUrl, partnerId, appId }, 'submitting to NRDR');
  // the kept sign-in first; the configured flow when nobody signed in
  const tokens = signIn ? new PreferSignIn(signIn, target.tokens) : (target.tokens ?? NO_TOKEN);
  const client = new NrdrClient({ baseUrl: target.baseUrl, tokens });
  const submitter = new Submitter({
    store,
    client,
    partnerId,
    appId,
    maxEncounters: config.CDSR_BATCH_MAX_ENCOUNTERS,
    resendFailed: config.CDSR_RESEND_FAILED,
    ...(config.CDSR_SUBMIT_LEASE_S !== undefined ? { leaseMs: config.CDSR_SUBMIT_LEASE_S * 1000 } : {}),
    clock: () => new Date(),
    instanceId: instanceId(config),
    log,
    ...(timeZoneOf ? { timeZoneOf } : {}),
  });
  log.info({ event: 'instance', instance: submitter.instance }, 'submitter instance id');
  submitter.start(config.CDSR_SUBMIT_INTERVAL_S);
  return {
    submitter,
    client,
    target: target.baseUrl,
    close: async () => {
      await submitter.close();
      await target.close();
    },
  };
}
