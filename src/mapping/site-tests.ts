// Site regression tests: `<mappings>/tests/NAME.expected.json` holds what the messages
// `tests/NAME.*` (one or several files, any input `map` takes, in name order) must map to — the
// CDSR encounters and the problems. Run by `test-mappings` and before a hot reload swaps tables.
// Inputs without an expected file are cases too (`expected: false`): listed, never skipped.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Encounter } from '../cdsr/schema.js';
import type { MappingTables } from './load.js';
import { mapFiles } from './map-files.js';

export const TESTS_DIR = 'tests';
const EXPECTED = '.expected.json';
/** The clock of every site test (future-date rules, Transaction_DateTime), unless a case names its own `now`. */
export const SITE_TEST_NOW = '2026-12-31T00:00:00Z';

export interface SiteCase {
  readonly name: string;
  readonly inputs: string[];
  readonly expectedFile: string;
  /** False for inputs that have no expected file yet (`--update` writes it). */
  readonly expected: boolean;
}

export interface SiteTestResult {
  readonly name: string;
  readonly ok: boolean;
  /** Readable line diff of expected (-) and actual (+); empty when ok. */
  readonly diff: string;
  readonly actual: SiteOutput;
  /** The case has inputs but no expected file (not ok, but no regression: the hot reload does not refuse for it). */
  readonly noExpected?: true;
  /** With `update`: the expected file did not exist and was created. */
  readonly created?: true;
}

/** What a case compares: the CDSR encounters (without transaction headers) and the problems in short. */
export interface SiteOutput {
  readonly now?: string;
  readonly encounters: Encounter[];
  readonly problems: { code: string; severity: string; field?: string; value?: string; input?: string }[];
}

/** Not an input: hidden files, editor backups, notes beside the tests. */
const NOT_INPUT = /^\.|~$|^readme(\.|$)/i;

/**
 * The cases of `tests/`, by name: each expected file with its inputs (`NAME.*`), and inputs no
 * expected file claims, grouped by the name before their first dot (`new-feed.1.hl7` and
 * `new-feed.2.hl7` are the case `new-feed`).
 */
export function siteCases(mappingsDir: string): SiteCase[] {
  const dir = join(mappingsDir, TESTS_DIR);
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir)
    .filter((f) => !NOT_INPUT.test(f))
    .sort();
  const names = files.filter((f) => f.endsWith(EXPECTED)).map((f) => f.slice(0, -EXPECTED.length));
  const inputsOf = (name: string) => files.filter((g) => g.startsWith(`${name}.`) && !g.endsWith(EXPECTED));
  const claimed = new Set(names.flatMap(inputsOf));
  const unclaimed = [
    ...new Set(files.filter((f) => !f.endsWith(EXPECTED) && !claimed.has(f)).map((f) => f.slice(0, f.indexOf('.') > 0 ? f.indexOf('.') : f.length))),
  ];
  return [...names.map((name) => ({ name, expected: true })), ...unclaimed.map((name) => ({ name, expected: false }))]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(({ name, expected }) => ({
      name,
      expected,
      expectedFile: join(dir, `${name}${EXPECTED}`),
      inputs: (expected ? inputsOf(name) : files.filter((g) => !claimed.has(g) && (g === name || g.startsWith(`${name}.`)))).map((g) => join(dir, g)),
    }));
}

export function siteOutput(c: SiteCase, tables: MappingTables, now: string): SiteOutput {
  const r = mapFiles(c.inputs, { tables, partnerId: '10000', appId: '10019', maxEncounters: 1000, now: new Date(now) });
  return {
    encounters: r.transactions.flatMap((t) => t.Encounters ?? []),
    problems: r.problems.map((p) => ({
      code: p.code,
      severity: p.severity,
      ...(p.field !== undefined ? { field: p.field } : {}),
      ...(p.value !== undefined ? { value: p.value } : {}),
      ...(p.input !== undefined ? { input: p.input } : {}),
    })),
  };
}

function readExpected(file: string): { expected?: SiteOutput; error?: string } {
  try {
    return { expected: JSON.parse(readFileSync(file, 'utf8')) as SiteOutput };
  } catch (e) {
    return { error: `${file}: not JSON (${(e as Error).message})` };
  }
}

