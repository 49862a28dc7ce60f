import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deepFreeze, TextMemo } from './text-memo.js';
import { readCsvTable } from './csv-table.js';

describe('TextMemo', () => {
  it('makes a text once, keeps what `keep` allows, and forgets the least recently read past its limit', () => {
    const made: string[] = [];
    const memo = new TextMemo<{ t: string }>(2);
    const make = (t: string) => (made.push(t), { t });
    const a = memo.get('a', make);
    assert.equal(memo.get('a', make), a);
    memo.get('b', make);
    memo.get('a', make); // a read again: b is now the least recent
    memo.get('c', make); // past the limit: b goes
    assert.equal(memo.size, 2);
    memo.get('a', make);
    memo.get('b', make);
    assert.deepEqual(made, ['a', 'b', 'c', 'b']);
    memo.get('bad', make, () => false);
    memo.get('bad', make, () => false);
    assert.deepEqual(made.slice(4), ['bad', 'bad']);
  });

  it('deepFreeze freezes what is reachable, and a write to it throws', () => {
    const v = deepFreeze({ rows: [{ cells: { a: '1' } }] });
    assert.throws(() => {
      (v.rows[0]!.cells as Record<string, string>).a = '2';
    }, TypeError);
  });

  it('readCsvTable: the same text gives the same frozen rows; a problem is made anew, naming its file', () => {
    const first = readCsvTable('x.csv', 'code,name\nA,one\n');
    const again = readCsvTable('y.csv', 'code,name\nA,one\n');
    assert.equal(again, first);
    assert.ok(!('problem' in first) && Object.isFrozen(first.rows[0]!.cells));
    const bad = readCsvTable('x.csv', 'code,name\n"A,one\n');
    const badAgain = readCsvTable('y.csv', 'code,name\n"A,one\n');
    assert.ok('problem' in bad && 'problem' in badAgain);
    assert.equal(bad.problem.file, 'x.csv');
    assert.equal(badAgain.problem.file, 'y.csv');
  });
});
