// `cdsr-adapter serve`, `replay` and `reconcile`.
import type { Config } from '../config.js';
import { errorMessage } from '../cdsr/errors.js';
import type { MappingHolder } from '../mapping/holder.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProblemLine } from '../cdsr/problem.js';
import { facilityTimeZones, parseFacilities } from '../mapping/facilities.js';
import { reconciliationCsv } from '../store/ledger.js';
import { RECONCILE_BY, type MessageStatus, type ReconcileBy, type ReconciliationRow } from '../store/store.js';
// the service, the tables and the store are loaded by the commands and paths that use them, when
// they run: `resubmit` and the `--url` forms only talk to the service, and loading the service's
// modules cost each of them about a second of CPU at start
import type { startServer } from '../server/main.js';
import type { openStore } from '../server/service-store.js';
import { renderTable } from './table.js';
import { callService, holdOffline, releaseOffline, serviceUrl } from './service.js';
import type { CliIo } from './validate.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE } from './validate.js';

export async function runServe(config: Config): Promise<number> {
  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    // the heap's growing factor, before the store and the routes start (src/server/heap-growth.ts)
    const { boundHeapGrowth } = await import('../server/heap-growth.js');
    const heapGrowth = boundHeapGrowth(config.CDSR_HEAP_GROWTH_PERCENT);
    const [{ startServer }, { startBuiltinSandbox }] = await Promise.all([import('../server/main.js'), import('./builtin-sandbox.js')]);
    running = await startServer(config, { fallbackTarget: (tables) => startBuiltinSandbox(config, tables), heapGrowth });
  } catch (e) {
    process.stderr.write(`cdsr-adapter: ${errorMessage(e)}\n`);
    // whatever did start must not keep the process alive
    process.exit(2);
  }
  const stop = (signal: string) => {
    running.app.log.info({ event: 'stopping', signal }, 'stopping: no new requests; answered ones are stored');
    void running.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return new Promise<number>(() => undefined);
}

/** The tables and the store, for a command that works on the store of a stopped or running service. */
export async function openForCommand(
  config: Config,
  io: CliIo,
): Promise<{ store: Awaited<ReturnType<typeof openStore>>; mappings: MappingHolder } | undefined> {
  const [{ MappingHolder }, { openStore }] = await Promise.all([import('../mapping/holder.js'), import('../server/service-store.js')]);
  const loaded = MappingHolder.load(config.CDSR_MAPPINGS_DIR, { info: () => undefined, warn: () => undefined });
  if (!loaded.holder) {
    io.err(`cdsr-adapter: the mapping tables in ${config.CDSR_MAPPINGS_DIR} do not load; run check-mappings\n`);
    return undefined;
  }
  const holder = loaded.holder;
  return { store: await openStore(config, () => holder.current), mappings: holder };
}

function replayLine(r: { replayed: number; byStatus: Record<string, number> }): string {
  const parts = Object.entries(r.byStatus).map(([k, v]) => `${v} ${k}`);
  return `replayed ${r.replayed} message(s)${parts.length ? `: ${parts.join(', ')}` : ''}\n`;
}

/**
 * `replay`: through the running service with --url (its store and its tables in force); without,
 * offline on the store and tables the environment names, refused while a service holds that store.
 */
