// The unmapped-code worklist: the error queue grouped by what an analyst must add to a table —
// one row per (field, table, source value, facility, system) with how many messages wait for it,
// when it was first and last seen, example messages, and a CSV row ready to paste (or, for a
// mapped value outside ACR's value set, the crosswalk row or rule to fix); and where the tables
// guessed: the stored values a fallback or a `guess:` gave, one row per field, rule and reason.
// A message read while its facility was unknown (MAP_NO_FACILITY) is folded into the rows of
// the facility that facilities.csv gives it now, so a value is not listed twice.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { FIELD_RULES } from '../cdsr/fields.js';
import type { Problem } from '../cdsr/problem.js';
import { findFacility, type FacilityTable } from '../mapping/facilities.js';
import type { FieldMap } from '../mapping/merge.js';
import type { ErrorGroup } from '../store/error-groups.js';
import type { InboundLog, QueuedMessage, RecordStore } from '../store/store.js';

/** Problems that name a table row to add, with the value read from the message. */
const WORKLIST_CODES: ReadonlySet<string> = new Set(['MAP_UNMAPPED_CODE', 'MAP_NO_FACILITY', 'MAP_NOT_IN_VALUESET']);

export interface WorklistRow {
  readonly field: string;
  /**
   * The table to add a row to, relative to the mappings directory (`crosswalks/modality.csv`); for
   * a value outside ACR's value set, the row or rule that gave it (`crosswalks/modality.csv:12`, `hl7v2.yaml:73`).
   */
  readonly table: string;
  readonly value: string;
  readonly facilityId: string | null;
  readonly system: string | null;
  /** Messages in the error queue waiting for this row. */
  readonly count: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  /** Ids of the first messages (at most five) that carry the value. */
  readonly examples: number[];
  /** A CSV line in the table's own columns; the ACR code (or Facility_ID) is left for the analyst. '' when `fix` says what to do instead. */
  readonly stub: string;
  /**
   * For a mapped value outside ACR's value set: what to change (no row to add). For a sending
   * facility facilities.csv knows now: that nothing is to add, only the messages to replay.
   */
  readonly fix?: string;
  /** Messages read while their facility was unknown, counted in this row of the facility they have now: how many, and why. */
  readonly folded?: string;
}

export interface Worklist {
  readonly rows: WorklistRow[];
  /** Messages in the error queue. */
  readonly messages: number;
  /** Of those, messages that wait for no table row (other problems): by problem code. */
  readonly otherProblems: Record<string, number>;
  /** Where the tables guessed values the records hold now (the error queue's dry run has none). */
  readonly guesses?: GuessRow[];
}

/** Values of the stored records that one rule guessed for one reason. */
export interface GuessRow {
  readonly field: string;
  /** The table rule (`hl7v2.yaml:97`), relative to the mappings directory. */
  readonly rule: string;
  /** Why it is a guess: `fallback: ORC-9, the 5th of 5 candidates`, or the table's own reason. */
  readonly guess: string;
  /** Values held in records (encounters or consultations) now. */
  readonly count: number;
  /** Source message (or resource) ids of the first values (at most five): a search, not patient data. */
  readonly examples: string[];
}

const EXAMPLES = 5;
const PAGE = 5000;

