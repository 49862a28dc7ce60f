// Counters kept, not counted: what /metrics and the console's overview show (messages by status,
// records by state, transactions by status, orders by state, retractions not acknowledged) is kept
// in `store_counters` by triggers on the rows themselves (migration 26), so that no code path can
// miss one and a read costs the same at 100 orders as at 10 million.
//
// An order's state is not stored by the ledger (it is read from its record: ledger.ts); the
// triggers keep a copy of it on the order row (`orders.kept_state`, `kept_reason`): written when
// the order is written (its hold, its link) and when its record's state, acknowledgement or
// exclusion changes. The copy is what the counters count and what the "oldest" gauges read, by
// the index `orders_kept (kept_reason, first_seen)`: MIN of an index range, no scan.
//
// PostgreSQL: many instances and their pools write at once, and a row changed by a transaction is
// locked until it commits: one row per counter, changed by every message, would put every message
// of every instance in one queue (and a row changed again and again in one transaction, as a
// re-derivation of many encounters does, costs more each time: each change leaves a version the
// next must step over until the commit). So a trigger changes no counter row there: it appends
// its +1/-1 to `store_counter_deltas` (no key, no index: an insert locks nothing another insert
// needs), and now and then (one change in 1,024, at random) folds the deltas committed so far into
// `store_counters` in one statement (DELETE … RETURNING, summed, added), under an advisory lock
// taken only if free (pg_try_advisory_xact_lock: a fold waits for nobody and is never waited for).
// A read sums both tables: the counters (a few dozen rows) and the deltas not folded yet (about a
// thousand, whatever the rows counted), with the folded ones' dead rows until autovacuum clears
// them (set to run past a thousand: in a busy minute some thousands, a millisecond or two). SQLite has one writer: its triggers add to the counter
// rows directly, and its deltas table stays empty.
//
// The SQL below is migration 26's, frozen as applied (migrations are never edited): the order
// state map it spells out is ledger.ts' `orderStateExpr` / `orderReasonExpr` of today, and
// counters.test.ts fails when those change, so that a change of the map comes with a migration
// that writes these triggers again.
import type { Dialect, Queryable } from './sql.js';
import { row } from './rows.js';

/** On PostgreSQL, one change of a counter in this many folds the deltas (see above). */
export const PG_FOLD_ONE_IN = 1024;

/** An order's state from its hold, record state and acknowledgement, as migration 26 spells it. */
export const KEPT_STATE_26 = (hold: string, state: string, ack: string): string =>
  `CASE WHEN ${hold} IS NOT NULL THEN 'held' WHEN ${state} IS NULL THEN 'held' ELSE CASE WHEN ${state} = 'incomplete' THEN 'held' WHEN ${state} = 'invalid' THEN 'held' WHEN ${state} = 'ready' THEN 'reported' WHEN ${state} = 'submitted' THEN 'reported' WHEN ${state} = 'accepted' THEN 'reported' WHEN ${state} = 'rejected' THEN 'held' WHEN ${state} = 'needs-review' THEN 'held' WHEN ${state} = 'cancelled' THEN 'excluded' WHEN ${state} = 'cancelled-after-submission' THEN CASE WHEN ${ack} IS NULL THEN 'held' ELSE 'excluded' END END END`;
/** An order's reason, likewise. */
export const KEPT_REASON_26 = (hold: string, state: string, exclusion: string): string =>
  `CASE WHEN ${hold} IS NOT NULL THEN ${hold} WHEN ${state} IS NULL THEN 'error'
  WHEN ${state} = 'cancelled' AND ${exclusion} IS NOT NULL THEN 'not-advanced-imaging'
  WHEN ${state} IN ('incomplete', 'invalid', 'rejected', 'needs-review', 'cancelled-after-submission', 'cancelled') THEN ${state} WHEN ${state} IN ('ready', 'submitted', 'accepted') THEN '' END`;

/** A statement both dialects run, or each its own (null: none in that dialect). */
export type Statement = string | { readonly sqlite: string | null; readonly postgres: string | null };

const OPEN = (c: string) => `${c}.state = 'cancelled-after-submission' AND ${c}.retraction_ack_at IS NULL`;

/** SQLite: add `delta` to counter `name`/`k` when `when` holds (a statement of a trigger's body). */
const bump = (name: string, k: string, delta: number, when: string): string =>
  `INSERT INTO store_counters (name, k, n) SELECT '${name}', ${k}, ${delta} WHERE ${when}
     ON CONFLICT (name, k) DO UPDATE SET n = n + excluded.n;`;

