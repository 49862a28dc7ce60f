// Wiring of the outbound stage from the configuration: the NRDR endpoint and its credentials, the
// client and the submitter on its interval. The built-in sandbox (no NRDR_BASE_URL) is started by
// the command that serves (cli/builtin-sandbox.ts) and handed in as a target: production wiring
// never loads the sandbox.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { acrRedirectUrl, ConfigError, type Config } from '../config.js';
import { activeProfile, type ConnectionProfile } from '../profile.js';
import { Deidentifier } from './deidentify.js';
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

/**
 * NRDR as the profile in force names it (its base URL and one ACR Connect credential flow;
 * checked by the config); undefined for the built-in sandbox. `keepTokensIn` is handed the
 * profile's own credentials (profile-store.ts).
 */
export function configuredNrdr(config: Config, profile: ConnectionProfile = activeProfile(config)): NrdrTarget | undefined {
  const p = profile;
  if (p.nrdrBaseUrl === undefined) return undefined;
  const oauth = p.clientSecret !== undefined || p.refreshToken !== undefined;
  const flow =
    p.token !== undefined || !oauth
      ? undefined
      : new OAuthTokenProvider({
          tokenUrl: p.tokenUrl!,
          clientId: p.clientId!,
          ...(p.clientSecret !== undefined ? { clientSecret: p.clientSecret } : {}),
          ...(p.refreshToken !== undefined ? { refreshToken: p.refreshToken } : {}),
        });
  const tokens = p.token !== undefined ? new StaticToken(p.token) : flow;
  // the refresh-token flow (client credentials need nothing kept): ACR rotates the token, and the
  // rotated one must outlive the process, sealed like the sign-in
  const refreshFlow = flow !== undefined && p.clientSecret === undefined;
  const keepTokensIn = (store: CredentialStore, log: Log): void => {
    if (!refreshFlow) return;
    flow.reportTo(log);
    if (config.CDSR_SECRET_KEY === undefined) {
      const v = p.variables.ACR_REFRESH_TOKEN ?? 'ACR_REFRESH_TOKEN';
      log.warn(
        { event: 'config', variable: 'CDSR_SECRET_KEY' },
        `${v} is set without CDSR_SECRET_KEY: a refresh token ACR rotates is kept in memory only, and after a restart the one in ${v} is presented again (ACR refuses it once rotated)`,
      );
      return;
    }
    flow.keepRotatedIn({ store, box: new SecretBox(parseSecretKey(config.CDSR_SECRET_KEY)), log });
  };
  return { baseUrl: p.nrdrBaseUrl, tokens, sandbox: false, keepTokensIn, close: () => Promise.resolve() };
}

/**
 * The interactive sign-in, when ACR_AUTHORIZE_URL is set or the target offers one (the built-in
 * sandbox); undefined otherwise. Without CDSR_SECRET_KEY it exists but refuses to start.
 */
export function signInFor(
  config: Config,
  store: CredentialStore,
  target: NrdrTarget,
  log: Log,
  clock: () => Date = () => new Date(),
  profile: ConnectionProfile = activeProfile(config),
): AcrSignIn | undefined {
  const p = profile;
  const endpoints: SignInEndpoints | undefined =
    p.authorizeUrl !== undefined
      ? {
          authorizeUrl: p.authorizeUrl,
          tokenUrl: p.tokenUrl!,
          clientId: p.clientId!,
          ...(p.clientSecret !== undefined ? { clientSecret: p.clientSecret } : {}),
        }
      : target.signIn;
  if (!endpoints) return undefined;
  if (config.CDSR_SECRET_KEY === undefined) {
    // a warning when a sign-in at ACR Connect is configured; with the built-in sandbox only a note
    const say = p.authorizeUrl !== undefined ? log.warn.bind(log) : log.info.bind(log);
    say({ event: 'config', variable: 'CDSR_SECRET_KEY' }, 'CDSR_SECRET_KEY is not set: the ACR Connect sign-in cannot be started or used');
  }
  return new AcrSignIn({
    ...endpoints,
    redirectUrl: acrRedirectUrl({ ...config, ACR_REDIRECT_URL: p.redirectUrl }),
    ...(p.scope !== undefined ? { scope: p.scope } : {}),
    appName: p.appName ?? 'cdsr-adapter',
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

/** The de-identification step of a profile that needs one (test), with the install's key. */
export function deidentifierFor(profile: ConnectionProfile, key: Buffer): Deidentifier | undefined {
  if (!profile.deidentify) return undefined;
  return new Deidentifier(key, { facilityId: profile.facilityId!, partnerId: profile.partnerId, appId: profile.appId });
}

export function startOutbound(
  config: Config,
  store: RecordStore & OutboundLedger,
  target: NrdrTarget,
  log: Log,
  timeZoneOf?: (facilityId: string) => string,
  signIn?: AcrSignIn,
  opts: { readonly profile?: ConnectionProfile; readonly deidentifier?: Deidentifier } = {},
): Outbound {
  const profile = opts.profile ?? activeProfile(config);
  const { partnerId, appId } = profile;
  if (profile.deidentify && !opts.deidentifier)
    throw new ConfigError(`CDSR_PROFILE: the ${profile.name} profile sends only de-identified records, and no de-identification step was given`);
  if (target.sandbox)
    log.warn({ event: 'sandbox', url: target.baseUrl, profile: profile.name }, 'NRDR_BASE_URL is not set: submitting to the built-in NRDR sandbox, not to ACR');
  else log.info({ event: 'nrdr', url: target.baseUrl, partnerId, appId, profile: profile.name }, `submitting to NRDR (${profile.name} profile)`);
  // the kept sign-in first; the configured flow when nobody signed in
  const tokens = signIn ? new PreferSignIn(signIn, target.tokens) : (target.tokens ?? NO_TOKEN);
  const client = new NrdrClient({ baseUrl: target.baseUrl, tokens, ...(profile.deidentify ? { deidentifiedOnly: true } : {}) });
  const submitter = new Submitter({
    store,
    ...(opts.deidentifier ? { client, deidentifier: opts.deidentifier } : { client }),
    partnerId,
    appId,
    profile: profile.name,
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
