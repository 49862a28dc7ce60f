// The one batcher: consultations (each as its encounter with just that consultation on the wire)
// grouped into CDSR transactions — one facility (and PartnerID) per transaction, one wire encounter
// per encounter key with its consultations in time order, at most `maxEncounters` encounters each.
// `map` and the submitter both build what they show or send with it.
import { wallClockParts } from './formats.js';
import type { Encounter, Transaction } from './schema.js';

export interface BatchItem<R> {
  readonly facilityId: string;
  /** A PartnerID of the facility's own (facilities.csv); else the configured one. */
  readonly partnerId?: string;
  readonly encounterKey: string;
  /** The encounter with exactly this consultation. */
  readonly wire: Encounter;
  /** What the caller keeps per consultation (the submitter: keys and content hash). */
  readonly record: R;
}

export interface BatchOptions {
  readonly partnerId: string;
  readonly appId: string;
  readonly maxEncounters: number;
  /** Transaction_DateTime. */
  readonly now: Date;
  /** The IANA time zone a facility's Transaction_DateTime is written in (NRDR reads it as the site's local time). */
  readonly timeZoneOf?: (facilityId: string) => string;
  /** Transaction_ID for the n-th (0-based) transaction of a facility in this batch; at most 50 characters. */
  readonly transactionId: (facilityId: string, n: number) => string;
}

export interface Batch<R> {
  readonly body: Transaction;
  readonly records: R[];
}

/** `mm/dd/yyyy hh:mi:ss` (the spec's date form, 24-hour time) on the wall clock of `timeZone`. */
export function formatTransactionDateTime(d: Date, timeZone = 'UTC'): string {
  const p = wallClockParts(d, timeZone);
  return `${p.month}/${p.day}/${p.year} ${p.hour}:${p.minute}:${p.second}`;
}

/** Whether a name is an IANA time zone this runtime knows. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** mm/dd/yyyy hh:mi:ss as a key that sorts by year, month, day, time. */
export function consultationSortKey(date: string, time: string): string {
  const [m = '', d = '', y = ''] = date.split('/');
  return `${y.padStart(4, '0')}${m.padStart(2, '0')}${d.padStart(2, '0')} ${time}`;
}

const itemSortKey = (w: Encounter): string => {
  const c = w.Consultations[0];
  return c ? consultationSortKey(c.CDS_Consultation_Date, c.CDS_Consultation_Time) : '';
};

/** Transactions for the items, grouped per facility and PartnerID, encounters in id order. */
export function batchTransactions<R>(items: readonly BatchItem<R>[], opts: BatchOptions): Batch<R>[] {
  const sorted = [...items].sort(
    (a, b) =>
      a.facilityId.localeCompare(b.facilityId) ||
      a.wire.Unique_Encounter_ID.localeCompare(b.wire.Unique_Encounter_ID) ||
      a.encounterKey.localeCompare(b.encounterKey) ||
      itemSortKey(a.wire).localeCompare(itemSortKey(b.wire)),
  );
  type Group = { facilityId: string; partnerId: string; encounters: Map<string, { wire: Encounter; records: R[] }> };
  const groups = new Map<string, Group>();
  for (const item of sorted) {
    const partnerId = item.partnerId ?? opts.partnerId;
    const gKey = `${item.facilityId}\u0000${partnerId}`;
    let g = groups.get(gKey);
    if (!g) {
      g = { facilityId: item.facilityId, partnerId, encounters: new Map() };
      groups.set(gKey, g);
    }
    const e = g.encounters.get(item.encounterKey);
    if (e) {
      e.wire.Consultations.push(...item.wire.Consultations);
      e.records.push(item.record);
    } else {
      g.encounters.set(item.encounterKey, { wire: { ...item.wire, Consultations: [...item.wire.Consultations] }, records: [item.record] });
    }
  }
  const out: Batch<R>[] = [];
  const perFacility = new Map<string, number>();
  for (const g of groups.values()) {
    const list = [...g.encounters.values()];
    for (let i = 0; i < list.length; i += opts.maxEncounters) {
      const chunk = list.slice(i, i + opts.maxEncounters);
      const n = perFacility.get(g.facilityId) ?? 0;
      perFacility.set(g.facilityId, n + 1);
      out.push({
        body: {
          Transaction_ID: opts.transactionId(g.facilityId, n),
          Transaction_DateTime: formatTransactionDateTime(opts.now, opts.timeZoneOf?.(g.facilityId)),
          Num_of_Encounters_Included: chunk.length,
          Facility_ID: g.facilityId,
          PartnerID: g.partnerId,
          AppID: opts.appId,
          CDSR_File_Version_Num: '1.0',
          Encounters: chunk.map((c) => c.wire),
        },
        records: chunk.flatMap((c) => c.records),
      });
    }
  }
  return out;
}
