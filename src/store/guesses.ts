// The values the tables guessed, kept as rows: `record_guesses` holds one row per guessed field of
// each stored field map (an encounter's fields, its consultation defaults, each consultation's
// fields, a cancelled consultation's left out: its values reach no registry), written by triggers
// on `encounters` and `consultations` (migration 27), so that every writer of those rows (a merge, a
// re-derivation, a verdict, a cancel, a deletion) keeps it in the same transaction without knowing
// of it. The worklist's "where the tables guessed" is then a GROUP BY over an index, not a read and
// parse of every record that holds a guess.
//
// The triggers read the JSON the code wrote (SQLite's json_each, PostgreSQL's json_each; JSON
// stays text in the tables). A field map without `"guess":` in its text is not parsed: the same
// test the worklist made before (a `"guess":` inside a value is escaped there). PostgreSQL's JSON
// functions refuse an escaped NUL (`\u0000`) anywhere in a text, which a value read from a
// message may hold: the triggers read the text with it replaced by an escaped space, which
// changes no rule, reason or source they keep.
//
// The SQL below is migration 27's, frozen as applied (migrations are never edited).
import type { Statement } from './counters.js';
import type { Dialect, Queryable } from './sql.js';
import { row } from './rows.js';

/** Which field map a kept guess is in (`part`). */
export const GUESS_PARTS = { fields: 0, defaults: 1, consultation: 2 } as const;

const HAS_GUESS = `'%"guess":%'`;

/**
 * SQLite: the rows a field map's text (`json`, an expression) gives, in part `part` of `ek`/`ck`;
 * `from`: the table the expressions read (none in a trigger), `when`: a further condition.
 */
const sqliteRows = (ek: string, part: number, ck: string, json: string, from = '', when = 'TRUE'): string =>
  `INSERT INTO record_guesses (encounter_key, part, consultation_key, field, rule, guess, source)
   SELECT ${ek}, ${part}, ${ck}, j.key, COALESCE(json_extract(j.value, '$.rule'), ''), json_extract(j.value, '$.guess'), COALESCE(json_extract(j.value, '$.source'), '')
   FROM ${from}json_each(${json}) j
   WHERE ${json} LIKE ${HAS_GUESS} AND ${when} AND CASE WHEN j.type = 'object' THEN json_type(j.value, '$.guess') END = 'text'`;

/** PostgreSQL: likewise (the text's escaped NULs read as escaped spaces: see above). */
const pgRows = (ek: string, part: number, ck: string, json: string, from = '', when = 'TRUE'): string =>
  `INSERT INTO record_guesses (encounter_key, part, consultation_key, field, rule, guess, source)
   SELECT ${ek}, ${part}, ${ck}, j.key, COALESCE(j.value ->> 'rule', ''), j.value ->> 'guess', COALESCE(j.value ->> 'source', '')
   FROM ${from}json_each(CAST(replace(${json}, '\\u0000', '\\u0020') AS json)) j
   WHERE ${json} LIKE ${HAS_GUESS} AND ${when} AND json_typeof(j.value) = 'object' AND json_typeof(j.value -> 'guess') = 'string'`;

/** A record row `r` (NEW, OLD) that holds a guess the table keeps. */
const ENCOUNTER_GUESSED = (e: string) => `(${e}.fields LIKE ${HAS_GUESS} OR ${e}.consultation_defaults LIKE ${HAS_GUESS})`;
const CONSULTATION_GUESSED = (c: string) => `(${c}.state <> 'cancelled' AND ${c}.fields LIKE ${HAS_GUESS})`;

const dropEncounter = (ek: string) => `DELETE FROM record_guesses WHERE encounter_key = ${ek} AND part < 2`;
const dropConsultation = (ek: string, ck: string) => `DELETE FROM record_guesses WHERE encounter_key = ${ek} AND part = 2 AND consultation_key = ${ck}`;

/** Both dialects' statements for the rows of encounter `e`'s two maps and of consultation `c`'s fields (`from`: the table read, none in a trigger). */
const encounterRows = (rows: typeof sqliteRows, e: string, from = '') => [
  rows(`${e}.encounter_key`, GUESS_PARTS.fields, "''", `${e}.fields`, from),
  rows(`${e}.encounter_key`, GUESS_PARTS.defaults, "''", `${e}.consultation_defaults`, from),
];
const consultationRows = (rows: typeof sqliteRows, c: string, from = '') =>
  rows(`${c}.encounter_key`, GUESS_PARTS.consultation, `${c}.consultation_key`, `${c}.fields`, from, `${c}.state <> 'cancelled'`);

