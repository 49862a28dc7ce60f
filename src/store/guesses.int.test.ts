// Property: whatever the store is made to do (orders, encounter-wide messages, updates, cancels and
// results arriving in any order, with values the tables guessed or not; submissions NRDR accepts,
// rejects or sends back; acknowledged retractions; re-derivation with the tables as they were and
// with tables that guess otherwise; retention's purge), the guesses the triggers keep
// (guesses.ts, migration 27) give the worklist the rows reading and parsing every record gave
// before: that reading is kept here as the oracle. And migration 27 run over the rows the
// operations left fills the table alike. On SQLite and on PostgreSQL.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CdsrValidator } from '../cdsr/validate.js';
import { buildWorklist, groupGuesses } from '../inbound/worklist.js';
import type { FieldMap } from '../mapping/merge.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { PartialRecord, TraceEntry } from '../mapping/record.js';
import { postgresBacking, skipReason, sqliteBacking } from '../../test/backings.js';
import { sampleOrder, settleEveryReady } from '../../test/property.js';
import { undoGuessesMigration } from './guesses.js';
import { FieldMapSchema, row } from './rows.js';
import type { Executor } from './sql.js';
import { SqlStore } from './sql-store.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const SAMPLE = sampleOrder();
const SEED = Number(process.env.PROPERTY_SEED ?? 27);
const DIR = '/m';

/** Rules named two ways that the worklist names alike (one row), and one outside the mappings directory. */
const RULES = ['hl7v2.yaml:40', '/m/hl7v2.yaml:40', 'hl7v2.yaml:52', '/elsewhere/site.yaml:3'];
const REASONS = ['fallback: ORC-9, the 2nd of 2 candidates', 'guess: the department said so'];

type Arrival = 'order' | 'encounter' | 'update' | 'cancel' | 'result';
type Op =
  | {
      readonly kind: Arrival;
      readonly n: number;
      readonly encounter: number;
      /** Which fields the tables guessed (an index into the record's fields), with the rule and reason of each. */
      readonly guesses: readonly { readonly field: number; readonly rule: number; readonly reason: number }[];
    }
  | { readonly kind: 'send'; readonly verdicts: readonly ('accepted' | 'rejected' | 'needs-review')[] }
  | { readonly kind: 'ack' | 'rederive' | 'retable' | 'purge' };

const arrival = fc.record({
  kind: fc.constantFrom<Arrival>('order', 'order', 'encounter', 'update', 'cancel', 'result'),
  n: fc.integer({ min: 1, max: 4 }),
  encounter: fc.integer({ min: 0, max: 1 }),
  guesses: fc.array(fc.record({ field: fc.nat(), rule: fc.nat(RULES.length - 1), reason: fc.nat(REASONS.length - 1) }), { maxLength: 3 }),
});
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: arrival },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      verdicts: fc.array(fc.constantFrom('accepted' as const, 'rejected' as const, 'needs-review' as const), { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('ack' as const, 'rederive' as const, 'retable' as const, 'purge' as const) }) },
);

function record(o: Extract<Op, { kind: Arrival }>, id: string): PartialRecord {
  const numbers = o.kind === 'encounter' ? [] : [`P${o.n}`, `A${o.n}`];
  const role = o.kind === 'result' ? 'result' : o.kind === 'encounter' ? 'encounter' : 'order';
  const encounterFields = o.kind === 'order' ? SAMPLE.encounterFields : {};
  const consultationFields: Record<string, string> =
    o.kind === 'result'
      ? { Ordered_Exam_Completed: '1' }
      : o.kind === 'order'
        ? SAMPLE.consultationFields
        : o.kind === 'encounter'
          ? { Place_of_Service: SAMPLE.consultationFields.Place_of_Service! }
          : { Modality: '1' };
  const names = [...Object.keys(encounterFields), ...Object.keys(consultationFields)];
  const values: Record<string, string> = { ...encounterFields, ...consultationFields };
  const trace: TraceEntry[] = o.guesses.map((g) => {
    const field = names[g.field % names.length]!;
    return { field, rule: RULES[g.rule]!, path: 'ORC-9', raw: 'x', value: values[field]!, guess: REASONS[g.reason]! };
  });
  return {
    source: { kind: 'hl7v2', type: role === 'result' ? 'ORU^R01' : role === 'encounter' ? 'ADT^A08' : 'ORM^O01', role, id },
    facilityId: '100000',
    encounterId: `V${o.encounter}`,
    ...(numbers.length > 0 ? { orderKey: numbers[0]!, orderNumbers: numbers } : {}),
    ...(o.kind === 'order' ? { consultationDate: '11/02/2026', consultationTime: `09:00:0${o.n}` } : {}),
    cancelled: o.kind === 'cancel',
    sourceTime: '2026-11-02T09:00:00',
    encounterFields,
    consultationFields,
    trace,
  };
}