/** SQLite: the triggers counting a table's rows by one column. */
const sqliteStatusTriggers = (table: string, column: string, name: string): string[] => [
  `CREATE TRIGGER ${table}_count_insert AFTER INSERT ON ${table} BEGIN ${bump(name, `NEW.${column}`, 1, 'TRUE')} END`,
  `CREATE TRIGGER ${table}_count_delete AFTER DELETE ON ${table} BEGIN ${bump(name, `OLD.${column}`, -1, 'TRUE')} END`,
  `CREATE TRIGGER ${table}_count_update AFTER UPDATE OF ${column} ON ${table} WHEN OLD.${column} IS NOT NEW.${column} BEGIN
     ${bump(name, `OLD.${column}`, -1, 'TRUE')} ${bump(name, `NEW.${column}`, 1, 'TRUE')} END`,
];

/** PostgreSQL: the function and trigger counting a table's rows by one column. */
const pgStatusTrigger = (table: string, column: string, name: string): string[] => [
  `CREATE FUNCTION ${table}_count() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     IF TG_OP = 'INSERT' THEN PERFORM cdsr_count('${name}', NEW.${column}, 1);
     ELSIF TG_OP = 'DELETE' THEN PERFORM cdsr_count('${name}', OLD.${column}, -1);
     ELSIF OLD.${column} IS DISTINCT FROM NEW.${column} THEN
       PERFORM cdsr_count('${name}', OLD.${column}, -1);
       PERFORM cdsr_count('${name}', NEW.${column}, 1);
     END IF;
     RETURN NULL;
   END $$`,
  `CREATE TRIGGER ${table}_count AFTER INSERT OR DELETE OR UPDATE OF ${column} ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_count()`,
];

/** The kept state of an order row `o` (NEW, or the table's own name), read from its record now. */
const keptFrom = (o: string) =>
  `(SELECT ${KEPT_STATE_26(`${o}.hold`, 'c.state', 'c.retraction_ack_at')}, ${KEPT_REASON_26(`${o}.hold`, 'c.state', 'c.exclusion')}
    FROM (SELECT 1 AS one) z LEFT JOIN consultations c ON c.encounter_key = ${o}.encounter_key AND c.consultation_key = ${o}.consultation_key)`;

