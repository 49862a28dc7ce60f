// Reprocessing (Mirth's "reprocess", with a preview): the messages an analyst selects are mapped
// again through the tables in force, and every encounter they touch is re-derived from all of its
// messages in arrival order. A dry run (the default) records what would change; an applied run
// writes it, one encounter per database transaction, and resumes after a crash from its cursor.
import type { MapOutcome } from '../mapping/outcome.js';
import type { MappingTables } from '../mapping/load.js';
import type { InboundLog, ReprocessLog, ReprocessRun, ReprocessSelection, ResourceCache, UnitMessage, UnitResult } from '../store/store.js';
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

/** Re-derives one unit (`e:<encounter key>` or `m:<message id>`), growing it when a re-mapped message moved into another encounter. */
export async function reprocessUnit(
  deps: ReprocessDeps,
  unitKey: string,
  opts: { apply: boolean; who: string; why: string; runId?: number; messageIds?: readonly number[]; keepSent?: boolean },
): Promise<UnitResult> {
  let encounterKeys = unitKey.startsWith('e:') ? [unitKey.slice(2)] : [];
  const messageIds = [...(unitKey.startsWith('m:') ? [Number(unitKey.slice(2))] : []), ...(opts.messageIds ?? [])];
  const remapped = new Map<number, MapOutcome>();
  for (let round = 0; ; round++) {
    for (const m of await deps.store.unitMessages(encounterKeys, messageIds)) {
      if (remapped.has(m.id) || m.status === 'duplicate' || m.status === 'rejected') continue;
      const outcome = await remapMessage(deps, m);
      if (outcome) remapped.set(m.id, outcome);
    }
    const r = await deps.store.rederive({ encounterKeys, messageIds }, remapped, {
      apply: opts.apply,
      at: deps.clock(),
      who: opts.who,
      why: opts.why,
      ...(opts.keepSent === true ? { keepSent: true } : {}),
      ...(opts.runId !== undefined ? { run: { id: opts.runId, unit: unitKey } } : {}),
    });
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
    for (const unit of units) {
      // stopped (a shutdown): the run stays running, and goes on from its cursor at the next start
      if (shouldStop?.() === true) return (await deps.store.reprocessRun(runId)) ?? run;
      await reprocessUnit(deps, unit, {
        apply: run.apply,
        who: run.who,
        why: `reprocessing run ${runId}`,
        runId,
        ...(run.selection.keepSent === true ? { keepSent: true } : {}),
      });
      done++;
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