/** The outcome as tables that guess otherwise give it: each guess's reason changed, and the first guess of each record gone. */
function retabled(outcome: MapOutcome): MapOutcome {
  if (outcome.disposition !== 'mapped') return outcome;
  return {
    ...outcome,
    records: outcome.records.map((r) => ({
      ...r,
      trace: r.trace.slice(1).map((t) => ({ ...t, ...(t.guess !== undefined ? { guess: `${t.guess} (again)` } : {}) })),
    })),
  };
}

// fresh migrated databases (test/backings.ts); the second property runs migration 27 itself
const sqlite = sqliteBacking;
const postgres = postgresBacking('guesses');

/**
 * The oracle: every field map that holds a guess, read and parsed the way the worklist read them
 * before migration 27 (encounters in key order, their fields then their defaults; then the
 * consultations not cancelled, in key order).
 */
async function* storedFieldMaps(db: Executor): AsyncGenerator<FieldMap> {
  const GUESS = '%"guess":%';
  for (const r of await db.all(
    'SELECT fields, consultation_defaults FROM encounters WHERE fields LIKE ? OR consultation_defaults LIKE ? ORDER BY encounter_key',
    [GUESS, GUESS],
  )) {
    const e = row('encounters', r);
    yield e.json('fields', FieldMapSchema, {});
    yield e.json('consultation_defaults', FieldMapSchema, {});
  }
  for (const r of await db.all("SELECT fields FROM consultations WHERE fields LIKE ? AND state <> 'cancelled' ORDER BY encounter_key, consultation_key", [
    GUESS,
  ]))
    yield row('consultations', r).json('fields', FieldMapSchema, {});
}

async function oracle(db: Executor) {
  const maps: FieldMap[] = [];
  for await (const m of storedFieldMaps(db)) maps.push(m);
  return groupGuesses(maps, DIR);
}

async function play(store: SqlStore, ops: readonly Op[], reached: Set<string>): Promise<void> {
  const outcomes = new Map<number, MapOutcome>();
  for (const [i, o] of ops.entries()) {
    reached.add(o.kind);
    switch (o.kind) {
      case 'send': {
        await settleEveryReady(store, `T${i}`, o.verdicts, 'done', NOW);
        break;
      }
      case 'ack':
        for (const ord of (await store.orders({ reason: 'cancelled-after-submission', limit: 1000 })).orders)
          await store.acknowledgeRetraction(ord.id, 'operate#1', NOW);
        break;
      case 'rederive':
      case 'retable': {
        const with_ = o.kind === 'retable' ? new Map([...outcomes].map(([id, out]) => [id, retabled(out)])) : outcomes;
        for (const u of await store.reprocessUnits({ all: true }))
          await store.rederive(
            u.startsWith('e:') ? { encounterKeys: [u.slice(2)], messageIds: [] } : { encounterKeys: [], messageIds: [Number(u.slice(2))] },
            with_,
            {
              apply: true,
              at: NOW,
              who: 'test',
              why: 'test',
            },
          );
        if (o.kind === 'retable') for (const [id, out] of with_) outcomes.set(id, out);
        break;
      }
      case 'purge':
        await store.purgeRaw(new Date(NOW.getTime() + i * 60_000), NOW);
        break;
      default: {
        const outcome: MapOutcome = { disposition: 'mapped', records: [record(o, `M${i}`)], problems: [] };
        const r = await store.ingest(
          { channel: 'hl7v2', sender: 'prop', controlId: `M${i}`, contentType: 'x', raw: `M${i}`, receivedAt: new Date(NOW.getTime() + i * 60_000) },
          outcome,
        );
        outcomes.set(r.messageId, outcome);
      }
    }
  }
}

