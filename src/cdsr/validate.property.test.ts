// Property tests of the validator: random valid transactions give no problem; each single-field
// corruption of one gives exactly its code; the streamed file validator agrees with the in-memory
// one on any input, however the bytes are chunked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { validateTransaction } from './validate.js';
import { validateTransactionStream } from './validate-stream.js';
import { CORRUPTIONS, transaction } from '../../test/arbitraries.js';
import { NOW, fixtureValueSets } from '../../test/helpers.js';
import { runs } from '../../test/runs.js';

const options = { now: NOW, valueSets: fixtureValueSets() };
const RUNS = { numRuns: runs(300) };

/** Splits text into chunks at the given cut points (for streaming). */
function chunked(text: string, cuts: number[]): Readable {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  const bytes = Buffer.from(text, 'utf8');
  let last = 0;
  for (const p of points) {
    const at = Math.min(p, bytes.length);
    parts.push(bytes.subarray(last, at));
    last = at;
  }
  parts.push(bytes.subarray(last));
  return Readable.from(parts.filter((b) => b.length > 0));
}

describe('validator properties', () => {
  it('finds nothing in random valid transactions', () => {
    fc.assert(
      fc.property(transaction, (tx) => assert.deepEqual(validateTransaction(tx, options), [])),
      RUNS,
    );
  });

  it('finds exactly the matching code for each single-field corruption', () => {
    fc.assert(
      fc.property(transaction, fc.constantFrom(...CORRUPTIONS), (tx, corruption) => {
        corruption.apply(tx);
        const codes = validateTransaction(tx, options).map((p) => p.code);
        assert.deepEqual(codes, [corruption.code], corruption.name);
      }),
      { numRuns: runs(1000) },
    );
  });

  it('the corruption list has one distinct entry per rule it exercises', () => {
    // guards the previous property against a corruption list that silently shrinks
    assert.ok(CORRUPTIONS.length >= 35);
    assert.equal(new Set(CORRUPTIONS.map((c) => c.name)).size, CORRUPTIONS.length);
  });

  it('the streamed validator agrees with the in-memory one, however the input is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(
        transaction,
        fc.option(fc.constantFrom(...CORRUPTIONS), { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (tx, corruption, cuts) => {
          corruption?.apply(tx);
          const text = JSON.stringify(tx);
          const streamed = await validateTransactionStream(chunked(text, cuts), options);
          assert.deepEqual(streamed.problems, validateTransaction(JSON.parse(text), options));
          assert.equal(streamed.notJson, false);
        },
      ),
      { numRuns: runs(200) },
    );
  });
});
