// Every status the adapter keeps, in one place: the four sets (message, record, order,
// transaction), the moves each allows, and the order state a record state gives. The tables are
// typed over their sets, so a status added to a set does not compile until its moves and its
// order state are written here; the SQL that filters or derives on states is built from them
// (`sqlList`, `orderStateSql`), and every stored change of a record's state goes through
// `checkRecordTransition` (one row in code) or a WHERE built by `fromStatesSql` (many rows in SQL).
// docs/states.md draws them.
import { AdapterError } from '../cdsr/errors.js';
import type { Queryable, SqlValue } from './sql.js';

// ---- records (consultations) ----

/** needs-review: NRDR's answer did not say which way this record went (an operator decides).
 * cancelled-after-submission: cancelled once NRDR may already hold it (its API has no delete): the
 * site retracts it at NRDR by hand, and an operator acknowledges that. */
export const RECORD_STATES = [
  'incomplete',
  'invalid',
  'ready',
  'submitted',
  'accepted',
  'rejected',
  'needs-review',
  'cancelled',
  'cancelled-after-submission',
] as const;
export type RecordState = (typeof RECORD_STATES)[number];

/** What an evaluation of a record's content gives (evaluate.ts): the states a new record starts in. */
export const EVALUATED_STATES = ['incomplete', 'invalid', 'ready', 'cancelled'] as const satisfies readonly RecordState[];
/** The states NRDR's conversation gives a record; kept while its content is what was sent. */
export const SUBMISSION_STATES: ReadonlySet<RecordState> = new Set(['submitted', 'accepted', 'rejected', 'needs-review']);

/**
 * Every move of a record's state, from → to (staying in a state is no move). Who makes each:
 * - a merge or re-derivation evaluates the content again (evaluate.ts, encounter-rows.ts): any
 *   state → incomplete, invalid, ready; → cancelled only while NRDR holds no copy (no transaction
 *   with it that NRDR did not reject), else → cancelled-after-submission (so never from submitted,
 *   accepted or needs-review); a consultation whose key left the merge while NRDR may hold it is
 *   retired as cancelled-after-submission;
 * - the submitter batches it: ready → submitted (createTransaction);
 * - NRDR's verdict: submitted → accepted, rejected, needs-review; a cancellation NRDR rejected
 *   everywhere: cancelled-after-submission → cancelled (recordResults);
 * - back to ready: submitted (its transaction abandoned), rejected (an operator resubmits),
 *   needs-review (NRDR answered Failed: resent).
 */
export const RECORD_TRANSITIONS = {
  incomplete: ['invalid', 'ready', 'cancelled', 'cancelled-after-submission'],
  invalid: ['incomplete', 'ready', 'cancelled', 'cancelled-after-submission'],
  ready: ['incomplete', 'invalid', 'cancelled', 'cancelled-after-submission', 'submitted'],
  submitted: ['incomplete', 'invalid', 'ready', 'cancelled-after-submission', 'accepted', 'rejected', 'needs-review'],
  accepted: ['incomplete', 'invalid', 'ready', 'cancelled-after-submission'],
  rejected: ['incomplete', 'invalid', 'ready', 'cancelled', 'cancelled-after-submission'],
  'needs-review': ['incomplete', 'invalid', 'ready', 'cancelled-after-submission'],
  cancelled: ['incomplete', 'invalid', 'ready', 'cancelled-after-submission'],
  'cancelled-after-submission': ['incomplete', 'invalid', 'ready', 'cancelled'],
} as const satisfies Record<RecordState, readonly RecordState[]>;

// ---- orders (read from their record, never stored) ----

export const ORDER_STATES = ['reported', 'held', 'excluded'] as const;
export type OrderState = (typeof ORDER_STATES)[number];

/** The order state of a record state; a retraction is held until an operator acknowledges it at NRDR. */
export type OrderStateOfRecord = OrderState | { readonly unacknowledged: OrderState; readonly acknowledged: OrderState };

/** The state of an order linked to a record, for every record state (no default: a new record state does not compile without one). */
export const ORDER_STATE_OF_RECORD = {
  incomplete: 'held',
  invalid: 'held',
  ready: 'reported',
  submitted: 'reported',
  accepted: 'reported',
  rejected: 'held',
  'needs-review': 'held',
  cancelled: 'excluded',
  'cancelled-after-submission': { unacknowledged: 'held', acknowledged: 'excluded' },
} as const satisfies Record<RecordState, OrderStateOfRecord>;

