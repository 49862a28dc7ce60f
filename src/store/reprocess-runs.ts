// Reprocessing runs: which messages an analyst chose, how far the run got (a cursor over its units,
// so a run stopped by a crash resumes where it was), and every change it found or made, kept for
// the preview and the record history.
import { z } from 'zod';
import type { ConsultationChange, UnitResult } from './rederive.js';
import { row } from './rows.js';
import { chunks, marks, tuples, type Queryable, type Row, type TxQueryable } from './sql.js';
import { CHANNELS, MESSAGE_STATUSES } from './message-statuses.js';

/** Which messages a reprocessing takes (every filter given must match; none: `all` must be set). */
export const ReprocessSelectionSchema = z
  .object({
    facility: z.string().min(1).optional(),
    /** Unique_Encounter_ID (with `facility`, that one encounter). */
    encounter: z.string().min(1).optional(),
    /** Any of an order's numbers (placer, filler, accession). */
    order: z.string().min(1).optional(),
    sender: z.string().min(1).optional(),
    channel: z.enum(CHANNELS).optional(),
    status: z.enum(MESSAGE_STATUSES).optional(),
    /** Received on or after (ISO 8601). */
    from: z.string().min(1).optional(),
    /** Received before (ISO 8601). */
    to: z.string().min(1).optional(),
    /** Records held incomplete or invalid, results waiting for their order, and the error queue. */
    held: z.boolean().optional(),
    messageIds: z.array(z.number().int().positive()).optional(),
    all: z.boolean().optional(),
    /** Applied, a unit that would change a consultation already sent to NRDR is left for a person to preview (the automatic run after a reload). */
    keepSent: z.boolean().optional(),
  })
  .strict();
export type ReprocessSelection = z.infer<typeof ReprocessSelectionSchema>;

export const REPROCESS_STATUSES = ['running', 'done', 'failed'] as const;
export type ReprocessStatus = (typeof REPROCESS_STATUSES)[number];

export interface ReprocessSummary {
  /** Encounters (or lone messages) re-derived. */
  readonly units: number;
  readonly unchanged: number;
  /** Consultations by what happens to them: added, removed, retracted, changed. */
  readonly byChange: Record<string, number>;
  /** Sent to NRDR before and sent again (NRDR updates them by their key). */
  readonly resend: number;
  /** NRDR may hold a key or content that is gone: the site retracts it there. */
  readonly retractions: number;
  /** Messages whose status changes, as `applied → error`. */
  readonly messages: Record<string, number>;
  /** Units left as they were, with why (at most 20 listed). */
  readonly skipped: readonly string[];
}

export const EMPTY_SUMMARY: ReprocessSummary = { units: 0, unchanged: 0, byChange: {}, resend: 0, retractions: 0, messages: {}, skipped: [] };

const SummarySchema = z.object({
  units: z.number(),
  unchanged: z.number(),
  byChange: z.record(z.string(), z.number()),
  resend: z.number(),
  retractions: z.number(),
  messages: z.record(z.string(), z.number()),
  skipped: z.array(z.string()),
});

export interface ReprocessRun {
  readonly id: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly who: string;
  /** false: a dry run (a preview: nothing but this run is written). */
  readonly apply: boolean;
  readonly selection: ReprocessSelection;
  readonly status: ReprocessStatus;
  readonly total: number;
  readonly done: number;
  /** The last unit finished (units go in key order). */
  readonly cursor: string;
  readonly summary: ReprocessSummary;
  /** The tables in force when it started (their generation and folder). */
  readonly tables: string;
  readonly error?: string;
}

function runFromRow(r: Row): ReprocessRun {
  const x = row('reprocess_runs', r);
  const error = x.optText('error');
  return {
    id: x.int('id'),
    createdAt: x.text('created_at'),
    updatedAt: x.text('updated_at'),
    who: x.text('who'),
    apply: x.int('apply') === 1,
    selection: x.json('selection', ReprocessSelectionSchema, {}),
    status: x.oneOf('status', REPROCESS_STATUSES),
    total: x.int('total'),
    done: x.int('done'),
    cursor: x.text('cursor'),
    summary: x.json('summary', SummarySchema, EMPTY_SUMMARY),
    tables: x.text('tables'),
    ...(error !== undefined ? { error } : {}),
  };
}

export async function createRun(
  q: Queryable,
  r: { who: string; apply: boolean; selection: ReprocessSelection; total: number; tables: string },
  at: Date,
): Promise<number> {
  const got = await q.get(
    `INSERT INTO reprocess_runs (created_at, updated_at, who, apply, selection, status, total, done, cursor, summary, tables)
     VALUES (?, ?, ?, ?, ?, 'running', ?, 0, '', ?, ?) RETURNING id`,
    [at.toISOString(), at.toISOString(), r.who, r.apply ? 1 : 0, JSON.stringify(r.selection), r.total, JSON.stringify(EMPTY_SUMMARY), r.tables],
  );
  return row('reprocess_runs', got ?? {}).int('id');
}

export async function readRun(q: Queryable, id: number): Promise<ReprocessRun | undefined> {
  const r = await q.get('SELECT * FROM reprocess_runs WHERE id = ?', [id]);
  return r ? runFromRow(r) : undefined;
}

export async function listRuns(q: Queryable, f: { status?: ReprocessStatus; limit?: number }): Promise<ReprocessRun[]> {
  const rows = await q.all('SELECT * FROM reprocess_runs WHERE (CAST(? AS TEXT) IS NULL OR status = ?) ORDER BY id DESC LIMIT ?', [
    f.status ?? null,
    f.status ?? null,
    f.limit ?? 50,
  ]);
  return rows.map(runFromRow);
}