export function runSiteTests(mappingsDir: string, tables: MappingTables, o: { update?: boolean } = {}): SiteTestResult[] {
  return siteCases(mappingsDir).map((c) => {
    if (!c.expected) {
      const actual = siteOutput(c, tables, SITE_TEST_NOW);
      if (o.update) {
        writeFileSync(c.expectedFile, `${JSON.stringify(actual, null, 2)}\n`, { flag: 'wx' });
        return { name: c.name, ok: true, diff: '', actual, created: true };
      }
      return {
        name: c.name,
        ok: false,
        diff: `no expected file ${c.name}${EXPECTED} for ${c.inputs.map((f) => basename(f)).join(', ')}`,
        actual,
        noExpected: true,
      };
    }
    const { expected, error } = readExpected(c.expectedFile);
    const now = expected?.now ?? SITE_TEST_NOW;
    const out = siteOutput(c, tables, now);
    const actual: SiteOutput = expected?.now !== undefined ? { now, ...out } : out;
    const a = JSON.stringify(actual, null, 2);
    if (o.update) {
      writeFileSync(c.expectedFile, `${a}\n`);
      return { name: c.name, ok: true, diff: '', actual };
    }
    if (c.inputs.length === 0) return { name: c.name, ok: false, diff: `no input file ${c.name}.* beside ${c.expectedFile}`, actual };
    if (error !== undefined) return { name: c.name, ok: false, diff: error, actual };
    const e = JSON.stringify(expected, null, 2);
    return e === a ? { name: c.name, ok: true, diff: '', actual } : { name: c.name, ok: false, diff: lineDiff(e, a), actual };
  });
}

/** A site test's name: letters, digits, `-` and `_` (a dot would split it: `NAME.1.hl7`), at most 64. */
export const SITE_TEST_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export type SaveSiteTest =
  | { readonly saved: string[] }
  /** Files of that name are there already: nothing written (`replace` to write over them). */
  | { readonly exists: string[] }
  | { readonly refused: string };

/**
 * Writes a site test into `mappingsDir/tests/`: the inputs as `NAME.json` / `NAME.hl7` (several:
 * `NAME.1.hl7`, `NAME.2.hl7`… in their order), then `NAME.expected.json` from what `tables` give
 * them as test-mappings runs them (its clock). Files of that name already there are replaced only
 * with `replace`. Returns the file names written, relative to `tests/`.
 */
export function saveSiteTest(
  mappingsDir: string,
  name: string,
  inputs: readonly { readonly ext: 'hl7' | 'json'; readonly text: string }[],
  tables: MappingTables,
  o: { replace?: boolean } = {},
): SaveSiteTest {
  if (!SITE_TEST_NAME.test(name)) return { refused: `"${name}" cannot name a site test: use letters, digits, - and _ (at most 64, no dot)` };
  if (inputs.length === 0) return { refused: 'there is no message to save' };
  const dir = join(mappingsDir, TESTS_DIR);
  const ours = (f: string) => f === name || f.startsWith(`${name}.`);
  const there = existsSync(dir) ? readdirSync(dir).filter(ours).sort() : [];
  if (there.length > 0 && !o.replace) return { exists: there };
  const width = String(inputs.length).length;
  const files = inputs.map((x, i) => (inputs.length === 1 ? `${name}.${x.ext}` : `${name}.${String(i + 1).padStart(width, '0')}.${x.ext}`));
  mkdirSync(dir, { recursive: true });
  for (const f of there) rmSync(join(dir, f), { force: true });
  // 'wx': never over a file that appeared meanwhile
  inputs.forEach((x, i) => writeFileSync(join(dir, files[i]!), x.text, { flag: 'wx' }));
  const c: SiteCase = { name, expected: true, expectedFile: join(dir, `${name}${EXPECTED}`), inputs: files.map((f) => join(dir, f)) };
  writeFileSync(c.expectedFile, `${JSON.stringify(siteOutput(c, tables, SITE_TEST_NOW), null, 2)}\n`, { flag: 'wx' });
  return { saved: [...files, `${name}${EXPECTED}`] };
}

/** The lines that differ, with two lines of context, `-` expected and `+` actual (a longest-common-subsequence diff). */
export function lineDiff(expected: string, actual: string, context = 2): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  // LCS table from the end; the files are small (a test's output)
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { op: ' ' | '-' | '+'; text: string; line: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ op: ' ', text: a[i++]!, line: j++ + 1 });
    else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ op: '-', text: a[i++]!, line: j + 1 });
    else ops.push({ op: '+', text: b[j++]!, line: j });
  }
  const keep = ops.map((o, k) => ops.slice(Math.max(0, k - context), k + context + 1).some((x) => x.op !== ' '));
  const out: string[] = [];
  ops.forEach((o, k) => {
    if (!keep[k]) {
      if (k === 0 || keep[k - 1]) out.push('  …');
      return;
    }
    out.push(`${o.op} ${o.text}`);
  });
  return out.join('\n');
}
