// The order ledger: one row per order seen (an HL7 OBR, a FHIR ServiceRequest), found by its
// facility and any of its numbers, with the messages that touched it. Its state is read, never
// stored twice: an order linked to a consultation takes the consultation's state (ready and
// beyond: reported; incomplete, invalid, rejected, needs-review: held; cancelled: excluded, for the
// reason not-advanced-imaging when a crosswalk row excludes it (the row kept on the record) rather than a cancel;
// cancelled-after-submission: held until an operator acknowledges the retraction at NRDR, then
// excluded), an order not
// linked is held with the reason kept on the row (orphan, collision, cancel_unmatched,
// pending_fetch, error). So every order is in exactly one state at any time, and a
// reconciliation of a day always adds up.
import type { Problem } from '../cdsr/problem.js';
import { encounterKey } from '../mapping/merge.js';
import type { OrderIdentity } from '../mapping/outcome.js';
import type { Exclusion } from '../mapping/record.js';
import { keptCounts } from './counters.js';
import { retractionOf, type Retraction } from './retraction.js';
import { ExclusionSchema, ProblemsSchema, row, StringListSchema, type RowReader } from './rows.js';
import { byCount, chunks, either, later, marks, tuples, type Queryable, type Read, type Row } from './sql.js';
import { ORDER_STATES, orderStateSql, recordStatesGiving, sqlList, type OrderState } from './states.js';

export { ORDER_STATES, type OrderState } from './states.js';
/** Why an order that is not in a record is held. */
export const HOLD_REASONS = ['orphan', 'collision', 'cancel_unmatched', 'pending_fetch', 'error'] as const;
export type HoldReason = (typeof HOLD_REASONS)[number];
/** Every reason an order may show: the holds above and the consultation states that hold or exclude it. */
/** Why an order is excluded by a crosswalk row rather than cancelled: known, not advanced imaging (XR, US, MG…). */
export const NOT_ADVANCED_IMAGING = 'not-advanced-imaging';
export const ORDER_REASONS = [
  '',
  'incomplete',
  'invalid',
  'rejected',
  'needs-review',
  'cancelled',
  NOT_ADVANCED_IMAGING,
  'cancelled-after-submission',
  ...HOLD_REASONS,
] as const;
export type OrderReason = (typeof ORDER_REASONS)[number];

export type LedgerOutcome =
  { readonly kind: 'linked'; readonly consultationKey: string } | { readonly kind: 'held'; readonly reason: HoldReason; readonly problems: readonly Problem[] };

/** What one message did to one order, for the ledger. */
export interface LedgerEvent {
  readonly identity: OrderIdentity;
  readonly outcome: LedgerOutcome;
  readonly messageId: number;
  /** The order's place in its message (an order without numbers is known by it). */
  readonly index: number;
  readonly at: Date;
}

