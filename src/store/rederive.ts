// Re-derivation: a set of encounters (a unit) rebuilt from every message that touched them, in
// arrival order, through the outcomes the caller re-mapped with the tables in force (a message it
// did not re-map keeps the outcome stored with it). The same fold as ingest (derive.ts); what it
// changes is returned field by field, and written only when asked (a dry run writes nothing).
import type { CdsrValidator } from '../cdsr/validate.js';
import type { Problem } from '../cdsr/problem.js';
import type { EncounterState } from '../mapping/merge.js';
import { orderKeysOf } from '../mapping/merge.js';
import type { MapOutcome } from '../mapping/outcome.js';
import { derive, encountersOf } from './derive.js';
import { SUBMISSION_STATES, type RecordState } from './evaluate.js';
import { checkMessageTransition } from './states.js';
import { planEncounter, readEncounters, wireValues, writeEncounter, type StoredEncounter } from './encounter-rows.js';
import { rebuildLedger } from './ledger.js';
import { insertOrphan, upsertOrderIndex } from './merge-rows.js';
import { MapOutcomeSchema, ProblemsSchema, row } from './rows.js';
import { chunks, later, marks, storedForm, tuples, type Queryable, type TxQueryable } from './sql.js';
import type { MessageStatus } from './message-statuses.js';

/** One field of a consultation whose value would change (values as NRDR receives them; absent = not sent). */
export interface FieldChange {
  readonly field: string;
  readonly before?: string;
  readonly after?: string;
}

/** What re-deriving does to one consultation. */
export interface ConsultationChange {
  readonly encounterKey: string;
  readonly consultationKey: string;
  /** added: a new key; removed: gone, never at NRDR; retracted: gone or cancelled while NRDR may hold it; changed: content or state. */
  readonly change: 'added' | 'removed' | 'retracted' | 'changed';
  readonly stateBefore?: RecordState;
  readonly stateAfter?: RecordState;
  readonly fields: readonly FieldChange[];
  /** It was sent to NRDR and will be sent again (NRDR updates it by its key). */
  readonly resend: boolean;
  /** NRDR may hold it under a key or content that is no longer right: the site retracts it there. */
  readonly retraction: boolean;
}

export interface MessageChange {
  readonly id: number;
  readonly statusBefore: MessageStatus;
  readonly statusAfter: MessageStatus;
  readonly problems: readonly Problem[];
}

export type UnitResult =
  | {
      readonly kind: 'done';
      readonly encounterKeys: readonly string[];
      readonly changes: readonly ConsultationChange[];
      readonly messages: readonly MessageChange[];
      readonly unchanged: number;
    }
  /** A message of the unit touches encounters outside it: run again with these too. */
  | { readonly kind: 'grow'; readonly encounterKeys: readonly string[] }
  /** Cannot be derived (a message with neither its text nor a stored outcome): left as it is. */
  | { readonly kind: 'skipped'; readonly reason: string };

export interface RederiveOptions {
  readonly apply: boolean;
  readonly at: Date;
  /** Who asked (the key by role and position), and why (the reprocessing run), for the record history. */
  readonly who: string;
  readonly why: string;
  /** Leave the unit as it is when applying it would change what NRDR was sent (it is counted as skipped). */
  readonly keepSent?: boolean;
  /** The reprocessing run this unit belongs to: its progress and changes are written in the unit's transaction. */
  readonly run?: { readonly id: number; readonly unit: string };
}

interface UnitRow {
  readonly id: number;
  readonly receivedAt: Date;
  readonly status: MessageStatus;
  readonly problems: Problem[];
  readonly outcome: MapOutcome | undefined;
  readonly purged: boolean;
}

/** The message ids of a unit: every message of its encounters, and the ones named. */
export async function unitMessageIds(q: Queryable, encounterKeys: readonly string[], messageIds: readonly number[]): Promise<number[]> {
  const ids = new Set(messageIds);
  for (const part of chunks(encounterKeys)) {
    for (const r of await q.all(`SELECT message_id FROM message_encounters WHERE encounter_key IN (${marks(part.length)})`, part))
      ids.add(row('message_encounters', r).int('message_id'));
  }
  return [...ids].sort((a, b) => a - b);
}

