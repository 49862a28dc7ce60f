// Records as a function of their messages. `applyMessage` is what one message does to the merge
// and to the order ledger; ingest runs it on the rows it read, and `derive` runs it over every
// message of a set of encounters, in arrival order, from an empty merge state. Both use this one
// function, so re-deriving an encounter from its messages gives what applying them live gave.
import type { Problem } from '../cdsr/problem.js';
import { applyRecord, encounterKey, MergeState, orderIdentity, type MergeRepository } from '../mapping/merge.js';
import { keyHeldProblem, orphanProblem, refusal } from '../mapping/merge-problems.js';
import type { MapOutcome, OrderIdentity } from '../mapping/outcome.js';
import type { LedgerEvent } from './ledger.js';
import type { MessageStatus } from './message-statuses.js';

/** The status a message is stored with, from its mapping outcome. */
export function statusForOutcome(outcome: MapOutcome): MessageStatus {
  switch (outcome.disposition) {
    case 'mapped':
      return 'applied';
    case 'error':
      return 'error';
    case 'unsupported':
      return 'ignored';
    case 'invalid':
      return 'rejected';
  }
}

export interface MessageApplication {
  readonly status: MessageStatus;
  readonly problems: Problem[];
  /** False when the merge refused one of its records: nothing of the message is merged (the caller drops the merge's changes). */
  readonly merged: boolean;
  readonly events: LedgerEvent[];
}

/**
 * One message over a merge repository: its records merged, its orders accounted for. A record the
 * merge refuses (a collision with another order, an order without a consultation key) keeps the
 * whole message out, in the error queue, and its orders held.
 */
export function applyMessage(repo: MergeRepository, outcome: MapOutcome, id: number, at: Date): MessageApplication {
  if (outcome.disposition !== 'mapped') {
    const events: LedgerEvent[] =
      outcome.disposition === 'error'
        ? (outcome.orders ?? []).map((identity, index) => ({
            identity,
            outcome: { kind: 'held', reason: outcome.hold ?? 'error', problems: outcome.problems },
            messageId: id,
            index,
            at,
          }))
        : [];
    return { status: statusForOutcome(outcome), problems: [...outcome.problems], merged: false, events };
  }
  const records = outcome.records;
  const results = records.map((r) => applyRecord(repo, r, id));
  const refused = results.flatMap((r, i) => (r.status === 'collision' || r.status === 'unkeyed' ? [refusal(records[i]!, r)] : []));
  if (refused.length > 0) {
    const problems = [...outcome.problems, ...refused];
    const events = records.flatMap((r, index): LedgerEvent[] =>
      r.source.role === 'encounter'
        ? []
        : [
            {
              identity: orderIdentity(r),
              outcome: { kind: 'held', reason: results[index]!.status === 'collision' ? 'collision' : 'error', problems },
              messageId: id,
              index,
              at,
            },
          ],
    );
    return { status: 'error', problems, merged: false, events };
  }
  const events: LedgerEvent[] = [];
  for (const [index, r] of records.entries()) {
    const res = results[index]!;
    if (r.source.role === 'encounter') continue;
    if (res.status === 'applied' && res.consultationKey !== undefined)
      events.push({ identity: orderIdentity(r), outcome: { kind: 'linked', consultationKey: res.consultationKey }, messageId: id, index, at });
    else if (res.status === 'orphan')
      events.push({
        identity: orderIdentity(r),
        outcome: { kind: 'held', reason: res.reason ?? 'orphan', problems: [orphanProblem(r, res)] },
        messageId: id,
        index,
        at,
      });
  }
  // an order whose better key another order holds is merged on its old key, with a warning saying so
  const kept = results.flatMap((res, i) => keyHeldProblem(records[i]!, res) ?? []);
  return { status: 'applied', problems: [...outcome.problems, ...kept], merged: true, events };
}

/**
 * Each order a message's ledger events may be about, by its place in the message (the `index` of
 * its events): a mapped message's records but its encounter records, an error's orders.
 */
export function orderIdentitiesOf(outcome: MapOutcome): (OrderIdentity | undefined)[] {
  if (outcome.disposition === 'mapped') return outcome.records.map((r) => (r.source.role === 'encounter' ? undefined : orderIdentity(r)));
  return outcome.disposition === 'error' ? [...(outcome.orders ?? [])] : [];
}

/** The encounters a mapping outcome touches: its records', and its held orders' where known. */
export function encountersOf(outcome: MapOutcome): string[] {
  const keys =
    outcome.disposition === 'mapped'
      ? outcome.records.map((r) => encounterKey(r.facilityId, r.encounterId))
      : outcome.disposition === 'error'
        ? (outcome.orders ?? []).filter((o) => o.facilityId !== '' && o.encounterId !== '').map((o) => encounterKey(o.facilityId, o.encounterId))
        : [];
  return [...new Set(keys)];
}

export interface StoredOutcome {
  readonly id: number;
  readonly receivedAt: Date;
  readonly outcome: MapOutcome;
}

export interface Derivation {
  /** The merged encounters, order index and waiting results of the messages. */
  readonly state: MergeState;
  /** The ledger's events, in arrival order. */
  readonly events: readonly LedgerEvent[];
  /** Each message's status and problems after the fold. */
  readonly messages: ReadonlyMap<number, { readonly status: MessageStatus; readonly problems: Problem[] }>;
}

/** Folds messages (any order given; applied in arrival order) into a fresh merge state. */
export function derive(messages: readonly StoredOutcome[]): Derivation {
  let state = new MergeState();
  const events: LedgerEvent[] = [];
  const out = new Map<number, { status: MessageStatus; problems: Problem[] }>();
  for (const m of [...messages].sort((a, b) => a.id - b.id)) {
    // a refused message leaves the merge as it was: the fold goes on from a copy
    const before = m.outcome.disposition === 'mapped' ? state.clone() : state;
    const done = applyMessage(state, m.outcome, m.id, m.receivedAt);
    if (!done.merged && m.outcome.disposition === 'mapped') state = before;
    events.push(...done.events);
    out.set(m.id, { status: done.status, problems: done.problems });
  }
  return { state, events, messages: out };
}