export interface OrderRow {
  readonly id: number;
  readonly facilityId: string;
  readonly encounterId: string;
  readonly orderNumbers: string[];
  readonly consultationKey: string | null;
  readonly state: OrderState;
  readonly reason: OrderReason;
  readonly problems: Problem[];
  /** For an incomplete record: the required fields still missing. */
  readonly missing: string[];
  readonly messageIds: number[];
  /** For a cancellation after submission: what the site does at NRDR, and its acknowledgement. */
  readonly retraction?: Retraction;
  /** For an order a crosswalk row excludes (not advanced imaging): the rule, the row and the value they read. */
  readonly exclusion?: Exclusion;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

export interface OrderFilter {
  readonly state?: OrderState;
  readonly reason?: OrderReason;
  readonly facility?: string;
  readonly encounter?: string;
  /** Any of its numbers. */
  readonly order?: string;
  /** The patient's MRN: the orders touched by a message of the patient (see patient-search.ts). */
  readonly mrn?: string;
  /** First seen on or after this day (YYYY-MM-DD): the facility's own day with `timeZoneOf`, else the UTC day. */
  readonly from?: string;
  /** First seen on or before this day. */
  readonly to?: string;
  /** Each facility's IANA time zone, for `from` and `to` (default: UTC days). */
  readonly timeZoneOf?: (facilityId: string) => string;
  /** Cursor: the id of the last order of the previous page. */
  readonly after?: number;
  readonly limit?: number;
}

export interface ReconciliationRow {
  readonly facilityId: string;
  readonly day: string;
  readonly seen: number;
  /** By ordered day: of `seen`, the orders with no consultation date yet (in no record), counted by the day they arrived. */
  readonly byArrival?: number;
  readonly reported: number;
  readonly held: Record<string, number>;
  readonly excluded: Record<string, number>;
}

// Built from states.ts: one WHEN per record state, no ELSE (a state the table lacks reads as NULL, refused by every reader)
/** Record states whose orders are not reported: their state is the order's reason. */
const NOT_REPORTED = [...new Set([...recordStatesGiving('held'), ...recordStatesGiving('excluded')])];
/**
 * An order's state from its hold and its record's state and acknowledgement (`state` NULL: no record),
 * as SQL over the columns named; the ledger's reads and the triggers that keep `orders.kept_state` (migration 26) use it.
 */
export const orderStateExpr = (hold: string, state: string, ack: string): string =>
  `CASE WHEN ${hold} IS NOT NULL THEN 'held' WHEN ${state} IS NULL THEN 'held' ELSE ${orderStateSql(state, ack)} END`;
/** An order's reason, likewise (`exclusion`: the record's crosswalk exclusion). */
export const orderReasonExpr = (
  hold: string,
  state: string,
  exclusion: string,
): string => `CASE WHEN ${hold} IS NOT NULL THEN ${hold} WHEN ${state} IS NULL THEN 'error'
  WHEN ${state} = 'cancelled' AND ${exclusion} IS NOT NULL THEN '${NOT_ADVANCED_IMAGING}'
  WHEN ${state} IN (${sqlList(NOT_REPORTED)}) THEN ${state} WHEN ${state} IN (${sqlList(recordStatesGiving('reported'))}) THEN '' END`;
const STATE_SQL = orderStateExpr('o.hold', 'c.state', 'c.retraction_ack_at');
const REASON_SQL = orderReasonExpr('o.hold', 'c.state', 'c.exclusion');
const WITH_STATE = `SELECT o.id, o.facility_id, o.encounter_id, o.consultation_key, o.detail, o.first_seen, o.last_seen, o.seen_day,
  ${STATE_SQL} AS state, ${REASON_SQL} AS reason, c.missing AS missing, c.exclusion AS exclusion,
  c.transaction_id AS transaction_id, c.cdate AS cdate, c.retraction_ack_by AS ack_by, c.retraction_ack_at AS ack_at
  FROM orders o LEFT JOIN consultations c ON c.encounter_key = o.encounter_key AND c.consultation_key = o.consultation_key`;

const dayOf = (at: Date): string => at.toISOString().slice(0, 10);

/** The next id of the orders table (PostgreSQL). */
const NEXT_ORDER_ID = "nextval(pg_get_serial_sequence('orders', 'id'))";
const NUMBERS_IN = byCount((n) => `SELECT number, order_id FROM order_numbers WHERE facility_id = ? AND number IN (${marks(n)})`);
const FRESH_ID = `SELECT ${NEXT_ORDER_ID} AS id`;
const FRESH_ID_UNLESS = byCount(
  (n) => `SELECT CASE WHEN EXISTS (SELECT 1 FROM order_numbers WHERE facility_id = ? AND number IN (${marks(n)})) THEN NULL
                 ELSE ${NEXT_ORDER_ID} END AS id`,
);
const INSERT_NUMBERS = byCount((n) => `INSERT INTO order_numbers (facility_id, number, order_id) VALUES ${tuples(n, 3)} ON CONFLICT DO NOTHING`);
/** A number of a facility, as a key. */
const numberKey = (facility: string, n: string): string => JSON.stringify([facility, n]);

/**
 * What the ledger holds of the orders a message names, read before they are recorded (ingest reads
 * it with everything else the message needs, in one round trip on PostgreSQL): the order each of
 * their numbers is under and, when `allocate` (PostgreSQL), an id taken for each order none of
 * whose numbers is known, so that a new order is written without waiting for its id. It follows
 * the message's own writes (`recorded`, `folded`): a second order of the message sharing a number
 * with the first finds it, as a read after the first's write would.
 */
export class LedgerLookup {
  /** A number of a facility (`numberKey`) → the order it is under; a number looked up and not found is absent. */
  private readonly ids = new Map<string, number>();
  private readonly looked = new Set<string>();
  private readonly fresh = new Map<number, number>();
  /** A message's own `message:ID#n` numbers are new with it: nothing can be under them yet. */
  private ownPrefix?: string;
  readonly reads: Read[] = [];
  private readonly parts: ({ readonly kind: 'numbers' } | { readonly kind: 'fresh'; readonly index: number })[] = [];

