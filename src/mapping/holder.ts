// The mapping tables in force, and their hot reload: a valid change to the mappings directory
// takes effect at once (one swap of a reference); a broken one is refused and logged, and the
// tables in force stay. So is a change that breaks a site regression test (mappings/tests/): the
// log and the reload status name the tests.
import { watch, type FSWatcher } from 'node:fs';
import { formatProblemLine, type Problem } from '../cdsr/problem.js';
import { loadMappings, type MappingTables } from './load.js';
import { runSiteTests } from './site-tests.js';

/** The outcome of the last reload (or of the start), for the operations API. */
export interface ReloadStatus {
  readonly at: string;
  readonly ok: boolean;
  readonly generation: number;
  /** Table problems as `file:line: message`, when the tables did not load. */
  readonly problems: string[];
  /** Site tests the new tables fail (each with its diff). */
  readonly failingTests: { name: string; diff: string }[];
}

export interface ReloadLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class MappingHolder {
  private tables: MappingTables;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((generation: number) => void)[] = [];
  /** Incremented at every successful reload. */
  generation = 1;
  lastReload: ReloadStatus;

  private constructor(
    readonly dir: string,
    tables: MappingTables,
    private readonly log: ReloadLog,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.tables = tables;
    this.lastReload = { at: clock().toISOString(), ok: true, generation: 1, problems: [], failingTests: [] };
  }

  static load(dir: string, log: ReloadLog, clock?: () => Date): { holder?: MappingHolder; problems: Problem[] } {
    const r = loadMappings(dir);
    return r.tables ? { holder: new MappingHolder(dir, r.tables, log, clock), problems: [] } : { problems: r.problems };
  }

  /** Called after each successful reload, with the new generation (the held records are re-derived then). */
  onReload(fn: (generation: number) => void): void {
    this.listeners.push(fn);
  }

  get current(): MappingTables {
    return this.tables;
  }

  /** Loads the directory again; swaps the tables only when everything loads and every site test passes. */
  reload(now: Date = this.clock()): { ok: boolean; problems: Problem[]; failingTests: string[] } {
    const at = now.toISOString();
    const r = loadMappings(this.dir);
    if (!r.tables) {
      this.lastReload = { at, ok: false, generation: this.generation, problems: r.problems.map(formatProblemLine), failingTests: [] };
      this.log.warn(
        { event: 'mappings_refused', problems: r.problems.length, first: r.problems.slice(0, 5).map(formatProblemLine) },
        'changed mapping tables refused; the previous tables stay in force',
      );
      return { ok: false, problems: r.problems, failingTests: [] };
    }
    // inputs still without an expected file check nothing yet: test-mappings lists them
    const failing = runSiteTests(this.dir, r.tables).filter((t) => !t.ok && t.noExpected !== true);
    if (failing.length > 0) {
      this.lastReload = { at, ok: false, generation: this.generation, problems: [], failingTests: failing.map((t) => ({ name: t.name, diff: t.diff })) };
      // test names and table lines only: a diff may quote a site message's values
      this.log.warn(
        { event: 'mappings_refused', failingTests: failing.map((t) => t.name) },
        `changed mapping tables refused: they break the site test(s) ${failing.map((t) => t.name).join(', ')} (run test-mappings); the previous tables stay in force`,
      );
      return { ok: false, problems: [], failingTests: failing.map((t) => t.name) };
    }
    this.tables = r.tables;
    this.generation++;
    for (const fn of this.listeners) fn(this.generation);
    this.lastReload = { at, ok: true, generation: this.generation, problems: [], failingTests: [] };
    this.log.info({ event: 'mappings_reloaded', generation: this.generation }, 'mapping tables reloaded');
    return { ok: true, problems: [], failingTests: [] };
  }

  /** Watches the directory (recursively) and reloads shortly after the last change. */
  watch(debounceMs = 300): void {
    if (this.watcher) return;
    this.watcher = watch(this.dir, { recursive: true }, () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.reload(), debounceMs);
    });
    this.watcher.on('error', (e) => this.log.warn({ event: 'mappings_watch_error', error: e.message }, 'cannot watch the mappings directory'));
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
