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

  it('keeps at most `maxChars` characters of texts (every saved version of a large table would stay otherwise): a longer text is not kept', () => {
    const made: string[] = [];
    const make = (t: string) => (made.push(t), { t });
    const memo = new TextMemo<{ t: string }>(100, 10);
    memo.get('aaaa', make);
    memo.get('bbbb', make);
    memo.get('cccc', make); // 12 characters: aaaa goes
    assert.deepEqual([memo.size, memo.keptChars], [2, 8]);
    memo.get('x'.repeat(11), make); // longer than the whole budget: made, not kept, nothing forgotten for it
    assert.deepEqual([memo.size, memo.keptChars], [2, 8]);
    memo.get('bbbb', make);
    memo.get('cccc', make);
    memo.get('aaaa', make);
    assert.deepEqual(made, ['aaaa', 'bbbb', 'cccc', 'x'.repeat(11), 'aaaa']);
    // by default, 2 MiB of text: 40 versions of a 200,000-character table keep ten of them
    const big = new TextMemo<number>();
    for (let v = 0; v < 40; v++) big.get(`${v},`.padEnd(200_000, 'x'), () => v);
    assert.deepEqual([big.size, big.keptChars], [10, 2_000_000]);
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
