// `cdsr-adapter reprocess`: stored messages mapped again through the tables in force and their
// encounters re-derived, as a preview (the default) or applied (--apply, or --preview ID to apply
// an earlier preview). Through the running service with --url, else offline on the store (refused
// while a service holds it). Progress on stderr; the summary and the changes on stdout.
import type { Config } from '../config.js';
// the reprocessing and the service's modules are loaded by the offline path alone, when it runs
// (the --url path only talks to the service)
import { previewToApply, selectionOf as checkSelection, tablesLabel } from '../server/use-cases/reprocess.js';
import { openForCommand } from './serve.js';
import type { ConsultationChange, ReprocessRun, ReprocessSelection } from '../store/store.js';
import { renderTable } from './table.js';
import { callService, holdOffline, releaseOffline, serviceUrl } from './service.js';
import type { CliIo } from './validate.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE } from './validate.js';

export interface ReprocessCliOptions {
  readonly url?: string;
  readonly facility?: string;
  readonly encounter?: string;
  readonly order?: string;
  readonly sender?: string;
  readonly channel?: string;
  readonly status?: string;
  readonly from?: string;
  readonly to?: string;
  readonly held?: boolean;
  readonly all?: boolean;
  readonly apply?: boolean;
  readonly preview?: string;
  readonly json?: boolean;
  /** At most this many changes listed (all with --json). */
  readonly limit?: number;
}

/** The selection the options name (the API checks it; offline it is checked by the same schema). */
function selectionOf(o: ReprocessCliOptions): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  for (const k of ['facility', 'encounter', 'order', 'sender', 'channel', 'status', 'from', 'to'] as const) if (o[k] !== undefined) s[k] = o[k];
  if (o.held === true) s['held'] = true;
  if (o.all === true) s['all'] = true;
  return s;
}

