// A small pool of mapping workers (worker_threads), so that one large message (a megabyte of
// OBX or NTE segments takes 70–500 ms to parse and map) does not hold the event loop: texts of
// CDSR_MAP_WORKER_MIN_BYTES or more are parsed and mapped in a worker, which answers the plain
// outcome; storing it (and the AA only after the commit) stays in the main thread. A worker that
// dies or takes longer than the timeout fails only its message (INTERNAL_ERROR, kept for replay)
// and is replaced.
import { Worker } from 'node:worker_threads';
import { AdapterError } from '../cdsr/errors.js';
import { StoreUnavailableError } from '../store/store.js';
import type { Hl7Mapped } from './hl7-map.js';
import type { BatchResult, MapBatchJob, MapJob, MapReply, MapWorkerData } from './map-jobs.js';

export interface MapPoolOptions {
  /** The tables in force: their directory, and the generation that changes at every reload. */
  readonly mappings: { readonly dir: string; readonly generation: number };
  /** Workers (at least 1). */
  readonly size: number;
  /** Texts this long or longer go to a worker; shorter ones are mapped in the main thread. */
  readonly minBytes: number;
  /** A job not answered in this time ends its worker; the message fails alone. */
  readonly timeoutMs: number;
  /** A worker that has not loaded its tables in this time is ended (default 60 s). */
  readonly startTimeoutMs?: number;
  readonly defaultFacilityId?: string;
  /** Heap limit of each worker, MB (a message that exhausts it fails alone). */
  readonly maxHeapMb?: number;
  /** The worker script (tests give one that misbehaves). */
  readonly script?: URL;
}

/** A mapping worker failed on this message: it died, or took too long. */
export class MapWorkerError extends AdapterError {
  constructor(message: string) {
    super('MAP_WORKER', message);
  }
}

/**
 * The young generation of each worker's heap, MB (V8's default is 48 on 64 bits): what a worker
 * maps is garbage by its answer, and a smaller nursery keeps that garbage small. A dry run of
 * 100,000 messages through two workers peaked 30–50 MB lower with it (docs/benchmark.md), at no
 * cost to the mapping measured (1 MB texts and small ones).
 */
const YOUNG_GENERATION_MB = 16;

interface Pending {
  readonly job: MapJob | MapBatchJob;
  /** The worker's answer to the job. */
  readonly resolve: (reply: MapReply) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  /** Its tables are loaded: it takes jobs (the timeout counts from the job, not the start). */
  ready: boolean;
  current?: Pending;
  /** The job's timeout, or the start's while not ready. */
  timer?: NodeJS.Timeout;
  gone: boolean;
}

export class MapPool {
  /** A place per worker; empty until a job needs it, and again after its worker was lost. */
  private readonly slots: (Slot | undefined)[];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  /** Workers replaced after a death or a timeout (for /metrics and tests). */
  restarts = 0;

  constructor(private readonly opts: MapPoolOptions) {
    this.slots = Array.from({ length: Math.max(1, opts.size) }, () => undefined);
    // one started now, so the first large message does not wait for the tables to load
    this.slots[0] = this.spawn();
  }

  get minBytes(): number {
    return this.opts.minBytes;
  }

  private snapshots = 0;

  /** A new reading of the tables on disk for `map(raw, onDisk)`: each worker loads them at its first job of it. */
  diskSnapshot(): number {
    return ++this.snapshots;
  }

