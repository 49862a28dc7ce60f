// A mapping worker that misbehaves on demand, for the pool's failure tests: a text with a ZCR segment
// ends the thread, one with ZHG never answers, one with ZOM exhausts its heap; any
// other text is mapped as the real worker maps it. ZHG blocks the thread rather than spinning: the
// pool's timeout ends either alike (terminate interrupts a wait), and a spin burned a core of the
// test machine for each timeout waited out.
import { parentPort, workerData } from 'node:worker_threads';
import { serve, WorkerTables, type MapWorkerData } from '../src/inbound/map-jobs.js';

const data = (workerData as { mapWorker: MapWorkerData }).mapWorker;
const state = new WorkerTables(data.dir);
state.at(data.generation);
if (parentPort) {
  serve(parentPort, state, (job) => {
    if (job.raw.includes('\rZCR|')) process.exit(3);
    if (job.raw.includes('\rZHG|')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    if (job.raw.includes('\rZOM|')) {
      const hog: string[][] = [];
      for (;;) hog.push(Array.from({ length: 100_000 }, (_, i) => `${i}-${hog.length}`));
    }
  });
}