export async function runReplay(config: Config, opts: { status: string; url?: string }, io: CliIo): Promise<number> {
  const { status } = opts;
  if (!['error', 'applied', 'ignored', 'pending'].includes(status)) {
    io.err('cdsr-adapter: --status must be error, applied, ignored or pending\n');
    return EXIT_UNREADABLE;
  }
  if (opts.url !== undefined) {
    const base = serviceUrl(config, opts.url);
    const r = await callService<{ replayed: number; byStatus: Record<string, number> }>(config, base, 'POST', `/api/replay?status=${status}`, io);
    if (!r.ok) return r.exit;
    io.out(replayLine(r.body));
    return (r.body.byStatus.error ?? 0) > 0 ? EXIT_PROBLEMS : EXIT_OK;
  }
  const opened = await openForCommand(config, io);
  if (!opened) return EXIT_UNREADABLE;
  const { store, mappings } = opened;
  try {
    if (!(await holdOffline(store, serviceUrl(config), 'replay', io))) return EXIT_UNREADABLE;
    io.err(
      `offline: the store ${config.CDSR_DATABASE_URL !== undefined ? 'at CDSR_DATABASE_URL' : `in ${config.CDSR_DATA_DIR}`}, the tables in ${config.CDSR_MAPPINGS_DIR}\n`,
    );
    const [{ replayAll }, { fhirFetcherFor }] = await Promise.all([import('../inbound/replay.js'), import('../server/service-store.js')]);
    const total = (await store.messages({ status: status as MessageStatus, limit: 1_000_000 })).length;
    let last = 0;
    const r = await replayAll(
      {
        store,
        mappings,
        clock: () => new Date(),
        defaultFacilityId: config.CDSR_DEFAULT_FACILITY_ID,
        ...fhirFetcherFor(config),
      },
      status as MessageStatus,
      (done) => {
        const t = Date.now();
        if (io.progress && (t - last > 200 || done === total)) {
          last = t;
          const width = 30;
          const filled = total === 0 ? width : Math.round((done / total) * width);
          io.err(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
        }
      },
    );
    if (io.progress && total > 0) io.err('\n');
    io.out(replayLine(r));
    return (r.byStatus.error ?? 0) > 0 ? EXIT_PROBLEMS : EXIT_OK;
  } finally {
    await releaseOffline(store);
    await store.close();
  }
}

type ResubmitAnswer = { resubmitted: number; records: { encounterKey: string; consultationKey: string; transactionId: string | null }[] };

/** `resubmit`: the rejected records (of an encounter, a facility, or all) sent again, through the running service. */
export async function runResubmit(config: Config, opts: { url?: string; facility?: string; encounter?: string; reason?: string }, io: CliIo): Promise<number> {
  if (opts.encounter !== undefined && opts.facility === undefined) {
    io.err('cdsr-adapter: --encounter needs --facility (an encounter is known by both)\n');
    return EXIT_UNREADABLE;
  }
  const base = serviceUrl(config, opts.url);
  const reason = opts.reason !== undefined ? `reason=${encodeURIComponent(opts.reason)}` : '';
  const path =
    opts.encounter !== undefined
      ? `/api/records/${encodeURIComponent(opts.facility!)}/${encodeURIComponent(opts.encounter)}/resubmit${reason ? `?${reason}` : ''}`
      : `/api/resubmit?state=rejected${opts.facility !== undefined ? `&facility=${encodeURIComponent(opts.facility)}` : ''}${reason ? `&${reason}` : ''}`;
  const r = await callService<ResubmitAnswer>(config, base, 'POST', path, io);
  if (!r.ok) return r.exit;
  if (r.body.resubmitted === 0) {
    io.out('no rejected record to send again\n');
    return EXIT_OK;
  }
  io.out(
    renderTable(
      ['ENCOUNTER', 'CONSULTATION', 'REJECTED IN'],
      r.body.records.map((x) => [x.encounterKey.slice(x.encounterKey.indexOf('|') + 1), x.consultationKey, x.transactionId ?? '']),
    ),
  );
  io.out(`${r.body.resubmitted} record(s) back to ready: they go in the next submission (cdsr-adapter submit sends now)\n`);
  return EXIT_OK;
}

type ReconciliationAnswer = { by: ReconcileBy; timeZones: Record<string, string>; days: ReconciliationRow[] };

/**
 * Each facility's zone for an offline reconcile: facilities.csv alone (the other tables are not
 * needed, so a folder without them is no error), else CDSR_TIMEZONE; undefined (said) when the file
 * does not load.
 */
function offlineZones(config: Config, io: CliIo): ((facilityId: string) => string) | undefined {
  const file = join(config.CDSR_MAPPINGS_DIR, 'facilities.csv');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') {
      io.err(`cdsr-adapter: ${file} cannot be read: ${errorMessage(e)}\n`);
      return undefined;
    }
    io.err(`no ${file}: days are counted in CDSR_TIMEZONE (${config.CDSR_TIMEZONE})\n`);
    return () => config.CDSR_TIMEZONE;
  }
  const { facilities, problems } = parseFacilities(file, text);
  if (problems.length > 0) {
    io.err(
      `cdsr-adapter: ${file} does not load (the facilities' time zones are read from it):\n${problems.map((p) => `  ${formatProblemLine(p)}\n`).join('')}`,
    );
    return undefined;
  }
  return facilityTimeZones(facilities, config.CDSR_TIMEZONE);
}