/** Migration 26's statements: the counters, the kept order state, their triggers, all set from today's rows. */
export const COUNTERS_MIGRATION: readonly Statement[] = [
  // PostgreSQL: another instance (an older build) writes no row until this migration commits, so
  // that the counts taken here and the triggers that follow them miss nothing
  { sqlite: null, postgres: 'LOCK TABLE inbound_messages, consultations, transactions, orders IN SHARE ROW EXCLUSIVE MODE' },
  'CREATE TABLE store_counters (name TEXT NOT NULL, k TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (name, k))',
  'CREATE TABLE store_counter_deltas (name TEXT NOT NULL, k TEXT NOT NULL, n INTEGER NOT NULL)',
  // a read scans the deltas' dead rows too until a vacuum: vacuumed past a thousand of them, not a fifth of the table
  { sqlite: null, postgres: 'ALTER TABLE store_counter_deltas SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0)' },
  'ALTER TABLE orders ADD COLUMN kept_state TEXT',
  'ALTER TABLE orders ADD COLUMN kept_reason TEXT',
  `UPDATE orders SET (kept_state, kept_reason) = ${keptFrom('orders')}`,
  'CREATE INDEX orders_kept ON orders (kept_reason, first_seen)',
  `INSERT INTO store_counters (name, k, n) SELECT 'messages', status, COUNT(*) FROM inbound_messages GROUP BY status`,
  `INSERT INTO store_counters (name, k, n) SELECT 'records', state, COUNT(*) FROM consultations GROUP BY state`,
  `INSERT INTO store_counters (name, k, n) SELECT 'transactions', status, COUNT(*) FROM transactions GROUP BY status`,
  `INSERT INTO store_counters (name, k, n) SELECT 'orders', kept_state, COUNT(*) FROM orders GROUP BY kept_state`,
  `INSERT INTO store_counters (name, k, n) SELECT 'retractions', 'unacknowledged', COUNT(*) FROM consultations c WHERE ${OPEN('c')}`,
  {
    sqlite: null,
    postgres: `CREATE FUNCTION cdsr_fold_counters() RETURNS void LANGUAGE sql AS $$
      WITH d AS (DELETE FROM store_counter_deltas RETURNING name, k, n)
      INSERT INTO store_counters (name, k, n) SELECT name, k, SUM(n) FROM d GROUP BY name, k
      ON CONFLICT (name, k) DO UPDATE SET n = store_counters.n + EXCLUDED.n $$`,
  },
  {
    sqlite: null,
    // the lock's two-int key is a space of its own (the merge locks take one bigint)
    postgres: `CREATE FUNCTION cdsr_count(c_name TEXT, c_k TEXT, c_n INTEGER) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO store_counter_deltas (name, k, n) VALUES (c_name, c_k, c_n);
        IF random() * ${PG_FOLD_ONE_IN} < 1 AND pg_try_advisory_xact_lock(1128547154, 26) THEN PERFORM cdsr_fold_counters(); END IF;
      END $$`,
  },
  ...zip(sqliteStatusTriggers('inbound_messages', 'status', 'messages'), pgStatusTrigger('inbound_messages', 'status', 'messages')),
  ...zip(sqliteStatusTriggers('transactions', 'status', 'transactions'), pgStatusTrigger('transactions', 'status', 'transactions')),
  // an order: its kept state written with it, and counted
  ...zip(
    [
      `CREATE TRIGGER orders_kept_insert AFTER INSERT ON orders BEGIN
         UPDATE orders SET (kept_state, kept_reason) = ${keptFrom('NEW')} WHERE id = NEW.id; END`,
      `CREATE TRIGGER orders_kept_update AFTER UPDATE OF hold, encounter_key, consultation_key ON orders
         WHEN OLD.hold IS NOT NEW.hold OR OLD.encounter_key IS NOT NEW.encounter_key OR OLD.consultation_key IS NOT NEW.consultation_key BEGIN
         UPDATE orders SET (kept_state, kept_reason) = ${keptFrom('NEW')} WHERE id = NEW.id; END`,
      `CREATE TRIGGER orders_count_update AFTER UPDATE OF kept_state ON orders WHEN OLD.kept_state IS NOT NEW.kept_state BEGIN
         ${bump('orders', 'OLD.kept_state', -1, 'OLD.kept_state IS NOT NULL')} ${bump('orders', 'NEW.kept_state', 1, 'NEW.kept_state IS NOT NULL')} END`,
      `CREATE TRIGGER orders_count_delete AFTER DELETE ON orders BEGIN ${bump('orders', 'OLD.kept_state', -1, 'OLD.kept_state IS NOT NULL')} END`,
    ],
    [
      // FOR SHARE: a record changed by another transaction now is waited for, then read as committed
      // (its own trigger, below, then sees this order once this transaction commits)
      `CREATE FUNCTION orders_kept() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE s TEXT; a TEXT; x TEXT;
       BEGIN
         IF NEW.hold IS NULL AND NEW.consultation_key IS NOT NULL THEN
           SELECT c.state, c.retraction_ack_at, c.exclusion INTO s, a, x FROM consultations c
             WHERE c.encounter_key = NEW.encounter_key AND c.consultation_key = NEW.consultation_key FOR SHARE;
         END IF;
         NEW.kept_state := ${KEPT_STATE_26('NEW.hold', 's', 'a')};
         NEW.kept_reason := ${KEPT_REASON_26('NEW.hold', 's', 'x')};
         RETURN NEW;
       END $$`,
      'CREATE TRIGGER orders_kept BEFORE INSERT OR UPDATE OF hold, encounter_key, consultation_key ON orders FOR EACH ROW EXECUTE FUNCTION orders_kept()',
      `CREATE FUNCTION orders_count() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP <> 'INSERT' AND OLD.kept_state IS NOT NULL THEN PERFORM cdsr_count('orders', OLD.kept_state, -1); END IF;
         IF TG_OP <> 'DELETE' AND NEW.kept_state IS NOT NULL THEN PERFORM cdsr_count('orders', NEW.kept_state, 1); END IF;
         RETURN NULL;
       END $$`,
      'CREATE TRIGGER orders_count AFTER INSERT OR DELETE ON orders FOR EACH ROW EXECUTE FUNCTION orders_count()',
      `CREATE TRIGGER orders_count_update AFTER UPDATE ON orders FOR EACH ROW WHEN (OLD.kept_state IS DISTINCT FROM NEW.kept_state) EXECUTE FUNCTION orders_count()`,
    ],
  ),
  // a record: counted by state, its open retraction counted, and its orders' kept state follows it
  ...zip(
    [
      `CREATE TRIGGER consultations_count_insert AFTER INSERT ON consultations BEGIN
         ${bump('records', 'NEW.state', 1, 'TRUE')} ${bump('retractions', "'unacknowledged'", 1, OPEN('NEW'))}
         UPDATE orders SET kept_state = ${KEPT_STATE_26('NULL', 'NEW.state', 'NEW.retraction_ack_at')}, kept_reason = ${KEPT_REASON_26('NULL', 'NEW.state', 'NEW.exclusion')}
           WHERE encounter_key = NEW.encounter_key AND consultation_key = NEW.consultation_key AND hold IS NULL; END`,
      `CREATE TRIGGER consultations_count_delete AFTER DELETE ON consultations BEGIN
         ${bump('records', 'OLD.state', -1, 'TRUE')} ${bump('retractions', "'unacknowledged'", -1, OPEN('OLD'))}
         UPDATE orders SET kept_state = 'held', kept_reason = 'error'
           WHERE encounter_key = OLD.encounter_key AND consultation_key = OLD.consultation_key AND hold IS NULL; END`,
      `CREATE TRIGGER consultations_count_update AFTER UPDATE OF state, retraction_ack_at, exclusion, encounter_key, consultation_key ON consultations
         WHEN OLD.state IS NOT NEW.state OR OLD.retraction_ack_at IS NOT NEW.retraction_ack_at OR (OLD.exclusion IS NULL) <> (NEW.exclusion IS NULL)
           OR OLD.encounter_key IS NOT NEW.encounter_key OR OLD.consultation_key IS NOT NEW.consultation_key BEGIN
         ${bump('records', 'OLD.state', -1, 'OLD.state IS NOT NEW.state')} ${bump('records', 'NEW.state', 1, 'OLD.state IS NOT NEW.state')}
         ${bump('retractions', "'unacknowledged'", -1, `${OPEN('OLD')} AND NOT (${OPEN('NEW')})`)}
         ${bump('retractions', "'unacknowledged'", 1, `${OPEN('NEW')} AND NOT (${OPEN('OLD')})`)}
         UPDATE orders SET kept_state = 'held', kept_reason = 'error'
           WHERE encounter_key = OLD.encounter_key AND consultation_key = OLD.consultation_key AND hold IS NULL
             AND (OLD.encounter_key IS NOT NEW.encounter_key OR OLD.consultation_key IS NOT NEW.consultation_key);
         UPDATE orders SET kept_state = ${KEPT_STATE_26('NULL', 'NEW.state', 'NEW.retraction_ack_at')}, kept_reason = ${KEPT_REASON_26('NULL', 'NEW.state', 'NEW.exclusion')}
           WHERE encounter_key = NEW.encounter_key AND consultation_key = NEW.consultation_key AND hold IS NULL; END`,
    ],
    [
      `CREATE FUNCTION consultations_count() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE o_state TEXT; o_ack TEXT; o_x TEXT; o_ek TEXT; o_ck TEXT; o_open BOOLEAN := FALSE;
               n_state TEXT; n_ack TEXT; n_x TEXT; n_ek TEXT; n_ck TEXT; n_open BOOLEAN := FALSE;
       BEGIN
         IF TG_OP <> 'INSERT' THEN
           o_state := OLD.state; o_ack := OLD.retraction_ack_at; o_x := OLD.exclusion; o_ek := OLD.encounter_key; o_ck := OLD.consultation_key;
           o_open := ${OPEN('OLD')};
         END IF;
         IF TG_OP <> 'DELETE' THEN
           n_state := NEW.state; n_ack := NEW.retraction_ack_at; n_x := NEW.exclusion; n_ek := NEW.encounter_key; n_ck := NEW.consultation_key;
           n_open := ${OPEN('NEW')};
         END IF;
         IF o_state IS DISTINCT FROM n_state THEN
           IF o_state IS NOT NULL THEN PERFORM cdsr_count('records', o_state, -1); END IF;
           IF n_state IS NOT NULL THEN PERFORM cdsr_count('records', n_state, 1); END IF;
         END IF;
         IF o_open <> n_open THEN PERFORM cdsr_count('retractions', 'unacknowledged', CASE WHEN n_open THEN 1 ELSE -1 END); END IF;
         IF o_ek IS NOT NULL AND (o_ek IS DISTINCT FROM n_ek OR o_ck IS DISTINCT FROM n_ck) THEN
           UPDATE orders SET kept_state = 'held', kept_reason = 'error' WHERE encounter_key = o_ek AND consultation_key = o_ck AND hold IS NULL;
         END IF;
         IF n_ek IS NOT NULL AND (o_ek IS DISTINCT FROM n_ek OR o_ck IS DISTINCT FROM n_ck OR o_state IS DISTINCT FROM n_state
             OR o_ack IS DISTINCT FROM n_ack OR (o_x IS NULL) <> (n_x IS NULL)) THEN
           UPDATE orders SET kept_state = ${KEPT_STATE_26('CAST(NULL AS TEXT)', 'n_state', 'n_ack')}, kept_reason = ${KEPT_REASON_26('CAST(NULL AS TEXT)', 'n_state', 'n_x')}
             WHERE encounter_key = n_ek AND consultation_key = n_ck AND hold IS NULL;
         END IF;
         RETURN NULL;
       END $$`,
      `CREATE TRIGGER consultations_count AFTER INSERT OR DELETE OR UPDATE OF state, retraction_ack_at, exclusion, encounter_key, consultation_key
         ON consultations FOR EACH ROW EXECUTE FUNCTION consultations_count()`,
    ],
  ),
];

