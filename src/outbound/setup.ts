// Wiring of the outbound stage from the configuration: the NRDR endpoint and credentials, or the
// built-in sandbox when no NRDR_BASE_URL is set.
import { nrdrIds, type Config } from '../config.js';
import type { MappingTables } from '../mapping/load.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Sandbox } from '../sandbox/server.js';
import type { Store } from '../store/store.js';
import { NrdrClient } from './nrdr-client.js';
import { Submitter } from './submitter.js';
import { OAuthTokenProvider, StaticToken, type TokenProvider } from './token.js';

export interface Outbound {
  readonly submitter: Submitter;
  readonly client: NrdrClient;
  readonly target: string;
  readonly sandbox?: Sandbox;
  close(): Promise<void>;
}

/** The facilities the built-in sandbox registers: the spec's 100000, facilities.csv, the default. */
export function sandboxFacilities(tables: MappingTables, defaultFacilityId?: string): string[] {
  return [...new Set(['100000', ...[...tables.facilities.values()].map((f) => f.facilityId), ...(defaultFacilityId ? [defaultFacilityId] : [])])];
}

export async function startOutbound(
  config: Config,
  store: Store,
  tables: MappingTables,
  log: { info(o: object, m: string): void; warn(o: object, m: string): void },
): Promise<Outbound> {
  const { partnerId, appId } = nrdrIds(config);
  let sandbox: Sandbox | undefined;
  let baseUrl: string;
  let tokens: TokenProvider;
  if (config.NRDR_BASE_URL === undefined) {
    sandbox = await buildSandbox({ facilities: sandboxFacilities(tables, config.CDSR_DEFAULT_FACILITY_ID), partners: { [partnerId]: [appId] }, valueSets: tables.valueSets, clients: [{ ...DEFAULT_CLIENT, partnerId }] });
    const url = await sandbox.app.listen({ port: config.CDSR_SANDBOX_PORT ?? 0, host: '127.0.0.1' });
    baseUrl = `${url}${SANDBOX_PATH}`;
    tokens = new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, clientSecret: DEFAULT_CLIENT.clientSecret });
    log.warn({ event: 'sandbox', url: baseUrl }, 'NRDR_BASE_URL is not set: submitting to the built-in NRDR sandbox, not to ACR');
  } else {
    baseUrl = config.NRDR_BASE_URL;
    tokens =
      config.ACR_TOKEN !== undefined
        ? new StaticToken(config.ACR_TOKEN)
        : new OAuthTokenProvider({
            tokenUrl: config.ACR_TOKEN_URL!,
            clientId: config.ACR_CLIENT_ID!,
            ...(config.ACR_CLIENT_SECRET !== undefined ? { clientSecret: config.ACR_CLIENT_SECRET } : {}),
            ...(config.ACR_REFRESH_TOKEN !== undefined ? { refreshToken: config.ACR_REFRESH_TOKEN } : {}),
          });
    log.info({ event: 'nrdr', url: baseUrl, partnerId, appId }, 'submitting to NRDR');
  }
  const client = new NrdrClient({ baseUrl, tokens });
  const submitter = new Submitter({ store, client, partnerId, appId, maxEncounters: config.CDSR_BATCH_MAX_ENCOUNTERS, clock: () => new Date(), log });
  submitter.start(config.CDSR_SUBMIT_INTERVAL_S);
  return {
    submitter,
    client,
    target: baseUrl,
    ...(sandbox ? { sandbox } : {}),
    close: async () => {
      submitter.stop();
      if (sandbox) await sandbox.app.close();
    },
  };
}