function bar(io: CliIo, done: number, total: number): void {
  if (!io.progress) return;
  const width = 30;
  const filled = total === 0 ? width : Math.round((Math.min(done, total) / total) * width);
  io.err(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} encounter(s)`);
}

const short = (v: string | undefined) => (v === undefined ? '—' : v.length > 40 ? `${v.slice(0, 37)}...` : v);

/** The run's summary and its changes, for a person (or JSON). */
function report(io: CliIo, run: ReprocessRun, changes: readonly ConsultationChange[], more: boolean, json: boolean): void {
  if (json) {
    io.out(`${JSON.stringify({ run, changes }, null, 2)}\n`);
    return;
  }
  const s = run.summary;
  const by = Object.entries(s.byChange).map(([k, v]) => `${v} ${k}`);
  io.out(
    `run ${run.id} (${run.apply ? 'applied' : 'preview: nothing was changed'}): ${run.status}, ${s.units} of ${run.total} encounter(s); ` +
      `${by.length > 0 ? by.join(', ') : 'no consultation changes'}; ${s.unchanged} unchanged; ${s.resend} to send again; ${s.retractions} to retract at NRDR\n`,
  );
  for (const [k, v] of Object.entries(s.messages)) io.out(`messages ${k}: ${v}\n`);
  for (const k of s.skipped) io.out(`skipped ${k}\n`);
  if (changes.length > 0) {
    const rows = changes.flatMap((c) => {
      const head = [
        c.encounterKey,
        c.consultationKey,
        c.change,
        `${c.stateBefore ?? '—'} → ${c.stateAfter ?? '—'}`,
        [c.resend ? 'send again' : '', c.retraction ? 'retract at NRDR' : ''].filter((x) => x !== '').join(', '),
      ];
      if (c.fields.length === 0) return [[...head, '', '', '']];
      return c.fields.map((f, i) => [...(i === 0 ? head : ['', '', '', '', '']), f.field, short(f.before), short(f.after)]);
    });
    const table = renderTable(['ENCOUNTER', 'CONSULTATION', 'CHANGE', 'STATE', 'AT NRDR', 'FIELD', 'BEFORE', 'AFTER'], rows);
    io.out(table.endsWith('\n') ? table : `${table}\n`);
    if (more) io.out(`(more changes: --json lists them all, or GET /api/reprocess/${run.id})\n`);
  }
  if (!run.apply && run.status === 'done') io.out(`to apply exactly this: cdsr-adapter reprocess --preview ${run.id} (with the same --url, or offline)\n`);
}

export async function runReprocessCli(config: Config, opts: ReprocessCliOptions, io: CliIo): Promise<number> {
  const limit = opts.json === true ? 1_000_000 : (opts.limit ?? 100);
  const selection = selectionOf(opts);
  const preview = opts.preview !== undefined ? Number(opts.preview) : undefined;
  if (preview !== undefined && (!Number.isSafeInteger(preview) || preview < 1)) {
    io.err('cdsr-adapter: --preview takes the id of a finished preview run\n');
    return EXIT_UNREADABLE;
  }
  if (opts.url !== undefined) {
    const base = serviceUrl(config, opts.url);
    const body = preview !== undefined ? { preview } : { ...selection, ...(opts.apply === true ? { apply: true } : {}) };
    const started = await callService<{ run: ReprocessRun }>(config, base, 'POST', '/api/reprocess', io, body);
    if (!started.ok) return started.exit;
    const id = started.body.run.id;
    let run = started.body.run;
    const changes: ConsultationChange[] = [];
    // follow it: the service works in the background; a person sees the progress
    for (;;) {
      const r = await callService<{ run: ReprocessRun; changes: ConsultationChange[] }>(config, base, 'GET', `/api/reprocess/${id}?limit=1`, io);
      if (!r.ok) return r.exit;
      run = r.body.run;
      bar(io, run.done, run.total);
      if (run.status !== 'running') break;
      await new Promise((ok) => setTimeout(ok, 250));
    }
    if (io.progress) io.err('\n');
    let after = '';
    let more = false;
    while (changes.length < limit) {
      const r = await callService<{ changes: ConsultationChange[]; next: string | null }>(
        config,
        base,
        'GET',
        `/api/reprocess/${id}?limit=${Math.min(1000, limit - changes.length)}${after !== '' ? `&after=${after}` : ''}`,
        io,
      );
      if (!r.ok) return r.exit;
      changes.push(...r.body.changes);
      if (r.body.next === null) break;
      after = r.body.next;
      more = changes.length >= limit;
    }
    report(io, run, changes, more, opts.json === true);
    return run.status === 'done' && run.summary.skipped.length === 0 ? EXIT_OK : EXIT_PROBLEMS;
  }
  const opened = await openForCommand(config, io);
  if (!opened) return EXIT_UNREADABLE;
  const { store, mappings } = opened;
  const [{ runReprocess, startReprocess }, { fhirFetcherFor }] = await Promise.all([import('../inbound/reprocess.js'), import('../server/service-store.js')]);
  try {
    if (!(await holdOffline(store, serviceUrl(config), 'reprocess', io))) return EXIT_UNREADABLE;
    io.err(
      `offline: the store ${config.CDSR_DATABASE_URL !== undefined ? 'at CDSR_DATABASE_URL' : `in ${config.CDSR_DATA_DIR}`}, the tables in ${config.CDSR_MAPPINGS_DIR}\n`,
    );
    const deps = {
      store,
      mappings,
      clock: () => new Date(),
      ...(config.CDSR_DEFAULT_FACILITY_ID !== undefined ? { defaultFacilityId: config.CDSR_DEFAULT_FACILITY_ID } : {}),
      ...fhirFetcherFor(config),
      tablesLabel: () => tablesLabel({ mappings }),
    };
    let sel: ReprocessSelection;
    let apply = opts.apply === true;
    if (preview !== undefined) {
      // the same checks as the service's: a finished preview, through the same tables
      const earlier = await previewToApply({ store, mappings }, preview);
      if ('error' in earlier) {
        io.err(`cdsr-adapter: ${earlier.error}\n`);
        return EXIT_UNREADABLE;
      }
      sel = earlier.selection;
      apply = true;
    } else {
      try {
        sel = checkSelection(selection);
      } catch (e) {
        io.err(`cdsr-adapter: ${e instanceof Error ? e.message : String(e)}\n`);
        return EXIT_UNREADABLE;
      }
    }
    const started = await startReprocess(deps, sel, { apply, who: 'cli' });
    let last = 0;
    const run = await runReprocess(deps, started.id, (p) => {
      const t = Date.now();
      if (t - last > 200 || p.done === p.total) {
        last = t;
        bar(io, p.done, p.total);
      }
    });
    if (io.progress && run.total > 0) io.err('\n');
    const changes = (await store.reprocessChanges(run.id, { limit: limit + 1 })).map((c) => c.change);
    report(io, run, changes.slice(0, limit), changes.length > limit, opts.json === true);
    return run.status === 'done' && run.summary.skipped.length === 0 ? EXIT_OK : EXIT_PROBLEMS;
  } finally {
    await releaseOffline(store);
    await store.close();
  }
}
