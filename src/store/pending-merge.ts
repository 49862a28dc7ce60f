// The merge state of messages that are stored and answered but whose derived rows (encounters,
// order index, orphans) are not written yet (SQLite writes them after the answer, a batch at a
// time: sql-store.ts). The next message's decision (merged, or refused as a collision) needs that
// state: a preload lays it over the rows it reads (merge-rows.ts `MergeOverlay`). Each value is the
// latest a pending message left, whole: an encounter as merged, an order index entry, the list of
// orphans waiting under a key as the tables will hold it once the pending messages are written.
import { orderKeysOf, orphanId, type EncounterState, type OrderRef, type OrphanEntry } from '../mapping/merge.js';
import type { MergeOverlay, Preload } from './merge-rows.js';

export class PendingMerge implements MergeOverlay {
  private readonly encounters = new Map<string, EncounterState>();
  readonly orders = new Map<string, OrderRef>();
  private readonly byEncounter = new Map<string, Set<string>>();
  private readonly waiting = new Map<string, readonly OrphanEntry[]>();
  /** The message that last set each value (`e|`, `o|`, `w|` and the key): written with it, the value is the table's. */
  private readonly setBy = new Map<string, number>();

  encounter(key: string): EncounterState | undefined {
    const enc = this.encounters.get(key);
    // a copy: the merge changes the encounter it is given, and a refused message's changes are dropped
    return enc ? structuredClone(enc) : undefined;
  }

  ordersOf(encounterKey: string): readonly string[] {
    return [...(this.byEncounter.get(encounterKey) ?? [])];
  }

  orphans(key: string): readonly OrphanEntry[] | undefined {
    return this.waiting.get(key);
  }

  /**
   * Takes what a merged message changed over its preload (as `writeMerge` would write it). False,
   * and nothing taken, when the orphans of a key it changes were not read (an adopted orphan's
   * other numbers past the preload's depth): the caller writes the pending messages out instead.
   */
  add(preload: Preload, messageId: number): boolean {
    const repo = preload.repo;
    const gone = new Set(repo.removed.map(orphanId));
    const touched = new Set([...repo.taken, ...repo.added.keys(), ...repo.removed.flatMap((e) => orderKeysOf(e.record))]);
    const lists = new Map<string, OrphanEntry[]>();
    for (const key of touched) {
      const before = preload.readOrphans.get(key);
      if (!before) return false;
      // the order of writeMerge: a taken key's rows deleted, then each adopted orphan's rows under
      // its numbers, then the new orphans inserted; read back by seq
      let list = repo.taken.has(key) ? [] : [...before];
      for (const e of repo.removed) {
        if (orderKeysOf(e.record).includes(key)) list = list.filter((o) => !(o.seq === e.seq && o.record.source.id === e.record.source.id));
      }
      for (const e of repo.added.get(key) ?? []) if (!gone.has(orphanId(e))) list.push(e);
      lists.set(
        key,
        list.sort((a, b) => a.seq - b.seq),
      );
    }
    for (const [key, enc] of repo.dirty) {
      this.encounters.set(key, enc);
      this.setBy.set(`e|${key}`, messageId);
    }
    for (const [key, ref] of repo.savedOrders) {
      this.dropOrder(key);
      this.orders.set(key, ref);
      const set = this.byEncounter.get(ref.encounterKey) ?? new Set<string>();
      set.add(key);
      this.byEncounter.set(ref.encounterKey, set);
      this.setBy.set(`o|${key}`, messageId);
    }
    for (const [key, list] of lists) {
      this.waiting.set(key, list);
      this.setBy.set(`w|${key}`, messageId);
    }
    return true;
  }

  private dropOrder(key: string): void {
    const old = this.orders.get(key);
    if (old) this.byEncounter.get(old.encounterKey)?.delete(key);
    this.orders.delete(key);
  }

  /** Forgets what messages up to `messageId` set and no later one changed: their rows are written, the tables hold it. */
  written(messageId: number): void {
    for (const [k, by] of this.setBy) {
      if (by > messageId) continue;
      this.setBy.delete(k);
      const key = k.slice(2);
      if (k.startsWith('e|')) this.encounters.delete(key);
      else if (k.startsWith('o|')) this.dropOrder(key);
      else this.waiting.delete(key);
    }
  }

  clear(): void {
    this.encounters.clear();
    this.orders.clear();
    this.byEncounter.clear();
    this.waiting.clear();
    this.setBy.clear();
  }
}
