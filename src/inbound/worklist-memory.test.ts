// The worklist and its dry run read the error queue a page at a time and group it as read: what
// they hold at once does not grow with the queue. A store stub hands out pages of a few messages,
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
        const problems: Problem[] = [
          {
            code: 'MAP_UNMAPPED_CODE',
            message: 'm',
            severity: 'error',
            scope: 'consultation',
            path: '',
            field: 'Modality',
            file: '/m/crosswalks/modality.csv',
            value: `V${id % 3}`,
            facilityId: '100000',
          },
        ];
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

describe('the error queue read a page at a time', () => {
  it(`the worklist holds at most two pages of messages at once, of ${MESSAGES} (pages of ${PAGE})`, async () => {
    const store = queueStub('hl7v2');
    const w = await buildWorklist(store, '/m', undefined, PAGE);
    assert.deepEqual(
      w.rows.map((r) => [r.value, r.count, r.examples]),
      [
        ['V0', 100, [3, 6, 9, 12, 15]],
        ['V1', 100, [1, 4, 7, 10, 13]],
        ['V2', 100, [2, 5, 8, 11, 14]],
      ],
    );
    assert.equal(w.messages, MESSAGES);
    assert.equal(store.pages.length, MESSAGES / PAGE + 1);
    assert.equal(store.held.length, 3, 'the last pages were counted');
    assert.ok(Math.max(...store.held) <= 2 * PAGE, `held at once: ${store.held.join(' ')}`);
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
});
