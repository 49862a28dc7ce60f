// The mapping tables in force, and their hot reload: a valid change to the mappings directory
// takes effect at once (one swap of a reference); a broken one is refused and logged, and the
// tables in force stay.
import { watch, type FSWatcher } from 'node:fs';
import { formatProblemLine, type Problem } from '../cdsr/problem.js';
import { loadMappings, type MappingTables } from './load.js';

export interface ReloadLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class MappingHolder {
  private tables: MappingTables;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Incremented at every successful reload. */
  generation = 1;
  /** The last reload tried (none since start: undefined), with its file:line problems when refused. */
  lastReload: { readonly at: Date; readonly ok: boolean; readonly problems: readonly Problem[] } | undefined;

  private constructor(
    readonly dir: string,
    tables: MappingTables,
    private readonly log: ReloadLog,
  ) {
    this.tables = tables;
  }

  static load(dir: string, log: ReloadLog): { holder?: MappingHolder; problems: Problem[] } {
    const r = loadMappings(dir);
    return r.tables ? { holder: new MappingHolder(dir, r.tables, log), problems: [] } : { problems: r.problems };
  }

  get current(): MappingTables {
    return this.tables;
  }

  /** Loads the directory again; swaps the tables only when everything loads. */
  reload(now: Date = new Date()): { ok: boolean; problems: Problem[] } {
    const r = loadMappings(this.dir);
    this.lastReload = { at: now, ok: r.tables !== undefined, problems: r.problems };
    if (!r.tables) {
      this.log.warn(
        { event: 'mappings_refused', problems: r.problems.length, first: r.problems.slice(0, 5).map(formatProblemLine) },
        'changed mapping tables refused; the previous tables stay in force',
      );
      return { ok: false, problems: r.problems };
    }
    this.tables = r.tables;
    this.generation++;
    this.log.info({ event: 'mappings_reloaded', generation: this.generation }, 'mapping tables reloaded');
    return { ok: true, problems: [] };
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
