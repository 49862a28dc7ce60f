// Property: a record is a function of its messages. For random interleavings of orders (with the
// CDS time or only a fallback time), status messages, order changes (XO) with a new CDS time,
// updates, cancels, results by placer or accession number, results naming two orders, and
// submissions that NRDR accepts, re-deriving every encounter from its stored messages gives exactly
// what applying them live gave (records, states, ledger, message statuses, order index, waiting
// results); a preview of that reports no change, and doing it twice changes nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CdsrValidator } from '../cdsr/validate.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { PartialRecord } from '../mapping/record.js';
import { acceptEveryReady, arrivals, sampleOrder } from '../../test/property.js';
import { migratedMemoryExecutor } from '../../test/sqlite-template.js';
import { SqlStore } from './sql-store.js';
import type { IngestResult, Store } from './store.js';
import { runs } from '../../test/runs.js';

const NOW = new Date('2026-11-23T06:00:00Z');

const SAMPLE = sampleOrder();

type Kind = 'order' | 'order-fallback' | 'status' | 'change' | 'update' | 'cancel' | 'result' | 'result-by-accession' | 'two-results' | 'send';
interface OrderSpec {
  readonly n: number;
  readonly encounter: number;
  /** Its minute: equal minutes in one encounter make collisions. */
  readonly minute: number;
  readonly hasFiller: boolean;
  readonly events: readonly Kind[];
}
const KINDS: Kind[] = ['order', 'order-fallback', 'status', 'change', 'update', 'cancel', 'result', 'result-by-accession', 'two-results', 'send'];
const orderSpec = (n: number) =>
  fc.record({
    n: fc.constant(n),
    encounter: fc.integer({ min: 0, max: 1 }),
    minute: fc.integer({ min: 0, max: 2 }),
    hasFiller: fc.boolean(),
    events: fc.array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 5 }),
  });

const TIMES: Record<Exclude<Kind, 'send'>, string> = {
  order: '2026-11-02T09:00:00',
  'order-fallback': '2026-11-02T09:00:00',
  status: '2026-11-02T09:30:00',
  change: '2026-11-02T10:00:00',
  update: '2026-11-02T10:30:00',
  cancel: '2026-11-02T11:00:00',
  result: '2026-11-02T12:00:00',
  'result-by-accession': '2026-11-02T12:30:00',
  'two-results': '2026-11-02T12:45:00',
};

function record(o: OrderSpec, kind: Exclude<Kind, 'send' | 'two-results'>, id: string): PartialRecord {
  const placer = `P${o.n}`;
  const filler = `A${o.n}`;
  const numbers = kind === 'result-by-accession' ? [filler] : o.hasFiller ? [placer, filler] : [placer];
  const role = kind.startsWith('result') ? 'result' : 'order';
  // the CDS time (rank 0), a fallback time (the status message's, rank 4), or the change's new CDS time
  const key =
    kind === 'order'
      ? { consultationDate: '11/02/2026', consultationTime: `09:0${o.minute}:00`, consultationKeyRank: 0 }
      : kind === 'order-fallback' || kind === 'status'
        ? { consultationDate: '11/02/2026', consultationTime: `08:5${o.minute}:00`, consultationKeyRank: 4 }
        : kind === 'change'
          ? { consultationDate: '11/02/2026', consultationTime: `10:0${o.minute}:00`, consultationKeyRank: 0 }
          : {};
  return {
    source: { kind: 'hl7v2', type: role === 'result' ? 'ORU^R01' : 'ORM^O01', role, id },
    facilityId: '100000',
    encounterId: `V${o.encounter}`,
    orderKey: numbers[0]!,
    orderNumbers: numbers,
    ...key,
    cancelled: kind === 'cancel',
    sourceTime: TIMES[kind],
    encounterFields: kind === 'order' || kind === 'order-fallback' ? SAMPLE.encounterFields : {},
    consultationFields:
      role === 'result'
        ? { Ordered_Exam_Completed: '1' }
        : kind === 'order' || kind === 'order-fallback' || kind === 'change'
          ? SAMPLE.consultationFields
          : { Modality: '1' },
    trace: [],
  };
}

async function snapshot(store: Store, q: (sql: string) => Promise<unknown[]>) {
  return {
    encounters: await q('SELECT encounter_key, fields, consultation_defaults FROM encounters ORDER BY encounter_key'),
    consultations: await q(
      'SELECT encounter_key, consultation_key, cdate, ctime, key_rank, fields, cancelled, state, missing, problems, content_hash FROM consultations ORDER BY encounter_key, consultation_key',
    ),
    orders: (await store.orders({ limit: 1000 })).orders.map((o) => [
      o.orderNumbers,
      o.encounterId,
      o.consultationKey,
      o.state,
      o.reason,
      o.problems,
      o.messageIds,
      o.firstSeen,
      o.lastSeen,
    ]),
    messages: (await store.messages({ limit: 1000 })).map((m) => [m.id, m.status, m.problems]),
    index: await q('SELECT order_key, encounter_key, consultation_key FROM order_index ORDER BY order_key'),
    orphans: await q('SELECT order_key, seq, source_id FROM orphans ORDER BY order_key, seq, source_id'),
  };
}