for (const backing of [sqlite, postgres]) {
  describe(`${backing.name}: guesses kept by triggers`, () => {
    let skip = '';
    before(async () => {
      skip = await skipReason(backing);
    });

    it("after any sequence of operations, the worklist's guesses from the kept rows equal those read from every record", async (t) => {
      if (skip) return t.skip(skip);
      const validator = new CdsrValidator({ now: NOW });
      const reached = new Set<string>();
      let rows = 0;
      let merged = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          const fresh = await backing.open();
          if (typeof fresh === 'string') throw new Error(fresh);
          const store = await SqlStore.open(fresh.db, { validator });
          try {
            await play(store, ops, reached);
            const want = await oracle(fresh.db);
            rows += want.length;
            if (want.some((g) => g.rule === 'hl7v2.yaml:40' && g.count > 1)) merged++;
            assert.deepEqual((await buildWorklist(store, DIR)).guesses, want, JSON.stringify(ops));
          } finally {
            await store.close();
            await fresh.drop();
          }
        }),
        { numRuns: backing.name === 'SQLite' ? 150 : 15, seed: SEED },
      );
      // the runs reached what the kept rows must follow, and held guesses to compare
      for (const k of ['order', 'encounter', 'update', 'cancel', 'result', 'send', 'ack', 'rederive', 'retable', 'purge'])
        assert.ok(reached.has(k), `no run reached ${k}`);
      assert.ok(rows > 0 && merged > 0, `${rows} guess rows, ${merged} runs with a rule named two ways`);
    });

    it('migration 27 run over the rows any sequence of operations left keeps the guesses the records hold', async (t) => {
      if (skip) return t.skip(skip);
      const validator = new CdsrValidator({ now: NOW });
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          const fresh = await backing.open();
          if (typeof fresh === 'string') throw new Error(fresh);
          const db = fresh.db;
          try {
            await play(await SqlStore.open(db, { validator }), ops, new Set());
            // the database as version 26 left it (its records, no kept guesses, no triggers), opened again: migration 27 runs over it
            for (const sql of undoGuessesMigration(db.dialect)) await db.run(sql);
            await db.run('DELETE FROM schema_migrations WHERE version = 27');
            const store = await SqlStore.open(db, { validator });
            assert.deepEqual(
              store.migrated.map((m) => m.version),
              [27],
            );
            assert.deepEqual((await buildWorklist(store, DIR)).guesses, await oracle(db), JSON.stringify(ops));
          } finally {
            await db.close();
            await fresh.drop();
          }
        }),
        { numRuns: backing.name === 'SQLite' ? 40 : 6, seed: SEED },
      );
    });
  });
}

describe('a guessed record whose values hold a NUL', () => {
  for (const backing of [sqlite, postgres])
    it(`${backing.name}: is stored, and its guess kept`, async (t) => {
      const fresh = await backing.open();
      if (typeof fresh === 'string') return t.skip(fresh);
      const s = await SqlStore.open(fresh.db, { validator: new CdsrValidator({ now: NOW }) });
      try {
        const r = record({ kind: 'order', n: 1, encounter: 0, guesses: [{ field: 0, rule: 0, reason: 0 }] }, 'M1');
        const field = r.trace[0]!.field;
        const nul = { ...r, encounterFields: { ...r.encounterFields, Encounter_Comment: 'a\u0000b' } };
        await s.ingest(
          { channel: 'hl7v2', sender: 'prop', controlId: 'M1', contentType: 'x', raw: 'M1', receivedAt: NOW },
          { disposition: 'mapped', records: [nul], problems: [] },
        );
        assert.deepEqual((await buildWorklist(s, DIR)).guesses, [{ field, rule: 'hl7v2.yaml:40', guess: REASONS[0], count: 1, examples: ['M1'] }]);
        assert.deepEqual((await buildWorklist(s, DIR)).guesses, await oracle(fresh.db));
      } finally {
        await s.close();
        await fresh.drop();
      }
    });
});
