// The mapping workers answer exactly what the main thread answers (every sample, fuzzed
// variants, after a hot reload of the tables), and a worker that dies, hangs or runs out of
// memory fails only its own message: AE INTERNAL_ERROR kept for replay, the pool carries on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { REPO_ROOT } from '../../test/helpers.js';
import { lines, postHl7, startTestServer, withTestServer, type TestServer } from '../../test/server.js';
import { codeFor, unmappedMessage, unmappedMessages, type UnmappedCase, type UnmappedField } from '../../test/unmapped.js';
import type { WorklistRow } from './worklist.js';

const SAMPLES = readdirSync(join(REPO_ROOT, 'samples', 'hl7v2'))
  .sort()
  .map((f) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', f), 'utf8'));
const ORM = SAMPLES[0]!.replace(/\r?\n/g, '\r');
const FAULTY = new URL('../../test/faulty-map-worker.js', import.meta.url);

/** Posts the same texts, in order, to a server mapping in workers and to one mapping in its own thread. */
async function bothWays(texts: readonly string[], change?: (s: TestServer) => void): Promise<{ worker: string[]; inProcess: string[] }> {
  const run = async (workers: boolean) => {
    const s = await startTestServer(workers ? { mapWorkers: { size: 1, minBytes: 0 } } : {});
    try {
      change?.(s);
      const out: string[] = [];
      for (const t of texts) {
        const r = await postHl7(s, t);
        // each server has its own copy of the tables; a problem may name a file in it
        out.push(`${r.status} ${r.text.replaceAll(s.mappingsDir, '<mappings>')}`);
      }
      const stored = await s.store.messages({ limit: 1000 });
      out.push(JSON.stringify(stored.map((m) => [m.id, m.status, m.controlId])));
      return out;
    } finally {
      await s.close();
    }
  };
  return { worker: await run(true), inProcess: await run(false) };
}

describe('mapping workers: the same answers as the main thread', () => {
  it('every HL7 sample, in order: the same HTTP status, ACK and stored status', async () => {
    const { worker, inProcess } = await bothWays(SAMPLES);
    assert.equal(worker.length, SAMPLES.length + 1);
    assert.deepEqual(worker, inProcess);
    // not vacuous: the samples give AA and a stored row each
    assert.ok(worker.slice(0, -1).every((a) => a.startsWith('200 ') && a.includes('\rMSA|AA|')));
  });

  it('fuzzed variants of the samples (broken lines, junk, escapes): the same answers', async () => {
    const alphabet = ['|', '^', '~', '\\', '&', '\r', '\n', 'A', '1', 'MSH|', 'OBR|', ' ', '\u0000', 'é'];
    const texts = fc.sample(
      fc
        .tuple(fc.constantFrom(...SAMPLES), fc.nat(), fc.nat({ max: 40 }), fc.string({ maxLength: 10, unit: fc.constantFrom(...alphabet) }))
        .map(([s, at, del, ins]) => s.slice(0, at % s.length) + ins + s.slice((at % s.length) + del)),
      { numRuns: 60, seed: 1102 },
    );
    const { worker, inProcess } = await bothWays(texts);
    assert.deepEqual(worker, inProcess);
    // the sample reaches AA, AE and AR answers alike (what is not HL7 among them)
    const kinds = new Set(worker.slice(0, -1).map((a) => `${a.slice(0, 3)} ${/\rMSA\|(A[AER])/.exec(a)?.[1] ?? '-'}`));
    assert.ok(kinds.size >= 3, [...kinds].join(', '));
  });

  it('a hot reload of the tables reaches the workers', async () => {
    // the facility removed from facilities.csv, then reloaded: both answer AE MAP_NO_FACILITY
    const { worker, inProcess } = await bothWays([ORM], (s) => {
      const file = join(s.mappingsDir, 'facilities.csv');
      writeFileSync(
        file,
        readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => !l.includes('GENHOSP'))
          .join('\n'),
      );
      // the shipped site tests would refuse such an edit (they need the facility): without them it loads
      rmSync(join(s.mappingsDir, 'tests'), { recursive: true, force: true });
      assert.equal(s.mappings.reload().ok, true);
    });
    assert.deepEqual(worker, inProcess);
    assert.match(worker[0]!, /\rMSA\|AE\|MSG0001\rERR\|[^\r]*MAP_NO_FACILITY/);
  });
});

describe('mapping workers: replay', () => {
  it('a message kept for a missing crosswalk row is replayed through a worker once the row is added', async () => {
    await withTestServer(
      async (s) => {
        // a local procedure code (no CPT to fall back on): the modality has nothing to map from
        const r = await postHl7(s, ORM.replace('|CT|SC', '|XX|SC').replace('^CPT|', '^L|'));
        assert.match(r.text, /\rMSA\|AE\|MSG0001\rERR\|[^\r]*MAP_UNMAPPED_CODE: Modality: no row for "XX"/);
        const file = join(s.mappingsDir, 'crosswalks', 'modality.csv');
        writeFileSync(file, `${readFileSync(file, 'utf8').trimEnd()}\nXX,1,added by the test\n`);
        assert.equal(s.mappings.reload().ok, true);
        const replayed = (await (await s.fetch('/api/messages/1/replay', { method: 'POST' })).json()) as { status: string };
        assert.equal(replayed.status, 'applied');
        assert.equal((await s.store.records({})).length, 1);
      },
      { mapWorkers: { size: 1, minBytes: 0 } },
    );
  });
});