/** SQLite's and PostgreSQL's statements side by side (null where one needs fewer). */
function zip(sqlite: readonly string[], postgres: readonly string[]): Statement[] {
  return Array.from({ length: Math.max(sqlite.length, postgres.length) }, (_, i) => ({ sqlite: sqlite[i] ?? null, postgres: postgres[i] ?? null }));
}

/** A statement of a migration as the dialect runs it (null: nothing to run in this dialect). */
export function statementFor(s: Statement, dialect: Dialect): string | null {
  return typeof s === 'string' ? s : s[dialect];
}

export interface KeptCounts {
  /** name → key → count (zero counts left out, as a GROUP BY over the rows would). */
  readonly [name: string]: Record<string, number>;
}

const COUNTERS_READ = `SELECT name, k, SUM(n) AS n FROM (SELECT name, k, n FROM store_counters UNION ALL SELECT name, k, n FROM store_counter_deltas) x
  GROUP BY name, k ORDER BY name, k`;

/** Every counter, with the deltas not folded yet: a few dozen rows and about a thousand at most, whatever the rows counted. */
export async function keptCounts(q: Queryable): Promise<KeptCounts> {
  const out: Record<string, Record<string, number>> = {};
  for (const r of await q.all(COUNTERS_READ)) {
    const x = row('store_counters', r);
    const n = x.int('n');
    if (n === 0) continue;
    (out[x.text('name')] ??= {})[x.text('k')] = n;
  }
  return out;
}

