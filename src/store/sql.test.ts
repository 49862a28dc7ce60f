// The statement texts built once for each number of values (byCount): a message's reads are not
// built again for every message. Text as the store keeps it (storedText, storedForm): what a
// database gives back of any text, and the outcomes merged on it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { byCount, marks, storedForm, storedText } from './sql.js';
import { SqliteExecutor } from './sqlite-executor.js';
import { runs } from '../../test/runs.js';

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

describe('storedText and storedForm', () => {
  it('a NUL and a lone surrogate of either half become one U+FFFD each; a whole pair and other text are kept', () => {
    assert.deepEqual(['V\u00000001', 'V\uD8000001', 'V\uDC000001', 'V\uDC00\uD800', '\uD83D\uDE00 é', 'V0001', ''].map(storedText), [
      'V\uFFFD0001',
      'V\uFFFD0001',
      'V\uFFFD0001',
      'V\uFFFD\uFFFD',
      '\uD83D\uDE00 é',
      'V0001',
      '',
    ]);
  });

  it('an outcome is copied where a text (a value or a key) changes, and given back itself where none does', () => {
    const clean = { disposition: 'mapped', records: [{ encounterId: 'V1', fields: { A: 'x' }, numbers: ['1', '2'], rank: 0, cancelled: false }] };
    assert.equal(storedForm(clean), clean);
    const odd = { records: [{ encounterId: 'V\u00001', fields: { ['K\uD800']: 'x', B: 'y' }, numbers: ['1', '\uDC00'], at: 3, none: null }], kept: clean };
    const stored = storedForm(odd);
    assert.deepEqual(stored, {
      records: [{ encounterId: 'V\uFFFD1', fields: { ['K\uFFFD']: 'x', B: 'y' }, numbers: ['1', '\uFFFD'], at: 3, none: null }],
      kept: clean,
    });
    assert.equal(stored.kept, clean);
    // the original is left as it was
    assert.equal(odd.records[0]!.encounterId, 'V\u00001');
  });

  it('property: any text stored in SQLite reads back as its storedText', async () => {
    const db = new SqliteExecutor({ file: ':memory:' });
    try {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.string({
            unit: fc.oneof(
              fc.constantFrom('\u0000', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', 'a'),
              fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
              fc.constantFrom('\uD83D\uDE00', 'é', '日'),
            ),
          }),
          (text) => {
            const id = ++n;
            return db
              .transaction(async (q) => {
                await q.run('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
                await q.run('INSERT INTO t (id, v) VALUES (?, ?)', [id, text]);
                return q.get('SELECT v FROM t WHERE id = ?', [id]);
              })
              .then((r) => assert.equal(r?.['v'], storedText(text)));
          },
        ),
        { numRuns: runs(400) },
      );
    } finally {
      await db.close();
    }
  });
});