describe('mapping workers: a worker that fails', () => {
  const internal = (why: string) =>
    `ERR|||207^Application internal error^HL70357|E||||INTERNAL_ERROR: the adapter failed on this message (${why}); it is kept for replay`;

  for (const [segment, why, opts] of [
    ['ZCR', 'the mapping worker stopped (exit code 3)', {}],
    ['ZHG', 'mapping it took longer than 1000 ms', { timeoutMs: 1000 }],
    ['ZOM', 'the mapping worker stopped (ERR_WORKER_OUT_OF_MEMORY)', { maxHeapMb: 32 }],
  ] as const) {
    it(`${segment}: only that message fails (AE INTERNAL_ERROR, kept for replay); the next is mapped by a new worker`, { timeout: 60_000 }, async () => {
      await withTestServer(
        async (s) => {
          const bad = await postHl7(s, `${ORM.trimEnd()}\r${segment}|1\r`);
          assert.equal(bad.status, 200);
          assert.deepEqual(lines(bad.text).slice(1), ['MSA|AE|MSG0001', internal(why)]);
          assert.deepEqual(
            (await s.store.messages({ status: 'error' })).map((m) => m.controlId),
            ['MSG0001'],
          );
          const next = await postHl7(s, ORM.replace('MSG0001', 'MSG0002'));
          assert.deepEqual(lines(next.text).slice(1), ['MSA|AA|MSG0002']);
          assert.equal(s.mapPool?.restarts, 1);
          // a replay maps it in a worker again: this text fails the same way, alone, and stays in the error queue
          const replayed = (await (await s.fetch('/api/messages/1/replay', { method: 'POST' })).json()) as { status: string };
          assert.equal(replayed.status, 'error');
          assert.deepEqual(
            (await s.store.message(1))?.problems.map((p) => `${p.code}: ${p.message}`),
            [internal(why).replace(/^.*\|\|\|\|/, '')],
          );
          assert.equal(s.mapPool?.restarts, 2);
          assert.deepEqual(lines((await postHl7(s, ORM.replace('MSG0001', 'MSG0003'))).text).slice(1), ['MSA|AA|MSG0003']);
        },
        { mapWorkers: { size: 1, minBytes: 0, script: FAULTY, ...opts } },
      );
    });
  }

  it('a worker that cannot start fails the waiting message alone (AE), and the pool tries again for the next', { timeout: 60_000 }, async () => {
    await withTestServer(
      async (s) => {
        for (const id of ['MSG0001', 'MSG0002']) {
          const r = await postHl7(s, ORM.replace('MSG0001', id));
          assert.deepEqual(lines(r.text).slice(1), [`MSA|AE|${id}`, internal('the mapping worker stopped (MODULE_NOT_FOUND)')]);
        }
        assert.deepEqual(
          (await s.store.messages({ status: 'error' })).map((m) => m.controlId),
          ['MSG0001', 'MSG0002'],
        );
      },
      { mapWorkers: { size: 1, minBytes: 0, script: new URL('./no-such-worker.js', import.meta.url) } },
    );
  });
});