/** The order state of a linked order whose record is in `state` (`acknowledged`: its retraction at NRDR is). */
export function orderStateOf(state: RecordState, acknowledged: boolean): OrderState {
  const o: OrderStateOfRecord = ORDER_STATE_OF_RECORD[state];
  return typeof o === 'string' ? o : acknowledged ? o.acknowledged : o.unacknowledged;
}

/** Record states whose orders can be in `order` state (either side of an acknowledgement), in the order of RECORD_STATES. */
export function recordStatesGiving(order: OrderState): RecordState[] {
  return RECORD_STATES.filter((s) => orderStateOf(s, false) === order || orderStateOf(s, true) === order);
}

/** `'a', 'b'`: a list of states for an SQL `IN (…)` (the states are the constants above, never input). */
export function sqlList(states: readonly string[]): string {
  if (states.length === 0) throw new Error('an empty state list has no SQL IN form');
  return states.map((s) => `'${s.replaceAll("'", "''")}'`).join(', ');
}

/**
 * The CASE giving a linked order's state from its record's (`c.state`, `c.retraction_ack_at`),
 * built from ORDER_STATE_OF_RECORD, one WHEN per record state and no ELSE: a state not in the
 * table gives NULL, which every reader of an order's state refuses (StoreCorruptError), never a
 * silent "reported".
 */
export function orderStateSql(stateCol: string, ackCol: string): string {
  const whens = RECORD_STATES.map((s) => {
    const o: OrderStateOfRecord = ORDER_STATE_OF_RECORD[s];
    const then = typeof o === 'string' ? `'${o}'` : `CASE WHEN ${ackCol} IS NULL THEN '${o.unacknowledged}' ELSE '${o.acknowledged}' END`;
    return `WHEN ${stateCol} = '${s}' THEN ${then}`;
  });
  return `CASE ${whens.join(' ')} END`;
}

// ---- messages (the inbound log) ----