  /** `identities`: each order the message may record, by its place in the message (see orderIdentitiesOf). */
  constructor(identities: readonly (OrderIdentity | undefined)[], allocate: boolean) {
    const byFacility = new Map<string, Set<string>>();
    for (const identity of identities) {
      if (!identity) continue;
      const set = byFacility.get(identity.facilityId) ?? new Set<string>();
      for (const n of identity.numbers) set.add(n);
      byFacility.set(identity.facilityId, set);
    }
    for (const [facility, numbers] of byFacility) {
      for (const part of chunks([...numbers])) {
        for (const n of part) this.looked.add(numberKey(facility, n));
        this.reads.push({ sql: NUMBERS_IN(part.length), params: [facility, ...part] });
        this.parts.push({ kind: 'numbers' });
      }
    }
    if (!allocate) return;
    const earlier = new Set<string>();
    for (const [index, identity] of identities.entries()) {
      if (!identity) continue;
      const numbers = [...new Set(identity.numbers)];
      // an order sharing a number with an earlier one of the message is that order (a new one, if
      // the earlier made none, takes its id from its INSERT: one round trip more)
      const shared = numbers.some((n) => earlier.has(numberKey(identity.facilityId, n)));
      for (const n of numbers) earlier.add(numberKey(identity.facilityId, n));
      if (shared) continue;
      // the id is taken only when none of the numbers is known: an order seen before takes none
      this.reads.push(
        numbers.length === 0 ? { sql: FRESH_ID, params: [] } : { sql: FRESH_ID_UNLESS(numbers.length), params: [identity.facilityId, ...numbers] },
      );
      this.parts.push({ kind: 'fresh', index });
    }
  }

  /** The rows of `reads`, in their order; `messageId`: the message's id. */
  take(rows: readonly (readonly Row[])[], messageId: number): void {
    if (rows.length !== this.reads.length) throw new Error(`the ledger's ${this.reads.length} reads were given ${rows.length} results`);
    for (const [i, part] of this.parts.entries()) {
      const facility = String(this.reads[i]!.params[0] ?? '');
      for (const r of rows[i]!) {
        const n = row('order_numbers', r);
        if (part.kind === 'numbers') this.ids.set(numberKey(facility, n.text('number')), n.int('order_id'));
        else if (n.optInt('id') !== undefined) this.fresh.set(part.index, n.int('id'));
      }
    }
    this.ownPrefix = `message:${messageId}#`;
  }

  /** The orders some numbers are under, and the numbers this lookup does not know (to be read). */
  find(facility: string, numbers: readonly string[]): { readonly found: number[]; readonly unknown: string[] } {
    const found: number[] = [];
    const unknown: string[] = [];
    for (const n of numbers) {
      const id = this.ids.get(numberKey(facility, n));
      if (id !== undefined) found.push(id);
      else if (!this.looked.has(numberKey(facility, n)) && !(this.ownPrefix !== undefined && n.startsWith(this.ownPrefix))) unknown.push(n);
    }
    return { found, unknown };
  }

  /** The id taken for the message's order at `index`, once (undefined: none was). */
  freshId(index: number): number | undefined {
    const id = this.fresh.get(index);
    this.fresh.delete(index);
    return id;
  }

  /** The order's numbers written under `id` (a number already under an order stays there: ON CONFLICT DO NOTHING). */
  recorded(facility: string, numbers: readonly string[], id: number): void {
    for (const n of numbers) {
      const k = numberKey(facility, n);
      if (!this.ids.has(k)) this.ids.set(k, id);
      this.looked.add(k);
    }
  }

