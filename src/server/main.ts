// Starting the service from the configuration: store, tables (watched), HTTP and MLLP listeners,
// the submitter. The NRDR target is NRDR as configured, or one handed in (the built-in sandbox).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../cdsr/errors.js';
import { formatProblemLine } from '../cdsr/problem.js';
import type { MappingTables } from '../mapping/load.js';
import { ConfigError, type Config } from '../config.js';
import type { HeapGrowth } from './heap-growth.js';
import type { Store, UnitMessage } from '../store/store.js';
import { buildApp } from './app.js';
import { MappingHolder } from '../mapping/holder.js';
import { Reprocessor } from '../inbound/reprocessor.js';
import { remapMessage } from '../inbound/reprocess.js';
import type { MapOutcome } from '../mapping/outcome.js';
import { tablesLabel } from './use-cases/reprocess.js';
import { facilityTimeZones } from '../mapping/facilities.js';
import { startMllp } from './mllp.js';
import { Admission } from '../inbound/admission.js';
import { keyRing } from './roles.js';
import { safeReason } from '../inbound/outcome.js';
import { MapPool } from '../inbound/map-pool.js';
import { configuredNrdr, deidentifierFor, signInFor, startOutbound, type NrdrTarget } from '../outbound/setup.js';
import { activeProfile, legacyProfileName, profileSummary } from '../profile.js';
import { adoptUnprofiled, deidentificationKey, profileCredentials } from '../outbound/profile-store.js';
import { PROFILE_PRESENCE } from '../outbound/submitter.js';
import { SERVICE_LEASE } from './service-lease.js';
import { fhirFetcherFor, openStore } from './service-store.js';

