// Entry of a mapping worker thread (map-pool.ts starts it; map-jobs.ts is what it does).
import { parentPort, workerData } from 'node:worker_threads';
import { serve, WorkerTables, type MapWorkerData } from './map-jobs.js';

const data = (workerData as { mapWorker?: MapWorkerData } | null)?.mapWorker;
if (parentPort && data) {
  const state = new WorkerTables(data.dir);
  state.at(data.generation);
  serve(parentPort, state);
}
