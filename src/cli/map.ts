// `cdsr-adapter map FILE...`.
import { formatProblemLine, hasErrors, type Problem } from '../cdsr/problem.js';
import { loadMappings } from '../mapping/load.js';
import { mapFiles } from '../mapping/map-files.js';
import { summarize, type MapSummary } from '../mapping/summary.js';
import { runSiteTests, siteCases, TESTS_DIR } from '../mapping/site-tests.js';
import { join } from 'node:path';
import { renderTable } from './table.js';
import type { CliIo } from './validate.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, resolveMappingsDir } from './validate.js';

export interface MapCliOptions {
  readonly mappings?: string;
  readonly trace?: boolean;
  readonly facilityId?: string;
  readonly now?: Date;
  /** Counts by type and outcome and the distinct unmapped values, instead of the transactions. */
  readonly summary?: boolean;
}

export interface MapDefaults {
  readonly defaultFacilityId?: string;
  readonly partnerId: string;
  readonly appId: string;
  readonly maxEncounters: number;
  readonly timeZone?: string;
}

function tableLines(problems: readonly Problem[]): string {
  return problems.map((p) => `${formatProblemLine(p)}\n`).join('');
}

export function runMap(files: readonly string[], opts: MapCliOptions, defaults: MapDefaults, io: CliIo): number {
  const dir = opts.mappings ?? resolveMappingsDir(io.mappingsDir);
  const loaded = loadMappings(dir);
  if (!loaded.tables) {
    io.err(`cdsr-adapter: the mapping tables in ${dir} are not usable:\n${tableLines(loaded.problems)}`);
    return EXIT_UNREADABLE;
  }
  const facilityId = opts.facilityId ?? defaults.defaultFacilityId;
  const result = mapFiles(files, {
    tables: loaded.tables,
    defaultFacilityId: facilityId,
    partnerId: defaults.partnerId,
    appId: defaults.appId,
    maxEncounters: defaults.maxEncounters,
    now: opts.now ?? new Date(),
    ...(defaults.timeZone !== undefined ? { timeZone: defaults.timeZone } : {}),
  });
  if (opts.summary) {
    io.out(renderSummary(summarize(result), files));
    return hasErrors(result.problems) ? EXIT_PROBLEMS : EXIT_OK;
  }
  const out: Record<string, unknown> = { transactions: result.transactions, problems: result.problems };
  if (opts.trace) out.trace = result.inputs;
  io.out(JSON.stringify(out, null, 2) + '\n');
  return hasErrors(result.problems) ? EXIT_PROBLEMS : EXIT_OK;
}

const OUTCOMES = ['mapped', 'error', 'unsupported', 'invalid', 'unreadable', 'pending', 'context'] as const;

export function renderSummary(s: MapSummary, files: readonly string[]): string {
  const shown = OUTCOMES.filter((o) => (s.byOutcome[o] ?? 0) > 0);
  const row = (name: string, m: MapSummary['byOutcome']) => [name, String(shown.reduce((n, o) => n + (m[o] ?? 0), 0)), ...shown.map((o) => String(m[o] ?? 0))];
  const parts = [
    `${s.messages} message(s) in ${files.length} file(s)\n`,
    renderTable(
      ['TYPE', 'MESSAGES', ...shown.map((o) => o.toUpperCase())],
      [...Object.entries(s.byType).map(([t, m]) => row(t, m)), row('(all)', s.byOutcome)],
    ),
  ];
  if (s.unmapped.length > 0) {
    parts.push(
      `\n${s.unmapped.length} distinct unmapped value(s); add a crosswalk row for each:\n`,
      renderTable(
        ['FIELD', 'TABLE', 'VALUE', 'COUNT', 'FIRST SEEN IN'],
        s.unmapped.map((u) => [u.field, u.table, u.value, String(u.count), u.first]),
      ),
    );
  } else {
    parts.push('\nno unmapped values\n');
  }
  if (s.outsideValueSets.length > 0) {
    parts.push(
      `\n${s.outsideValueSets.length} distinct mapped value(s) outside ACR's value sets; fix the crosswalk row or rule named:\n`,
      renderTable(
        ['FIELD', 'FIX AT', 'VALUE', 'SEVERITY', 'COUNT', 'FIRST SEEN IN'],
        s.outsideValueSets.map((o) => [o.field, o.table, o.value, o.severity, String(o.count), o.first]),
      ),
    );
  }
  if (s.problems.length > 0)
    parts.push(
      '\nproblems by code:\n',
      renderTable(
        ['CODE', 'SEVERITY', 'COUNT'],
        s.problems.map((p) => [p.code, p.severity, String(p.count)]),
      ),
    );
  parts.push(`\n${s.transactions} transaction(s): ${s.encounters} encounter(s), ${s.consultations} consultation(s)\n`);
  return parts.join('');
}

/** `test-mappings [DIR]`: the site regression tests of DIR/tests against the tables of DIR. */
export function runTestMappings(dir: string | undefined, opts: { update?: boolean }, io: CliIo): number {
  const target = dir ?? resolveMappingsDir(io.mappingsDir);
  const loaded = loadMappings(target);
  if (!loaded.tables) {
    io.err(`cdsr-adapter: the mapping tables in ${target} are not usable:\n${tableLines(loaded.problems)}`);
    return EXIT_UNREADABLE;
  }
  if (siteCases(target).length === 0) {
    io.out(`no site tests in ${join(target, TESTS_DIR)} (add NAME.hl7 or NAME.json with NAME.expected.json; --update writes the expected file)\n`);
    return EXIT_OK;
  }
  const results = runSiteTests(target, loaded.tables, opts);
  for (const r of results) {
    if (r.created) io.out(`created ${r.name}.expected.json (new: review it)\n`);
    else if (opts.update) io.out(`wrote ${r.name}.expected.json\n`);
    else if (r.ok) io.out(`PASS  ${r.name}\n`);
    else if (r.noExpected) io.out(`NEW   ${r.name}: ${r.diff}\n`);
    else
      io.out(
        `FAIL  ${r.name}\n${r.diff
          .split('\n')
          .map((l) => `      ${l}`)
          .join('\n')}\n`,
      );
  }
  const missing = results.filter((r) => r.noExpected).length;
  const failed = results.filter((r) => !r.ok).length - missing;
  const created = results.filter((r) => r.created).length;
  io.out(
    `${results.length} site test(s): ${results.length - failed - missing} passed, ${failed} failed${missing > 0 ? `, ${missing} without an expected file (test-mappings --update writes them from what the tables give now)` : ''}${opts.update ? ` (${created > 0 ? `${created} expected file(s) created, ` : ''}${results.length - created} rewritten: review the diff)` : ''}\n`,
  );
  // an input without an expected file checks nothing: not a pass
  return failed + missing > 0 ? EXIT_PROBLEMS : EXIT_OK;
}
