// Wiring of the outbound stage from the configuration: the NRDR endpoint and its credentials, the
// client and the submitter on its interval. The built-in sandbox (no NRDR_BASE_URL) is started by
// the command that serves (cli/builtin-sandbox.ts) and handed in as a target: production wiring
// never loads the sandbox.
import { nrdrIds, type Config } from '../config.js';
import type { RecordStore, OutboundLedger } from '../store/store.js';
import { NrdrClient } from './nrdr-client.js';
import { Submitter } from './submitter.js';
import { OAuthTokenProvider, StaticToken, type TokenProvider } from './token.js';

/** Where transactions go: NRDR itself, or a stand-in. */
export interface NrdrTarget {
  readonly baseUrl: string;
  readonly tokens: TokenProvider;
  /** true: not ACR (the built-in sandbox); said in the start-up log. */
  readonly sandbox: boolean;
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
  const tokens =
    config.ACR_TOKEN !== undefined
      ? new StaticToken(config.ACR_TOKEN)
      : new OAuthTokenProvider({
          tokenUrl: config.ACR_TOKEN_URL!,
          clientId: config.ACR_CLIENT_ID!,
          ...(config.ACR_CLIENT_SECRET !== undefined ? { clientSecret: config.ACR_CLIENT_SECRET } : {}),
          ...(config.ACR_REFRESH_TOKEN !== undefined ? { refreshToken: config.ACR_REFRESH_TOKEN } : {}),
        });
  return { baseUrl: config.NRDR_BASE_URL, tokens, sandbox: false, close: () => Promise.resolve() };
}

export function startOutbound(
  config: Config,
  store: RecordStore & OutboundLedger,
  target: NrdrTarget,
  log: { info(o: object, m: string): void; warn(o: object, m: string): void },
  timeZoneOf?: (facilityId: string) => string,
): Outbound {
  const { partnerId, appId } = nrdrIds(config);
  if (target.sandbox) log.warn({ event: 'sandbox', url: target.baseUrl }, 'NRDR_BASE_URL is not set: submitting to the built-in NRDR sandbox, not to ACR');
  else log.info({ event: 'nrdr', url: target.baseUrl, partnerId, appId }, 'submitting to NRDR');
  const client = new NrdrClient({ baseUrl: target.baseUrl, tokens: target.tokens });
  const submitter = new Submitter({ store, client, partnerId, appId, maxEncounters: config.CDSR_BATCH_MAX_ENCOUNTERS, clock: () => new Date(), log, ...(timeZoneOf ? { timeZoneOf } : {}) });
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