export async function rederiveUnit(
  q: TxQueryable,
  validator: CdsrValidator,
  unit: { readonly encounterKeys: readonly string[]; readonly messageIds: readonly number[] },
  remapped: ReadonlyMap<number, MapOutcome>,
  opts: RederiveOptions,
): Promise<UnitResult> {
  const orderKeys = [...remapped.values()].flatMap((o) => (o.disposition === 'mapped' ? o.records.flatMap((r) => orderKeysOf(r)) : []));
  await q.lock([...unit.encounterKeys, ...orderKeys]);
  // read under the locks: a message that arrived after the caller mapped the unit sends it round again (below)
  const ids = await unitMessageIds(q, unit.encounterKeys, unit.messageIds);
  const rows: UnitRow[] = [];
  for (const part of chunks(ids)) {
    for (const r of await q.all(
      `SELECT id, received_at, status, problems, outcome, raw_purged_at FROM inbound_messages WHERE id IN (${marks(part.length)}) ORDER BY id`,
      part,
    )) {
      const m = row('inbound_messages', r);
      const status = m.text('status') as MessageStatus;
      // a resend and a body that was not HL7 or FHIR stand for nothing in a record
      if (status === 'duplicate' || status === 'rejected') continue;
      rows.push({
        id: m.int('id'),
        receivedAt: new Date(m.text('received_at')),
        status,
        problems: m.json('problems', ProblemsSchema, []),
        outcome: m.json<MapOutcome | null>('outcome', MapOutcomeSchema, null) ?? undefined,
        purged: m.optText('raw_purged_at') !== undefined,
      });
    }
  }
  const inputs: { id: number; receivedAt: Date; outcome: MapOutcome }[] = [];
  for (const m of rows) {
    const outcome =
      remapped.get(m.id) ??
      (m.purged ? m.outcome : undefined) ??
      (m.status === 'ignored' ? ({ disposition: 'unsupported', problems: m.problems } as const) : undefined);
    if (outcome) {
      // as ingest merged it (a FHIR resource's text keeps a NUL or a lone surrogate as an escape)
      inputs.push({ id: m.id, receivedAt: m.receivedAt, outcome: storedForm(outcome) });
      continue;
    }
    if (m.purged) return { kind: 'skipped', reason: `message ${m.id} has neither its text nor an outcome kept for it (purged before outcomes were kept)` };
    // arrived while the unit was being mapped: map it too, and try again
    return { kind: 'grow', encounterKeys: unit.encounterKeys };
  }
  const keys = new Set(unit.encounterKeys);
  const outside = [...new Set(inputs.flatMap((m) => encountersOf(m.outcome)).filter((k) => !keys.has(k)))];
  if (outside.length > 0) return { kind: 'grow', encounterKeys: [...unit.encounterKeys, ...outside].sort() };

  const d = derive(inputs);
  const stored = await readEncounters(q, unit.encounterKeys);
  const changes: ConsultationChange[] = [];
  let unchanged = 0;
  const plans = unit.encounterKeys.map((key) => {
    const before = stored.get(key)!;
    const after = d.state.encounters.get(key);
    const plan = planEncounter(validator, after, before.previous);
    const found = diffEncounter(key, before, after, plan);
    changes.push(...found.changes);
    unchanged += found.unchanged;
    return { key, after, plan };
  });
  const messages: MessageChange[] = rows.flatMap((m) => {
    const now = d.messages.get(m.id);
    if (!now || (now.status === m.status && JSON.stringify(now.problems) === JSON.stringify(m.problems))) return [];
    return [{ id: m.id, statusBefore: m.status, statusAfter: now.status, problems: now.problems }];
  });
  if (!opts.apply) return { kind: 'done', encounterKeys: unit.encounterKeys, changes, messages, unchanged };
  const sent = changes.filter(
    (c) =>
      c.retraction || c.resend || (c.stateBefore !== undefined && (SUBMISSION_STATES.has(c.stateBefore) || c.stateBefore === 'cancelled-after-submission')),
  );
  if (opts.keepSent === true && sent.length > 0) {
    return { kind: 'skipped', reason: `it would change ${sent.length} consultation(s) already sent to NRDR: preview it and apply it by hand` };
  }

  const seq = ids[ids.length - 1] ?? 0;
  for (const m of messages)
    await q.run('UPDATE inbound_messages SET status = ?, problems = ? WHERE id = ?', [
      checkMessageTransition(m.id, m.statusBefore, m.statusAfter),
      JSON.stringify(m.problems),
      m.id,
    ]);
  await indexMessages(q, inputs);
  for (const part of chunks([...unit.encounterKeys])) await q.run(`DELETE FROM order_index WHERE encounter_key IN (${marks(part.length)})`, part);
  await upsertOrderIndex(q, d.state.orderEntries());
  for (const part of chunks(ids)) await q.run(`DELETE FROM orphans WHERE seq IN (${marks(part.length)})`, part);
  for (const [k, list] of d.state.orphanEntries()) for (const e of list) await insertOrphan(q, k, e);
  for (const p of plans) await writeEncounter(q, p.key, p.after, p.plan, seq);
  await rebuildLedger(q, ids, d.events);
  for (const c of changes) {
    if (c.stateBefore === undefined || !(SUBMISSION_STATES.has(c.stateBefore) || c.retraction)) continue;
    // nothing NRDR was sent changes silently: the record's history says what and why
    const what = c.fields.length > 0 ? `${c.fields.map((f) => f.field).join(', ')} changed` : 'state changed';
    const tx = stored.get(c.encounterKey)?.previous.get(c.consultationKey)?.transactionId ?? null;
    await q.run(
      'INSERT INTO record_history (encounter_key, consultation_key, at, from_state, to_state, who, why, transaction_id, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        c.encounterKey,
        c.consultationKey,
        opts.at.toISOString(),
        c.stateBefore,
        c.stateAfter ?? 'removed',
        opts.who,
        `${opts.why}: ${c.change === 'retracted' ? 'its key is no longer in the record (retract it at NRDR)' : what}`,
        tx,
        '[]',
      ],
    );
  }
  return { kind: 'done', encounterKeys: unit.encounterKeys, changes, messages, unchanged };
}

