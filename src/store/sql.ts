// The small interface every database dialect implements for the store (kysely's model: dialects
// side by side behind one interface). The store writes its SQL once, with `?` placeholders; a
// dialect holds only what truly differs: how statements run, how a transaction is opened and
// grouped, locking, and which failures mean "the database is unavailable".
import { AdapterError } from '../cdsr/errors.js';

export type Dialect = 'sqlite' | 'postgres';
export type SqlValue = string | number | null;
/** A row as the driver returns it; read it with the parsers of rows.ts, never cast it. */
export type Row = Readonly<Record<string, unknown>>;

export interface Queryable {
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** Runs a statement; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/** A statement that reads, with its values: see `readAll`. */
export interface Read {
  readonly sql: string;
  readonly params: readonly SqlValue[];
}

export interface TxQueryable extends Queryable {
  /** Holds these keys until the transaction ends (PostgreSQL advisory locks; SQLite has one writer). */
  lock(keys: readonly string[]): Promise<void>;
  /**
   * A statement whose count nobody reads: PostgreSQL sends it in one round trip with the next
   * statement of the transaction, or with its COMMIT; SQLite runs it at once. Its failure fails
   * the transaction (where it surfaces may be a later statement).
   */
  defer?(sql: string, params?: readonly SqlValue[]): Promise<void>;
  /**
   * Several reads whose parameters are all known: PostgreSQL sends them in one round trip, after
   * the statements waiting to go (`defer`, the locks); SQLite runs them one after another. Each
   * read's rows, in the order given.
   */
  allOf?(reads: readonly Read[]): Promise<Row[][]>;
}

/** The rows of each read, in one round trip where the dialect can (see `allOf`). */
export async function readAll(q: Queryable, reads: readonly Read[]): Promise<Row[][]> {
  const tx = q as Partial<TxQueryable>;
  if (tx.allOf) return tx.allOf(reads);
  const out: Row[][] = [];
  for (const r of reads) out.push(await q.all(r.sql, r.params));
  return out;
}

/** A list cut into consecutive parts of the lengths given (the rows of reads sent together, by whom asked for them). */
export function split<T>(list: readonly T[], lengths: readonly number[]): T[][] {
  const total = lengths.reduce((a, b) => a + b, 0);
  if (total !== list.length) throw new Error(`${list.length} results for ${total} reads`);
  let at = 0;
  return lengths.map((n) => list.slice(at, (at += n)));
}

/**
 * PostgreSQL: the read that takes the next id of a table (its BIGSERIAL), so that the row is
 * written later with it and nothing waits for an INSERT's RETURNING; undefined on SQLite, where
 * the INSERT's RETURNING costs no round trip. The id is taken whatever follows: a transaction
 * rolled back leaves a gap, as an INSERT rolled back does.
 */
export function nextIdRead(dialect: Dialect, table: string): Read | undefined {
  return dialect === 'postgres' ? { sql: `SELECT nextval(pg_get_serial_sequence('${table}', 'id')) AS id`, params: [] } : undefined;
}

/** Runs a write whose count is not needed, deferred where the dialect can send it with the next statement (see `defer`). */
export function later(q: Queryable, sql: string, params?: readonly SqlValue[]): Promise<void> {
  const tx = q as Partial<TxQueryable>;
  return tx.defer ? tx.defer(sql, params) : q.run(sql, params).then(() => undefined);
}

/**
 * How a reclaim gave the space back: SQLite's incremental vacuum (freed pages zeroed, a step at a
 * time), PostgreSQL's rewrite of the purged tables (VACUUM FULL) or its plain VACUUM; and what it
 * could not reach, when something (a catalog it may not rewrite), said for the log.
 */
export interface Reclaim {
  readonly method: 'incremental' | 'rewrite' | 'vacuum';
  readonly leftover?: string;
}

export interface TransactionOptions {
  /** Not held by the gate: the store's own writes of a message's row and of the derived rows. */
  readonly ahead?: boolean;
  /**
   * false: what it writes can be derived again from what was synced before (SQLite: a commit of
   * such transactions alone is not synced before they resolve; the next synced commit covers it).
   */
  readonly durable?: boolean;
}

/** See `Executor.gate`. */
export interface LaneGate {
  /** Something is owed before a read (a read then waits for `caughtUp`). */
  owed(): boolean;
  caughtUp(): Promise<void>;
  /** Runs a transaction: `enqueue` puts a function in the lane as `transaction` would. */
  transaction<T>(fn: (q: TxQueryable) => Promise<T>, enqueue: <U>(f: (q: TxQueryable) => Promise<U>) => Promise<U>): Promise<T>;
}

export interface Executor extends Queryable {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in one database transaction: committed when it resolves, rolled back when it
   * throws. `fn` must only await this transaction's queries (SQLite groups concurrent
   * transactions into one commit, each in its own savepoint).
   */
  transaction<T>(fn: (q: TxQueryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * SQLite: what every read and every transaction but an `ahead` one goes through first (the
   * store's: the derived rows of the messages answered so far are written before anything reads
   * or writes the tables; sql-store.ts). One point for every caller, the store's own queries and
   * whoever else holds the executor.
   */
  gate?: LaneGate;
  /**
   * Where reads over every row go (the gauges of /metrics, the reconciliation): on SQLite a
   * read-only connection in a thread of its own, so that such a read never holds the event loop
   * that takes messages (half a second at 100,000 orders); on PostgreSQL the pool. It sees what
   * was committed before the read began.
   */
  readonly reports: Queryable;
  /** The database's size on disk, in bytes. */
  sizeBytes(): Promise<number>;
  /** Gives the space of deleted and purged rows back (after a retention purge); says how. */
  reclaimSpace(): Promise<Reclaim>;
  close(): Promise<void>;
}

/** The two parameters of an optional filter, `(CAST(? AS TEXT) IS NULL OR column = ?)`. */
export function either(value: string | undefined): [string | null, string | null] {
  return [value ?? null, value ?? null];
}

declare global {
  // ES2024, in every Node this runs on (20 and later); not in the ES2022 library this compiles with
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

/**
 * A text as both databases keep it: PostgreSQL refuses a NUL character, and half of a surrogate
 * pair without its other half has no UTF-8 form (SQLite would keep its three bytes, read back as
 * three U+FFFD), so each is stored as one U+FFFD: the same message reads back the same on either store.
 */
export function storedText(text: string): string {
  return text.includes('\u0000') || !text.isWellFormed() ? text.toWellFormed().replaceAll('\u0000', '\uFFFD') : text;
}

/** Parameters as both databases keep them (storedText). */
export function storable(params: readonly SqlValue[]): SqlValue[] {
  return params.map((v) => (typeof v === 'string' ? storedText(v) : v));
}

/**
 * A mapping outcome (or any plain data) with every text as the store gives it back (storedText).
 * A message is merged on these values, so that its keys match the rows read back for the next
 * message and what re-deriving its stored text gives; `value` itself when no text changes.
 */
export function storedForm<T>(value: T): T {
  if (typeof value === 'string') return storedText(value) as T;
  if (Array.isArray(value)) {
    const out = value.map((v: unknown) => storedForm(v));
    return (out.some((v, i) => v !== value[i]) ? out : value) as T;
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const entries: Record<string, unknown> = value as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(entries)) {
      const w = storedForm(v);
      const key = storedText(k);
      if (w !== v || key !== k) out ??= { ...entries };
      if (out === undefined) continue;
      if (key !== k) delete out[k];
      out[key] = w;
    }
    return (out ?? value) as T;
  }
  return value;
}

/** The database cannot be reached or written now (down, disk full, busy, shutting down): try again later. */
export class StoreUnavailableError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, options);
  }
}

