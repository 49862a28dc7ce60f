// Reading rows: every column is parsed, never cast. A row that does not hold what the schema says
// (a corrupt or hand-edited database) throws StoreCorruptError naming the table and column,
// instead of turning into an empty or half-typed record.
import { z } from 'zod';
import type { Problem } from '../cdsr/problem.js';
import { TransactionSchema, TransactionStatusSchema, type Transaction, type TransactionStatus } from '../cdsr/schema.js';
import type { ConsultationState, EncounterState, FieldMap, FieldValue } from '../mapping/merge.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { Exclusion, PartialRecord } from '../mapping/record.js';
import { StoreCorruptError, type Row } from './sql.js';

/** Reads the columns of one row of one table. */
export class RowReader {
  constructor(
    private readonly table: string,
    private readonly row: Row,
  ) {}

  private fail(column: string, expected: string): never {
    throw new StoreCorruptError(`${this.table}.${column}: expected ${expected}, found ${typeof this.row[column]}`);
  }

  text(column: string): string {
    const v = this.row[column];
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    return this.fail(column, 'text');
  }

  optText(column: string): string | undefined {
    const v = this.row[column];
    return v === null || v === undefined || v === '' ? undefined : this.text(column);
  }

  int(column: string): number {
    const v = this.row[column];
    const n = typeof v === 'number' ? v : typeof v === 'bigint' || typeof v === 'string' ? Number(v) : NaN;
    return Number.isSafeInteger(n) ? n : this.fail(column, 'an integer');
  }

  /** An integer column that may be NULL (or not selected). */
  optInt(column: string): number | undefined {
    const v = this.row[column];
    return v === null || v === undefined ? undefined : this.int(column);
  }

  oneOf<T extends string>(column: string, values: readonly T[]): T {
    const v = this.text(column);
    return (values as readonly string[]).includes(v) ? (v as T) : this.fail(column, `one of ${values.join(', ')}`);
  }

  /** A JSON column read through its schema; `fallback` when the column is null. */
  json<T>(column: string, schema: z.ZodType<T>, fallback: T): T {
    const v = this.row[column];
    if (v === null || v === undefined || v === '') return fallback;
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.text(column)) as unknown;
    } catch {
      return this.fail(column, 'JSON');
    }
    const r = schema.safeParse(parsed);
    if (!r.success)
      throw new StoreCorruptError(
        `${this.table}.${column}: ${r.error.issues[0]?.message ?? 'unexpected content'} at ${r.error.issues[0]?.path.join('.') ?? ''}`,
      );
    return r.data;
  }
}

export const row = (table: string, r: Row): RowReader => new RowReader(table, r);

// The shapes of the JSON columns (written by this code, read back through these).
export const FieldValueSchema: z.ZodType<FieldValue> = z.object({
  value: z.string(),
  time: z.string(),
  seq: z.number(),
  source: z.string(),
  rule: z.string().optional(),
  crosswalk: z.string().optional(),
  guess: z.string().optional(),
});
/**
 * The exclusion column: { rule, crosswalk, raw }, or (moved there by migration 13 from a cancel
 * flag written before it) a flag whose rule reads `<rule> excluded "<raw>"`.
 */
export const ExclusionSchema: z.ZodType<Exclusion> = z.union([
  z.object({ rule: z.string(), crosswalk: z.string(), raw: z.string() }),
  z.object({ value: z.literal('cancelled'), rule: z.string().regex(/^.* excluded ".*"$/s), crosswalk: z.string() }).transform((f) => {
    const m = /^(.*) excluded "(.*)"$/s.exec(f.rule);
    return { rule: m?.[1] ?? f.rule, crosswalk: f.crosswalk, raw: m?.[2] ?? '' };
  }),
]);
export const FieldMapSchema: z.ZodType<FieldMap> = z.record(z.string(), FieldValueSchema);
export const ProblemsSchema = z.array(
  z.looseObject({ code: z.string(), message: z.string(), severity: z.enum(['error', 'warning']), scope: z.string(), path: z.string() }),
) as unknown as z.ZodType<Problem[]>;
export const StringListSchema = z.array(z.string());
export const CredentialMetaSchema = z.record(z.string(), z.unknown());
export const TransactionBodySchema: z.ZodType<Transaction> = TransactionSchema;
export const NrdrStatusSchema: z.ZodType<TransactionStatus> = TransactionStatusSchema;
export const PartialRecordSchema = z.looseObject({
  source: z.object({ kind: z.enum(['hl7v2', 'fhir']), type: z.string(), role: z.string(), id: z.string() }),
  facilityId: z.string(),
  encounterId: z.string(),
  cancelled: z.boolean(),
  sourceTime: z.string(),
  encounterFields: z.record(z.string(), z.string()),
  consultationFields: z.record(z.string(), z.string()),
  trace: z.array(z.looseObject({ field: z.string() })),
}) as unknown as z.ZodType<PartialRecord>;

/** A stored mapping outcome (written by this code): its disposition read strictly, its records as PartialRecordSchema reads them. */
export const MapOutcomeSchema = z.looseObject({
  disposition: z.enum(['mapped', 'error', 'unsupported', 'invalid']),
  problems: z.array(z.looseObject({ code: z.string() })),
  records: z.array(PartialRecordSchema).optional(),
}) as unknown as z.ZodType<MapOutcome>;

/** Merge state from an encounter row and its consultation rows. */
export function encounterFromRows(e: Row, consultationRows: readonly Row[]): EncounterState {
  const consultations = new Map<string, ConsultationState>();
  for (const c of consultationRows) {
    const r = row('consultations', c);
    const cancelled = r.json<FieldValue | null>('cancelled', FieldValueSchema, null);
    const exclusion = r.json<Exclusion | null>('exclusion', ExclusionSchema, null);
    const keyRank = r.optInt('key_rank');
    consultations.set(r.text('consultation_key'), {
      date: r.text('cdate'),
      time: r.text('ctime'),
      ...(keyRank !== undefined ? { keyRank } : {}),
      fields: r.json('fields', FieldMapSchema, {}),
      ...(cancelled ? { cancelled } : {}),
      ...(exclusion ? { exclusion } : {}),
    });
  }
  const r = row('encounters', e);
  const partnerId = r.optText('partner_id');
  return {
    facilityId: r.text('facility_id'),
    encounterId: r.text('encounter_id'),
    ...(partnerId !== undefined ? { partnerId } : {}),
    fields: r.json('fields', FieldMapSchema, {}),
    consultationDefaults: r.json('consultation_defaults', FieldMapSchema, {}),
    consultations,
  };
}