/** Migration 27's statements: the table, its index, its rows from today's records, and the triggers that keep it. */
export const GUESSES_MIGRATION: readonly Statement[] = [
  // PostgreSQL: another instance (an older build) writes no record until this migration commits,
  // so that the rows read here and the triggers that follow them miss nothing
  { sqlite: null, postgres: 'LOCK TABLE encounters, consultations IN SHARE ROW EXCLUSIVE MODE' },
  `CREATE TABLE record_guesses (
    encounter_key TEXT NOT NULL,
    part INTEGER NOT NULL,
    consultation_key TEXT NOT NULL,
    field TEXT NOT NULL,
    rule TEXT NOT NULL,
    guess TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (encounter_key, part, consultation_key, field)
  )`,
  // the tally (GROUP BY field, rule, guess) and each row's first values in record order read this index
  'CREATE INDEX record_guesses_tally ON record_guesses (field, rule, guess, encounter_key, part, consultation_key)',
  ...encounterRows(sqliteRows, 'e', 'encounters e, ').map((sqlite, i) => ({
    sqlite,
    postgres: encounterRows(pgRows, 'e', 'encounters e CROSS JOIN LATERAL ')[i]!,
  })),
  { sqlite: consultationRows(sqliteRows, 'c', 'consultations c, '), postgres: consultationRows(pgRows, 'c', 'consultations c CROSS JOIN LATERAL ') },
  // SQLite: a trigger per event, each only when a field map before or after holds a guess
  {
    sqlite: `CREATE TRIGGER encounters_guesses_insert AFTER INSERT ON encounters WHEN ${ENCOUNTER_GUESSED('NEW')} BEGIN
      ${encounterRows(sqliteRows, 'NEW').join('; ')}; END`,
    postgres: null,
  },
  {
    sqlite: `CREATE TRIGGER encounters_guesses_delete AFTER DELETE ON encounters WHEN ${ENCOUNTER_GUESSED('OLD')} BEGIN ${dropEncounter('OLD.encounter_key')}; END`,
    postgres: null,
  },
  {
    sqlite: `CREATE TRIGGER encounters_guesses_update AFTER UPDATE OF encounter_key, fields, consultation_defaults ON encounters
      WHEN (OLD.encounter_key IS NOT NEW.encounter_key OR OLD.fields IS NOT NEW.fields OR OLD.consultation_defaults IS NOT NEW.consultation_defaults)
        AND (${ENCOUNTER_GUESSED('OLD')} OR ${ENCOUNTER_GUESSED('NEW')}) BEGIN
      ${dropEncounter('OLD.encounter_key')}; ${encounterRows(sqliteRows, 'NEW').join('; ')}; END`,
    postgres: null,
  },
  {
    sqlite: `CREATE TRIGGER consultations_guesses_insert AFTER INSERT ON consultations WHEN ${CONSULTATION_GUESSED('NEW')} BEGIN
      ${consultationRows(sqliteRows, 'NEW')}; END`,
    postgres: null,
  },
  {
    sqlite: `CREATE TRIGGER consultations_guesses_delete AFTER DELETE ON consultations WHEN ${CONSULTATION_GUESSED('OLD')} BEGIN
      ${dropConsultation('OLD.encounter_key', 'OLD.consultation_key')}; END`,
    postgres: null,
  },
  {
    sqlite: `CREATE TRIGGER consultations_guesses_update AFTER UPDATE OF encounter_key, consultation_key, fields, state ON consultations
      WHEN (OLD.encounter_key IS NOT NEW.encounter_key OR OLD.consultation_key IS NOT NEW.consultation_key OR OLD.fields IS NOT NEW.fields
          OR (OLD.state = 'cancelled') IS NOT (NEW.state = 'cancelled'))
        AND (${CONSULTATION_GUESSED('OLD')} OR ${CONSULTATION_GUESSED('NEW')}) BEGIN
      ${dropConsultation('OLD.encounter_key', 'OLD.consultation_key')}; ${consultationRows(sqliteRows, 'NEW')}; END`,
    postgres: null,
  },
  // PostgreSQL: a function and a trigger per table
  {
    sqlite: null,
    postgres: `CREATE FUNCTION encounters_guesses() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'UPDATE' AND OLD.encounter_key = NEW.encounter_key AND OLD.fields = NEW.fields
         AND OLD.consultation_defaults = NEW.consultation_defaults THEN RETURN NULL; END IF;
       IF TG_OP <> 'INSERT' AND ${ENCOUNTER_GUESSED('OLD')} THEN ${dropEncounter('OLD.encounter_key')}; END IF;
       IF TG_OP <> 'DELETE' AND ${ENCOUNTER_GUESSED('NEW')} THEN ${encounterRows(pgRows, 'NEW').join('; ')}; END IF;
       RETURN NULL;
     END $$`,
  },
  {
    sqlite: null,
    postgres:
      'CREATE TRIGGER encounters_guesses AFTER INSERT OR DELETE OR UPDATE OF encounter_key, fields, consultation_defaults ON encounters FOR EACH ROW EXECUTE FUNCTION encounters_guesses()',
  },
  {
    sqlite: null,
    postgres: `CREATE FUNCTION consultations_guesses() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'UPDATE' AND OLD.encounter_key = NEW.encounter_key AND OLD.consultation_key = NEW.consultation_key AND OLD.fields = NEW.fields
         AND (OLD.state = 'cancelled') = (NEW.state = 'cancelled') THEN RETURN NULL; END IF;
       IF TG_OP <> 'INSERT' AND ${CONSULTATION_GUESSED('OLD')} THEN ${dropConsultation('OLD.encounter_key', 'OLD.consultation_key')}; END IF;
       IF TG_OP <> 'DELETE' AND ${CONSULTATION_GUESSED('NEW')} THEN ${consultationRows(pgRows, 'NEW')}; END IF;
       RETURN NULL;
     END $$`,
  },
  {
    sqlite: null,
    postgres:
      'CREATE TRIGGER consultations_guesses AFTER INSERT OR DELETE OR UPDATE OF encounter_key, consultation_key, fields, state ON consultations FOR EACH ROW EXECUTE FUNCTION consultations_guesses()',
  },
];

