// The differential test: the adapter's validator (src/cdsr) and the sandbox's own checks
// (check.ts, read from the spec apart from it) on the same generated transactions, under each
// reading the sandbox can take. Every disagreement is listed by CD code, field and side; each
// class must be one of DECIDED, whose rows are decided in docs/sandbox-readings.md. A new class
// fails the test (decide it there and here), and so does a decided class that no longer occurs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { formatTransactionDateTime } from '../cdsr/batch.js';
import { CdsrValidator } from '../cdsr/validate.js';
import { sandboxValueLists } from '../cli/builtin-sandbox.js';
import { PACKAGE_ROOT } from '../paths.js';
import { checkTransaction, type Readings } from './check.js';
import { DEFAULT_ANSWERS } from './switches.js';
import { CORRUPTIONS, transaction } from '../../test/arbitraries.js';
import { NOW, fixtureValueSets } from '../../test/helpers.js';

type Obj = Record<string, unknown>;

/** The site the adapter runs for: its validator and its Transaction_DateTime read this zone (CDSR_TIMEZONE). */
const SITE_ZONE = 'America/Chicago';
const HOUR = 3_600_000;

const enc0 = (tx: Obj) => (tx.Encounters as Obj[])[0]!;
const cons0 = (tx: Obj) => (enc0(tx).Consultations as Obj[])[0]!;

/** Changes that touch what the spec leaves open, besides the single-field corruptions of test/arbitraries.ts. */
const OPEN: readonly { readonly name: string; readonly apply: (tx: Obj) => void }[] = [
  ...(
    [
      ['US date only (the POST example)', '03/04/2022'],
      ['ISO (the status example)', '2022-03-04T10:00:00'],
      ['ISO with Z', '2022-03-04T10:00:00Z'],
      ['ISO with an offset', '2022-03-04T10:00:00-05:00'],
      ['ISO with a space', '2022-03-04 10:00:00'],
      ['ISO with fractions of a second', '2022-03-04T10:00:00.123'],
      ['US with AM/PM', '03/04/2022 3:08 PM'],
      ['US without seconds', '03/04/2022 15:08'],
      ['three hours ahead of the site', formatTransactionDateTime(new Date(NOW.getTime() + 3 * HOUR), SITE_ZONE)],
    ] as const
  ).map(([name, value]) => ({ name: `Transaction_DateTime ${name}`, apply: (tx: Obj) => void (tx.Transaction_DateTime = value) })),
  { name: "consultation dated the site's tomorrow", apply: (tx) => void (cons0(tx).CDS_Consultation_Date = '06/16/2026') },
  { name: 'consultation in year 0000', apply: (tx) => void (cons0(tx).CDS_Consultation_Date = '01/15/0000') },
  { name: 'count -1', apply: (tx) => void (tx.Num_of_Encounters_Included = -1) },
  { name: 'count "+1"', apply: (tx) => void (tx.Num_of_Encounters_Included = '+1') },
  { name: 'blank exam name', apply: (tx) => void (cons0(tx).Name_of_Exam_Ordered = '   ') },
  { name: 'Place_of_Service as a number', apply: (tx) => void (cons0(tx).Place_of_Service = 22) },
  { name: 'Medicare_Modifier outside its unenforced set', apply: (tx) => void (cons0(tx).Medicare_Modifier = 'XX') },
  { name: 'long encounter id', apply: (tx) => void (enc0(tx).Unique_Encounter_ID = 'E'.repeat(101)) },
  { name: 'long clinician name', apply: (tx) => void (cons0(tx).Clinician1_Last_Name = 'L'.repeat(101)) },
  {
    name: 'Other_Spec "null" (the POST example)',
    apply: (tx) => void Object.assign(cons0(tx), { Appropriateness_Category: '1', Appropriateness_Category_Other_Spec: 'null' }),
  },
];

const MUTATIONS = [{ name: 'as generated', apply: () => undefined }, ...CORRUPTIONS, ...OPEN];

/** The readings the sandbox is run under: its defaults, then each open reading switched alone. */
const READINGS: readonly (readonly [string, Readings])[] = [
  ['default', DEFAULT_ANSWERS],
  ['todayZone=America/New_York', { ...DEFAULT_ANSWERS, todayZone: 'America/New_York' }],
  ['todayZone=UTC', { ...DEFAULT_ANSWERS, todayZone: 'UTC' }],
  // a registry west of the site, to show what that would do
  ['todayZone=America/Los_Angeles', { ...DEFAULT_ANSWERS, todayZone: 'America/Los_Angeles' }],
  ['transactionDateTime=us', { ...DEFAULT_ANSWERS, transactionDateTime: 'us' }],
  ['transactionDateTime=iso', { ...DEFAULT_ANSWERS, transactionDateTime: 'iso' }],
];

/**
 * Every disagreement class, with the row of docs/sandbox-readings.md that decides it. Under the
 * defaults a class is `CDxxxx field: side`; a switched reading lists only what it changes, `+`
 * where it adds disagreements of a class, `-` where it removes them.
 */
