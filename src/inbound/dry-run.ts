// The dry run: the error queue mapped again through a set of tables (those on disk, before they
// are in force) without storing anything — how many messages would resolve, and what would still
// wait in the worklist.
import { ResourcePool, type FhirResource } from '../fhir/intake.js';
import { resolveReferences } from '../fhir/resolve.js';
import type { MappingTables } from '../mapping/load.js';
import { mapFhirResource } from '../mapping/map-fhir.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { Problem } from '../cdsr/problem.js';
import { ProblemsSchema } from '../store/rows.js';
import { StoreUnavailableError, type InboundLog, type QueuedMessage, type ResourceCache } from '../store/store.js';
import type { Hl7MapWorkers } from './context.js';
import { failedInWorker, mapForIngest } from './hl7-map.js';
import { MapWorkerError } from './map-pool.js';
import { errorQueue, WorklistGroups, type Worklist } from './worklist.js';

export interface DryRunResult {
  /** Messages in the error queue when the dry run read it. */
  readonly messages: number;
  /** Of those, messages the tables map: a replay would take them out of the error queue (unless the merge refuses their order). */
  readonly wouldResolve: number;
  /** Messages that would stay in the error queue, with the worklist they would leave. */
  readonly stillError: number;
  /** FHIR notifications that still wait for their resource to be fetched (a replay asks the FHIR server). */
  readonly waitingForFetch: number;
  readonly remaining: Worklist;
}

/** Maps one stored message without storing it (FHIR references from the store's cache only). */
export async function remapStored(
  m: { channel: string; raw: string },
  tables: MappingTables,
  store: ResourceCache,
  defaultFacilityId?: string,
): Promise<MapOutcome | 'waiting'> {
  const opts = defaultFacilityId !== undefined ? { defaultFacilityId } : {};
  if (m.channel === 'hl7v2') return mapHl7Text(m.raw, tables, opts);
  let resource: FhirResource & { pendingFocus?: unknown };
  try {
    resource = JSON.parse(m.raw) as FhirResource & { pendingFocus?: unknown };
  } catch {
    return {
      disposition: 'invalid',
      problems: [{ code: 'FHIR_INVALID', message: 'the stored resource is not JSON', severity: 'error', scope: 'file', path: '' }],
    };
  }
  if (typeof resource.pendingFocus === 'string') return 'waiting';
  return mapFromCache(resource, tables, store, opts);
}

/** Maps a FHIR resource with its references read from the store's cache only (a bulk run never waits on the FHIR server). */
export async function mapFromCache(
  resource: FhirResource,
  tables: MappingTables,
  store: ResourceCache,
  opts: { defaultFacilityId?: string },
): Promise<MapOutcome> {
  const pool = await resolveReferences([resource], new ResourcePool(), (key) => store.resource(key));
  pool.add(resource);
  return mapFhirResource(resource, pool, tables, opts);
}

/** Messages mapped at a time: the next page is read from the store while the workers map this one. */
const WINDOW = 1000;
/** A job of the mapping workers holds at most this many texts, or this many characters (past its first text). */
const BATCH = 50;
const BATCH_CHARS = 256 * 1024;

