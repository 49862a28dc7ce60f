// Replaying stored messages through the tables in force (after an analyst fixed them, or once
// the FHIR server answers for a pending id-only notification).
import { ResourcePool, type FhirResource } from '../fhir/intake.js';
import { resolveReferences } from '../fhir/resolve.js';
import { mapFhirResource } from '../mapping/map-fhir.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { StoreNotFoundError, type MessageStatus } from '../store/store.js';
import type { IngestDeps } from './context.js';
import { mapText } from './hl7.js';

export async function replayOne(deps: IngestDeps, id: number): Promise<MessageStatus> {
  const m = await deps.store.message(id);
  if (!m) throw new StoreNotFoundError(`no message ${id}`);
  if (m.channel === 'hl7v2') {
    // a large text is mapped in a worker, as on arrival (the event loop stays free during a bulk replay)
    const early = deps.mapPool && m.raw.length >= deps.mapPool.minBytes ? (await mapText(deps, m.raw)).outcome : undefined;
    return deps.store.replay(id, (row) => (early && row.raw === m.raw ? early : mapHl7Text(row.raw, deps.mappings.current, deps)));
  }
  const parsed = JSON.parse(m.raw) as FhirResource & { pendingFocus?: string };
  let resource: FhirResource = parsed;
  if (typeof parsed.pendingFocus === 'string') {
    if (!deps.fhirFetcher) return m.status;
    const fetched = await deps.fhirFetcher.read(parsed.pendingFocus).catch(() => undefined);
    if (!fetched) return m.status;
    resource = fetched;
  }
  const pool = await resolveReferences([resource], new ResourcePool(), (key) => deps.store.resource(key), deps.fhirFetcher);
  pool.add(resource);
  const status = await deps.store.replay(id, () => mapFhirResource(resource, pool, deps.mappings.current, deps));
  if (resource.id !== undefined) {
    await deps.store.saveResources([{ key: `${resource.resourceType}/${resource.id}`, version: '', body: JSON.stringify(resource) }], id);
  }
  return status;
}

export interface BulkReplayResult {
  readonly replayed: number;
  readonly byStatus: Record<string, number>;
}

/** Replays every message in `status` (in arrival order); `onProgress` after each. */
export async function replayAll(deps: IngestDeps, status: MessageStatus, onProgress?: (done: number) => void): Promise<BulkReplayResult> {
  const byStatus: Record<string, number> = {};
  let replayed = 0;
  let after = 0;
  for (;;) {
    const page = await deps.store.messages({ status, limit: 200, afterId: after });
    if (page.length === 0) break;
    for (const m of page) {
      const s = await replayOne(deps, m.id);
      byStatus[s] = (byStatus[s] ?? 0) + 1;
      replayed++;
      after = m.id;
      onProgress?.(replayed);
    }
  }
  return { replayed, byStatus };
}