const DECIDED: Readonly<Record<string, string>> = {
  'CD2012 Transaction_DateTime: sandbox only': 'Transaction_DateTime form',
  'CD2013 Transaction_DateTime: adapter only': 'time zone of "now" and "today"',
  'CD2024 Num_of_Encounters_Included: adapter only': 'a signed Num_of_Encounters_Included',
  'CD2074 Num_of_Encounters_Included: sandbox only': 'a signed Num_of_Encounters_Included',
  'CD3060 CDS_Consultation_Date: sandbox only': 'year 0000',
  'CD3110 Clinician1_Last_Name: adapter only': 'maximum lengths',
  'CD3110 Name_of_Exam_Ordered: adapter only': 'maximum lengths',
  'CD3110 Unique_Encounter_ID: adapter only': 'maximum lengths',
  'CD3120 Medicare_Modifier: sandbox only': 'a value set marked `enforce: no`',
  'CD3130 CDS_Consultation_Date: adapter only': 'time zone of "now" and "today"',
  'todayZone=America/New_York: - CD2013 Transaction_DateTime: adapter only': 'time zone of "now" and "today"',
  'todayZone=America/New_York: - CD3130 CDS_Consultation_Date: adapter only': 'time zone of "now" and "today"',
  'todayZone=UTC: - CD3130 CDS_Consultation_Date: adapter only': 'time zone of "now" and "today"',
  'todayZone=America/Los_Angeles: + CD2013 Transaction_DateTime: sandbox only': 'time zone of "now" and "today"',
  'todayZone=America/Los_Angeles: - CD2013 Transaction_DateTime: adapter only': 'time zone of "now" and "today"',
  'todayZone=America/Los_Angeles: - CD3130 CDS_Consultation_Date: adapter only': 'time zone of "now" and "today"',
  'transactionDateTime=us: + CD2012 Transaction_DateTime: sandbox only': 'Transaction_DateTime form',
  'transactionDateTime=iso: + CD2012 Transaction_DateTime: sandbox only': 'Transaction_DateTime form',
};

/** The field a path ends in, or the level of the record a finding is about. */
function fieldOf(path: string): string {
  if (path === '') return '(transaction)';
  const last = path.split('.').at(-1)!;
  if (/^Encounters\[\d+\]$/.test(last)) return '(encounter)';
  if (/^Consultations\[\d+\]$/.test(last)) return '(consultation)';
  return last.replace(/\[\d+\]$/, '');
}

/** The items of `a` that `b` lacks, counted (a multiset difference). */
function difference(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const k of b) left.set(k, (left.get(k) ?? 0) + 1);
  return a.filter((k) => {
    const n = left.get(k) ?? 0;
    if (n > 0) left.set(k, n - 1);
    return n === 0;
  });
}

interface Run {
  /** Disagreement classes (as DECIDED's keys), sorted, each with the changes that gave it. */
  readonly classes: Record<string, string[]>;
  /** Per reading: what the sandbox refuses of the adapter's own transactions, unchanged. */
  readonly ownRefused: Record<string, string[]>;
}

function run(): Run {
  const valueSets = fixtureValueSets();
  const adapter = new CdsrValidator({ now: NOW, valueSets, timeZone: SITE_ZONE });
  const valueLists = sandboxValueLists(valueSets);
  // the adapter's own Transaction_DateTime (batch.ts), an hour ago on the site's clock
  const sent = formatTransactionDateTime(new Date(NOW.getTime() - HOUR), SITE_ZONE);
  const samples = fc.sample(transaction, { seed: 21, numRuns: 30 }).map((tx) => ({ ...tx, Transaction_DateTime: sent }));
  // disagreements as instances: sample | change | side | code@path, per reading
  const instances = new Map<string, Set<string>>(READINGS.map(([r]) => [r, new Set<string>()]));
  const ownRefused: Record<string, Set<string>> = Object.fromEntries(READINGS.map(([r]) => [r, new Set<string>()]));
  samples.forEach((base, i) => {
    for (const m of MUTATIONS) {
      const tx = structuredClone(base);
      m.apply(tx);
      const ours = adapter
        .validateTransaction(tx)
        .filter((p) => p.severity === 'error')
        .map((p) => `${p.code}@${p.path}`);
      for (const [reading, readings] of READINGS) {
        const theirs = checkTransaction(tx, { now: NOW, readings, valueLists }).map((f) => `${f.code}@${f.path}`);
        if (m.name === 'as generated') for (const k of theirs) ownRefused[reading]!.add(`${k.split('@')[0]} ${fieldOf(k.split('@')[1] ?? '')}`);
        for (const k of difference(ours, theirs)) instances.get(reading)!.add(`${i}|${m.name}|adapter only|${k}`);
        for (const k of difference(theirs, ours)) instances.get(reading)!.add(`${i}|${m.name}|sandbox only|${k}`);
      }
    }
  });
  const cls = (instance: string) => {
    const [, , side, key = ''] = instance.split('|');
    const [code, path = ''] = key.split('@');
    return `${code} ${fieldOf(path)}: ${side}`;
  };
  const classes: Record<string, Set<string>> = {};
  const note = (name: string, instance: string) => void (classes[name] ??= new Set()).add(instance.split('|')[1]!);
  const defaults = instances.get('default')!;
  for (const x of defaults) note(cls(x), x);
  for (const [reading] of READINGS.slice(1)) {
    const mine = instances.get(reading)!;
    for (const x of mine) if (!defaults.has(x)) note(`${reading}: + ${cls(x)}`, x);
    for (const x of defaults) if (!mine.has(x)) note(`${reading}: - ${cls(x)}`, x);
  }
  const order = MUTATIONS.map((m) => m.name);
  const sorted = Object.fromEntries(
    Object.entries(classes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([c, changes]) => {
        const list = [...changes].sort((a, b) => order.indexOf(a) - order.indexOf(b));
        // a class the adapter's own transactions give comes with nearly every change: counted, not listed
        return [c, list[0] === 'as generated' ? ['as generated', `and ${list.length - 1} of the ${order.length - 1} changes`] : list];
      }),
  );
  return { classes: sorted, ownRefused: Object.fromEntries(Object.entries(ownRefused).map(([r, s]) => [r, [...s].sort()])) };
}

