// The sandbox's list of messages was typed apart from the adapter's catalogue: both must be the
// spec's section 5 (test/fixtures/nrdr-error-codes.tsv), letter for letter.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CD_CODES } from '../cdsr/codes.js';
import { errorMsg, SPEC_MESSAGES, specMessage } from './rules/messages.js';
import { FIXTURES } from '../../test/helpers.js';

// the spec prints CD2062 with a Cyrillic С; both lists send the Latin code
const spec = readFileSync(join(FIXTURES, 'nrdr-error-codes.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('code\t'))
  .map((l) => l.split('\t'))
  .map(([code = '', , message = '']) => [code.replace('\u0421', 'C'), message] as const);

describe('sandbox messages', () => {
  it("are the spec's, code for code, and the adapter's catalogue says the same", () => {
    assert.deepEqual(Object.entries(SPEC_MESSAGES), spec);
    assert.deepEqual(
      Object.entries(SPEC_MESSAGES).filter(([code, message]) => CD_CODES.get(code as never)?.template !== message),
      [],
    );
    assert.equal(Object.keys(SPEC_MESSAGES).length, CD_CODES.size);
  });

  it('fill their places in order, and join as Error_Msg', () => {
    assert.equal(
      specMessage('CD1012', '10000', '100002', '10019'),
      'Partner 10000 is not authorized to submit data for facility 100002 and/or application 10019',
    );
    assert.equal(specMessage('CD2074', '2', '1'), 'Num_of_Encounters_Included 2 does not match with encounters records received 1');
    assert.equal(specMessage('CD2014'), 'Transaction_ID must be unique. <transaction_id> has been submitted in a previous transaction');
    assert.equal(
      errorMsg([
        { code: 'CD2001', message: specMessage('CD2001') },
        { code: 'CD2011', message: specMessage('CD2011') },
      ]),
      'CD2001:Missing Transaction_ID|CD2011:Missing Transaction_DateTime',
    );
  });
});