/** A stored row does not hold what the schema says (a corrupt or hand-edited database). */
export class StoreCorruptError extends AdapterError {
  constructor(message: string) {
    super('STORE_CORRUPT', message);
  }
}

/**
 * The store holds migrations this build does not know: a newer build migrated it (an upgrade
 * rolled back). This build would write rows the newer schema reads otherwise; it does not start.
 */
export class StoreSchemaNewerError extends AdapterError {
  constructor(
    readonly storeVersion: number,
    readonly knownVersion: number,
  ) {
    super(
      'STORE_SCHEMA_NEWER',
      `the store is at schema version ${storeVersion}, and this cdsr-adapter knows versions up to ${knownVersion}: a newer build migrated it. Start that build again, or restore the backup taken before the upgrade (docs/operations.md "Upgrades")`,
    );
  }
}

/** A stored item asked for by id that is not there. */
export class StoreNotFoundError extends AdapterError {
  constructor(message: string) {
    super('STORE_NOT_FOUND', message);
  }
}

/**
 * A statement's text for n values, built once for each n and the same string after: the texts of
 * a message's reads are not built again for every message, and the prepared statement's cache
 * (keyed by text) finds a string whose hash is known instead of hashing and comparing a new one
 * of several hundred characters (about 4 µs a statement).
 */
export function byCount(build: (n: number) => string): (n: number) => string {
  const texts: string[] = [];
  return (n) => (texts[n] ??= build(n));
}

/** `?, ?, …` for n values. */
export const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** `(?, ?), (?, ?), …`: n rows of `width` values, for a multi-row VALUES. */
export const tuples = (n: number, width: number): string => Array.from({ length: n }, () => `(${marks(width)})`).join(', ');

/**
 * A list cut into parts of at most 50, for statements that take many values at once: a message
 * with hundreds of orders costs a few statements more, and the statement texts (each prepared
 * once) stay few.
 */
export function chunks<T>(list: readonly T[], size = 50): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