/**
 * What undoes migration 26 (its triggers, functions, counters and kept columns), so that a test can
 * set a database back to an earlier version and run the migrations after it again.
 */
export function undoCountersMigration(dialect: Dialect): string[] {
  const common = [
    'DROP TABLE store_counters',
    'DROP TABLE store_counter_deltas',
    'DROP INDEX orders_kept',
    'ALTER TABLE orders DROP COLUMN kept_state',
    'ALTER TABLE orders DROP COLUMN kept_reason',
  ];
  if (dialect === 'postgres')
    return [
      ...['inbound_messages_count', 'transactions_count', 'orders_kept', 'orders_count', 'consultations_count'].map((f) => `DROP FUNCTION ${f}() CASCADE`),
      'DROP FUNCTION cdsr_count(TEXT, TEXT, INTEGER)',
      'DROP FUNCTION cdsr_fold_counters()',
      ...common,
    ];
  const triggers = [
    ...['inbound_messages', 'transactions', 'consultations'].flatMap((t) => ['insert', 'delete', 'update'].map((e) => `${t}_count_${e}`)),
    'orders_kept_insert',
    'orders_kept_update',
    'orders_count_update',
    'orders_count_delete',
  ];
  return [...triggers.map((t) => `DROP TRIGGER ${t}`), ...common];
}
