// The merge of one message over the tables: read first what the pure merge (mapping/merge.ts) will
// ask for — the encounters, the order index entries of every number and every encounter touched,
// the orphans waiting under those numbers — run it in memory, then write back what it changed.
// Reading first keeps the merge itself synchronous and the same on both dialects.
import { encounterKey, orderKeysOf, orphanId, type EncounterState, type MergeRepository, type OrderRef, type OrphanEntry } from '../mapping/merge.js';
import type { PartialRecord } from '../mapping/record.js';
import { PartialRecordSchema, row } from './rows.js';
import { chunks, later, marks, tuples, type Queryable } from './sql.js';

/** A merge repository over rows read beforehand; it records what the merge changes. */
export class PreloadedRepository implements MergeRepository {
  readonly encounters = new Map<string, EncounterState | undefined>();
  readonly orders = new Map<string, OrderRef>();
  readonly waiting = new Map<string, OrphanEntry[]>();
  readonly dirty = new Map<string, EncounterState>();
  readonly savedOrders = new Map<string, OrderRef>();
  readonly added = new Map<string, OrphanEntry[]>();
  readonly taken = new Set<string>();
  readonly removed: OrphanEntry[] = [];

  encounter(key: string): EncounterState | undefined {
    return this.encounters.get(key);
  }
  saveEncounter(key: string, enc: EncounterState): void {
    this.encounters.set(key, enc);
    this.dirty.set(key, enc);
  }
  order(key: string): OrderRef | undefined {
    return this.orders.get(key);
  }
  saveOrder(key: string, ref: OrderRef): void {
    this.orders.set(key, ref);
    this.savedOrders.set(key, ref);
  }
  ordersAt(eKey: string, cKey: string): readonly string[] {
    return [...this.orders].filter(([, r]) => r.encounterKey === eKey && r.consultationKey === cKey).map(([k]) => k);
  }
  orphans(key: string): readonly OrphanEntry[] {
    return [...(this.waiting.get(key) ?? []), ...(this.added.get(key) ?? [])];
  }
  addOrphan(key: string, entry: OrphanEntry): void {
    this.added.set(key, [...(this.added.get(key) ?? []), entry]);
  }
  takeOrphans(key: string): OrphanEntry[] {
    const list = this.orphans(key);
    this.waiting.delete(key);
    this.added.delete(key);
    // only a key with rows stored under it needs a DELETE (most numbers never had an orphan)
    if (list.length > 0) this.taken.add(key);
    return [...list];
  }
  removeOrphan(entry: OrphanEntry): void {
    const same = (o: OrphanEntry) => orphanId(o) === orphanId(entry);
    for (const map of [this.waiting, this.added]) {
      for (const [k, list] of map)
        map.set(
          k,
          list.filter((o) => !same(o)),
        );
    }
    this.removed.push(entry);
  }
}

/**
 * Reads what merging `records` needs. `loadEncounter` reads one encounter with its consultations.
 * The order numbers of a round are read together (one statement for their index entries, one for
 * their orphans), so a message costs the same few statements however many numbers it carries.
 */
