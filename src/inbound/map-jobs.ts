// What a mapping worker does (map-worker.ts is its entry; map-pool.ts hands it the jobs): parse
// and map ER7 texts with the tables of the mappings directory at the holder's generation, and
// answer plain data (hl7-map.ts). It never touches the store: durability stays with the main thread.
import type { MessagePort } from 'node:worker_threads';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapForIngest, type Hl7Mapped } from './hl7-map.js';

/** One job: the text, the tables' generation it must be mapped with, the mapping options. */
export interface MapJob {
  readonly id: number;
  readonly raw: string;
  readonly generation: number;
  readonly defaultFacilityId?: string;
  /** Mapped with the tables on disk (the dry run), read once per snapshot number, instead of the generation in force. */
  readonly onDisk?: number;
}

/**
 * Several texts for the dry run, mapped with the tables on disk (`onDisk`): what it keeps of each
 * is only whether it maps and, if not, its problems, so the answer is that alone, and one message
 * each way carries many texts.
 */
export interface MapBatchJob {
  readonly id: number;
  readonly raws: readonly string[];
  readonly onDisk: number;
  readonly defaultFacilityId?: string;
}

/** Of one text of a batch: null when the tables map it, else its problems as JSON text. */
export type BatchResult = string | null;

/** The answer: the mapped text (or texts), or `stale` when this worker cannot load that generation's tables. */
export type MapReply =
  | { readonly id: number; readonly mapped: Hl7Mapped }
  | { readonly id: number; readonly results: readonly BatchResult[] }
  | { readonly id: number; readonly stale: true };

export interface MapWorkerData {
  readonly dir: string;
  /** The holder's generation when the worker starts: its tables are loaded at once. */
  readonly generation: number;
}

/** The worker's state: the tables it loaded and for which generation. */
export class WorkerTables {
  private tables: MappingTables | undefined;
  private generation = 0;
  /** The tables on disk as read for one dry run (kept apart: ingest goes on with those in force). */
  private disk: { snapshot: number; tables: MappingTables | undefined } | undefined;
  constructor(private readonly dir: string) {}

  /** The tables on disk for a snapshot: read once per snapshot (undefined when they do not load). */
  onDisk(snapshot: number): MappingTables | undefined {
    if (this.disk?.snapshot !== snapshot) this.disk = { snapshot, tables: loadMappings(this.dir).tables };
    return this.disk.tables;
  }

  /**
   * Tables for `generation`: loaded again from the directory when the holder has moved on (a
   * table that does not load now, edited since, leaves the job to the main thread).
   */
  at(generation: number): MappingTables | undefined {
    if (this.tables && this.generation === generation) return this.tables;
    const r = loadMappings(this.dir);
    if (!r.tables) return undefined;
    this.tables = r.tables;
    this.generation = generation;
    return this.tables;
  }

  /** `before`: called with each text before it is mapped (the failure tests' worker misbehaves there). */
  handle(job: MapJob | MapBatchJob, before?: (job: Pick<MapJob, 'raw'>) => void): MapReply {
    const tables = job.onDisk !== undefined ? this.onDisk(job.onDisk) : this.at((job as MapJob).generation);
    if (!tables) return { id: job.id, stale: true };
    const opts = job.defaultFacilityId !== undefined ? { defaultFacilityId: job.defaultFacilityId } : {};
    if ('raws' in job)
      return {
        id: job.id,
        results: job.raws.map((raw) => {
          before?.({ raw });
          const { outcome } = mapForIngest(raw, tables, opts);
          return outcome.disposition === 'mapped' ? null : JSON.stringify(outcome.problems);
        }),
      };
    before?.(job);
    return { id: job.id, mapped: mapForIngest(job.raw, tables, opts) };
  }
}

/** Says it is ready (its tables loaded), then serves jobs on `port` until the thread is ended. */
export function serve(port: Pick<MessagePort, 'on' | 'postMessage'>, state: WorkerTables, before?: (job: Pick<MapJob, 'raw'>) => void): void {
  port.postMessage({ ready: true });
  port.on('message', (job: MapJob | MapBatchJob) => port.postMessage(state.handle(job, before)));
}