  /** An order folded into another: its numbers are the other's now. */
  folded(from: number, into: number): void {
    for (const [k, id] of this.ids) if (id === from) this.ids.set(k, into);
  }
}

/**
 * Records what one message did to one order: found by any of its numbers, rows of the same order
 * folded into one. `known`: what a lookup read beforehand (numbers it does not cover are read here).
 */
export async function recordOrder(
  q: Queryable,
  identity: OrderIdentity,
  outcome: LedgerOutcome,
  messageId: number,
  index: number,
  at: Date,
  reuse?: (numbers: readonly string[]) => number | undefined,
  known?: LedgerLookup,
): Promise<void> {
  const facility = identity.facilityId;
  // an order without a number can be found by nothing else: it is known by its message
  const numbers = [...new Set(identity.numbers.length > 0 ? identity.numbers : [`message:${messageId}#${index + 1}`])];
  const looked = known?.find(facility, numbers);
  const found = new Set<number>(looked?.found ?? []);
  // its numbers in one statement each way (an order carries two or three)
  for (const part of chunks(looked?.unknown ?? numbers)) {
    for (const r of await q.all(`SELECT order_id FROM order_numbers WHERE facility_id = ? AND number IN (${marks(part.length)})`, [facility, ...part]))
      found.add(row('order_numbers', r).int('order_id'));
  }
  const iso = at.toISOString();
  const eKey = identity.encounterId !== '' ? encounterKey(facility, identity.encounterId) : '';
  const linked = outcome.kind === 'linked' ? outcome.consultationKey : null;
  const hold = outcome.kind === 'held' ? outcome.reason : null;
  const detail = outcome.kind === 'held' ? JSON.stringify(outcome.problems) : '[]';
  const ids = [...found].sort((a, b) => a - b);
  let id: number;
  if (ids.length === 0) {
    // a new order: written once, as it stands (a rebuilt one under the id it had, a new one under
    // the id taken for it beforehand, else the id the INSERT gives)
    const given = reuse?.(numbers) ?? known?.freshId(index);
    const insert = `INSERT INTO orders (${given !== undefined ? 'id, ' : ''}facility_id, encounter_id, encounter_key, consultation_key, hold, detail, first_seen, last_seen, seen_day)
       VALUES (${given !== undefined ? '?, ' : ''}?, ?, ?, ?, ?, ?, ?, ?, ?)`;
    const values = [facility, identity.encounterId, eKey, linked, hold, detail, iso, iso, dayOf(at)];
    if (given !== undefined) {
      await later(q, insert, [given, ...values]);
      id = given;
    } else id = row('orders', (await q.get(`${insert} RETURNING id`, values)) ?? {}).int('id');
  } else {
    id = ids[0]!;
    for (const other of ids.slice(1)) {
      await foldOrder(q, other, id);
      known?.folded(other, id);
    }
    if (linked !== null) {
      await later(q, `UPDATE orders SET encounter_id = ?, encounter_key = ?, consultation_key = ?, hold = NULL, detail = '[]', last_seen = ? WHERE id = ?`, [
        identity.encounterId,
        eKey,
        linked,
        iso,
        id,
      ]);
    } else {
      // a hold never takes an order out of the record it is already in
      await later(
        q,
        `UPDATE orders SET last_seen = ?,
           hold = CASE WHEN consultation_key IS NULL THEN ? ELSE hold END,
           detail = CASE WHEN consultation_key IS NULL THEN ? ELSE detail END,
           encounter_id = CASE WHEN consultation_key IS NULL AND encounter_id = '' THEN ? ELSE encounter_id END,
           encounter_key = CASE WHEN consultation_key IS NULL AND encounter_key = '' THEN ? ELSE encounter_key END
         WHERE id = ?`,
        [iso, hold, detail, identity.encounterId, eKey, id],
      );
    }
  }
  for (const part of chunks(numbers)) {
    await later(
      q,
      INSERT_NUMBERS(part.length),
      part.flatMap((n) => [facility, n, id]),
    );
  }
  await later(q, 'INSERT INTO order_messages (order_id, message_id) VALUES (?, ?) ON CONFLICT DO NOTHING', [id, messageId]);
  known?.recorded(facility, numbers, id);
}

/**
 * The ledger rows of the orders some messages touched, written again from those messages' events
 * (a re-derivation). Rows keep their ids (found again by any number they had); a message outside
 * the set that also touched such an order keeps its place on it, as the hold it was.
 */
export async function rebuildLedger(q: Queryable, messageIds: readonly number[], events: readonly LedgerEvent[]): Promise<void> {
  const oldIds = new Set<number>();
  for (const part of chunks(messageIds)) {
    for (const r of await q.all(`SELECT order_id FROM order_messages WHERE message_id IN (${marks(part.length)})`, part))
      oldIds.add(row('order_messages', r).int('order_id'));
  }
  const ids = [...oldIds];
  const numbersOf = new Map<number, string[]>();
  const idOf = new Map<string, number>();
  const outside: LedgerEvent[] = [];
  const inSet = new Set(messageIds);
  for (const part of chunks(ids)) {
    const list = marks(part.length);
    for (const r of await q.all(`SELECT facility_id, number, order_id FROM order_numbers WHERE order_id IN (${list})`, part)) {
      const n = row('order_numbers', r);
      numbersOf.set(n.int('order_id'), [...(numbersOf.get(n.int('order_id')) ?? []), n.text('number')]);
      idOf.set(`${n.text('facility_id')}|${n.text('number')}`, n.int('order_id'));
    }
    const others = await q.all(
      `SELECT om.order_id, om.message_id, o.facility_id, o.encounter_id, o.hold, o.detail, m.received_at
       FROM order_messages om JOIN orders o ON o.id = om.order_id JOIN inbound_messages m ON m.id = om.message_id WHERE om.order_id IN (${list})`,
      part,
    );
    for (const r of others) {
      const o = row('orders', r);
      if (inSet.has(o.int('message_id'))) continue;
      const hold = o.optText('hold');
      outside.push({
        identity: {
          facilityId: o.text('facility_id'),
          encounterId: o.text('encounter_id'),
          numbers: (numbersOf.get(o.int('order_id')) ?? []).filter((n) => !n.startsWith('message:')),
        },
        outcome: {
          kind: 'held',
          reason: (HOLD_REASONS as readonly string[]).includes(hold ?? '') ? (hold as HoldReason) : 'error',
          problems: o.json('detail', ProblemsSchema, []),
        },
        messageId: o.int('message_id'),
        index: 0,
        at: new Date(o.text('received_at')),
      });
    }
    await q.run(`DELETE FROM order_messages WHERE order_id IN (${list})`, part);
    await q.run(`DELETE FROM order_numbers WHERE order_id IN (${list})`, part);
    await q.run(`DELETE FROM orders WHERE id IN (${list})`, part);
  }
  const taken = new Set<number>();
  for (const e of [...events, ...outside].sort((a, b) => a.messageId - b.messageId || a.index - b.index)) {
    const reuse = (numbers: readonly string[]) => {
      for (const n of numbers) {
        const old = idOf.get(`${e.identity.facilityId}|${n}`);
        if (old !== undefined && !taken.has(old)) {
          taken.add(old);
          return old;
        }
      }
      return undefined;
    };
    await recordOrder(q, e.identity, e.outcome, e.messageId, e.index, e.at, reuse);
  }
}

/** Moves everything of order `from` to order `into` (two rows found to be one order) and deletes `from`. */
async function foldOrder(q: Queryable, from: number, into: number): Promise<void> {
  await later(q, 'UPDATE order_numbers SET order_id = ? WHERE order_id = ?', [into, from]);
  await later(q, 'INSERT INTO order_messages (order_id, message_id) SELECT ?, message_id FROM order_messages WHERE order_id = ? ON CONFLICT DO NOTHING', [
    into,
    from,
  ]);
  await later(q, 'DELETE FROM order_messages WHERE order_id = ?', [from]);
  // the earlier first sighting of the two, read where it is written (no round trip for it)
  await later(
    q,
    `UPDATE orders SET first_seen = (SELECT f.first_seen FROM orders f WHERE f.id = ?), seen_day = (SELECT f.seen_day FROM orders f WHERE f.id = ?)
     WHERE id = ? AND first_seen > (SELECT f.first_seen FROM orders f WHERE f.id = ?)`,
    [from, from, into, from],
  );
  await later(q, 'DELETE FROM orders WHERE id = ?', [from]);
}

function orderFrom(r: Row, numbers: string[], messageIds: number[]): OrderRow {
  const o = row('orders', r);
  const reason = o.oneOf('reason', ORDER_REASONS);
  const consultationKey = o.optText('consultation_key') ?? null;
  const exclusion = o.json<Exclusion | null>('exclusion', ExclusionSchema, null);
  return {
    id: o.int('id'),
    facilityId: o.text('facility_id'),
    encounterId: o.text('encounter_id'),
    orderNumbers: numbers.filter((n) => !n.startsWith('message:')),
    consultationKey,
    state: o.oneOf('state', ORDER_STATES),
    reason,
    problems: o.json('detail', ProblemsSchema, []),
    missing: reason === 'incomplete' ? o.json('missing', StringListSchema, []) : [],
    messageIds,
    ...(reason === 'cancelled-after-submission'
      ? {
          retraction: retractionOf({
            facilityId: o.text('facility_id'),
            encounterId: o.text('encounter_id'),
            consultationKey: consultationKey ?? '',
            transactionId: o.optText('transaction_id'),
            ackBy: o.optText('ack_by'),
            ackAt: o.optText('ack_at'),
          }),
        }
      : {}),
    ...(exclusion ? { exclusion } : {}),
    firstSeen: o.text('first_seen'),
    lastSeen: o.text('last_seen'),
  };
}

/**
 * Orders in the order they were first seen, a page at a time; `next` is the cursor of the page after.
 * `messageIds` (the messages of a patient, when `f.mrn` is given): only the orders they touched.
 */
export async function listOrders(
  q: Queryable,
  f: Omit<OrderFilter, 'mrn'>,
  messageIds?: readonly number[],
): Promise<{ orders: OrderRow[]; next: number | null }> {
  const limit = f.limit ?? 100;
  if (messageIds !== undefined && messageIds.length === 0) return { orders: [], next: null };
  // only the conditions given, so that the planner can use an index for each (an "? IS NULL OR" would hide it)
  const where: string[] = [];
  const args: (string | number)[] = [];
  const when = (value: string | undefined, condition: string) => {
    if (value === undefined) return;
    where.push(condition);
    args.push(value);
  };
  when(f.state, 'x.state = ?');
  when(f.reason, 'x.reason = ?');
  when(f.facility, 'x.facility_id = ?');
  when(f.encounter, 'x.encounter_id = ?');
  // a number is looked up first (any facility), not probed order by order
  when(f.order, 'x.id IN (SELECT n.order_id FROM order_numbers n WHERE n.number = ?)');
  // a facility's day lies within the UTC days either side of it: SQL reads those, the first-seen time decides
  const zoneOf = f.timeZoneOf;
  const local = zoneOf !== undefined && (f.from !== undefined || f.to !== undefined);
  when(f.from !== undefined && local ? shiftDay(f.from, -1) : f.from, 'x.seen_day >= ?');
  when(f.to !== undefined && local ? shiftDay(f.to, 1) : f.to, 'x.seen_day <= ?');
  if (messageIds !== undefined) {
    where.push(`x.id IN (SELECT om.order_id FROM order_messages om WHERE om.message_id IN (${marks(messageIds.length)}))`);
    args.push(...messageIds);
  }
  const select = (after: number, n: number) =>
    q.all(`SELECT * FROM (${WITH_STATE}) x WHERE ${[...where, 'x.id > ?'].join(' AND ')} ORDER BY x.id LIMIT ?`, [...args, after, n]);
  let rows: Row[];
  if (!local) rows = await select(f.after ?? 0, limit + 1);
  else {
    // the rows of the wider UTC range a batch at a time, those of the facility's days kept, until a page and one more
    rows = [];
    const batchSize = Math.max(limit + 1, 200);
    for (let after = f.after ?? 0; ;) {
      const batch = await select(after, batchSize);
      for (const r of batch) {
        const o = row('orders', r);
        const at = new Date(o.text('first_seen'));
        // a row without a time (kept from before the ledger had one) is on no day
        const day = Number.isNaN(at.getTime()) ? '' : localDayOf(at, zoneOf(o.text('facility_id')));
        if ((f.from === undefined || day >= f.from) && (f.to === undefined || day <= f.to)) rows.push(r);
        if (rows.length > limit) break;
      }
      const last = batch.at(-1);
      if (rows.length > limit || last === undefined || batch.length < batchSize) break;
      after = row('orders', last).int('id');
    }
  }
  const page = rows.slice(0, limit);
  if (page.length === 0) return { orders: [], next: null };
  const lo = row('orders', page[0]!).int('id');
  const hi = row('orders', page[page.length - 1]!).int('id');
  // what belongs to the orders of the page, read by id range and grouped per order
  const grouped = async <T>(table: string, column: string, read: (r: RowReader) => T): Promise<Map<number, T[]>> => {
    const out = new Map<number, T[]>();
    for (const r of await q.all(`SELECT order_id, ${column} FROM ${table} WHERE order_id >= ? AND order_id <= ? ORDER BY order_id, ${column}`, [lo, hi])) {
      const x = row(table, r);
      out.set(x.int('order_id'), [...(out.get(x.int('order_id')) ?? []), read(x)]);
    }
    return out;
  };
  const numbers = await grouped('order_numbers', 'number', (x) => x.text('number'));
  const messages = await grouped('order_messages', 'message_id', (x) => x.int('message_id'));
  const orders = page.map((r) => {
    const id = row('orders', r).int('id');
    return orderFrom(r, numbers.get(id) ?? [], messages.get(id) ?? []);
  });
  return { orders, next: rows.length > limit ? hi : null };
}

/** How a reconciliation counts days: by the day an order arrived, or by its consultation (ordered) day. */
export const RECONCILE_BY = ['received', 'ordered'] as const;
export type ReconcileBy = (typeof RECONCILE_BY)[number];

export interface ReconciliationFilter {
  /** First and last day (YYYY-MM-DD) in the facility's time zone. */
  readonly from?: string;
  readonly to?: string;
  readonly facility?: string;
  /** Default: received. */
  readonly by?: ReconcileBy;
  /** Each facility's IANA time zone (default: UTC for all). */
  readonly timeZoneOf?: (facilityId: string) => string;
}

// CDS_Consultation_Date as the consultations keep it (MM/DD/YYYY, the site's own day) as YYYY-MM-DD
const ORDERED_DAY_SQL = `CASE WHEN LENGTH(x.cdate) = 10 THEN SUBSTR(x.cdate, 7, 4) || '-' || SUBSTR(x.cdate, 1, 2) || '-' || SUBSTR(x.cdate, 4, 2) END`;

/** `day` moved by `n` days (YYYY-MM-DD). */
const shiftDay = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

const dayFormats = new Map<string, Intl.DateTimeFormat>();
/** The local day (YYYY-MM-DD) of an instant in an IANA zone. */
export function localDayOf(at: Date, zone: string): string {
  let f = dayFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormats.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
}

/**
 * One row per facility and day: seen = reported + held (by reason) + excluded (by rule). Days are
 * the facility's own: by arrival, the orders are counted in SQL per UTC quarter hour (every zone's
 * midnight falls on one, DST days included) and the quarters folded here into local days, so the
 * work here grows with the hours, not the orders; by ordered day, the consultation's date is the
 * site's day already, and an order not yet in a record (no consultation date) is counted by its
 * arrival day, shown in `byArrival`.
 */
export async function reconcile(q: Queryable, f: ReconciliationFilter): Promise<ReconciliationRow[]> {
  const ordered = f.by === 'ordered';
  const zoneOf = f.timeZoneOf ?? (() => 'UTC');
  // a local day lies within a UTC day either side of it (offsets are under 24 h)
  const wideFrom = f.from !== undefined ? shiftDay(f.from, -1) : undefined;
  const wideTo = f.to !== undefined ? shiftDay(f.to, 1) : undefined;
  const rows = await q.all(
    `SELECT y.facility_id, y.oday,
       CASE WHEN y.oday IS NULL THEN SUBSTR(y.first_seen, 1, 13) END AS hour,
       CASE WHEN y.oday IS NULL AND LENGTH(y.first_seen) >= 16 THEN CAST(SUBSTR(y.first_seen, 15, 2) AS INTEGER) / 15 END AS quarter,
       y.state, y.reason, COUNT(*) AS n
     FROM (SELECT x.facility_id, x.first_seen, x.seen_day, x.state, x.reason, ${ordered ? ORDERED_DAY_SQL : 'CAST(NULL AS TEXT)'} AS oday
           FROM (${WITH_STATE}) x WHERE (CAST(? AS TEXT) IS NULL OR x.facility_id = ?)) y
     WHERE (y.oday IS NULL AND (CAST(? AS TEXT) IS NULL OR y.seen_day >= ?) AND (CAST(? AS TEXT) IS NULL OR y.seen_day <= ?))
        OR (y.oday IS NOT NULL AND (CAST(? AS TEXT) IS NULL OR y.oday >= ?) AND (CAST(? AS TEXT) IS NULL OR y.oday <= ?))
     GROUP BY 1, 2, 3, 4, 5, 6`,
    [...either(f.facility), ...either(wideFrom), ...either(wideTo), ...either(f.from), ...either(f.to)],
  );
  const dayOfBucket = new Map<string, string>();
  const out = new Map<
    string,
    { facilityId: string; day: string; seen: number; byArrival?: number; reported: number; held: Record<string, number>; excluded: Record<string, number> }
  >();
  for (const r of rows) {
    const x = row('orders', r);
    const facilityId = x.text('facility_id');
    const oday = x.optText('oday');
    let day = oday ?? '';
    if (oday === undefined) {
      const hour = x.optText('hour') ?? '';
      const zone = zoneOf(facilityId);
      const bucket = `${zone} ${hour} ${x.optInt('quarter') ?? 0}`;
      const known = dayOfBucket.get(bucket);
      if (known !== undefined) day = known;
      else {
        const at = /^\d{4}-\d{2}-\d{2}T\d{2}$/.test(hour) ? new Date(`${hour}:${String((x.optInt('quarter') ?? 0) * 15).padStart(2, '0')}:00Z`) : undefined;
        // a row without a time (kept from before the ledger had one) stays on no day
        day = at && !Number.isNaN(at.getTime()) ? localDayOf(at, zone) : '';
        dayOfBucket.set(bucket, day);
      }
    }
    if ((f.from !== undefined && day < f.from) || (f.to !== undefined && day > f.to)) continue;
    const key = `${facilityId}\u0000${day}`;
    const acc = out.get(key) ?? { facilityId, day, seen: 0, ...(ordered ? { byArrival: 0 } : {}), reported: 0, held: {}, excluded: {} };
    const n = x.int('n');
    const state = x.oneOf('state', ORDER_STATES);
    const reason = x.text('reason');
    acc.seen += n;
    if (ordered && oday === undefined) acc.byArrival = (acc.byArrival ?? 0) + n;
    if (state === 'reported') acc.reported += n;
    else if (state === 'held') acc.held[reason] = (acc.held[reason] ?? 0) + n;
    else acc.excluded[reason] = (acc.excluded[reason] ?? 0) + n;
    out.set(key, acc);
  }
  // held and excluded reasons in a stable order, whatever order the groups came in
  const sorted = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return [...out.values()]
    .sort((a, b) => (a.facilityId < b.facilityId ? -1 : a.facilityId > b.facilityId ? 1 : a.day < b.day ? -1 : a.day > b.day ? 1 : 0))
    .map((d) => ({ ...d, held: sorted(d.held), excluded: sorted(d.excluded) }));
}

export interface LedgerGauges {
  readonly byState: Record<string, number>;
  /** first_seen of the oldest order waiting for its order (orphan), of the oldest incomplete one. */
  readonly oldestOrphan: string | null;
  readonly oldestIncomplete: string | null;
  /** Cancellations after submission no operator has acknowledged yet. */
  readonly unacknowledgedRetractions: number;
}

/**
 * The gauges, from the counters the store keeps (counters.ts) and the kept state of each order
 * (MIN over the index `orders_kept`): a handful of index reads, whatever the number of orders.
 */
export async function ledgerGauges(q: Queryable): Promise<LedgerGauges> {
  const kept = await keptCounts(q);
  const oldest = async (reason: string) => {
    const r = await q.get('SELECT MIN(first_seen) AS t FROM orders WHERE kept_reason = ?', [reason]);
    return r ? (row('orders', r).optText('t') ?? null) : null;
  };
  const byState: Record<string, number> = {};
  // a state the counters hold that is no order state is a corrupt counter: refused as a row would be
  for (const [state, n] of Object.entries(kept.orders ?? {})) byState[row('store_counters', { state }).oneOf('state', ORDER_STATES)] = n;
  return {
    byState,
    oldestOrphan: await oldest('orphan'),
    oldestIncomplete: await oldest('incomplete'),
    unacknowledgedRetractions: kept.retractions?.unacknowledged ?? 0,
  };
}

/** Per facility, the first_seen of its oldest held order (any reason): how long the longest wait has lasted. */
export async function oldestHeld(q: Queryable): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const r of await q.all(
    `SELECT x.facility_id, MIN(x.first_seen) AS t FROM (${WITH_STATE}) x WHERE x.state = 'held' GROUP BY x.facility_id ORDER BY x.facility_id`,
  )) {
    const x = row('orders', r);
    out[x.text('facility_id')] = x.text('t');
  }
  return out;
}

