// Reprocessing (Mirth's "reprocess", with a preview): the messages an analyst selects are mapped
// again through the tables in force, and every encounter they touch is re-derived from all of its
// messages in arrival order. A dry run (the default) records what would change; an applied run
// writes it, a batch of encounters per database transaction (each read after the ones before it are
// written), and resumes after a crash from its cursor.
import type { MapOutcome } from '../mapping/outcome.js';
import type { MappingTables } from '../mapping/load.js';
import type { InboundLog, RederiveOptions, ReprocessLog, ReprocessRun, ReprocessSelection, ResourceCache, UnitMessage, UnitResult } from '../store/store.js';
import type { FhirFetcher } from '../fhir/resolve.js';
import type { Hl7MapWorkers } from './context.js';
import { mapText } from './hl7.js';
import { pendingOutcome } from './fhir.js';
import { mapFromCache, remapStored } from './dry-run.js';

export interface ReprocessDeps {
  readonly store: InboundLog & ReprocessLog & ResourceCache;
  readonly mappings: { readonly current: MappingTables };
  readonly clock: () => Date;
  readonly defaultFacilityId?: string;
  readonly fhirFetcher?: FhirFetcher;
  /** Mapping workers (map-pool.ts), when the service runs them. */
  readonly mapPool?: Hl7MapWorkers;
  /** What names the tables in force in a run (their generation). */
  readonly tablesLabel?: () => string;
}

/** Units of a run mapped at a time, and the work one database transaction of a run may hold (messages arriving wait for it). */
const BATCH_UNITS = 32;
const BATCH_BUDGET_MS = 50;

/** A unit's messages grow into encounters outside it at most this many times (a message re-mapped to another encounter). */
const MAX_GROWTH = 8;

/** Maps a stored message again (undefined: its text was purged, and the outcome kept at the purge stands for it). */
export async function remapMessage(deps: ReprocessDeps, m: UnitMessage): Promise<MapOutcome | undefined> {
  if (m.rawPurged) return undefined;
  // mapped as on arrival: in a mapping worker when the service has them; a text that crashes or
  // hangs the mapping fails alone, as INTERNAL_ERROR, and the run goes on
  if (m.channel === 'hl7v2') return (await mapText(deps, m.raw)).outcome;
  const opts = deps.defaultFacilityId !== undefined ? { defaultFacilityId: deps.defaultFacilityId } : {};
  const stored = await remapStored(m, deps.mappings.current, deps.store, deps.defaultFacilityId);
  if (stored !== 'waiting') return stored;
  // an id-only notification whose focus could not be fetched: asked for once more
  const focus = (JSON.parse(m.raw) as { pendingFocus: string }).pendingFocus;
  const fetched = deps.fhirFetcher ? await deps.fhirFetcher.read(focus).catch(() => undefined) : undefined;
  // still not to be had: it waits as it did, with the reason it was given
  if (!fetched) return pendingOutcome(focus, m.problems);
  const outcome = await mapFromCache(fetched, deps.mappings.current, deps.store, opts);
  if (fetched.id !== undefined)
    await deps.store.saveResources([{ key: `${fetched.resourceType}/${fetched.id}`, version: '', body: JSON.stringify(fetched) }], m.id, deps.clock());
  return outcome;
}

/** The encounters and messages a unit key (`e:<encounter key>` or `m:<message id>`) names. */
function unitOf(unitKey: string): { encounterKeys: string[]; messageIds: number[] } {
  return {
    encounterKeys: unitKey.startsWith('e:') ? [unitKey.slice(2)] : [],
    messageIds: unitKey.startsWith('m:') ? [Number(unitKey.slice(2))] : [],
  };
}

/** Maps again every message of a unit not mapped yet (`remapped` grows), all at once: the mapping workers take them side by side. */
async function remapUnit(
  deps: ReprocessDeps,
  unit: { encounterKeys: readonly string[]; messageIds: readonly number[] },
  remapped: Map<number, MapOutcome>,
): Promise<void> {
  const todo = (await deps.store.unitMessages(unit.encounterKeys, unit.messageIds)).filter(
    (m) => !remapped.has(m.id) && m.status !== 'duplicate' && m.status !== 'rejected',
  );
  const outcomes = await Promise.all(todo.map((m) => remapMessage(deps, m)));
  todo.forEach((m, i) => {
    const o = outcomes[i];
    if (o) remapped.set(m.id, o);
  });
}

type UnitOptions = { apply: boolean; who: string; why: string; runId?: number; keepSent?: boolean };

function rederiveOptions(deps: ReprocessDeps, unitKey: string, opts: UnitOptions): RederiveOptions {
  return {
    apply: opts.apply,
    at: deps.clock(),
    who: opts.who,
    why: opts.why,
    ...(opts.keepSent === true ? { keepSent: true } : {}),
    ...(opts.runId !== undefined ? { run: { id: opts.runId, unit: unitKey } } : {}),
  };
}