  /**
   * Parses and maps `raw` in a worker with the tables in force (with `onDisk`, those on disk as read
   * for that snapshot). Resolves undefined when the worker cannot load these tables (the caller
   * maps it itself); rejects with a
   * MapWorkerError when the worker dies or times out on it, with StoreUnavailableError once closed.
   */
  map(raw: string, onDisk?: number): Promise<Hl7Mapped | undefined> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the adapter is shutting down'));
    const job: MapJob = {
      id: this.nextId++,
      raw,
      generation: this.opts.mappings.generation,
      ...(this.opts.defaultFacilityId !== undefined ? { defaultFacilityId: this.opts.defaultFacilityId } : {}),
      ...(onDisk !== undefined ? { onDisk } : {}),
    };
    return this.send(job).then((reply) => ('mapped' in reply ? reply.mapped : undefined));
  }

  /**
   * The dry run's mapping of several texts in one job, with the tables on disk as read for
   * `onDisk`: for each text, null when it maps, else its problems as JSON text. Resolves undefined
   * when the worker cannot load these tables; rejects as `map` does (a MapWorkerError fails the
   * whole batch: its texts can be sent again one by one, so that only the one at fault fails).
   */
  mapBatch(raws: readonly string[], onDisk: number): Promise<BatchResult[] | undefined> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the adapter is shutting down'));
    const job: MapBatchJob = {
      id: this.nextId++,
      raws,
      onDisk,
      ...(this.opts.defaultFacilityId !== undefined ? { defaultFacilityId: this.opts.defaultFacilityId } : {}),
    };
    return this.send(job).then((reply) => ('results' in reply ? [...reply.results] : undefined));
  }

  private send(job: MapJob | MapBatchJob): Promise<MapReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private spawn(): Slot {
    const data: MapWorkerData = { dir: this.opts.mappings.dir, generation: this.opts.mappings.generation };
    const worker = new Worker(this.opts.script ?? new URL('./map-worker.js', import.meta.url), {
      workerData: { mapWorker: data },
      resourceLimits: { maxOldGenerationSizeMb: this.opts.maxHeapMb ?? 512, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      stdout: false,
      stderr: false,
    });
    const slot: Slot = { worker, ready: false, gone: false };
    const startMs = this.opts.startTimeoutMs ?? 60_000;
    slot.timer = setTimeout(() => {
      this.lost(slot, `the mapping worker did not start within ${startMs} ms`);
      void worker.terminate();
    }, startMs);
    worker.on('message', (reply: MapReply | { ready: true }) => {
      if ('ready' in reply) {
        clearTimeout(slot.timer);
        slot.ready = true;
        this.dispatch();
        return;
      }
      const p = slot.current;
      if (!p || p.job.id !== reply.id) return;
      this.finish(slot);
      p.resolve(reply);
      this.dispatch();
    });
    // an uncaught error (out of memory, a crash) is followed by 'exit'; the first one names it
    worker.on('error', (e: Error & { code?: string }) => this.lost(slot, `the mapping worker stopped (${e.code ?? e.name})`));
    worker.on('exit', (code) => this.lost(slot, `the mapping worker stopped (exit code ${code})`));
    worker.unref();
    return slot;
  }

  private finish(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.current = undefined;
  }

  /** A worker is gone: its message fails alone, a new worker takes its place. */
  private lost(slot: Slot, why: string): void {
    if (slot.gone) return;
    slot.gone = true;
    // a worker that could not start fails the oldest waiting message, so that none waits for ever
    const p = slot.current ?? (slot.ready ? undefined : this.queue.shift());
    this.finish(slot);
    if (p) p.reject(this.closed ? new StoreUnavailableError('the adapter is shutting down') : new MapWorkerError(why));
    if (this.closed) return;
    const i = this.slots.indexOf(slot);
    this.restarts++;
    // started again when a job needs it: a worker that cannot start does not spin
    if (i !== -1) this.slots[i] = undefined;
    this.dispatch();
  }

  private dispatch(): void {
    for (let i = 0; i < this.slots.length; i++) {
      if (this.queue.length === 0) return;
      const slot = this.slots[i] ?? (this.slots[i] = this.spawn());
      if (slot.current || slot.gone || !slot.ready) continue;
      const p = this.queue.shift()!;
      slot.current = p;
      slot.timer = setTimeout(() => {
        this.lost(slot, `mapping it took longer than ${this.opts.timeoutMs} ms`);
        void slot.worker.terminate();
      }, this.opts.timeoutMs);
      slot.worker.postMessage(p.job);
    }
  }

  /** Ends the workers; messages still waiting are answered as "cannot take it now" (resent). */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new StoreUnavailableError('the adapter is shutting down'));
    const running = this.slots.filter((s): s is Slot => s !== undefined);
    await Promise.all(running.map((s) => s.worker.terminate().catch(() => undefined)));
  }
}