export async function preload(
  q: Queryable,
  records: readonly PartialRecord[],
  loadEncounter: (key: string) => Promise<EncounterState | undefined>,
): Promise<PreloadedRepository> {
  const repo = new PreloadedRepository();
  const loadEnc = async (eKey: string) => {
    if (repo.encounters.has(eKey)) return;
    repo.encounters.set(eKey, await loadEncounter(eKey));
    for (const r of await q.all('SELECT order_key, consultation_key FROM order_index WHERE encounter_key = ?', [eKey])) {
      const o = row('order_index', r);
      repo.orders.set(o.text('order_key'), { encounterKey: eKey, consultationKey: o.text('consultation_key') });
    }
  };
  const seenKeys = new Set<string>();
  // the records' numbers, then those of the orphans they may adopt (a chain of two at most in practice)
  let frontier = [...records];
  for (let depth = 0; depth < 3 && frontier.length > 0; depth++) {
    const keys: string[] = [];
    for (const record of frontier) {
      await loadEnc(encounterKey(record.facilityId, record.encounterId));
      for (const k of orderKeysOf(record)) {
        if (seenKeys.has(k)) continue;
        seenKeys.add(k);
        keys.push(k);
      }
    }
    const next: PartialRecord[] = [];
    const waiting = new Map<string, OrphanEntry[]>(keys.map((k) => [k, []]));
    for (const part of chunks(keys)) {
      for (const o of await q.all(`SELECT order_key, encounter_key, consultation_key FROM order_index WHERE order_key IN (${marks(part.length)})`, part)) {
        const r = row('order_index', o);
        repo.orders.set(r.text('order_key'), { encounterKey: r.text('encounter_key'), consultationKey: r.text('consultation_key') });
      }
      for (const w of await q.all(`SELECT order_key, seq, record FROM orphans WHERE order_key IN (${marks(part.length)}) ORDER BY order_key, seq`, part)) {
        const r = row('orphans', w);
        const rec = r.json<PartialRecord | null>('record', PartialRecordSchema, null);
        if (rec) waiting.get(r.text('order_key'))?.push({ seq: r.int('seq'), record: rec });
      }
    }
    for (const k of keys) {
      const list = waiting.get(k) ?? [];
      repo.waiting.set(k, list);
      next.push(...list.map((w) => w.record));
    }
    frontier = next;
  }
  return repo;
}

/** Order index entries (order key → its consultation), many to a statement; an entry of the same key is replaced. */
export async function upsertOrderIndex(q: Queryable, entries: readonly (readonly [string, OrderRef])[]): Promise<void> {
  for (const part of chunks(entries)) {
    await later(
      q,
      `INSERT INTO order_index (order_key, encounter_key, consultation_key) VALUES ${tuples(part.length, 3)}
       ON CONFLICT (order_key) DO UPDATE SET encounter_key = excluded.encounter_key, consultation_key = excluded.consultation_key`,
      part.flatMap(([k, ref]) => [k, ref.encounterKey, ref.consultationKey]),
    );
  }
}

/** A record waiting for its order, under one of its order keys. */
export async function insertOrphan(q: Queryable, orderKey: string, e: OrphanEntry): Promise<void> {
  await later(q, 'INSERT INTO orphans (order_key, seq, source_id, source_time, record) VALUES (?, ?, ?, ?, ?)', [
    orderKey,
    e.seq,
    e.record.source.id,
    e.record.sourceTime,
    JSON.stringify(e.record),
  ]);
}

/** Writes back what the merge changed; `saveEncounter` writes one encounter with its consultations. */
export async function writeMerge(q: Queryable, repo: PreloadedRepository, saveEncounter: (key: string, enc: EncounterState) => Promise<void>): Promise<void> {
  // the index entries of all the message's numbers in one statement
  await upsertOrderIndex(q, [...repo.savedOrders]);
  for (const k of repo.taken) await later(q, 'DELETE FROM orphans WHERE order_key = ?', [k]);
  // an adopted orphan's rows are those of its message under its own numbers: another order of the
  // same message (an ORU naming two) waits on under its numbers
  for (const e of repo.removed) {
    const keys = orderKeysOf(e.record);
    if (keys.length === 0) continue;
    await later(q, `DELETE FROM orphans WHERE seq = ? AND source_id = ? AND order_key IN (${marks(keys.length)})`, [e.seq, e.record.source.id, ...keys]);
  }
  const gone = new Set(repo.removed.map(orphanId));
  for (const [k, list] of repo.added) {
    for (const e of list) {
      if (!gone.has(orphanId(e))) await insertOrphan(q, k, e);
    }
  }
  for (const [key, enc] of repo.dirty) await saveEncounter(key, enc);
}