/** Re-derives one unit (`e:<encounter key>` or `m:<message id>`), growing it when a re-mapped message moved into another encounter. */
export async function reprocessUnit(deps: ReprocessDeps, unitKey: string, opts: UnitOptions & { messageIds?: readonly number[] }): Promise<UnitResult> {
  let { encounterKeys } = unitOf(unitKey);
  const messageIds = [...unitOf(unitKey).messageIds, ...(opts.messageIds ?? [])];
  const remapped = new Map<number, MapOutcome>();
  for (let round = 0; ; round++) {
    await remapUnit(deps, { encounterKeys, messageIds }, remapped);
    const r = await deps.store.rederive({ encounterKeys, messageIds }, remapped, rederiveOptions(deps, unitKey, opts));
    if (r.kind !== 'grow') return r;
    if (round >= MAX_GROWTH) {
      const skipped = { kind: 'skipped' as const, reason: `its messages reach more than ${MAX_GROWTH} rounds of other encounters` };
      return skipped;
    }
    encounterKeys = [...r.encounterKeys];
  }
}

export interface ReprocessProgress {
  readonly runId: number;
  readonly done: number;
  readonly total: number;
}

/** Starts a run over a selection (units counted now); `runReprocess` then works through it. */
export async function startReprocess(deps: ReprocessDeps, selection: ReprocessSelection, opts: { apply: boolean; who: string }): Promise<ReprocessRun> {
  const units = await deps.store.reprocessUnits(selection);
  const id = await deps.store.createReprocessRun(
    { who: opts.who, apply: opts.apply, selection, total: units.length, tables: deps.tablesLabel?.() ?? deps.mappings.current.dir },
    deps.clock(),
  );
  const run = await deps.store.reprocessRun(id);
  if (!run) throw new Error(`reprocessing run ${id} was not stored`);
  return run;
}

/**
 * Works through a run from its cursor (a new run from the start, a run a crash stopped from the
 * unit after the last one it finished) and marks it done. Units are taken again from the
 * selection: re-deriving a unit twice changes nothing, so one taken twice costs only time.
 */
export async function runReprocess(
  deps: ReprocessDeps,
  runId: number,
  onProgress?: (p: ReprocessProgress) => void,
  shouldStop?: () => boolean,
): Promise<ReprocessRun> {
  const run = await deps.store.reprocessRun(runId);
  if (!run) throw new Error(`no reprocessing run ${runId}`);
  if (run.status === 'done') return run;
  try {
    // a run that failed (the database went away, say) goes on from its cursor like one a crash stopped
    if (run.status === 'failed') await deps.store.finishReprocessRun(runId, 'running', deps.clock());
    const units = (await deps.store.reprocessUnits(run.selection)).filter((u) => u > run.cursor);
    let done = run.done;
    const total = Math.max(run.total, done + units.length);
    const opts: UnitOptions = {
      apply: run.apply,
      who: run.who,
      why: `reprocessing run ${runId}`,
      runId,
      ...(run.selection.keepSent === true ? { keepSent: true } : {}),
    };
    // units mapped a batch at a time, then re-derived in order in as few database transactions as
    // the time budget allows (each commits its units' progress with them: the cursor never passes
    // a unit not written)
    let ready: { key: string; remapped: Map<number, MapOutcome> }[] = [];
    for (let next = 0; next < units.length || ready.length > 0;) {
      // stopped (a shutdown): the run stays running, and goes on from its cursor at the next start
      if (shouldStop?.() === true) return (await deps.store.reprocessRun(runId)) ?? run;
      const taken = units.slice(next, next + Math.max(0, BATCH_UNITS - ready.length));
      next += taken.length;
      const mapped = await Promise.all(
        taken.map(async (key) => {
          const remapped = new Map<number, MapOutcome>();
          await remapUnit(deps, unitOf(key), remapped);
          return { key, remapped };
        }),
      );
      ready = [...ready, ...mapped];
      const results = await deps.store.rederiveBatch(
        ready.map((u) => ({ unit: unitOf(u.key), remapped: u.remapped, opts: rederiveOptions(deps, u.key, opts) })),
        BATCH_BUDGET_MS,
      );
      const last = results[results.length - 1];
      // a unit that grows into other encounters goes round on its own (nothing of it was written)
      if (last?.kind === 'grow') await reprocessUnit(deps, ready[results.length - 1]!.key, opts);
      ready = ready.slice(results.length);
      done += results.length;
      onProgress?.({ runId, done, total });
    }
    await deps.store.finishReprocessRun(runId, 'done', deps.clock());
  } catch (e) {
    // stopping (the store closing under a shutdown): left running, it goes on at the next start
    if (shouldStop?.() === true) throw e;
    await deps.store.finishReprocessRun(runId, 'failed', deps.clock(), e instanceof Error ? e.message : String(e)).catch(() => undefined);
    throw e;
  }
  return (await deps.store.reprocessRun(runId)) ?? run;
}
