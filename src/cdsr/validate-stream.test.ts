// The streamed file validator on bad input: not JSON, wrong shapes, huge strings, deep nesting,
// random bytes. It must always answer with a problem list, never throw.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { validateTransactionFile, validateTransactionSource } from './validate-stream.js';
import { NOW, fixtureValueSets, validConsultation, validEncounter, validTransaction } from '../../test/helpers.js';
import { runs } from '../../test/runs.js';

const options = { now: NOW, valueSets: fixtureValueSets() };
const fromText = (text: string | Buffer) => validateTransactionSource(() => Readable.from([Buffer.from(text)]), 'input', options);
const codes = async (text: string | Buffer) => (await fromText(text)).problems.map((p) => [p.code, p.path]);

describe('validateTransactionFile', () => {
  it('reports a syntax error with its line and column, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-'));
    try {
      const file = join(dir, 'bad.json');
      writeFileSync(file, '{\n  "Transaction_ID": "x",\n  "AppID": tru\n}');
      const r = await validateTransactionFile(file, options);
      assert.equal(r.notJson, true);
      assert.equal(r.problems.length, 1);
      const [p] = r.problems;
      assert.equal(p?.code, 'JSON_SYNTAX');
      assert.equal(p?.file, file);
      assert.deepEqual([p?.line, p?.column], [3, 12]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('counts encounters and consultations', async () => {
    const tx = validTransaction({}, [
      validEncounter(),
      validEncounter({ Unique_Encounter_ID: 'V2' }, [validConsultation(), validConsultation({ CDS_Consultation_Time: '01:00:00' })]),
    ]);
    const r = await fromText(JSON.stringify(tx));
    assert.deepEqual([r.encounters, r.consultations, r.problems], [2, 3, []]);
  });
});

describe('validateTransactionSource on bad input', () => {
  it('empty input, null and {} are CD1004; arrays and scalars CD1003', async () => {
    assert.deepEqual(await codes('  '), [['CD1004', '']]);
    assert.deepEqual(await codes('null'), [['CD1004', '']]);
    assert.deepEqual(await codes('{}'), [['CD1004', '']]);
    assert.deepEqual(await codes('[{"Transaction_ID":"x"}]'), [['CD1003', '']]);
    assert.deepEqual(await codes('"text"'), [['CD1003', '']]);
    assert.deepEqual(await codes('12'), [['CD1003', '']]);
  });

  it('a UTF-8 BOM is tolerated', async () => {
    assert.deepEqual(await codes('\uFEFF' + JSON.stringify(validTransaction())), []);
  });

  it('wrong types are CD1003 at the field', async () => {
    assert.deepEqual(await codes(JSON.stringify(validTransaction({ AppID: [1], Encounters: { a: 1 } }))), [
      ['CD1003', 'AppID'],
      ['CD1003', 'Encounters'],
    ]);
  });

  it('a 20 MB string is a length problem whose message does not echo it', async () => {
    const huge = 'x'.repeat(20 * 1024 * 1024);
    const r = await fromText(JSON.stringify(validTransaction({}, [validEncounter({}, [validConsultation({ Name_of_Exam_Ordered: huge })])])));
    assert.deepEqual(
      r.problems.map((p) => p.message),
      ['Invalid Name_of_Exam_Ordered. Maximum character length is 255 character(s)'],
    );
  });

  it('100,000 levels of nesting, at the root and inside an encounter, give problems, not a crash', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const tx = JSON.stringify(validTransaction({ Facility_ID: '@F' }, [validEncounter({ Deep: '@D' } as Record<string, unknown>)]));
    const text = tx.replace('"@F"', deep).replace('"@D"', deep);
    assert.deepEqual(await codes(text), [
      ['CD1003', 'Facility_ID'],
      ['CD2090', 'Encounters[0]'],
    ]);
    assert.deepEqual(await codes(deep), [['CD1003', '']]);
  });

  it('keeps at most maxProblems and counts the rest', async () => {
    const bad = validConsultation({ Modality: 'CT', Place_of_Service: 'ER' });
    const tx = validTransaction(
      {},
      Array.from({ length: 10 }, (_, i) => validEncounter({ Unique_Encounter_ID: `V${i}` }, [bad])),
    );
    const r = await validateTransactionSource(() => Readable.from([JSON.stringify(tx)]), 'x', { ...options, maxProblems: 5 });
    assert.equal(r.problems.length, 5);
    assert.equal(r.omitted, 15);
  });

  it('never throws on random bytes or random mutations of a valid file (fuzz)', async () => {
    const valid = JSON.stringify(validTransaction());
    const mutated = fc
      .tuple(fc.nat({ max: valid.length - 1 }), fc.nat({ max: 20 }), fc.string({ maxLength: 5 }))
      .map(([at, del, ins]) => valid.slice(0, at) + ins + valid.slice(at + del));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          mutated,
        ),
        async (input) => {
          const r = await fromText(input);
          assert.ok(Array.isArray(r.problems));
          if (r.notJson) assert.equal(r.problems[0]?.code, 'JSON_SYNTAX');
        },
      ),
      { numRuns: runs(500) },
    );
  });
});