describe('the dry run of the error queue in the mapping workers', () => {
  const CASES: readonly UnmappedCase[] = [
    { field: 'Modality', value: 'ZA', count: 5 },
    { field: 'Place_of_Service', value: 'PA', count: 4 },
    { field: 'Patient_Sex', value: 'Q', count: 3 },
  ];

  /** The error queue of CASES, the rows of ZA and PA added on disk (not reloaded), the dry run's answer; and what a new ZA message gets after it. */
  const dryRun = async (workers: boolean) => {
    const s = await startTestServer(workers ? { mapWorkers: { size: 2, minBytes: 0 } } : {});
    try {
      for (const m of unmappedMessages(CASES)) assert.match((await postHl7(s, m.raw)).text, /MSA\|AE\|/);
      const rows = ((await (await s.fetch('/api/worklist')).json()) as { rows: WorklistRow[] }).rows;
      for (const r of rows.filter((x) => x.value !== 'Q'))
        appendFileSync(join(s.mappingsDir, r.table), `${r.stub.replace('<ACR code>', codeFor(r.field as UnmappedField))}\n`);
      const onDisk: (number | undefined)[] = [];
      const pool = s.mapPool;
      if (pool) {
        const map = pool.map.bind(pool);
        pool.map = (raw: string, snapshot?: number) => (onDisk.push(snapshot), map(raw, snapshot));
        // the dry run sends its texts in jobs of many: each text counted with the snapshot of its job
        const mapBatch = pool.mapBatch.bind(pool);
        pool.mapBatch = (raws: readonly string[], snapshot: number) => (onDisk.push(...raws.map(() => snapshot)), mapBatch(raws, snapshot));
      }
      const dry = (await (await s.fetch('/api/worklist/dry-run', { method: 'POST' })).json()) as Record<string, unknown>;
      // the tables in force are still those without the rows
      const after = await postHl7(s, unmappedMessage(99, 'Modality', 'ZA'));
      return { dry: JSON.parse(JSON.stringify(dry).replaceAll(s.mappingsDir, '<mappings>')) as unknown, onDisk, after: lines(after.text)[1] };
    } finally {
      await s.close();
    }
  };

  it('each HL7 text mapped in a worker with the tables on disk (the ingest goes on with those in force): the answer of the main thread', async () => {
    const worker = await dryRun(true);
    assert.deepEqual(worker.onDisk, [...Array.from({ length: 12 }, () => 1), undefined]);
    assert.deepEqual(worker.dry, {
      tablesLoad: true,
      messages: 12,
      wouldResolve: 9,
      stillError: 3,
      waitingForFetch: 0,
      remaining: {
        messages: 3,
        otherProblems: {},
        rows: [
          {
            field: 'Patient_Sex',
            table: 'crosswalks/patient_sex.csv',
            value: 'Q',
            facilityId: '100000',
            system: null,
            count: 3,
            firstSeen: '2026-11-23T06:00:00.000Z',
            lastSeen: '2026-11-23T06:00:00.000Z',
            examples: [3, 6, 9],
            stub: 'Q,<ACR code>,seen in 3 message(s)',
          },
        ],
      },
    });
    assert.equal(worker.after, 'MSA|AE|WL0099');
    const inProcess = await dryRun(false);
    assert.deepEqual(inProcess.dry, worker.dry);
    assert.deepEqual(inProcess.onDisk, []);
  });

  it('a text that ends its worker in a job of many fails alone: the job is sent again a text at a time', { timeout: 60_000 }, async () => {
    await withTestServer(
      async (s) => {
        const cases: readonly UnmappedCase[] = [{ field: 'Modality', value: 'ZA', count: 4 }];
        for (const m of unmappedMessages(cases)) assert.match((await postHl7(s, m.raw)).text, /MSA\|AE\|/);
        // kept with INTERNAL_ERROR: its worker ended on it
        assert.match((await postHl7(s, `${ORM.trimEnd()}\rZCR|1\r`)).text, /MSA\|AE\|/);
        const row = ((await (await s.fetch('/api/worklist')).json()) as { rows: WorklistRow[] }).rows[0]!;
        appendFileSync(join(s.mappingsDir, row.table), `${row.stub.replace('<ACR code>', codeFor('Modality'))}\n`);
        const restarts = s.mapPool?.restarts ?? 0;
        const dry = (await (await s.fetch('/api/worklist/dry-run', { method: 'POST' })).json()) as {
          messages: number;
          wouldResolve: number;
          stillError: number;
          remaining: { rows: unknown[]; otherProblems: Record<string, number> };
        };
        assert.deepEqual(
          [dry.messages, dry.wouldResolve, dry.stillError, dry.remaining.rows, dry.remaining.otherProblems],
          [5, 4, 1, [], { INTERNAL_ERROR: 1 }],
        );
        // the job of five ended its worker, then the text alone ended the next
        assert.equal((s.mapPool?.restarts ?? 0) - restarts, 2);
      },
      { mapWorkers: { size: 1, minBytes: 0, script: FAULTY } },
    );
  });

  it(
    'a dry run and a replay that take longer than CDSR_HTTP_REQUEST_TIMEOUT_S are answered all the same (the timeout bounds a request arriving, not the work it asks)',
    { timeout: 60_000 },
    async () => {
      await withTestServer(
        async (s) => {
          // its worker hangs on it: the job of the dry run ends at the 1.5 s timeout, the text alone at another: 3 s, past the 1 s timeout
          assert.match((await postHl7(s, `${ORM.trimEnd()}\rZHG|1\r`)).text, /MSA\|AE\|/);
          let t0 = performance.now();
          const r = await fetch(`${s.url}/api/worklist/dry-run`, { method: 'POST' });
          assert.equal(r.status, 200);
          const dry = (await r.json()) as { messages: number; stillError: number; remaining: { otherProblems: Record<string, number> } };
          assert.deepEqual([dry.messages, dry.stillError, dry.remaining.otherProblems], [1, 1, { INTERNAL_ERROR: 1 }]);
          assert.ok(performance.now() - t0 > 2000, 'the dry run outlasted the request timeout');
          // the replay's mapping ends at the 1.5 s timeout, past the 1 s timeout too
          t0 = performance.now();
          const replay = await fetch(`${s.url}/api/replay`, { method: 'POST' });
          assert.equal(replay.status, 200);
          assert.deepEqual(await replay.json(), { replayed: 1, byStatus: { error: 1 } });
          assert.ok(performance.now() - t0 > 1000, 'the replay outlasted the request timeout');
        },
        { listen: true, requestTimeoutS: 1, mapWorkers: { size: 1, minBytes: 0, script: FAULTY, timeoutMs: 1500 } },
      );
    },
  );
});
