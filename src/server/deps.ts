// What the routes and the console are given: the store, the tables, the clock and the rest of
// AppOptions (app.ts builds the app from them). Imports no route, no page and not app.ts: every
// route module and the console read their dependencies from here.
import type { Config } from '../config.js';
import { facilityTimeZones } from '../mapping/facilities.js';
import type { IngestDeps, MappingSource } from '../inbound/context.js';
import type { Store } from '../store/store.js';
import type { Reprocessor } from '../inbound/reprocessor.js';
import type { RoleConfig } from './roles.js';
import type { Submitter } from '../outbound/submitter.js';
import type { SignInService } from '../outbound/acr-signin.js';
import type { ReloadStatus } from '../mapping/holder.js';
import type { ProfileSummary } from '../profile.js';

export interface AppOptions extends IngestDeps {
  readonly store: Store;
  readonly mappings: MappingSource & { readonly dir: string; readonly generation: number; readonly lastReload?: ReloadStatus };
  /** CDSR_TIMEZONE: the zone of a facility facilities.csv gives none (default UTC), for the console's times and the reconciliation's days. */
  readonly config: Pick<Config, 'CDSR_BODY_LIMIT_BYTES' | 'LOG_LEVEL'> & Partial<Pick<Config, HttpLimit | SecuritySetting | 'CDSR_TIMEZONE'>> & RoleConfig;
  /** PEM certificate and key: the listener speaks HTTPS. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** Where pino writes (default stdout). */
  readonly logStream?: NodeJS.WritableStream;
  /** The outbound stage, when this process submits (not in every test). */
  readonly submitter?: Submitter;
  /** The ACR Connect sign-in, when configured (or offered by the built-in sandbox). */
  readonly signIn?: SignInService;
  /** The connection profile in force (shown in the console's header and /api/auth); absent in tests that do not submit. */
  readonly profile?: ProfileSummary;
  /** Under the test profile: the pseudonym an encounter id was sent as (the record view finds what was last sent by it). */
  readonly sentEncounterId?: (facilityId: string, encounterId: string) => string;
  /** The reprocessing lane (main.ts makes it, to hook the tables' reload); one is made here otherwise. */
  readonly reprocessor?: Reprocessor;
}

/** The settings of the sign-in's and the console's defences (docs/operations.md "Security"). */
export type SecuritySetting =
  | 'CDSR_TRUST_PROXY'
  | 'CDSR_AUTH_MAX_FAILURES'
  | 'CDSR_AUTH_FAILURE_WINDOW_S'
  | 'CDSR_SESSION_IDLE_MINUTES'
  | 'CDSR_SESSION_MAX_HOURS'
  | 'CDSR_BENCH_DRAFTS_DIR';

export type HttpLimit =
  | 'CDSR_HTTP_REQUEST_TIMEOUT_S'
  | 'CDSR_HTTP_MAX_CONNECTIONS'
  | 'CDSR_HTTP_MAX_PER_SOURCE'
  | 'CDSR_HTTP_KEEPALIVE_S'
  | 'CDSR_HTTP_HEADERS_TIMEOUT_S'
  | 'CDSR_HTTP_MAX_HEADER_BYTES';

/** Each facility's time zone: its facilities.csv row's in the tables in force, else CDSR_TIMEZONE, else UTC. */
export function zoneOf(deps: Pick<AppOptions, 'mappings' | 'config'>): (facilityId: string) => string {
  return facilityTimeZones(deps.mappings.current.facilities, deps.config.CDSR_TIMEZONE ?? 'UTC');
}
