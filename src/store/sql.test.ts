// The statement texts built once for each number of values (byCount): a message's reads are not
// built again for every message.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { byCount, marks } from './sql.js';

describe('byCount', () => {
  it('builds a text once for each number of values, and gives that text after', () => {
    const built: number[] = [];
    const text = byCount((n) => {
      built.push(n);
      return `SELECT x FROM t WHERE k IN (${marks(n)})`;
    });
    assert.deepEqual(
      [text(2), text(1), text(2), text(2), text(1)],
      [
        'SELECT x FROM t WHERE k IN (?, ?)',
        'SELECT x FROM t WHERE k IN (?)',
        'SELECT x FROM t WHERE k IN (?, ?)',
        'SELECT x FROM t WHERE k IN (?, ?)',
        'SELECT x FROM t WHERE k IN (?)',
      ],
    );
    assert.deepEqual(built, [2, 1]);
  });
});
