// What the store's property tests share: arrivals in an order drawn from fast-check's dice, and a
// submission round in which NRDR loads every ready record.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Transaction } from '../src/cdsr/schema.js';
import { loadMappings } from '../src/mapping/load.js';
import { mapHl7Text } from '../src/mapping/map-hl7.js';
import type { PartialRecord } from '../src/mapping/record.js';
import { REPO_ROOT } from './helpers.js';
import type { OutboundLedger, OutboundStatus, RecordStore, RecordVerdict, WireConsultation } from '../src/store/store.js';
import { transactionFor } from './helpers.js';

/** The list shuffled in place by the dice (Fisher–Yates), and returned. */
export function shuffle<T>(list: T[], dice: Iterator<number>): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = (dice.next().value as number) % (i + 1);
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

/** Each spec's events as arrivals (the spec, the event, its place among the spec's events), in an order the dice shuffle. */
export function arrivals<S extends { readonly events: readonly unknown[] }>(
  specs: readonly S[],
  dice: Iterator<number>,
): { o: S; e: S['events'][number]; k: number }[] {
  return shuffle(
    specs.flatMap((o) => o.events.map((e, k) => ({ o, e, k }))),
    dice,
  );
}

/** The record of the shipped sample order (01-orm-new.hl7): fields complete, so that an order alone is ready to send. */
export function sampleOrder(): PartialRecord {
  const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
  const m = mapHl7Text(readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8'), tables);
  const r = m.disposition === 'mapped' ? m.records[0] : undefined;
  if (!r) throw new Error('the sample order does not map');
  return r;
}

const TX: Omit<Transaction, 'Transaction_ID' | 'Encounters'> = {
  Transaction_DateTime: '11/23/2026 06:00:00',
  Num_of_Encounters_Included: 1,
  Facility_ID: '100000',
  PartnerID: '10000',
  AppID: '10019',
  CDSR_File_Version_Num: '1.0',
};

/** Every ready record to NRDR in one transaction, which NRDR loads whole; returns what was sent (none: nothing was ready). */
export async function acceptEveryReady(store: RecordStore & OutboundLedger, transactionId: string, at: Date): Promise<WireConsultation[]> {
  const ready = await store.wireEncounters('ready', 1000);
  if (ready.length === 0) return [];
  if (!(await store.createTransaction({ ...TX, Transaction_ID: transactionId, Encounters: ready.map((r) => r.wire) }, ready, at)).created) return [];
  await store.recordResults(
    transactionId,
    ready.map((r) => ({ ...r, result: 'accepted' as const, problems: [] })),
    at,
  );
  return ready;
}

/**
 * Every ready record to NRDR in one transaction `id`, posted, then ended `end`, each record given
 * the next of `verdicts` in turn; false when nothing was ready (or the transaction was not created).
 */
export async function settleEveryReady(
  store: RecordStore & OutboundLedger,
  id: string,
  verdicts: readonly RecordVerdict[],
  end: OutboundStatus,
  at: Date,
): Promise<boolean> {
  const ready = await store.wireEncounters('ready', 1000);
  if (ready.length === 0) return false;
  const tx = transactionFor(
    id,
    ready.map((r) => r.wire),
  );
  if (!(await store.createTransaction(tx, ready, at)).created) return false;
  await store.updateTransaction(id, { status: 'sent', from: ['created'] }, at);
  await store.updateTransaction(id, { status: end, from: ['sent'] }, at);
  await store.recordResults(
    id,
    ready.map((r, k) => ({ ...r, result: verdicts[k % verdicts.length]!, problems: [] })),
    at,
  );
  return true;
}
