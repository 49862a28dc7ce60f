// The catalogue against the seed spec's §5 table, and template filling.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CD_CODES, cdMessage, fillTemplate, isCdCode } from './codes.js';
import { REPO_ROOT } from '../../test/helpers.js';

const SEED = join(REPO_ROOT, '..', 'shared', 'seeds', '003_60cdf982cb5682a5.txt');

/** Rows of §5: three tab-indented lines code / name / message after "Error Message". */
function seedRows(text: string): { code: string; name: string; message: string }[] {
  const lines = text.slice(text.indexOf('\tError Message')).split('\n').slice(1).map((l) => l.replace(/^\t/, '').trimEnd());
  const rows: { code: string; name: string; message: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const code = lines[i]!;
    if (/^[C\u0421]D\d{4}$/.test(code)) {
      rows.push({ code: code.replace('\u0421', 'C'), name: lines[i + 1]!.trim(), message: lines[i + 2]! });
      i += 2;
    }
  }
  return rows;
}

describe('CD code catalogue', () => {
  it('holds every row of the seed spec §5 with its exact name and message', { skip: !existsSync(SEED) && `seed not found at ${SEED}` }, () => {
    const rows = seedRows(readFileSync(SEED, 'utf8'));
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
    assert.equal(isCdCode('CD3003'), false); // deleted 03/24/2023 (seed revision history)
    assert.throws(() => cdMessage('CD9999' as never), /unknown CD code/);
  });
});
