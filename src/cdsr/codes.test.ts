// The catalogue against the specification's error table (a fixture in the repository), and
// template filling.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CD_CODES, cdMessage, fillTemplate, isCdCode } from './codes.js';
import { FIXTURES } from '../../test/helpers.js';

// The specification's §5 table as facts (code, name, message), kept in the repository.
const TABLE = join(FIXTURES, 'nrdr-error-codes.tsv');

function specRows(): { code: string; name: string; message: string }[] {
  const lines = readFileSync(TABLE, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'));
  assert.equal(lines[0], 'code\tname\tmessage');
  return lines.slice(1).map((l) => {
    const [code = '', name = '', message = ''] = l.split('\t');
    return { code: code.replace('\u0421', 'C'), name, message };
  });
}

describe('CD code catalogue', () => {
  it("holds every row of the specification's error table with its exact name and message", () => {
    const rows = specRows();
    assert.equal(rows.length, 55);
    for (const r of rows) {
      const entry = CD_CODES.get(r.code as never);
      assert.ok(entry, `${r.code} missing`);
      assert.equal(entry.name, r.name, r.code);
      assert.equal(entry.template, r.message, r.code);
    }
    assert.equal(CD_CODES.size, rows.length);
  });

  it('fills {n} placeholders by index and <name> placeholders in order', () => {
    assert.equal(cdMessage('CD3002', 'A_Other_Spec', 'A', '88'), 'Invalid. A_Other_Spec is only applicable, if A is 88. Otherwise, should be blank');
    assert.equal(
      cdMessage('CD1012', '10000', '100000', '10019'),
      'Partner 10000 is not authorized to submit data for facility 100000 and/or application 10019',
    );
    assert.equal(fillTemplate('{1} then {0}', ['a', 'b']), 'b then a');
    assert.equal(fillTemplate('missing {0}', []), 'missing {0}');
  });

  it('knows its codes', () => {
    assert.equal(isCdCode('CD3060'), true);
    assert.equal(isCdCode('CD3003'), false); // deleted 03/24/2023 (docs/cdsr-spec.md §1)
    assert.throws(() => cdMessage('CD9999' as never), /unknown CD code/);
  });
});
