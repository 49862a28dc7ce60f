// `cdsr-adapter serve`, `replay` and `reconcile`.
import type { Config } from '../config.js';
import { errorMessage } from '../cdsr/errors.js';
import { replayAll } from '../inbound/replay.js';
import { MappingHolder } from '../mapping/holder.js';
import type { MessageStatus } from '../store/store.js';
import { fhirFetcherFor, openStore, startServer } from '../server/main.js';
import { startBuiltinSandbox } from './builtin-sandbox.js';
import { renderTable } from './table.js';
import { callService, holdOffline, releaseOffline, serviceUrl } from './service.js';
import type { CliIo } from './validate.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE } from './validate.js';

export async function runServe(config: Config): Promise<number> {
  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    running = await startServer(config, { fallbackTarget: (tables) => startBuiltinSandbox(config, tables) });
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
export async function openForCommand(config: Config, io: CliIo): Promise<{ store: Awaited<ReturnType<typeof openStore>>; mappings: MappingHolder } | undefined> {
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
    io.err(`offline: the store ${config.CDSR_DATABASE_URL !== undefined ? 'at CDSR_DATABASE_URL' : `in ${config.CDSR_DATA_DIR}`}, the tables in ${config.CDSR_MAPPINGS_DIR}\n`);
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

/** The ledger's reconciliation, read from the store: per facility and day, seen = reported + held + excluded. */
export async function runReconcile(config: Config, opts: { from?: string; to?: string; facility?: string; json?: boolean }, io: CliIo): Promise<number> {
  for (const [name, v] of [
    ['--from', opts.from],
    ['--to', opts.to],
  ] as const) {
    if (v !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(v)) {
      io.err(`cdsr-adapter: ${name} must be a day as YYYY-MM-DD\n`);
      return EXIT_UNREADABLE;
    }
  }
  const opened = await openForCommand(config, io);
  if (!opened) return EXIT_UNREADABLE;
  const { store } = opened;
  try {
    const days = await store.reconciliation({ ...(opts.from ? { from: opts.from } : {}), ...(opts.to ? { to: opts.to } : {}), ...(opts.facility ? { facility: opts.facility } : {}) });
    if (opts.json) {
      io.out(`${JSON.stringify({ days }, null, 2)}\n`);
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
    io.out(
      renderTable(
        ['facility', 'day', 'seen', 'reported', 'held', 'excluded'],
        days.map((d) => [d.facilityId || '(unknown)', d.day, String(d.seen), String(d.reported), counts(d.held), counts(d.excluded)]),
      ),
    );
    return EXIT_OK;
  } finally {
    await store.close();
  }
}
