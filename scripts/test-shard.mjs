// One worker process of run-tests.mjs: asks its parent (over IPC) for a compiled test file at a
// time and runs it here, as a suite named by the file; it asks for the next only once that file's
// tests are done. The modules every test file loads (fastify, the app, the mapping engine) are
// loaded once per worker instead of once per file.
import { after, describe } from 'node:test';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
/** The next file from the parent; null when there is none left. It is told the CPU seconds this process spent since it last asked (the file just run). */
let since = process.cpuUsage();
const next = () =>
  new Promise((ok) => {
    process.once('message', ok);
    const used = process.cpuUsage(since);
    since = process.cpuUsage();
    process.send({ next: true, cpu: (used.user + used.system) / 1e6 });
  });

for (let file = await next(); file !== null; file = await next()) {
  await new Promise((done) => {
    describe(relative(root, file), async () => {
      after(() => done());
      await import(pathToFileURL(file).href);
    });
  });
}
process.disconnect();
