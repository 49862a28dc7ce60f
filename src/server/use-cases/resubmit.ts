// Resubmission after a fix at ACR: an encounter's rejected records back to ready. Called by the
// API (POST /api/records/{f}/{e}/resubmit, POST /api/resubmit) and the console's record page.
import { encounterKey } from '../../mapping/merge.js';
import type { ResubmittedRecord } from '../../store/store.js';
import type { AppOptions } from '../deps.js';

/** The why kept in the record history: `resubmit`, or `resubmit: <reason>` (200 characters at most). */
export const reasonOf = (r: string | undefined) => (r === undefined || r.trim() === '' ? 'resubmit' : `resubmit: ${r.trim().slice(0, 200)}`);

/**
 * An encounter's rejected records back to ready, kept in the record history and the access audit
 * (the API and the console's record page both call this); undefined when there is no such encounter.
 */
export async function resubmitEncounter(
  deps: Pick<AppOptions, 'store' | 'clock'>,
  facilityId: string,
  encounterId: string,
  who: string,
  reason: string | undefined,
): Promise<ResubmittedRecord[] | undefined> {
  const key = encounterKey(facilityId, encounterId);
  if (!(await deps.store.record(key))) return undefined;
  const at = deps.clock();
  const records = await deps.store.resubmit({ encounterKey: key }, { who, at, why: reasonOf(reason) });
  await deps.store.audit({ at, who, what: `resubmit record ${key}: ${records.length} consultation(s)` });
  return records;
}