export interface Running {
  readonly app: FastifyInstance;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Purges raw messages past CDSR_RETENTION_DAYS now and every six hours, and gives the space back
 * after a purge (the store size in /metrics drops); returns the timer.
 */
function retention(config: Config, store: Store, log: pino.Logger, remap: KeepOutcome): NodeJS.Timeout | undefined {
  if (config.CDSR_RETENTION_DAYS === 0) return undefined;
  const run = () => void purgeAndReclaim(store, config.CDSR_RETENTION_DAYS, new Date(), log, remap);
  run();
  const timer = setInterval(run, 6 * 3600_000);
  timer.unref();
  return timer;
}

export { SERVICE_LEASE };
const SERVICE_LEASE_MS = 60_000;

/** Maps a message about to be purged through the tables in force (undefined: nothing to keep). */
export type KeepOutcome = (m: UnitMessage) => Promise<MapOutcome | undefined>;

/**
 * Before their text goes: each applied message past retention keeps the outcome it maps to, which
 * stands for it when its encounter is re-derived later (its text cannot be mapped again).
 */
async function keepOutcomesBefore(store: Store, before: Date, remap: KeepOutcome): Promise<void> {
  let after = 0;
  for (;;) {
    const page = await store.messages({ status: 'applied', to: before.toISOString(), notPurged: true, afterId: after, limit: 200 });
    if (page.length === 0) return;
    const outcomes: { id: number; outcome: MapOutcome }[] = [];
    for (const m of await store.unitMessages(
      [],
      page.map((p) => p.id),
    )) {
      if (m.rawPurged || m.outcome !== undefined) continue;
      const outcome = await remap(m);
      if (outcome) outcomes.push({ id: m.id, outcome });
    }
    await store.keepOutcomes(outcomes);
    after = page[page.length - 1]!.id;
  }
}

/** One round of retention: the outcomes kept, the purge, then (when it purged something) the space given back. */
export async function purgeAndReclaim(store: Store, days: number, now: Date, log: Pick<pino.Logger, 'info' | 'warn'>, remap?: KeepOutcome): Promise<void> {
  try {
    const cutoff = new Date(now.getTime() - days * 86_400_000);
    if (remap) await keepOutcomesBefore(store, cutoff, remap);
    const { messages: purged, resources } = await store.purgeRaw(cutoff, now);
    // a purge of resources alone is given back too: their text must not stay in the files either
    if (purged === 0 && resources === 0) return;
    const before = await store.sizeBytes();
    const started = performance.now();
    const reclaim = await store.reclaimSpace();
    // how long the reclaim took: on PostgreSQL with a rewrite, about how long ingest was held
    const reclaimMs = Math.round(performance.now() - started);
    log.info(
      { event: 'retention', purged, resources, days, bytesBefore: before, bytesAfter: await store.sizeBytes(), reclaim: reclaim.method, reclaimMs },
      'raw messages past retention purged, their space given back',
    );
    if (reclaim.leftover !== undefined)
      log.warn({ event: 'retention_leftover', detail: reclaim.leftover }, 'retention could not reach every copy of the purged text');
  } catch (e) {
    log.warn({ event: 'retention_failed', error: safeReason(e) }, 'retention purge failed; tried again later');
  }
}

/** Held by the instance whose built-in sandbox the instances on one database submit to. */
const BUILTIN_SANDBOX_LEASE = 'builtin-sandbox';

export interface StartOptions {
  readonly logStream?: NodeJS.WritableStream;
  /** Where to submit when NRDR_BASE_URL is not set (the built-in sandbox); built once the tables are loaded. */
  readonly fallbackTarget?: (tables: MappingTables) => Promise<NrdrTarget>;
  /** What `serve` did with V8's heap growing factor before it started (logged at start-up). */
  readonly heapGrowth?: HeapGrowth;
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<Running> {
  const log = pino({ level: config.LOG_LEVEL }, opts.logStream ?? process.stdout);
  if (opts.heapGrowth) {
    const h = opts.heapGrowth;
    log.info(
      { event: 'heap_growth', ...h },
      h.set
        ? `the heap may grow by ${h.percent} % of what is live between full collections (CDSR_HEAP_GROWTH_PERCENT)`
        : h.reason === 'node_flag'
          ? `the heap's growing factor is node's own flag (${h.flag ?? ''}); CDSR_HEAP_GROWTH_PERCENT not applied`
          : "the heap grows by V8's own factor (CDSR_HEAP_GROWTH_PERCENT=0)",
    );
  }
  // the environment this adapter talks to, first of all (never a secret: profileSummary)
  const profile = activeProfile(config);
  const shown = profileSummary(profile);
  log.info(
    { event: 'profile', ...shown },
    `connection profile: ${shown.name}${shown.selectedBy === 'CDSR_PROFILE' ? ' (CDSR_PROFILE)' : ''}${shown.deidentified ? `; records are de-identified, sent as facility ${shown.facilityId ?? ''}` : ''}`,
  );
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (config.CDSR_TLS_CERT_FILE !== undefined && config.CDSR_TLS_KEY_FILE !== undefined) {
    try {
      tls = { cert: readFileSync(config.CDSR_TLS_CERT_FILE), key: readFileSync(config.CDSR_TLS_KEY_FILE) };
    } catch (e) {
      throw new ConfigError(`CDSR_TLS_CERT_FILE / CDSR_TLS_KEY_FILE: cannot be read: ${errorMessage(e)}`, { cause: e });
    }
  }
  const loaded = MappingHolder.load(config.CDSR_MAPPINGS_DIR, log);
  if (!loaded.holder) {
    const lines = loaded.problems.map(formatProblemLine);
    throw new ConfigError(`CDSR_MAPPINGS_DIR: the mapping tables in ${config.CDSR_MAPPINGS_DIR} do not load:\n  ${lines.join('\n  ')}`);
  }
  const mappings = loaded.holder;
  const tables = mappings.current;
  const target = configuredNrdr(config, profile) ?? (await opts.fallbackTarget?.(tables));
  if (!target) throw new ConfigError('NRDR_BASE_URL: not set, and no stand-in was given');
  const store = await openStore(config, () => mappings.current).catch(async (e: unknown) => {
    await target.close();
    throw e;
  });
  if (store.migrated.length > 0)
    log.info(
      { event: 'migrated', versions: store.migrated.map((m) => m.version) },
      `store migrated to schema version ${store.migrated[store.migrated.length - 1]!.version}: ${store.migrated.map((m) => `${m.version} ${m.name}`).join('; ')}`,
    );
  // what was kept before profiles is named as the legacy profile's; each profile keeps its own tokens
  await adoptUnprofiled(store, legacyProfileName(config), new Date(), log, {
    ...(config.CDSR_TEST_FACILITY_ID !== undefined ? { testFacilityId: config.CDSR_TEST_FACILITY_ID } : {}),
    profilesConfigured: config.CDSR_PROFILE !== undefined,
  });
  const credentials = profileCredentials(store, profile.name);
  target.keepTokensIn?.(credentials, log);
  for (const other of await store.inFlightByProfile()) {
    if (other.profile === profile.name || other.count === 0) continue;
    log.warn(
      { event: 'profile_other_open', profile: other.profile, count: other.count, inForce: profile.name },
      `${other.count} transaction(s) of the ${other.profile ?? 'unnamed'} profile are still open: they are not sent nor asked about under the ${profile.name} profile (start under ${other.profile ?? 'it'} to finish them)`,
    );
  }
  const deidentifier = profile.deidentify ? deidentifierFor(profile, await deidentificationKey(store, new Date())) : undefined;
  // instances sharing a database share one NRDR: two built-in sandboxes would each hold half the
  // transactions, and the instance that takes over the submitting would poll the wrong one
  const timers: { purge?: NodeJS.Timeout; sandbox?: NodeJS.Timeout; signIn?: NodeJS.Timeout; presence?: NodeJS.Timeout } = {};
  const instance = `${process.pid}-${randomBytes(4).toString('hex')}`;
  if (target.sandbox && config.CDSR_DATABASE_URL !== undefined) {
    const hold = () => store.lease(BUILTIN_SANDBOX_LEASE, instance, new Date(), 180_000);
    if (!(await hold())) {
      await store.close();
      await target.close();
      throw new ConfigError(
        'NRDR_BASE_URL: not set, and another instance on this database already submits to its own built-in sandbox; run one `cdsr-adapter sandbox` and point every instance at it with NRDR_BASE_URL',
      );
    }
    timers.sandbox = setInterval(() => void hold().catch(() => undefined), 60_000);
    timers.sandbox.unref();
  }
  // presence: any one instance holds it (another takes it over within a minute when that one stops)
  const present = async () => {
    // and the profile this instance runs under, for the submitters of the others (profiles_mixed)
    await store.lease(`${PROFILE_PRESENCE}${instance}`, profile.name, new Date(), SERVICE_LEASE_MS).catch(() => false);
    return store.lease(SERVICE_LEASE, instance, new Date(), SERVICE_LEASE_MS).catch(() => false);
  };
  await present();
  timers.presence = setInterval(() => void present(), SERVICE_LEASE_MS / 3);
  timers.presence.unref();
  // each facility's zone from the tables in force (they may be reloaded), else CDSR_TIMEZONE
  const signIn = signInFor(config, credentials, target, log, () => new Date(), profile);
  const outbound = startOutbound(
    config,
    store,
    target,
    log,
    (facilityId) => facilityTimeZones(mappings.current.facilities, config.CDSR_TIMEZONE)(facilityId),
    signIn,
    { profile, ...(deidentifier ? { deidentifier } : {}) },
  );
  // what processing a message needs, the same for HTTP and MLLP
  const mapPool =
    config.CDSR_MAP_WORKERS > 0
      ? new MapPool({
          mappings,
          size: config.CDSR_MAP_WORKERS,
          minBytes: config.CDSR_MAP_WORKER_MIN_BYTES,
          timeoutMs: config.CDSR_MAP_TIMEOUT_S * 1000,
          ...(config.CDSR_DEFAULT_FACILITY_ID !== undefined ? { defaultFacilityId: config.CDSR_DEFAULT_FACILITY_ID } : {}),
        })
      : undefined;
  const deps = { store, mappings, clock: () => new Date(), defaultFacilityId: config.CDSR_DEFAULT_FACILITY_ID, ...(mapPool ? { mapPool } : {}) };
  const reprocessDeps = { ...deps, ...fhirFetcherFor(config), tablesLabel: () => tablesLabel({ mappings }) };
  const reprocessor = new Reprocessor(reprocessDeps, log);
  // what a sender may send (HTTP and MLLP; reprocessing is not sending)
  const admission = new Admission(
    {
      messagesPerSecond: config.CDSR_SEND_RATE,
      bytesPerSecond: config.CDSR_SEND_BYTES_RATE,
      burstSeconds: config.CDSR_SEND_BURST_S,
      maxStoreBytes: config.CDSR_MAX_STORE_BYTES,
    },
    () => store.sizeBytes(),
    () => Date.now(),
    (w) =>
      log.warn(
        { event: 'store_near_ceiling', ...w },
        'the store is past 90 % of CDSR_MAX_STORE_BYTES: free space or raise the ceiling before messages are refused',
      ),
  );
  // a fix to the tables reaches the held records by itself (what would change a record already sent waits for a preview)
  reprocessor.followReloads(mappings);
  const app = await buildApp({
    ...deps,
    admission,
    config,
    ...(tls ? { tls } : {}),
    submitter: outbound.submitter,
    profile: shown,
    ...(deidentifier ? { sentEncounterId: (facilityId: string, encounterId: string) => deidentifier.encounterId(facilityId, encounterId) } : {}),
    ...(signIn ? { signIn } : {}),
    ...(opts.logStream ? { logStream: opts.logStream } : {}),
    ...fhirFetcherFor(config),
    reprocessor,
  });
  // hooks must be added before listen(); the MLLP listener comes after, so it is looked up late
  let mllp: Awaited<ReturnType<typeof startMllp>> | undefined;
  app.addHook('onClose', async () => {
    clearInterval(timers.purge);
    clearInterval(timers.sandbox);
    clearInterval(timers.signIn);
    clearInterval(timers.presence);
    await store.releaseLease(SERVICE_LEASE, instance).catch(() => undefined);
    // a stopped instance's profile holds nobody's batching back (a switch restarts at once)
    await store.releaseLease(`${PROFILE_PRESENCE}${instance}`, profile.name).catch(() => undefined);
    if (timers.sandbox) await store.releaseLease(BUILTIN_SANDBOX_LEASE, instance).catch(() => undefined);
    mappings.close();
    const m = mllp;
    if (m) await new Promise<void>((ok) => m.close(() => ok()));
    await mapPool?.close();
    await outbound.close();
    await store.close();
  });
  let url: string;
  try {
    url = await app.listen({ port: config.PORT, host: config.HOST });
    if (config.CDSR_MLLP_PORT !== undefined) {
      mllp = await startMllp(
        { ...deps, admission },
        {
          port: config.CDSR_MLLP_PORT,
          host: config.CDSR_MLLP_HOST,
          allow: config.CDSR_MLLP_ALLOW,
          maxFrameBytes: config.CDSR_BODY_LIMIT_BYTES,
          idleMs: config.CDSR_MLLP_IDLE_S * 1000,
          frameMs: config.CDSR_MLLP_FRAME_TIMEOUT_S * 1000,
          maxConnections: config.CDSR_MLLP_MAX_CONNECTIONS,
          maxPerSource: config.CDSR_MLLP_MAX_PER_SOURCE,
          maxBufferedBytes: config.CDSR_MLLP_MAX_BUFFERED_BYTES,
        },
        log,
      );
    }
  } catch (e) {
    // a port in use, say: release what is open, so the process can end
    await app.close().catch(() => undefined);
    throw e;
  }
  mappings.watch();
  timers.purge = retention(config, store, log, (m) => remapMessage(reprocessDeps, m));
  // a reprocessing run a crash or a stop interrupted goes on from where it was
  const resumed = await reprocessor.resumeUnfinished();
  if (resumed > 0) log.info({ event: 'reprocess_resumed', runs: resumed }, 'reprocessing runs left unfinished go on');
  if (signIn) {
    // the expiry warning (once, in the log; the flag in /api/auth and /metrics) without waiting for a submission
    const check = () =>
      void signIn
        .checkExpiry()
        .catch((e: unknown) => log.warn({ event: 'acr_signin_check_failed', error: safeReason(e) }, 'the ACR Connect sign-in could not be read'));
    check();
    timers.signIn = setInterval(check, 60_000);
    timers.signIn.unref();
  }
  if (config.CDSR_INBOUND_API_KEYS.length > 0) {
    log.warn(
      { event: 'config', variable: 'CDSR_INBOUND_API_KEYS' },
      'CDSR_INBOUND_API_KEYS give send and operate rights together; give Mirth a key of CDSR_SEND_API_KEYS and operators keys of CDSR_OPERATE_API_KEYS',
    );
  }
  log.info(
    {
      event: 'started',
      url,
      store: config.CDSR_DATABASE_URL !== undefined ? 'postgres' : 'sqlite',
      nrdr: outbound.target,
      profile: profile.name,
      mllpPort: config.CDSR_MLLP_PORT ?? null,
      dataDir: config.CDSR_DATA_DIR,
      mappings: config.CDSR_MAPPINGS_DIR,
      auth: keyRing(config).length > 0,
    },
    'cdsr-adapter listening',
  );
  return { app, url, close: () => app.close() };
}
