// The merge of one message over the tables: read first what the pure merge (mapping/merge.ts) will
// ask for — the encounters, the order index entries of every number and every encounter touched,
// the orphans waiting under those numbers — run it in memory, then write back what it changed.
// Reading first keeps the merge itself synchronous and the same on both dialects.
import { encounterKey, orderKeysOf, orphanId, type EncounterState, type MergeRepository, type OrderRef, type OrphanEntry } from '../mapping/merge.js';
import type { PartialRecord } from '../mapping/record.js';
import { PartialRecordSchema, row } from './rows.js';
import { storedFrom, storedReads, type StoredEncounter } from './encounter-rows.js';
import { byCount, chunks, later, marks, readAll, tuples, type Queryable, type Read, type Row } from './sql.js';

/**
 * The merge state of messages decided but not yet written (pending-merge.ts), laid over the rows a
 * preload reads: what it holds of a key is newer than the row.
 */
export interface MergeOverlay {
  /** The encounter as merged, a copy the merge may change; undefined: no pending message changed it. */
  encounter(key: string): EncounterState | undefined;
  /** The order index entries pending messages wrote, by key. */
  readonly orders: ReadonlyMap<string, OrderRef>;
  /** The order keys pending messages pointed at an encounter. */
  ordersOf(encounterKey: string): readonly string[];
  /** The orphans waiting under a key after the pending messages; undefined: as stored. */
  orphans(key: string): readonly OrphanEntry[] | undefined;
}

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

const INDEX_BY_ENCOUNTER = byCount((n) => `SELECT encounter_key, order_key, consultation_key FROM order_index WHERE encounter_key IN (${marks(n)})`);
const INDEX_BY_KEY = byCount((n) => `SELECT order_key, encounter_key, consultation_key FROM order_index WHERE order_key IN (${marks(n)})`);
const ORPHANS_BY_KEY = byCount((n) => `SELECT order_key, seq, record FROM orphans WHERE order_key IN (${marks(n)}) ORDER BY order_key, seq`);
const UPSERT_INDEX = byCount(
  (n) => `INSERT INTO order_index (order_key, encounter_key, consultation_key) VALUES ${tuples(n, 3)}
       ON CONFLICT (order_key) DO UPDATE SET encounter_key = excluded.encounter_key, consultation_key = excluded.consultation_key`,
);

/**
 * What merging `records` needs, read in rounds: the encounters of the records (with their
 * consultations as stored, for the write that follows the merge) and their order index entries,
 * the entries of every number the records carry and the orphans waiting under them; then the same
 * for the orphans they may adopt (a chain of two at most in practice). Each round's statements
 * are known before it is sent (`next`), so the first goes with whatever else a message reads
 * first, in one round trip; a round costs the same few statements however many numbers it has.
 */
export class Preload {
  readonly repo = new PreloadedRepository();
  /** Each encounter read as stored: what its write compares with. */
  readonly stored = new Map<string, StoredEncounter>();
  private frontier: readonly PartialRecord[];
  private depth = 0;
  private readonly seenKeys = new Set<string>();
  private round?: { readonly encounters: string[]; readonly keys: string[] };
  /** Something read was replaced by the overlay's (a pending message had changed it). */
  overlaid = false;
  /** The orphans each order key had when it was read (stored rows, or the overlay's), before the merge. */
  readonly readOrphans = new Map<string, readonly OrphanEntry[]>();

  constructor(
    records: readonly PartialRecord[],
    private readonly overlay?: MergeOverlay,
  ) {
    this.frontier = records;
  }