/**
 * `reconcile`: per facility and day in its own time zone, seen = reported + held + excluded; by
 * arrival or ordered day. Through the running service with --url, else read from the store.
 */
export async function runReconcile(
  config: Config,
  opts: { from?: string; to?: string; facility?: string; by?: string; json?: boolean; csv?: boolean; url?: string },
  io: CliIo,
): Promise<number> {
  for (const [name, v] of [
    ['--from', opts.from],
    ['--to', opts.to],
  ] as const) {
    if (v !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(v)) {
      io.err(`cdsr-adapter: ${name} must be a day as YYYY-MM-DD\n`);
      return EXIT_UNREADABLE;
    }
  }
  const by = opts.by ?? 'received';
  if (!(RECONCILE_BY as readonly string[]).includes(by)) {
    io.err(`cdsr-adapter: --by must be ${RECONCILE_BY.join(' or ')}\n`);
    return EXIT_UNREADABLE;
  }
  if (opts.json && opts.csv) {
    io.err('cdsr-adapter: --json and --csv: choose one\n');
    return EXIT_UNREADABLE;
  }
  const filter = {
    ...(opts.from ? { from: opts.from } : {}),
    ...(opts.to ? { to: opts.to } : {}),
    ...(opts.facility ? { facility: opts.facility } : {}),
    by: by as ReconcileBy,
  };
  let answer: ReconciliationAnswer;
  if (opts.url !== undefined) {
    const params = new URLSearchParams(Object.entries(filter));
    const r = await callService<ReconciliationAnswer>(config, serviceUrl(config, opts.url), 'GET', `/api/reconciliation?${params.toString()}`, io);
    if (!r.ok) return r.exit;
    answer = r.body;
  } else {
    const timeZoneOf = offlineZones(config, io);
    if (!timeZoneOf) return EXIT_UNREADABLE;
    const { openStoreToRead } = await import('../server/service-store.js');
    const store = await openStoreToRead(config);
    try {
      const days = await store.reconciliation({ ...filter, timeZoneOf });
      answer = { by: filter.by, timeZones: Object.fromEntries([...new Set(days.map((d) => d.facilityId))].map((f) => [f, timeZoneOf(f)])), days };
    } finally {
      await store.close();
    }
  }
  const { days } = answer;
  if (opts.json) {
    io.out(`${JSON.stringify(answer, null, 2)}\n`);
    return EXIT_OK;
  }
  if (opts.csv) {
    io.out(reconciliationCsv(days, answer.by, (f) => answer.timeZones[f] ?? config.CDSR_TIMEZONE));
    return EXIT_OK;
  }
  if (days.length === 0) {
    io.out('no orders seen in that period\n');
    return EXIT_OK;
  }
  const counts = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '0';
  const ordered = answer.by === 'ordered';
  io.out(
    renderTable(
      ['facility', 'zone', ordered ? 'ordered day' : 'day', 'seen', ...(ordered ? ['not in a record (by arrival)'] : []), 'reported', 'held', 'excluded'],
      days.map((d) => [
        d.facilityId || '(unknown)',
        answer.timeZones[d.facilityId] ?? '',
        d.day,
        String(d.seen),
        ...(ordered ? [String(d.byArrival ?? 0)] : []),
        String(d.reported),
        counts(d.held),
        counts(d.excluded),
      ]),
    ),
  );
  return EXIT_OK;
}