/** The reasons an order may be held, and excluded: the CSV's columns, the same whatever the days hold. */
const HELD_REASONS = [...recordStatesGiving('held'), ...HOLD_REASONS] as const;
const EXCLUDED_REASONS = recordStatesGiving('excluded').flatMap((s) => (s === 'cancelled' ? [s, NOT_ADVANCED_IMAGING] : [s]));

const csvCell = (s: string): string => (/[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replaceAll('"', '""')}"` : s);

/**
 * A reconciliation as CSV for a spreadsheet beside the RIS's counts: one line per facility and day,
 * its zone and how days were counted, then a column for every reason (held_orphan, excluded_cancelled…).
 */
export function reconciliationCsv(days: readonly ReconciliationRow[], by: ReconcileBy, zoneOf: (facilityId: string) => string): string {
  const header = [
    'facility_id',
    'day',
    'time_zone',
    'counted_by',
    'seen',
    'by_arrival',
    'reported',
    'held',
    'excluded',
    ...HELD_REASONS.map((r) => `held_${r}`),
    ...EXCLUDED_REASONS.map((r) => `excluded_${r}`),
  ];
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const lines = days.map((d) =>
    [
      csvCell(d.facilityId),
      d.day,
      zoneOf(d.facilityId),
      by,
      d.seen,
      by === 'ordered' ? (d.byArrival ?? 0) : '',
      d.reported,
      sum(d.held),
      sum(d.excluded),
      ...HELD_REASONS.map((r) => d.held[r] ?? 0),
      ...EXCLUDED_REASONS.map((r) => d.excluded[r] ?? 0),
    ].join(','),
  );
  return `${[header.join(','), ...lines].join('\n')}\n`;
}
