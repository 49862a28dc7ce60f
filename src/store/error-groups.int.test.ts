// Property: whatever the error queue holds (messages with lists of problems drawn from a few, the
// same value spelled in two cases, received in any order of time; messages that leave the queue or
// are deleted), the worklist from the store's GROUP BY (error-groups.ts, migration 28) equals the
// worklist of every message of the queue read a page at a time and grouped one by one, as the
// worklist was read before: that reading is kept here as the oracle. And migration 28 run over a
// queue already there gives the same. On SQLite and on PostgreSQL.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Problem } from '../cdsr/problem.js';
import { CdsrValidator } from '../cdsr/validate.js';
import { parseFacilities } from '../mapping/facilities.js';
import { buildWorklist, errorQueue, groupWorklist, type Worklist } from '../inbound/worklist.js';
import { postgresBacking, skipReason, sqliteBacking } from '../../test/backings.js';
import type { Executor } from './sql.js';
import { SqlStore } from './sql-store.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const SEED = Number(process.env.PROPERTY_SEED ?? 28);
const DIR = '/m';
const { facilities } = parseFacilities('/m/facilities.csv', 'source,facility_id\nGENHOSP,100000\nnewhosp,200000\n');

const base = { message: 'not read', severity: 'error', scope: 'consultation', path: '' } as const;
/** The problems a message's list is drawn from: each kind of worklist row (and none), a value in two cases, a folded facility. */
const PROBLEMS: readonly Problem[] = [
  { ...base, code: 'MAP_UNMAPPED_CODE', field: 'Modality', file: '/m/crosswalks/modality.csv', value: 'ZA', facilityId: '100000' },
  { ...base, code: 'MAP_UNMAPPED_CODE', field: 'Modality', file: '/m/crosswalks/modality.csv', value: 'za', facilityId: '100000' },
  { ...base, code: 'MAP_UNMAPPED_CODE', field: 'Modality', file: '/m/crosswalks/modality.csv', value: 'ZB', facilityId: '100000', system: 'L' },
  { ...base, code: 'MAP_UNMAPPED_CODE', field: 'Patient_Sex', file: '/elsewhere/sex.csv', value: 'Q' },
  { ...base, code: 'MAP_NOT_IN_VALUESET', field: 'Modality', file: '/m/hl7v2.yaml', line: 73, value: 'G1014', facilityId: '100000' },
  { ...base, code: 'MAP_NO_FACILITY', scope: 'encounter', file: 'facilities.csv', source: 'MSH-4.1', value: 'NEWHOSP' },
  { ...base, code: 'MAP_NO_FACILITY', scope: 'encounter', file: 'facilities.csv', source: 'MSH-4.1', value: 'OTHERHOSP' },
  { ...base, code: 'HL7_INVALID', message: 'other' },
  { ...base, code: 'CD3060', severity: 'warning' },
];

type Op =
  | { readonly kind: 'message'; readonly problems: readonly number[]; readonly minutes: number; readonly mapped: boolean }
  | { readonly kind: 'leave' | 'delete'; readonly pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('message' as const),
      problems: fc.array(fc.nat(PROBLEMS.length - 1), { maxLength: 3 }),
      // times out of id order
      minutes: fc.integer({ min: -30, max: 30 }),
      mapped: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('leave' as const, 'delete' as const), pick: fc.nat() }) },
);

async function play(store: SqlStore, db: Executor, ops: readonly Op[]): Promise<void> {
  for (const [i, o] of ops.entries()) {
    if (o.kind === 'message') {
      const problems = o.problems.map((p) => PROBLEMS[p]!);
      await store.ingest(
        { channel: 'hl7v2', sender: 'prop', controlId: `M${i}`, contentType: 'x', raw: `M${i}`, receivedAt: new Date(NOW.getTime() + o.minutes * 60_000) },
        o.mapped ? { disposition: 'mapped', records: [], problems: [] } : { disposition: 'error', problems },
      );
      continue;
    }
    const ids = (await db.all("SELECT id FROM inbound_messages WHERE status = 'error' ORDER BY id")).map((r) => Number(r.id));
    if (ids.length === 0) continue;
    const id = ids[o.pick % ids.length]!;
    await db.run(o.kind === 'leave' ? "UPDATE inbound_messages SET status = 'applied' WHERE id = ?" : 'DELETE FROM inbound_messages WHERE id = ?', [id]);
  }
}

/** The oracle: every message of the queue, a page at a time, grouped one by one. */
async function oracle(store: SqlStore): Promise<Worklist> {
  const messages = [];
  for await (const m of errorQueue(store, false, 3)) messages.push(m);
  return groupWorklist(messages, DIR, undefined, facilities);
}

const sqlite = sqliteBacking;
const postgres = postgresBacking('errorgroups');

const withoutGuesses = ({ guesses: _, ...w }: Worklist): Worklist => w;

for (const backing of [sqlite, postgres]) {
  describe(`${backing.name}: the error queue grouped by the store`, () => {
    let skip = '';
    before(async () => {
      skip = await skipReason(backing);
    });

    it('after any sequence of messages, the worklist from the GROUP BY equals the messages grouped one by one (and migration 28 run over them gives it too)', async (t) => {
      if (skip) return t.skip(skip);
      const validator = new CdsrValidator({ now: NOW });
      let rows = 0;
      let folded = 0;
      let spelled = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
          const fresh = await backing.open();
          if (typeof fresh === 'string') throw new Error(fresh);
          const db = fresh.db;
          try {
            const store = await SqlStore.open(db, { validator });
            await play(store, db, ops);
            const want = await oracle(store);
            rows += want.rows.length;
            if (want.rows.some((r) => r.folded !== undefined)) folded++;
            if (want.rows.some((r) => r.value === 'za')) spelled++;
            assert.deepEqual(withoutGuesses(await buildWorklist(store, DIR, facilities)), want, JSON.stringify(ops));
            // the index built over the queue there is (a database migrated before 28) serves alike
            await db.run('DROP INDEX inbound_messages_error_queue');
            await db.run('DELETE FROM schema_migrations WHERE version = 28');
            const again = await SqlStore.open(db, { validator });
            assert.deepEqual(
              again.migrated.map((m) => m.version),
              [28],
            );
            assert.deepEqual(withoutGuesses(await buildWorklist(again, DIR, facilities)), want, JSON.stringify(ops));
          } finally {
            await db.close();
            await fresh.drop();
          }
        }),
        { numRuns: backing.name === 'SQLite' ? 150 : 20, seed: SEED },
      );
      // the runs held rows to compare, folded facilities, and a value first spelled in lower case
      assert.ok(rows > 0 && folded > 0 && spelled > 0, `${rows} rows, ${folded} runs with a folded facility, ${spelled} with "za" first`);
    });
  });
}
