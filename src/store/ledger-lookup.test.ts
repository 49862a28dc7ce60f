// What the ledger holds of a message's orders, read before they are recorded (LedgerLookup): the
// reads it asks for, and what it answers as the message's own orders are written.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LedgerLookup } from './ledger.js';

const F = (numbers: string[]) => ({ facilityId: 'F', encounterId: 'V1', numbers });
const flat = (sql: string) => sql.replace(/\s+/g, ' ');

describe('LedgerLookup', () => {
  it('reads each facility’s numbers in one statement; on PostgreSQL takes an id for an order only when none of its numbers is known', () => {
    // an encounter record, two orders sharing B, an order without numbers in another facility
    const l = new LedgerLookup([undefined, F(['A', 'B']), F(['B', 'C']), { facilityId: 'G', encounterId: '', numbers: [] }], true);
    assert.deepEqual(
      l.reads.map((r) => [flat(r.sql), r.params]),
      [
        ['SELECT number, order_id FROM order_numbers WHERE facility_id = ? AND number IN (?, ?, ?)', ['F', 'A', 'B', 'C']],
        [
          "SELECT CASE WHEN EXISTS (SELECT 1 FROM order_numbers WHERE facility_id = ? AND number IN (?, ?)) THEN NULL ELSE nextval(pg_get_serial_sequence('orders', 'id')) END AS id",
          ['F', 'A', 'B'],
        ],
        // the second order shares B with the first: it is that order, no id taken for it
        ["SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS id", []],
      ],
    );
    l.take([[{ number: 'C', order_id: '7' }], [{ id: null }], [{ id: '12' }]], 40);
    assert.deepEqual(l.find('F', ['A', 'B', 'C']), { found: [7], unknown: [] });
    // a number no read covered is to be read; the message's own numbers are new with it
    assert.deepEqual(l.find('F', ['X']), { found: [], unknown: ['X'] });
    assert.deepEqual(l.find('G', ['message:40#4', 'message:4#1']), { found: [], unknown: ['message:4#1'] });
    assert.equal(l.freshId(1), undefined);
    assert.equal(l.freshId(3), 12);
    assert.equal(l.freshId(3), undefined, 'an id is given once');
  });

  it('follows the message’s own writes: a number written stays under its first order, a fold moves every number', () => {
    const l = new LedgerLookup([F(['A']), F(['A', 'B'])], false);
    assert.deepEqual(
      l.reads.map((r) => r.params),
      [['F', 'A', 'B']],
    );
    l.take([[{ number: 'B', order_id: 5 }]], 9);
    assert.deepEqual(l.find('F', ['A']), { found: [], unknown: [] });
    l.recorded('F', ['A', 'B'], 8);
    assert.deepEqual(l.find('F', ['A', 'B']), { found: [8, 5], unknown: [] });
    l.folded(8, 5);
    assert.deepEqual(l.find('F', ['A', 'B']), { found: [5, 5], unknown: [] });
    // a facility is part of the key: the same number elsewhere is another's
    assert.deepEqual(l.find('G', ['A']), { found: [], unknown: ['A'] });
  });

  it('refuses rows that are not those of its reads', () => {
    const l = new LedgerLookup([F(['A'])], true);
    assert.throws(() => l.take([[]], 1), /the ledger's 2 reads were given 1 results/);
  });
});
