// The store and the FHIR reader as the service opens them from its configuration, for `serve`
// (main.ts) and for the commands that work on a store or a FHIR server offline (replay,
// reprocess, reconcile): a module of its own, so that those load neither the routes nor fastify.
import { join } from 'node:path';
import { LiveValidator } from '../mapping/validator.js';
import { CdsrValidator } from '../cdsr/validate.js';
import { errorMessage } from '../cdsr/errors.js';
import type { MappingTables } from '../mapping/load.js';
import { ConfigError, type Config } from '../config.js';
import { createFhirFetcher } from '../fhir/fetch.js';
import { openStore as openStoreAt } from '../store/open.js';
import type { Store } from '../store/store.js';

/** The store: PostgreSQL at CDSR_DATABASE_URL, else SQLite in CDSR_DATA_DIR. */
export async function openStore(config: Config, tables: MappingTables | (() => MappingTables)): Promise<Store> {
  // records are judged with the site's rules of the tables in force (followed across reloads),
  // "future" in each facility's zone (else CDSR_TIMEZONE)
  return openStoreWith(
    config,
    new LiveValidator(typeof tables === 'function' ? tables : () => tables, { now: () => new Date(), timeZone: config.CDSR_TIMEZONE }),
  );
}

/**
 * The store for a command that only reads it (reconcile): no tables needed, so it opens from any
 * folder; a record written through it would be judged without the site's tables, so nothing is.
 */
export function openStoreToRead(config: Config): Promise<Store> {
  return openStoreWith(config, new CdsrValidator({ now: () => new Date(), timeZone: config.CDSR_TIMEZONE }));
}

async function openStoreWith(config: Config, validator: CdsrValidator): Promise<Store> {
  if (config.CDSR_DATABASE_URL !== undefined) {
    try {
      return await openStoreAt(
        {
          kind: 'postgres',
          url: config.CDSR_DATABASE_URL,
          statementTimeoutMs: config.CDSR_PG_STATEMENT_TIMEOUT_S * 1000,
          retentionRewrite: config.CDSR_RETENTION_REWRITE,
        },
        validator,
      );
    } catch (e) {
      throw new ConfigError(`CDSR_DATABASE_URL: the database cannot be opened: ${errorMessage(e)}`, { cause: e });
    }
  }
  return openStoreAt(
    { kind: 'sqlite', file: join(config.CDSR_DATA_DIR, 'cdsr-adapter.sqlite'), synchronous: config.CDSR_SQLITE_SYNCHRONOUS, derive: config.CDSR_SQLITE_DERIVE },
    validator,
  );
}

/** The FHIR server reader, when FHIR_SERVER_URL is set. */
export function fhirFetcherFor(config: Config): { fhirFetcher?: ReturnType<typeof createFhirFetcher> } {
  if (config.FHIR_SERVER_URL === undefined) return {};
  return {
    fhirFetcher: createFhirFetcher({
      baseUrl: config.FHIR_SERVER_URL,
      ...(config.FHIR_SERVER_TOKEN !== undefined ? { bearerToken: config.FHIR_SERVER_TOKEN } : {}),
    }),
  };
}
