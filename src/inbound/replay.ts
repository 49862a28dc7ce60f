// Replaying stored messages through the tables in force (after an analyst fixed them, or once the
// FHIR server answers for a pending id-only notification): a replay is a reprocessing of the
// message's encounter, applied at once, so a replayed message takes its place in arrival order.
import { StoreNotFoundError, type MessageStatus } from '../store/store.js';
import { reprocessUnit, type ReprocessDeps } from './reprocess.js';

/** Replays one message (any status but duplicate or rejected); returns its status after. */
export async function replayOne(deps: ReprocessDeps, id: number, who = 'replay'): Promise<MessageStatus> {
  const [m] = await deps.store.unitMessages([], [id]);
  if (!m) throw new StoreNotFoundError(`no message ${id}`);
  if (m.status === 'duplicate' || m.status === 'rejected') return m.status;
  const unit = m.encounters[0] !== undefined ? `e:${m.encounters[0]}` : `m:${id}`;
  await reprocessUnit(deps, unit, { apply: true, who, why: `replay of message ${id}`, messageIds: [id] });
  const after = await deps.store.message(id);
  return after?.status ?? m.status;
}

export interface BulkReplayResult {
  readonly replayed: number;
  readonly byStatus: Record<string, number>;
}

/** Replays every message in `status` (in arrival order); `onProgress` after each. */
export async function replayAll(deps: ReprocessDeps, status: MessageStatus, onProgress?: (done: number) => void): Promise<BulkReplayResult> {
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