describe('records derived from their messages', () => {
  it('re-deriving every encounter from its stored messages gives what applying them live gave', async () => {
    const validator = new CdsrValidator({ now: NOW });
    const reached = { rekeyed: 0, retraction: 0, orphan: 0, collision: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }).chain((count) => fc.tuple(...Array.from({ length: count }, (_, i) => orderSpec(i + 1)))),
        fc.infiniteStream(fc.nat()),
        async (specs, dice) => {
          const events = arrivals(specs, dice);
          const arrival = events.map((x) => `${x.e}:${x.o.n}`).join(' ');
          // a database in memory, a copy of one migrated once: what is checked here is what the rows
          // say, not how they reach the disk (sqlite.int.test.ts checks that); a file per run cost its
          // creation, a checkpoint with fsync at closing and its removal, about 3 times as long
          const db = await migratedMemoryExecutor();
          const store = await SqlStore.open(db, { validator });
          // the same messages through a store that writes each message's records in its own
          // transaction, before its answer: the answers and the rows must be the same
          const inlineDb = await migratedMemoryExecutor();
          const inline = await SqlStore.open(inlineDb, { validator, derive: 'with-message' });
          // the tables read beside the store, on its connection (a read waits for an open transaction)
          const q = (sql: string) => db.all(sql);
          try {
            const outcomes = new Map<number, MapOutcome>();
            // the messages between two submissions asked of `store` at once: their answers are
            // decided in one group commit, each over the merge of those before it not yet written
            let asked: { readonly answer: Promise<IngestResult>; readonly inline: IngestResult }[] = [];
            const answered = async () => {
              for (const a of asked) assert.deepEqual(await a.answer, a.inline, `answers after ${arrival}`);
              asked = [];
            };
            for (const [i, { o, e, k }] of events.entries()) {
              if (e === 'send') {
                await answered();
                await acceptEveryReady(store, `T${i}`, NOW);
                await acceptEveryReady(inline, `T${i}`, NOW);
                continue;
              }
              const id = `M${o.n}-${k}`;
              // a result naming this order and the next one (whatever has arrived of it)
              const other = specs.find((x) => x.n === (o.n % specs.length) + 1 && x.encounter === o.encounter && x.n !== o.n);
              const records = e === 'two-results' ? [record(o, 'result', id), ...(other ? [record(other, 'result', id)] : [])] : [record(o, e, id)];
              const outcome: MapOutcome = { disposition: 'mapped', records, problems: [] };
              const meta = {
                channel: 'hl7v2',
                sender: 'EHR^GENHOSP',
                controlId: id,
                contentType: 'application/hl7-v2',
                raw: `MSH|^~\\&|${id}`,
                receivedAt: new Date(NOW.getTime() + i * 1000),
              } as const;
              const answer = store.ingest(meta, outcome);
              const r = await inline.ingest(meta, outcome);
              asked.push({ answer, inline: r });
              if (r.problems.some((p) => p.code === 'MERGE_COLLISION')) reached.collision++;
              // the outcome a re-mapping of its text through the same tables gives
              outcomes.set(r.messageId, outcome);
            }
            await answered();
            const before = await snapshot(store, q);
            assert.deepEqual(before, await snapshot(inline, (sql) => inlineDb.all(sql)), `rows after ${arrival}`);
            assert.equal(store.derivedOtherwise, 0);
            if (before.consultations.some((c) => (c as { state: string }).state === 'cancelled-after-submission')) reached.retraction++;
            if (before.orphans.length > 0) reached.orphan++;
            if (events.some((x) => x.e === 'change' || x.e === 'order')) reached.rekeyed++;
            const units = await store.reprocessUnits({ all: true });
            // a preview changes nothing and finds nothing to change
            for (const u of units) {
              const r = await store.rederive(
                u.startsWith('e:') ? { encounterKeys: [u.slice(2)], messageIds: [] } : { encounterKeys: [], messageIds: [Number(u.slice(2))] },
                outcomes,
                { apply: false, at: NOW, who: 'test', why: 'preview' },
              );
              assert.deepEqual(r.kind === 'done' ? [r.changes, r.messages] : r, [[], []], `preview of ${u} after ${arrival}`);
            }
            assert.deepEqual(await snapshot(store, q), before);
            // applied, twice: still what live gave
            for (let round = 0; round < 2; round++) {
              for (const u of units) {
                const r = await store.rederive(
                  u.startsWith('e:') ? { encounterKeys: [u.slice(2)], messageIds: [] } : { encounterKeys: [], messageIds: [Number(u.slice(2))] },
                  outcomes,
                  { apply: true, at: NOW, who: 'test', why: 'apply' },
                );
                assert.notEqual(r.kind, 'skipped', u);
              }
              assert.deepEqual(await snapshot(store, q), before);
            }
          } catch (e) {
            // replaying one case (PROPERTY_PATH): what arrived, and what differed
            if (process.env.PROPERTY_PATH) console.error(arrival, e);
            throw e;
          } finally {
            await store.close();
            await inline.close();
          }
        },
      ),
      {
        numRuns: runs(150),
        verbose: process.env.PROPERTY_PATH ? 2 : 0,
        seed: Number(process.env.PROPERTY_SEED ?? 19),
        ...(process.env.PROPERTY_PATH ? { path: process.env.PROPERTY_PATH } : {}),
      },
    );
    // the runs reached what the property is about
    assert.ok(reached.retraction > 0 && reached.orphan > 0 && reached.collision > 0, JSON.stringify(reached));
  });
});