/** Adds one unit's result to its run, in the unit's own transaction (a crash loses neither or both). */
export async function recordUnit(q: TxQueryable, runId: number, unitKey: string, result: UnitResult, at: Date): Promise<void> {
  await q.lock([`reprocess|${runId}`]);
  const run = await readRun(q, runId);
  if (!run) return;
  const s = run.summary;
  const byChange = { ...s.byChange };
  const messages = { ...s.messages };
  let { unchanged, resend, retractions } = s;
  const skipped = [...s.skipped];
  if (result.kind === 'done') {
    unchanged += result.unchanged;
    for (const c of result.changes) {
      byChange[c.change] = (byChange[c.change] ?? 0) + 1;
      if (c.resend) resend++;
      if (c.retraction) retractions++;
    }
    for (const m of result.messages) messages[`${m.statusBefore} → ${m.statusAfter}`] = (messages[`${m.statusBefore} → ${m.statusAfter}`] ?? 0) + 1;
    for (const part of chunks(result.changes)) {
      await q.run(
        `INSERT INTO reprocess_changes (run_id, encounter_key, consultation_key, change) VALUES ${tuples(part.length, 4)}`,
        part.flatMap((c) => [runId, c.encounterKey, c.consultationKey, JSON.stringify(c)]),
      );
    }
  } else if (result.kind === 'skipped' && skipped.length < 20) skipped.push(`${unitKey}: ${result.reason}`);
  const summary: ReprocessSummary = { units: s.units + 1, unchanged, byChange, resend, retractions, messages, skipped };
  await q.run('UPDATE reprocess_runs SET done = done + 1, cursor = ?, summary = ?, updated_at = ? WHERE id = ?', [
    unitKey,
    JSON.stringify(summary),
    at.toISOString(),
    runId,
  ]);
}

export async function finishRun(q: Queryable, id: number, status: ReprocessStatus, at: Date, error?: string): Promise<void> {
  await q.run('UPDATE reprocess_runs SET status = ?, updated_at = ?, error = ? WHERE id = ?', [status, at.toISOString(), error ?? null, id]);
}

const ChangeSchema = z.looseObject({
  encounterKey: z.string(),
  consultationKey: z.string(),
  change: z.string(),
  fields: z.array(z.looseObject({ field: z.string() })),
}) as unknown as z.ZodType<ConsultationChange>;

export async function runChanges(q: Queryable, runId: number, f: { after?: number; limit?: number }): Promise<{ id: number; change: ConsultationChange }[]> {
  const rows = await q.all('SELECT id, change FROM reprocess_changes WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?', [runId, f.after ?? 0, f.limit ?? 100]);
  return rows.map((r) => {
    const x = row('reprocess_changes', r);
    return {
      id: x.int('id'),
      change: x.json('change', ChangeSchema, { encounterKey: '', consultationKey: '', change: 'changed', fields: [], resend: false, retraction: false }),
    };
  });
}

/**
 * The units a selection takes, in key order: `e:<encounter key>` for an encounter (with every
 * message of it), `m:<id>` for a message that touches no encounter (an error before its
 * encounter was known, a type the tables ignored).
 */
export async function selectUnits(q: Queryable, s: ReprocessSelection): Promise<string[]> {
  const where: string[] = ["m.status NOT IN ('duplicate', 'rejected')"];
  const params: (string | number)[] = [];
  const cond = (sql: string, ...values: (string | number)[]) => {
    where.push(sql);
    params.push(...values);
  };
  if (s.status !== undefined) cond('m.status = ?', s.status);
  if (s.channel !== undefined) cond('m.channel = ?', s.channel);
  if (s.sender !== undefined) cond('m.sender = ?', s.sender);
  if (s.from !== undefined) cond('m.received_at >= ?', s.from);
  if (s.to !== undefined) cond('m.received_at < ?', s.to);
  if (s.facility !== undefined) cond('SUBSTR(me.encounter_key, 1, ?) = ?', s.facility.length + 1, `${s.facility}|`);
  if (s.encounter !== undefined) cond('me.encounter_key IN (SELECT encounter_key FROM encounters WHERE encounter_id = ?)', s.encounter);
  if (s.order !== undefined)
    cond('m.id IN (SELECT om.message_id FROM order_messages om JOIN order_numbers n ON n.order_id = om.order_id WHERE n.number = ?)', s.order);
  if (s.held === true) {
    where.push(
      `(m.status = 'error' OR m.id IN (SELECT seq FROM orphans)
        OR me.encounter_key IN (SELECT encounter_key FROM consultations WHERE state IN ('incomplete', 'invalid')))`,
    );
  }
  if (s.messageIds !== undefined) {
    if (s.messageIds.length === 0) return [];
    cond(`m.id IN (${marks(s.messageIds.length)})`, ...s.messageIds);
  }
  const rows = await q.all(
    `SELECT m.id, me.encounter_key FROM inbound_messages m LEFT JOIN message_encounters me ON me.message_id = m.id WHERE ${where.join(' AND ')}`,
    params,
  );
  const units = new Set<string>();
  for (const r of rows) {
    const x = row('inbound_messages', r);
    const key = x.optText('encounter_key');
    units.add(key !== undefined ? `e:${key}` : `m:${String(x.int('id')).padStart(12, '0')}`);
  }
  return [...units].sort();
}
