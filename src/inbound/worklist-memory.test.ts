// What the worklist and its dry run hold at once does not grow with the error queue: the worklist
// reads the queue as the store groups it (a row per problems text, never a page of messages), and
// the dry run reads it a page at a time and groups it as mapped (in the main thread, or in jobs of
// many texts to the mapping workers). A store stub hands out pages of a few messages,
// each with problems of its own, and counts, when the last pages are asked for, how many of the
// problems handed out so far are still reachable (after a full garbage collection): a reader that
// kept every message (or every message's problems) until the end holds them all at the last page.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Problem } from '../cdsr/problem.js';
import { loadMappings } from '../mapping/load.js';
import type { QueuedMessage } from '../store/store.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { dryRunErrorQueue } from './dry-run.js';
import { buildWorklist } from './worklist.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MESSAGES = 300;
const PAGE = 10;

/** An unmapped modality `value` (with `id` in its message, so that each message's problems are a text of their own). */
const problemsOf = (id: number, value: string): Problem[] => [
  {
    code: 'MAP_UNMAPPED_CODE',
    message: `m${id}`,
    severity: 'error',
    scope: 'consultation',
    path: '',
    field: 'Modality',
    file: '/m/crosswalks/modality.csv',
    value,
    facilityId: '100000',
  },
];

/** An error queue of MESSAGES messages, each with problems of its own (HL7 unmapped codes, or FHIR notifications waiting for their resource). */
function queueStub(channel: 'hl7v2' | 'fhir') {
  const handedOut: WeakRef<readonly Problem[]>[] = [];
  const held: number[] = [];
  const pages: number[] = [];
  return {
    held,
    pages,
    queuePage: async (status: string, after: number, limit: number, withRaw = false): Promise<QueuedMessage[]> => {
      assert.equal(status, 'error');
      pages.push(limit);
      // a turn of the event loop (as a database's answer takes), then, for the last pages asked for,
      // a full collection: what the reader still reaches (a reader that kept what it read holds
      // nearly every message by then; a full collection costs a worker with the suite's modules
      // loaded a quarter of a second, so not one per page)
      await new Promise((resolve) => setImmediate(resolve));
      if (after >= MESSAGES - 2 * limit) {
        gc();
        held.push(handedOut.filter((r) => r.deref() !== undefined).length);
      }
      const page: QueuedMessage[] = [];
      for (let id = after + 1; id <= Math.min(after + limit, MESSAGES); id++) {
        const problems = problemsOf(id, `V${id % 3}`);
        handedOut.push(new WeakRef(problems));
        const raw = channel === 'fhir' ? JSON.stringify({ resourceType: 'ServiceRequest', id: `sr${id}`, pendingFocus: 'ServiceRequest/x' }) : 'not HL7';
        page.push({ id, receivedAt: `2026-11-02T09:00:${String(id % 60).padStart(2, '0')}Z`, channel, problems, ...(withRaw ? { raw } : {}) });
      }
      return page;
    },
    resource: () => Promise.resolve(undefined),
    saveResources: () => Promise.resolve(),
    guessTally: () => Promise.resolve([]),
  };
}

describe('the error queue, however long, held a page or a group at a time', () => {
  it('the worklist reads the queue grouped by the store (a row per problems text), not its messages', async () => {
    const store = queueStub('hl7v2');
    const asked: number[] = [];
    const group = (value: string, first: number) => ({
      problems: problemsOf(first, value),
      count: 100,
      firstId: first,
      lastId: MESSAGES - 3 + first,
      firstSeen: '2026-11-02T09:00:00Z',
      lastSeen: '2026-11-02T09:00:59Z',
      examples: [first, first + 3, first + 6, first + 9, first + 12],
    });
    const w = await buildWorklist(
      {
        ...store,
        errorGroups: (examples: number) => {
          asked.push(examples);
          return Promise.resolve([group('V1', 1), group('V2', 2), group('V0', 3)]);
        },
      },
      '/m',
    );
    assert.deepEqual(
      w.rows.map((r) => [r.value, r.count, r.examples]),
      [
        ['V0', 100, [3, 6, 9, 12, 15]],
        ['V1', 100, [1, 4, 7, 10, 13]],
        ['V2', 100, [2, 5, 8, 11, 14]],
      ],
    );
    assert.equal(w.messages, MESSAGES);
    assert.deepEqual(asked, [5]);
    assert.deepEqual(store.pages, [], 'no page of messages was read');
  });

  it(`the dry run maps a window at a time and holds at most three windows of messages at once, of ${MESSAGES} (windows of ${PAGE})`, async () => {
    const store = queueStub('fhir');
    const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    const r = await dryRunErrorQueue(store, tables, undefined, undefined, PAGE);
    assert.deepEqual([r.messages, r.wouldResolve, r.stillError, r.waitingForFetch], [MESSAGES, 0, MESSAGES, MESSAGES]);
    assert.deepEqual(
      r.remaining.rows.map((x) => [x.value, x.count]),
      [
        ['V0', 100],
        ['V1', 100],
        ['V2', 100],
      ],
    );
    // each page a window's size
    assert.deepEqual(new Set(store.pages), new Set([PAGE]));
    assert.equal(store.held.length, 3, 'the last pages were counted');
    assert.ok(Math.max(...store.held) <= 3 * PAGE, `held at once: ${store.held.join(' ')}`);
  });

  it(`with mapping workers, the dry run maps HL7 texts in jobs of many and holds at most three windows of messages at once, of ${MESSAGES}`, async () => {
    const store = queueStub('hl7v2');
    const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    const jobs: number[] = [];
    // a stand-in for the pool: every third text of a job maps, the others keep problems of their own
    const workers = {
      minBytes: 0,
      diskSnapshot: () => 7,
      map: () => Promise.reject(new Error('each text was to go in a job of many')),
      mapBatch: async (raws: readonly string[], onDisk: number) => {
        assert.equal(onDisk, 7);
        jobs.push(raws.length);
        await new Promise((resolve) => setImmediate(resolve));
        return raws.map((raw, i) => (i % 3 === 0 ? null : JSON.stringify(problemsOf(jobs.length * 100 + i, `${raw.slice(0, 3)}${i % 3}`))));
      },
    };
    const r = await dryRunErrorQueue(store, tables, undefined, workers, PAGE);
    assert.deepEqual([r.messages, r.wouldResolve, r.stillError, r.waitingForFetch], [MESSAGES, 120, 180, 0]);
    assert.deepEqual(
      r.remaining.rows.map((x) => [x.value, x.count]),
      [
        ['not1', 90],
        ['not2', 90],
      ],
    );
    // a window of PAGE texts is one job
    assert.deepEqual(
      jobs,
      Array.from({ length: MESSAGES / PAGE }, () => PAGE),
    );
    assert.equal(store.held.length, 3, 'the last pages were counted');
    assert.ok(Math.max(...store.held) <= 3 * PAGE, `held at once: ${store.held.join(' ')}`);
  });
});