/**
 * The outcome kept with a message whose text retention purges (what a re-derivation takes for it
 * from then on). Of each trace entry it keeps what
 * the merge reads (field, rule, crosswalk row, guess, the value), not the raw source value nor its
 * path (those stay in the message's text, for as long as it is kept), nor the `when` skips (they
 * quote source values); nor the rules that found nothing.
 */
export function storedOutcome(outcome: MapOutcome): string | null {
  if (outcome.disposition === 'error') return JSON.stringify(outcome);
  if (outcome.disposition !== 'mapped') return null;
  const records = outcome.records.map(({ misses: _misses, ...r }) => ({
    ...r,
    trace: r.trace.map(({ skipped: _skipped, ...t }) => ({ ...t, raw: '', path: '' })),
  }));
  return JSON.stringify({ ...outcome, records });
}

/** Which encounters each message touches (the unit a re-derivation of it takes); `fresh`: new messages, nothing to replace. */
export async function indexMessages(q: TxQueryable, messages: readonly { id: number; outcome: MapOutcome }[], fresh = false): Promise<void> {
  if (!fresh)
    for (const part of chunks(messages.map((m) => m.id))) await later(q, `DELETE FROM message_encounters WHERE message_id IN (${marks(part.length)})`, part);
  const pairs = messages.flatMap((m) => encountersOf(m.outcome).map((k) => [k, m.id] as const));
  for (const part of chunks(pairs)) {
    await later(
      q,
      `INSERT INTO message_encounters (encounter_key, message_id) VALUES ${tuples(part.length, 2)} ON CONFLICT DO NOTHING`,
      part.flatMap(([k, id]) => [k, id]),
    );
  }
}

function diffEncounter(
  key: string,
  before: StoredEncounter,
  after: EncounterState | undefined,
  plan: ReturnType<typeof planEncounter>,
): { changes: ConsultationChange[]; unchanged: number } {
  const changes: ConsultationChange[] = [];
  let unchanged = 0;
  const next = new Map<string, RecordState>(plan.writes.map((w) => [w.consultationKey, w.state]));
  for (const r of plan.removals) if (r.retract) next.set(r.consultationKey, 'cancelled-after-submission');
  const all = [...new Set([...before.previous.keys(), ...next.keys()])].sort();
  for (const cKey of all) {
    const stateBefore = before.previous.get(cKey)?.state;
    const stateAfter = next.get(cKey);
    const was = before.enc ? wireValues(before.enc, cKey) : undefined;
    const removal = plan.removals.find((r) => r.consultationKey === cKey);
    const is = removal ? undefined : after ? wireValues(after, cKey) : undefined;
    const fields: FieldChange[] = [];
    if (!removal) {
      for (const f of [...new Set([...Object.keys(was ?? {}), ...Object.keys(is ?? {})])].sort()) {
        const b = was?.[f];
        const a = is?.[f];
        if (b !== a) fields.push({ field: f, ...(b !== undefined ? { before: b } : {}), ...(a !== undefined ? { after: a } : {}) });
      }
    }
    if (fields.length === 0 && stateBefore === stateAfter) {
      unchanged++;
      continue;
    }
    const retracted = stateAfter === 'cancelled-after-submission' && stateBefore !== 'cancelled-after-submission';
    const change = stateBefore === undefined ? 'added' : removal && !removal.retract ? 'removed' : retracted ? 'retracted' : 'changed';
    changes.push({
      encounterKey: key,
      consultationKey: cKey,
      change,
      ...(stateBefore !== undefined ? { stateBefore } : {}),
      ...(stateAfter !== undefined ? { stateAfter } : {}),
      fields,
      resend: stateAfter === 'ready' && stateBefore !== undefined && SUBMISSION_STATES.has(stateBefore),
      retraction: retracted,
    });
  }
  return { changes, unchanged };
}
