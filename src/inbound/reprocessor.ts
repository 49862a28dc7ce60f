// The service's reprocessing lane: runs go one at a time, in the order asked, in the background
// (an answer never waits for a run); a run a crash or a shutdown stopped is taken up again at the
// next start; after the tables reload, held records are re-derived by themselves.
import type { ReprocessRun, ReprocessSelection } from '../store/store.js';
import { runReprocess, startReprocess, type ReprocessDeps, type ReprocessProgress } from './reprocess.js';

export interface ReprocessLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class Reprocessor {
  private lane: Promise<void> = Promise.resolve();
  private starting: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private readonly live = new Map<number, ReprocessProgress>();

  constructor(
    private readonly deps: ReprocessDeps,
    private readonly log?: ReprocessLogger,
  ) {}

  /** Creates a run (its units counted now) and queues it; resolves with the run as created. */
  async start(selection: ReprocessSelection, opts: { apply: boolean; who: string }): Promise<ReprocessRun> {
    const created = startReprocess(this.deps, selection, opts);
    this.starting = created.catch(() => undefined);
    const run = await created;
    this.enqueue(run.id);
    return run;
  }

  /**
   * After each successful reload of the tables: the held records and the error queue re-derived
   * by themselves, applied; an encounter where that would change what NRDR was sent is left for
   * a person to preview (it is listed as skipped in the run).
   */
  followReloads(tables: { onReload(fn: (generation: number) => void): void }): void {
    tables.onReload((generation) => {
      void this.start({ held: true, keepSent: true }, { apply: true, who: 'reload' })
        .then((run) =>
          this.log?.info(
            { event: 'reprocess_after_reload', run: run.id, generation, units: run.total },
            'mapping tables reloaded: held records and the error queue are re-derived',
          ),
        )
        .catch((e: unknown) =>
          this.log?.warn(
            { event: 'reprocess_after_reload_failed', generation, error: e instanceof Error ? e.name : 'error' },
            'the held records could not be re-derived after the reload',
          ),
        );
    });
  }

  /** Queues runs left running by a process that stopped (each goes on from its cursor). */
  async resumeUnfinished(): Promise<number> {
    const open = await this.deps.store.reprocessRuns({ status: 'running', limit: 100 });
    for (const r of [...open].reverse()) this.enqueue(r.id);
    return open.length;
  }

  /** The units done so far of a run this process is working on. */
  progress(runId: number): ReprocessProgress | undefined {
    return this.live.get(runId);
  }

  /** Resolves when every run asked for so far has ended (or been left for the next start). */
  async idle(): Promise<void> {
    for (;;) {
      const lane = this.lane;
      await this.starting;
      await lane;
      if (lane === this.lane) return;
    }
  }

  /** Stops after the unit under way; what is left stays `running`, for the next start. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.lane;
  }

  private enqueue(runId: number): void {
    this.lane = this.lane.then(async () => {
      if (this.stopping) return;
      try {
        const run = await runReprocess(
          this.deps,
          runId,
          (p) => void this.live.set(runId, p),
          () => this.stopping,
        );
        const s = run.summary;
        // counts only: the changes themselves (patient data) are read through the API
        this.log?.info(
          {
            event: 'reprocess_ended',
            run: runId,
            status: run.status,
            apply: run.apply,
            units: s.units,
            unchanged: s.unchanged,
            byChange: s.byChange,
            resend: s.resend,
            retractions: s.retractions,
            skipped: s.skipped.length,
          },
          `reprocessing run ${runId} ${run.status}`,
        );
      } catch (e) {
        this.log?.warn(
          { event: 'reprocess_failed', run: runId, error: e instanceof Error ? e.name : 'error' },
          `reprocessing run ${runId} failed; it goes on from where it stopped when asked again or at the next start`,
        );
      } finally {
        this.live.delete(runId);
      }
    });
  }
}