/** The table a problem names, relative to the mappings directory when it lies inside it. */
export function tableName(file: string, mappingsDir: string): string {
  if (!isAbsolute(file)) return file;
  const r = relative(mappingsDir, file);
  return r.startsWith('..') || isAbsolute(r) ? file : r.split('\\').join('/');
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) || s !== s.trim() || s.startsWith('#') ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The header of a CSV table on disk (its first line that is not a comment), lower-cased. */
export function csvHeader(path: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const line = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .find((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  return line?.split(',').map((c) => c.trim().toLowerCase());
}

/** A row for `header`: the value in the first column, a placeholder in the second. */
export function stubRow(header: readonly string[] | undefined, r: { value: string; system: string | null; count: number }, placeholder: string): string {
  const cols = header && header.length >= 2 ? header : ['source', 'acr_code'];
  return cols
    .map((c, i) => {
      if (i === 0) return csvCell(r.value);
      if (i === 1) return placeholder;
      if (c === 'system') return csvCell(r.system ?? '');
      if (c === 'comment') return `seen in ${r.count} message(s)`;
      return '';
    })
    .join(',');
}

interface Acc {
  field: string;
  table: string;
  file: string;
  outside: boolean;
  value: string;
  facilityId: string | null;
  system: string | null;
  /** Messages counted (each message once: the queue is read once, in id order). */
  count: number;
  /** The smallest ids counted (at most EXAMPLES), ascending. */
  examples: number[];
  firstSeen: string;
  lastSeen: string;
  /** Messages folded in from an unknown facility, with the facilities.csv rows that name it now. */
  folded: number;
  foldedBy: Set<string>;
  /** A MAP_NO_FACILITY whose sending facility facilities.csv now has: `file:line` and Facility_ID. */
  known?: { at: string; facilityId: string };
  /** The id of the last message `known` was read from. */
  knownFrom: number;
}

/** What to change for a value outside ACR's value set: the crosswalk row's ACR code, or the rule (a crosswalk of its own). */
function valueSetFix(a: Pick<Acc, 'field' | 'table' | 'file' | 'value'>): string {
  const set = FIELD_RULES[a.field]?.valueSet;
  const codes = set !== undefined ? ` (the codes of valuesets/${set}.csv)` : '';
  return /\.csv$/i.test(a.file)
    ? `"${a.value}" is not an ACR code of ${a.field}: change the ACR code of ${a.table} to one of ACR's codes${codes}`
    : `"${a.value}" is not an ACR code of ${a.field}: fix the rule at ${a.table}, or add a crosswalk to it with a row ${csvCell(a.value)},<ACR code>${codes}`;
}

/** A row of the worklist one message adds to: its key, and the facilities.csv row it was folded by, if it was. */
type Hit = Omit<Acc, 'count' | 'examples' | 'firstSeen' | 'lastSeen' | 'folded' | 'foldedBy' | 'knownFrom'> & { readonly key: string; readonly fold?: string };

/** What one list of problems adds to the worklist: its rows (distinct), or the code of the problem that waits for no table row. */
type Hits = { readonly other: string } | { readonly hits: readonly Hit[] };

/** `id` among the smallest ids (at most EXAMPLES, ascending), unless it is not one of them. */
function keepSmallest(ids: number[], id: number): void {
  if (ids.length === EXAMPLES && id >= ids[EXAMPLES - 1]!) return;
  let i = ids.length;
  while (i > 0 && ids[i - 1]! > id) i--;
  if (ids[i - 1] === id) return;
  ids.splice(i, 0, id);
  if (ids.length > EXAMPLES) ids.pop();
}

/**
 * Groups the worklist problems of messages as they come, a message at a time (the dry run, as it
 * maps them) or a group of messages with one list of problems at a time (the worklist, as the
 * store groups the error queue); `header` reads a table's columns for the stub; `facilities`, the
 * facilities.csv in force, folds messages read while their facility was unknown. What it holds is
 * one entry per worklist row (a count, the smallest ids, the first and last time), not the
 * messages: memory that does not grow with the queue. Each message is added once. Messages that
 * share one array of problems are read once.
 */
export class WorklistGroups {
  private readonly acc = new Map<string, Acc>();
  private readonly otherProblems: Record<string, number> = {};
  private readonly read = new WeakMap<readonly Problem[], Hits>();
  private count = 0;

  constructor(
    private readonly mappingsDir: string,
    private readonly header: (file: string) => string[] | undefined = csvHeader,
    private readonly facilities?: FacilityTable,
  ) {}

  private hitsOf(problems: readonly Problem[]): Hits {
    const mappingsDir = this.mappingsDir;
    const found = problems.filter(
      (p): p is Problem & { value: string; file: string } => WORKLIST_CODES.has(p.code) && p.value !== undefined && p.file !== undefined,
    );
    if (found.length === 0) return { other: problems.find((p) => p.severity === 'error')?.code ?? 'none' };
    // the facility the message was read without, if facilities.csv has it now
    const unknown = found.find((p) => p.code === 'MAP_NO_FACILITY');
    const now = unknown && this.facilities ? findFacility(this.facilities, unknown.value) : undefined;
    const hits = new Map<string, Hit>();
    for (const p of found) {
      const field = p.field ?? (p.code === 'MAP_NO_FACILITY' ? 'Facility_ID' : '');
      const outside = p.code === 'MAP_NOT_IN_VALUESET';
      // the row or rule to fix is one line of its file
      const table = `${tableName(p.file, mappingsDir)}${outside && p.line !== undefined ? `:${p.line}` : ''}`;
      const fold = now !== undefined && p.facilityId === undefined && p.code !== 'MAP_NO_FACILITY';
      const facilityId = p.facilityId ?? (fold || p === unknown ? (now?.facilityId ?? null) : null);
      const system = p.system ?? null;
      const key = JSON.stringify([field, table, p.value.toUpperCase(), facilityId, system]);
      const before = hits.get(key);
      hits.set(key, {
        key,
        field,
        table,
        file: p.file,
        outside,
        value: before?.value ?? p.value,
        facilityId,
        system,
        ...(fold
          ? { fold: `"${unknown?.value ?? ''}" (${tableName(now.file, mappingsDir)}:${now.line})` }
          : before?.fold !== undefined
            ? { fold: before.fold }
            : {}),
        ...(p === unknown && now
          ? { known: { at: `${tableName(now.file, mappingsDir)}:${now.line}`, facilityId: now.facilityId } }
          : before?.known
            ? { known: before.known }
            : {}),
      });
    }
    return { hits: [...hits.values()] };
  }

  add(m: { readonly id: number; readonly receivedAt: string; readonly problems: readonly Problem[] }): void {
    this.addGroup({ problems: m.problems, count: 1, firstId: m.id, lastId: m.id, firstSeen: m.receivedAt, lastSeen: m.receivedAt, examples: [m.id] });
  }

  /**
   * Adds messages that carry one list of problems at once (the store's errorGroups gives them so):
   * as if each were added, provided that the groups come in the order of their first ids and
   * that no message is in two of them.
   */
  addGroup(g: ErrorGroup): void {
    this.count += g.count;
    let h = this.read.get(g.problems);
    if (h === undefined) {
      h = this.hitsOf(g.problems);
      this.read.set(g.problems, h);
    }
    if ('other' in h) {
      this.otherProblems[h.other] = (this.otherProblems[h.other] ?? 0) + g.count;
      return;
    }
    for (const hit of h.hits) {
      let a = this.acc.get(hit.key);
      if (a === undefined) {
        // the row's value as its first message spelled it: groups come by their first ids
        a = {
          field: hit.field,
          table: hit.table,
          file: hit.file,
          outside: hit.outside,
          value: hit.value,
          facilityId: hit.facilityId,
          system: hit.system,
          count: 0,
          examples: [],
          firstSeen: g.firstSeen,
          lastSeen: g.lastSeen,
          folded: 0,
          foldedBy: new Set<string>(),
          knownFrom: 0,
        };
        this.acc.set(hit.key, a);
      }
      a.count += g.count;
      for (const id of g.examples) keepSmallest(a.examples, id);
      if (hit.fold !== undefined) {
        a.folded += g.count;
        a.foldedBy.add(hit.fold);
      }
      // the facilities.csv row of the last message that names one
      if (hit.known && g.lastId >= a.knownFrom) {
        a.known = hit.known;
        a.knownFrom = g.lastId;
      }
      if (g.firstSeen < a.firstSeen) a.firstSeen = g.firstSeen;
      if (g.lastSeen > a.lastSeen) a.lastSeen = g.lastSeen;
    }
  }

  /** The worklist of the messages added so far. */
  result(): Worklist {
    const { mappingsDir, header } = this;
    const rows = [...this.acc.values()]
      .map((a): WorklistRow => {
        const path = isAbsolute(a.file) ? a.file : join(mappingsDir, a.file);
        const common = {
          field: a.field,
          table: a.table,
          value: a.value,
          facilityId: a.facilityId,
          system: a.system,
          count: a.count,
          firstSeen: a.firstSeen,
          lastSeen: a.lastSeen,
          examples: [...a.examples],
        };
        // a value outside ACR's set has no row to add: the fix is said instead
        if (a.outside) return { ...common, stub: '', fix: valueSetFix(a) };
        // the sending facility has its row now: the messages only wait for a replay
        if (a.known)
          return {
            ...common,
            stub: '',
            fix: `"${a.value}" has its row now (${a.known.at}, Facility_ID ${a.known.facilityId}): nothing to add; replay the error queue to map these messages`,
          };
        const folded =
          a.folded > 0
            ? `${a.folded} of these message(s) were read before their sending facility ${[...a.foldedBy].sort().join(', ')} was in facilities.csv and are counted under ${a.facilityId ?? ''}; replay the error queue after adding the row`
            : undefined;
        return {
          ...common,
          stub: stubRow(header(path), { value: a.value, system: a.system, count: a.count }, a.field === 'Facility_ID' ? '<Facility_ID>' : '<ACR code>'),
          ...(folded !== undefined ? { folded } : {}),
        };
      })
      // the most waiting first; then a stable order an analyst can follow
      .sort((x, y) => y.count - x.count || x.table.localeCompare(y.table) || x.field.localeCompare(y.field) || x.value.localeCompare(y.value));
    return { rows, messages: this.count, otherProblems: { ...this.otherProblems } };
  }
}

/** Groups the worklist problems of messages, each message once (pure): WorklistGroups over a list. */
export function groupWorklist(
  messages: Iterable<{ readonly id: number; readonly receivedAt: string; readonly problems: readonly Problem[] }>,
  mappingsDir: string,
  header: (file: string) => string[] | undefined = csvHeader,
  facilities?: FacilityTable,
): Worklist {
  const groups = new WorklistGroups(mappingsDir, header, facilities);
  for (const m of messages) groups.add(m);
  return groups.result();
}

/** Every message of the error queue, a page (`size` messages) at a time (problems only unless `withRaw`). */
export async function* errorQueue(store: Pick<InboundLog, 'queuePage'>, withRaw = false, size = PAGE): AsyncGenerator<QueuedMessage> {
  let after = 0;
  for (;;) {
    const page = await store.queuePage('error', after, size, withRaw);
    if (page.length === 0) return;
    yield* page;
    if (page.length < size) return;
    after = page[page.length - 1]!.id;
  }
}

type GuessTally = Map<string, { field: string; rule: string; guess: string; count: number; examples: Set<string> }>;

function tallyGuesses(acc: GuessTally, fields: FieldMap, mappingsDir: string): void {
  for (const [field, f] of Object.entries(fields)) {
    if (f.guess === undefined) continue;
    const rule = f.rule === undefined ? '' : tableName(f.rule, mappingsDir);
    const key = JSON.stringify([field, rule, f.guess]);
    const a = acc.get(key) ?? { field, rule, guess: f.guess, count: 0, examples: new Set<string>() };
    a.count++;
    if (a.examples.size < EXAMPLES) a.examples.add(f.source);
    acc.set(key, a);
  }
}

function guessRows(acc: GuessTally): GuessRow[] {
  return sortGuessRows([...acc.values()].map((a) => ({ field: a.field, rule: a.rule, guess: a.guess, count: a.count, examples: [...a.examples] })));
}

/** The most values first; then by field, rule and reason. */
function sortGuessRows(rows: GuessRow[]): GuessRow[] {
  return rows.sort((x, y) => y.count - x.count || x.field.localeCompare(y.field) || x.rule.localeCompare(y.rule) || x.guess.localeCompare(y.guess));
}

/**
 * Groups the guessed values of field maps by field, rule and reason (pure): one row however many
 * records hold such a value, so a table that guesses for every message is one row, not thousands.
 */
export function groupGuesses(maps: Iterable<FieldMap>, mappingsDir: string): GuessRow[] {
  const acc: GuessTally = new Map();
  for (const fields of maps) tallyGuesses(acc, fields, mappingsDir);
  return guessRows(acc);
}

/**
 * The worklist of the error queue, as the store groups it (one row per distinct problems text,
 * with its count, times and smallest ids: no message is read), and the guesses the records hold,
 * as the store keeps them (a GROUP BY: no record is read). `facilities`: the facilities.csv in
 * force, to fold messages read while their facility was unknown.
 */
export async function buildWorklist(
  store: Pick<InboundLog, 'errorGroups'> & Pick<RecordStore, 'guessTally'>,
  mappingsDir: string,
  facilities?: FacilityTable,
): Promise<Worklist> {
  const groups = new WorklistGroups(mappingsDir, csvHeader, facilities);
  for (const g of await store.errorGroups(EXAMPLES)) groups.addGroup(g);
  const guesses = await store.guessTally((rule) => tableName(rule, mappingsDir), EXAMPLES);
  return { ...groups.result(), guesses: sortGuessRows(guesses.map((g) => ({ ...g, examples: [...g.examples] }))) };
}
