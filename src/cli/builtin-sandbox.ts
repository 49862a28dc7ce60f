// The NRDR sandbox that `serve` submits to when no NRDR_BASE_URL is set: the spec's sample ids,
// every facility of facilities.csv and the default facility registered, on a loopback port.
import { acrRedirectUrl, nrdrIds, type Config } from '../config.js';
import type { ValueSetCatalog } from '../cdsr/valuesets.js';
import type { MappingTables } from '../mapping/load.js';
import type { NrdrTarget } from '../outbound/setup.js';
import { OAuthTokenProvider } from '../outbound/token.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_AUTHORIZE_PATH, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type ValueLists } from '../sandbox/server.js';

/** The facilities the built-in sandbox registers: the spec's 100000, facilities.csv, the default. */
export function sandboxFacilities(tables: MappingTables, defaultFacilityId?: string): string[] {
  return [...new Set(['100000', ...[...tables.facilities.values()].map((f) => f.facilityId), ...(defaultFacilityId ? [defaultFacilityId] : [])])];
}

/**
 * The site's value sets as the sandbox's lists of allowed codes (plain data: the sandbox reads no
 * module of the adapter's). Every set is given, `# enforce: no` ones too: the sandbox stands for
 * NRDR, which refuses a code outside ACR's list whatever the site's copy says.
 */
export function sandboxValueLists(catalog: ValueSetCatalog): ValueLists {
  return Object.fromEntries(
    [...catalog.values()].map((set) => [
      set.name,
      {
        codes: [...set.entries.keys()],
        ...(set.otherCode !== undefined ? { other: set.otherCode } : {}),
        ...(set.unknownCode !== undefined ? { unknown: set.unknownCode } : {}),
      },
    ]),
  );
}

export async function startBuiltinSandbox(config: Config, tables: MappingTables): Promise<NrdrTarget> {
  const { partnerId, appId } = nrdrIds(config);
  const sandbox = await buildSandbox({
    facilities: sandboxFacilities(tables, config.CDSR_DEFAULT_FACILITY_ID),
    partners: { [partnerId]: [appId] },
    valueLists: sandboxValueLists(tables.valueSets),
    // its sign-in page names the application and sends codes back to this adapter
    clients: [{ ...DEFAULT_CLIENT, partnerId, redirectUris: [acrRedirectUrl(config)], appName: config.ACR_APP_NAME ?? 'cdsr-adapter' }],
  });
  const url = await sandbox.app.listen({ port: config.CDSR_SANDBOX_PORT ?? 0, host: '127.0.0.1' });
  return {
    baseUrl: `${url}${SANDBOX_PATH}`,
    tokens: new OAuthTokenProvider({ tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`, clientId: DEFAULT_CLIENT.clientId, clientSecret: DEFAULT_CLIENT.clientSecret }),
    signIn: {
      authorizeUrl: `${url}${SANDBOX_AUTHORIZE_PATH}`,
      tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
    },
    sandbox: true,
    close: () => sandbox.app.close(),
  };
}