/** applied: merged; error: kept for replay; ignored: type not handled; rejected: not HL7/FHIR; duplicate: seen and applied before; pending: waiting for a fetch (rows of an earlier version: none is written now). */
export const MESSAGE_STATUSES = ['applied', 'error', 'ignored', 'rejected', 'duplicate', 'pending'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
/** What a message is stored with on arrival (derive.ts statusForOutcome, or a resend's duplicate). */
export const MESSAGE_INITIAL_STATUSES = ['applied', 'error', 'ignored', 'rejected', 'duplicate'] as const satisfies readonly MessageStatus[];
/** Written by no code of this version: read from rows an earlier version stored. */
export const MESSAGE_LEGACY_STATUSES = ['pending'] as const satisfies readonly MessageStatus[];

/**
 * Moves of a message's status: the merge refuses its records (applied → error, on arrival), or
 * it is re-derived through re-mapped outcomes (replay, reprocessing: any outcome of a stored
 * message for any other, rejected too when its text no longer parses). A duplicate stays one (it
 * is never merged), and so does a rejected message: a body that was not HL7 or FHIR stands for
 * nothing, and re-derivation, reprocessing and replay all leave it out (rederive.ts, reprocess.ts,
 * replay.ts).
 */
export const MESSAGE_TRANSITIONS = {
  applied: ['error', 'ignored', 'rejected'],
  error: ['applied', 'ignored', 'rejected'],
  ignored: ['applied', 'error', 'rejected'],
  rejected: [],
  duplicate: [],
  pending: ['applied', 'error', 'ignored', 'rejected'],
} as const satisfies Record<MessageStatus, readonly MessageStatus[]>;

// ---- transactions (the outbound ledger) ----

/**
 * created: stored, never POSTed; sent: a POST was claimed (under the submitter lease) and NRDR's
 * answer to it has not been received: the next step is a GET by Transaction_ID, never another
 * POST, unless NRDR says it does not know the id; posted: NRDR has it, polling; done: a final
 * NRDR status; failed: NRDR refused the POST (400/403), or it was never sent because its records
 * went out in a later transaction; review: NRDR's answers stayed unreadable or never final
 * within the polling deadline: an operator looks.
 */
export const OUTBOUND_STATUSES = ['created', 'sent', 'posted', 'done', 'failed', 'review'] as const;
export type OutboundStatus = (typeof OUTBOUND_STATUSES)[number];
/** Transactions NRDR has not given its final word on (shown as in flight). */
export const IN_FLIGHT_STATUSES: readonly OutboundStatus[] = ['created', 'sent', 'posted'];

/**
 * Moves of a transaction (submitter.ts decides, the store checks): claimed for a POST (created →
 * sent); refused before NRDR took a first POST in (sent → created, for the next round); NRDR has
 * it (sent → posted); a final status (→ done), no final word by the deadline (→ review), a POST
 * refused (sent → failed) or never to be sent (abandoned: created, sent → failed). done, failed and
 * review are final.
 */
export const OUTBOUND_TRANSITIONS = {
  created: ['sent', 'failed'],
  sent: ['created', 'posted', 'done', 'failed', 'review'],
  posted: ['done', 'review'],
  done: [],
  failed: [],
  review: [],
} as const satisfies Record<OutboundStatus, readonly OutboundStatus[]>;

// ---- the checks ----

type Table<S extends string> = Readonly<Record<S, readonly S[]>>;

/** Whether a table allows `from` → `to` (staying is always allowed: no move). */
export function allows<S extends string>(table: Table<S>, from: S, to: S): boolean {
  return from === to || table[from].includes(to);
}

/** The states `to` may be reached from (itself included: staying is no move), in the order of `all`. */
export function fromStates<S extends string>(table: Table<S>, all: readonly S[], to: S): S[] {
  return all.filter((s) => allows(table, s, to));
}

/** `column IN ('…', …)`: the rows whose state may move to `to`, for an UPDATE's WHERE (SQL cannot move a row along a move the table forbids). */
export function fromStatesSql<S extends string>(table: Table<S>, all: readonly S[], to: S, column: string): string {
  return `${column} IN (${sqlList(fromStates(table, all, to))})`;
}

export type StateKind = 'record' | 'message' | 'transaction';

/** A state change a table does not allow: which kind, which row (record key, message id, Transaction_ID), from and to. */
export class StateTransitionError extends AdapterError {
  constructor(
    readonly kind: StateKind,
    readonly key: string,
    readonly from: string,
    readonly to: string,
  ) {
    super('STATE_TRANSITION', `${kind} ${key}: ${from} → ${to} is not an allowed state change (states.ts)`);
  }
}

/** The state a record moves to, checked: `to`, or a StateTransitionError naming the record (`key`: encounter key and consultation key). */
export function checkRecordTransition(key: string, from: RecordState | undefined, to: RecordState): RecordState {
  if (from === undefined ? !(EVALUATED_STATES as readonly RecordState[]).includes(to) : !allows(RECORD_TRANSITIONS, from, to))
    throw new StateTransitionError('record', key, from ?? '(new)', to);
  return to;
}

/** The status a message moves to, checked. */
export function checkMessageTransition(id: number, from: MessageStatus, to: MessageStatus): MessageStatus {
  if (!allows(MESSAGE_TRANSITIONS, from, to)) throw new StateTransitionError('message', String(id), from, to);
  return to;
}

/** The status a transaction moves to from each of `from`, checked. */
export function checkOutboundTransition(id: string, from: readonly OutboundStatus[], to: OutboundStatus): OutboundStatus {
  for (const f of from) if (!allows(OUTBOUND_TRANSITIONS, f, to)) throw new StateTransitionError('transaction', id, f, to);
  return to;
}

/**
 * Moves one record from `from` to `to` in the database, the move checked against RECORD_TRANSITIONS
 * first (a StateTransitionError naming the record otherwise), and made only while the row is still
 * in `from` (and matches `where`); `set` adds columns written with it. Resolves to the rows changed (0 or 1).
 */
export async function moveRecord(
  q: Queryable,
  m: {
    readonly encounterKey: string;
    readonly consultationKey: string;
    readonly from: RecordState;
    readonly to: RecordState;
    readonly set?: { readonly sql: string; readonly params: readonly SqlValue[] };
    readonly where?: { readonly sql: string; readonly params: readonly SqlValue[] };
  },
): Promise<number> {
  const to = checkRecordTransition(`${m.encounterKey} ${m.consultationKey}`, m.from, m.to);
  return q.run(
    `UPDATE consultations SET state = ?${m.set ? `, ${m.set.sql}` : ''} WHERE encounter_key = ? AND consultation_key = ? AND state = ?${m.where ? ` AND ${m.where.sql}` : ''}`,
    [to, ...(m.set?.params ?? []), m.encounterKey, m.consultationKey, m.from, ...(m.where?.params ?? [])],
  );
}