/** What undoes migration 27, so that a test can set a database back to version 26 and migrate it again. */
export function undoGuessesMigration(dialect: Dialect): string[] {
  if (dialect === 'postgres')
    return ['DROP FUNCTION encounters_guesses() CASCADE', 'DROP FUNCTION consultations_guesses() CASCADE', 'DROP TABLE record_guesses'];
  return [
    ...['encounters', 'consultations'].flatMap((t) => ['insert', 'delete', 'update'].map((e) => `DROP TRIGGER ${t}_guesses_${e}`)),
    'DROP TABLE record_guesses',
  ];
}

/** Values of the stored records one rule guessed for one reason. */
export interface KeptGuesses {
  readonly field: string;
  /** The rule as `ruleName` named it. */
  readonly rule: string;
  readonly guess: string;
  /** Values held in records (encounters or consultations) now. */
  readonly count: number;
  /** Source ids of the first values (at most `examples`, distinct): encounters in key order (fields, then defaults), then consultations in key order. */
  readonly examples: string[];
}

/** The first values' rows are read this many at a time until `examples` distinct sources are found. */
const EXAMPLE_PAGE = 25;

/**
 * The kept guesses by field, rule and reason, the rules named by `ruleName` (rows of rules it
 * names alike are one, as the worklist groups them); in no particular order.
 */
export async function keptGuesses(q: Queryable, ruleName: (rule: string) => string, examples: number): Promise<KeptGuesses[]> {
  const groups = new Map<string, { field: string; rule: string; guess: string; count: number; rules: string[] }>();
  for (const r of await q.all('SELECT field, rule, guess, COUNT(*) AS n FROM record_guesses GROUP BY field, rule, guess')) {
    const g = row('record_guesses', r);
    const field = g.text('field');
    const rule = g.text('rule');
    const guess = g.text('guess');
    const name = ruleName(rule);
    const key = JSON.stringify([field, name, guess]);
    const a = groups.get(key) ?? { field, rule: name, guess, count: 0, rules: [] };
    a.count += g.int('n');
    a.rules.push(rule);
    groups.set(key, a);
  }
  const out: KeptGuesses[] = [];
  for (const a of groups.values()) {
    const found = new Set<string>();
    const rules = a.rules.map(() => '?').join(', ');
    // encounters first (fields, then defaults), then consultations, each in key order: the order the worklist read records in before
    for (const [where, order] of [
      ['part < 2', 'encounter_key, part'],
      ['part = 2', 'encounter_key, part, consultation_key'],
    ] as const) {
      for (let offset = 0; found.size < examples; offset += EXAMPLE_PAGE) {
        const rows = await q.all(
          `SELECT source FROM record_guesses WHERE field = ? AND guess = ? AND rule IN (${rules}) AND ${where} ORDER BY ${order} LIMIT ? OFFSET ?`,
          [a.field, a.guess, ...a.rules, EXAMPLE_PAGE, offset],
        );
        for (const r of rows) if (found.size < examples) found.add(row('record_guesses', r).text('source'));
        if (rows.length < EXAMPLE_PAGE) break;
      }
    }
    out.push({ field: a.field, rule: a.rule, guess: a.guess, count: a.count, examples: [...found] });
  }
  return out;
}