describe('differential: the adapter validator against the sandbox checks', () => {
  const result = run();

  it('every disagreement is a decided class, and every decided class still occurs', () => {
    const found = Object.keys(result.classes);
    const undecided = found.filter((c) => !(c in DECIDED)).map((c) => `${c} (from: ${result.classes[c]!.join('; ')})`);
    assert.deepEqual(undecided, [], `undecided disagreements: decide them in docs/sandbox-readings.md and DECIDED`);
    assert.deepEqual(
      found,
      Object.keys(DECIDED).sort((a, b) => a.localeCompare(b)),
    );
  });

  it('the changes that give each class (what the rows of the table talk about)', () => {
    assert.deepEqual(result.classes, {
      'CD2012 Transaction_DateTime: sandbox only': [
        'future Transaction_DateTime',
        'Transaction_DateTime ISO with Z',
        'Transaction_DateTime ISO with an offset',
        'Transaction_DateTime ISO with a space',
        'Transaction_DateTime ISO with fractions of a second',
        'Transaction_DateTime US with AM/PM',
        'Transaction_DateTime US without seconds',
      ],
      'CD2013 Transaction_DateTime: adapter only': ['future Transaction_DateTime', 'Transaction_DateTime three hours ahead of the site'],
      'CD2024 Num_of_Encounters_Included: adapter only': ['count -1', 'count "+1"'],
      'CD2074 Num_of_Encounters_Included: sandbox only': ['count -1', 'count "+1"'],
      'CD3060 CDS_Consultation_Date: sandbox only': ['consultation in year 0000'],
      'CD3110 Clinician1_Last_Name: adapter only': ['long clinician name'],
      'CD3110 Name_of_Exam_Ordered: adapter only': ['long exam name'],
      'CD3110 Unique_Encounter_ID: adapter only': ['long encounter id'],
      'CD3120 Medicare_Modifier: sandbox only': ['Medicare_Modifier outside its unenforced set'],
      'CD3130 CDS_Consultation_Date: adapter only': ["consultation dated the site's tomorrow", 'consultation in year 0000'],
      'todayZone=America/Los_Angeles: - CD2013 Transaction_DateTime: adapter only': ['Transaction_DateTime three hours ahead of the site'],
      'todayZone=America/Los_Angeles: - CD3130 CDS_Consultation_Date: adapter only': ["consultation dated the site's tomorrow"],
      'todayZone=America/Los_Angeles: + CD2013 Transaction_DateTime: sandbox only': ['as generated', 'and 46 of the 58 changes'],
      'todayZone=America/New_York: - CD2013 Transaction_DateTime: adapter only': ['Transaction_DateTime three hours ahead of the site'],
      'todayZone=America/New_York: - CD3130 CDS_Consultation_Date: adapter only': ["consultation dated the site's tomorrow"],
      'todayZone=UTC: - CD3130 CDS_Consultation_Date: adapter only': ["consultation dated the site's tomorrow"],
      'transactionDateTime=iso: + CD2012 Transaction_DateTime: sandbox only': ['as generated', 'and 48 of the 58 changes'],
      'transactionDateTime=us: + CD2012 Transaction_DateTime: sandbox only': ['Transaction_DateTime ISO (the status example)'],
    });
  });

  it("what the sandbox refuses of the adapter's own transactions, reading by reading", () => {
    assert.deepEqual(result.ownRefused, {
      default: [],
      'todayZone=America/New_York': [],
      'todayZone=UTC': [],
      'todayZone=America/Los_Angeles': ['CD2013 Transaction_DateTime'],
      'transactionDateTime=us': [],
      'transactionDateTime=iso': ['CD2012 Transaction_DateTime'],
    });
  });

  it('each decided row is a row of docs/sandbox-readings.md', () => {
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'sandbox-readings.md'), 'utf8');
    assert.deepEqual(
      [...new Set(Object.values(DECIDED))].filter((row) => !doc.includes(`| ${row} |`)),
      [],
    );
  });
});
