// Properties of the test profile's de-identification step, over arbitrary records whose identifying
// fields are drawn from a small pool of values that look like each other (the same letters in
// other case, with a space or a character more): no value of a replaced field appears anywhere in
// the body sent (the whole transaction serialized and searched); equal inputs give equal
// pseudonyms and different inputs different ones, per kind of identifier; and the body always
// passes the check the POST path makes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Transaction } from '../cdsr/schema.js';
import { transaction } from '../../test/arbitraries.js';
import { Deidentifier } from './deidentify.js';
import { runs } from '../../test/runs.js';

type Obj = Record<string, unknown>;
const TARGET = { facilityId: 'TESTFAC1', partnerId: '20000', appId: '10019' };
const RUNS = { numRuns: runs(300) };

// every identifying value carries '§', which no part of a body the step writes can hold (its
// pseudonyms are digits and ASCII letters, its fixed values ASCII): a value found in the body
// was copied there
const SENTINEL = '§';
const lookAlikes = fc
  .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{2,7}$/), { minLength: 1, maxLength: 2 })
  .map((bases) => [...new Set(bases.flatMap((b) => [b, b.toUpperCase(), `${b} `, ` ${b}`, `${b}1`, `${b.slice(0, -1)}`]))].map((v) => `${SENTINEL}${v}`));

// the fields that identify someone or hold free text, listed here on their own (not read from the
// step's table, so that a field the table wrongly keeps is still drawn from the pool and caught)
const ENCOUNTER_REPLACED = ['Unique_Encounter_ID', 'Health_Insurance_Other_Spec', 'Clinical_Scenario_Descriptions'];
const CONSULTATION_REPLACED = [
  'Name_of_Exam_Ordered',
  'Guideline_Steward_Other_Spec',
  'Modality_Other_Spec',
  'Appropriateness_Category_Other_Spec',
  'CDS_Vendor_Other_Spec',
  ...[1, 2].flatMap((n) => ['Unique_ID', 'First_Name', 'Last_Name', 'Role_Other_Spec', 'Training_Other_Spec'].map((f) => `Clinician${n}_${f}`)),
];

/** A transaction whose identifying fields (and facility, Transaction_ID) are drawn from the pool. */
const record = fc
  .tuple(transaction, lookAlikes, fc.array(fc.nat(), { minLength: 200, maxLength: 200 }), fc.array(fc.boolean(), { minLength: 200, maxLength: 200 }))
  .map(([base, pool, picks, present]) => {
    let i = 0;
    let j = 0;
    const pick = () => pool[picks[i++ % picks.length]! % pool.length]!;
    const some = () => present[j++ % present.length]!;
    const tx: Obj = structuredClone(base);
    tx.Facility_ID = pick();
    tx.Transaction_ID = pick();
    tx.Num_of_Encounters_Included = (tx.Encounters as Obj[]).length;
    for (const e of tx.Encounters as Obj[]) {
      for (const f of ENCOUNTER_REPLACED) if (f === 'Unique_Encounter_ID' || some()) e[f] = pick();
      for (const c of e.Consultations as Obj[]) for (const f of CONSULTATION_REPLACED) if (f === 'Name_of_Exam_Ordered' || some()) c[f] = pick();
    }
    return tx as unknown as Transaction;
  });

/** Every (kind, input, output) of a replaced field: the kind says which inputs must share pseudonyms. */
function pairs(input: Transaction, output: Transaction): { kind: string; from: string; to: string }[] {
  const out: { kind: string; from: string; to: string }[] = [];
  input.Encounters.forEach((e, i) => {
    const o = output.Encounters[i]!;
    out.push({ kind: 'encounter', from: `${input.Facility_ID}\u0000${e.Unique_Encounter_ID}`, to: o.Unique_Encounter_ID });
    e.Consultations.forEach((c, j) => {
      const oc = o.Consultations[j]! as Record<string, string | undefined>;
      const ic = c as Record<string, string | undefined>;
      for (const n of [1, 2]) {
        for (const [f, kind] of [
          [`Clinician${n}_Unique_ID`, 'clinician'],
          [`Clinician${n}_First_Name`, 'first name'],
          [`Clinician${n}_Last_Name`, 'last name'],
        ] as const) {
          const v = ic[f];
          if (v !== undefined && v !== '') out.push({ kind, from: v, to: oc[f]! });
        }
      }
    });
  });
  return out;
}

describe('de-identification properties', () => {
  it('no value of a replaced field appears anywhere in the body sent', () => {
    const d = new Deidentifier(Buffer.alloc(32, 3), TARGET);
    fc.assert(
      fc.property(record, (tx) => {
        const sent = JSON.stringify(d.transaction(tx).body);
        assert.equal(sent.includes(SENTINEL), false, `a source value reached the body: ${sent}`);
      }),
      RUNS,
    );
  });

  it('equal inputs give equal pseudonyms, different inputs different ones (per kind), also across transactions', () => {
    const d = new Deidentifier(Buffer.alloc(32, 4), TARGET);
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 3 }), (txs) => {
        const seen = new Map<string, string>();
        const back = new Map<string, string>();
        for (const tx of txs)
          for (const p of pairs(tx, d.transaction(tx).body)) {
            const k = `${p.kind}\u0000${p.from}`;
            assert.equal(seen.get(k) ?? p.to, p.to, `${p.kind} ${JSON.stringify(p.from)} got two pseudonyms`);
            seen.set(k, p.to);
            const b = `${p.kind}\u0000${p.to}`;
            assert.equal(back.get(b) ?? p.from, p.from, `${p.kind} ${JSON.stringify(p.from)} and ${JSON.stringify(back.get(b))} share ${p.to}`);
            back.set(b, p.from);
          }
      }),
      // a fixed seed: a clinician's pseudonym has 10⁸ values (NPI-shaped), so among the ~30
      // clinicians of a run two would share one by chance about once in 500 runs of this test
      { ...RUNS, seed: 20261207 },
    );
  });

  it('what the step makes passes the check of the POST path (read back as JSON)', () => {
    const d = new Deidentifier(Buffer.alloc(32, 5), TARGET);
    fc.assert(
      fc.property(record, (tx) => {
        const { body, seal } = d.transaction(tx);
        d.check(JSON.parse(JSON.stringify(body)) as Transaction, seal);
      }),
      RUNS,
    );
  });
});