  /** The statements of the next round; none when the merge has all it needs. */
  next(): Read[] {
    if (this.round) throw new Error('a preload round is asked for before the previous one was read');
    if (this.depth >= 3 || this.frontier.length === 0) return [];
    const encounters: string[] = [];
    const keys: string[] = [];
    for (const record of this.frontier) {
      const eKey = encounterKey(record.facilityId, record.encounterId);
      if (!this.repo.encounters.has(eKey) && !encounters.includes(eKey)) encounters.push(eKey);
      for (const k of orderKeysOf(record)) {
        if (this.seenKeys.has(k)) continue;
        this.seenKeys.add(k);
        keys.push(k);
      }
    }
    // nothing new to read: the round would find nothing the merge lacks
    if (encounters.length === 0 && keys.length === 0) return [];
    this.round = { encounters, keys };
    return [
      ...chunks(encounters).flatMap((part) => [...storedReads(part), { sql: INDEX_BY_ENCOUNTER(part.length), params: part }]),
      ...chunks(keys).flatMap((part) => [
        { sql: INDEX_BY_KEY(part.length), params: part },
        { sql: ORPHANS_BY_KEY(part.length), params: part },
      ]),
    ];
  }

  /** The rows of the statements `next` gave, in their order. */
  take(rows: readonly (readonly Row[])[]): void {
    const round = this.round;
    if (!round) throw new Error('preload rows given for no round');
    this.round = undefined;
    let at = 0;
    for (const part of chunks(round.encounters)) {
      for (const [key, s] of storedFrom(part, rows.slice(at, at + 2))) {
        this.stored.set(key, s);
        this.repo.encounters.set(key, s.enc);
      }
      for (const r of rows[at + 2] ?? []) {
        const o = row('order_index', r);
        this.repo.orders.set(o.text('order_key'), { encounterKey: o.text('encounter_key'), consultationKey: o.text('consultation_key') });
      }
      at += 3;
    }
    const overlay = this.overlay;
    if (overlay) {
      // what pending messages merged is newer than the rows: their encounters, their order index
      // entries (by key, and those now pointing at an encounter read), their orphans
      for (const key of round.encounters) {
        const enc = overlay.encounter(key);
        if (enc) {
          this.repo.encounters.set(key, enc);
          this.overlaid = true;
        }
        for (const k of overlay.ordersOf(key)) {
          this.repo.orders.set(k, overlay.orders.get(k)!);
          this.overlaid = true;
        }
      }
    }
    const waiting = new Map<string, OrphanEntry[]>(round.keys.map((k) => [k, []]));
    for (let part = chunks(round.keys).length; part > 0; part--) {
      for (const o of rows[at] ?? []) {
        const r = row('order_index', o);
        this.repo.orders.set(r.text('order_key'), { encounterKey: r.text('encounter_key'), consultationKey: r.text('consultation_key') });
      }
      for (const w of rows[at + 1] ?? []) {
        const r = row('orphans', w);
        const rec = r.json<PartialRecord | null>('record', PartialRecordSchema, null);
        if (rec) waiting.get(r.text('order_key'))?.push({ seq: r.int('seq'), record: rec });
      }
      at += 2;
    }
    if (at !== rows.length) throw new Error(`a preload round of ${at} statements was given ${rows.length} results`);
    if (overlay) {
      for (const k of [...this.repo.orders.keys(), ...round.keys]) {
        const ref = overlay.orders.get(k);
        if (ref) {
          this.repo.orders.set(k, ref);
          this.overlaid = true;
        }
      }
      for (const k of round.keys) {
        const list = overlay.orphans(k);
        if (list) {
          waiting.set(k, [...list]);
          this.overlaid = true;
        }
      }
    }
    const next: PartialRecord[] = [];
    for (const k of round.keys) {
      const list = waiting.get(k) ?? [];
      this.readOrphans.set(k, [...list]);
      this.repo.waiting.set(k, list);
      next.push(...list.map((w) => w.record));
    }
    this.frontier = next;
    this.depth++;
  }

  /** Reads round after round, one round trip each, until the merge has all it needs. */
  async readRest(q: Queryable): Promise<void> {
    for (let more = this.next(); more.length > 0; more = this.next()) this.take(await readAll(q, more));
  }
}

/** Order index entries (order key → its consultation), many to a statement; an entry of the same key is replaced. */
export async function upsertOrderIndex(q: Queryable, entries: readonly (readonly [string, OrderRef])[]): Promise<void> {
  for (const part of chunks(entries)) {
    await later(
      q,
      UPSERT_INDEX(part.length),
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