/** The texts of `items` in jobs of at most BATCH texts and about BATCH_CHARS characters. */
function batches<T extends { raw: string }>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let chars = 0;
  for (const m of items) {
    if (cur.length > 0 && (cur.length === BATCH || chars + m.raw.length > BATCH_CHARS)) {
      out.push(cur);
      cur = [];
      chars = 0;
    }
    cur.push(m);
    chars += m.raw.length;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * Maps the error queue again through `tables` (those on disk) and says what would resolve. With
 * mapping workers, HL7 texts are mapped in them (each worker reads the tables on disk once for the
 * run), a window of messages at a time while the next is read, in jobs of up to BATCH texts that
 * answer only whether each maps and its problems; FHIR resources, which read the store's cache,
 * are mapped here. The queue is read a window at a time (`window` messages, with
 * their texts) and what stays is grouped as mapped: no more than two windows are held at once,
 * however long the queue.
 */
export async function dryRunErrorQueue(
  store: Pick<InboundLog, 'queuePage'> & ResourceCache,
  tables: MappingTables,
  defaultFacilityId?: string,
  workers?: Hl7MapWorkers,
  window = WINDOW,
): Promise<DryRunResult> {
  let messages = 0;
  let wouldResolve = 0;
  let waitingForFetch = 0;
  const still = new WorklistGroups(tables.dir);
  const snapshot = workers?.diskSnapshot?.();
  const opts = defaultFacilityId !== undefined ? { defaultFacilityId } : {};
  const remap = async (m: QueuedMessage & { raw: string }): Promise<MapOutcome | 'waiting'> => {
    if (m.channel === 'hl7v2' && workers && snapshot !== undefined) {
      try {
        const mapped = await workers.map(m.raw, snapshot);
        if (mapped) return mapped.outcome;
      } catch (e) {
        // the text killed or hung its worker: it would stay in the error queue, with that failure
        if (e instanceof MapWorkerError) return failedInWorker(m.raw, e).outcome;
        // the workers are closing (shutdown): mapped here
        if (!(e instanceof StoreUnavailableError)) throw e;
      }
      return mapForIngest(m.raw, tables, opts).outcome;
    }
    return remapStored(m, tables, store, defaultFacilityId);
  };
  /**
   * HL7 texts in jobs of many texts each (one message to a worker and one back for all of them,
   * with only whether each maps and its problems): per message, what `remap` would say of it, or
   * undefined for those it must map after all (not HL7, no workers, or a job that failed: each of
   * its texts is then sent again alone, so that only the one at fault fails).
   */
  const inBatches = async (window: readonly (QueuedMessage & { raw: string })[]): Promise<(readonly Problem[] | null | undefined)[]> => {
    // null: it maps; its problems: it stays
    const out: (readonly Problem[] | null | undefined)[] = window.map(() => undefined);
    const mapBatch = workers?.mapBatch?.bind(workers);
    if (!mapBatch || snapshot === undefined) return out;
    const at = new Map(window.map((m, i) => [m, i]));
    // the same problems text, read once a window (the worklist groups each array once)
    const read = new Map<string, readonly Problem[]>();
    const hl7 = window.filter((m) => m.channel === 'hl7v2');
    await Promise.all(
      batches(hl7).map(async (b) => {
        let results: (string | null)[] | undefined;
        try {
          results = await mapBatch(
            b.map((m) => m.raw),
            snapshot,
          );
        } catch (e) {
          if (e instanceof MapWorkerError || e instanceof StoreUnavailableError) return;
          throw e;
        }
        if (results?.length !== b.length) return;
        b.forEach((m, i) => {
          const text = results[i]!;
          let problems: readonly Problem[] | null = null;
          if (text !== null) {
            problems = read.get(text) ?? ProblemsSchema.parse(JSON.parse(text));
            read.set(text, problems);
          }
          out[at.get(m)!] = problems;
        });
      }),
    );
    return out;
  };
  const tally = async (batch: readonly (QueuedMessage & { raw: string })[]): Promise<void> => {
    const batched = await inBatches(batch);
    const outcomes = await Promise.all(batch.map((m, i) => (batched[i] === undefined ? remap(m) : Promise.resolve(undefined))));
    batch.forEach((m, i) => {
      const done = batched[i];
      if (done === null) wouldResolve++;
      else if (done !== undefined) still.add({ id: m.id, receivedAt: m.receivedAt, problems: done });
      const outcome = outcomes[i];
      if (outcome === undefined) return;
      if (outcome === 'waiting') {
        waitingForFetch++;
        still.add({ id: m.id, receivedAt: m.receivedAt, problems: m.problems });
      } else if (outcome.disposition === 'mapped') wouldResolve++;
      else still.add({ id: m.id, receivedAt: m.receivedAt, problems: outcome.problems });
    });
  };
  let batch: (QueuedMessage & { raw: string })[] = [];
  let mapping: Promise<void> = Promise.resolve();
  // pages of one window: the texts read are those of the window being mapped and of the next
  for await (const m of errorQueue(store, true, window)) {
    messages++;
    batch.push({ ...m, raw: m.raw ?? '' });
    if (batch.length < window) continue;
    await mapping;
    mapping = tally(batch);
    batch = [];
  }
  await mapping;
  await tally(batch);
  // each message that stays is added once: the groups count them
  const remaining = still.result();
  return { messages, wouldResolve, stillError: remaining.messages, waitingForFetch, remaining };
}
