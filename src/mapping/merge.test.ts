// The merge rules (merge.ts) on small partial records.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MergeState, applyRecord, consultationValues } from './merge.js';
import type { PartialRecord } from './record.js';
import { sendableConsultations } from './wire.js';
import { runs } from '../../test/runs.js';

let n = 0;
function rec(p: Partial<PartialRecord> & { role?: string }): PartialRecord {
  const { role = 'order', ...rest } = p;
  return {
    source: { kind: 'hl7v2', type: role === 'result' ? 'ORU^R01' : 'ORM^O01', role, id: `M${++n}` },
    facilityId: '100000',
    encounterId: 'V1',
    cancelled: false,
    sourceTime: '2026-11-02T09:00:00',
    encounterFields: {},
    consultationFields: {},
    trace: [],
    ...rest,
  };
}
const order = (time: string, fields: Record<string, string>, extra: Partial<PartialRecord> = {}) =>
  rec({ orderKey: 'O1', consultationDate: '11/02/2026', consultationTime: '09:30:15', sourceTime: time, consultationFields: fields, ...extra });
const result = (time: string, fields: Record<string, string>) => rec({ role: 'result', orderKey: 'O1', sourceTime: time, consultationFields: fields });

function values(s: MergeState): Record<string, string>[] {
  return [...s.encounters.values()].flatMap((e) => [...e.consultations.values()].map((c) => consultationValues(e, c)));
}

describe('MergeState', () => {
  it('a newer source wins field by field; an older one does not overwrite', () => {
    const s = new MergeState();
    s.apply(order('2026-11-02T10:00:00', { Modality: '2', Medicare_Modifier: 'MF' }));
    s.apply(order('2026-11-02T09:00:00', { Modality: '1', CDS_Vendor: 'G1014' }));
    assert.deepEqual(values(s), [{ Modality: '2', Medicare_Modifier: 'MF', CDS_Vendor: 'G1014' }]);
  });

  it('equal source times: the later arrival wins', () => {
    const s = new MergeState();
    s.apply(order('2026-11-02T10:00:00', { Modality: '1' }));
    s.apply(order('2026-11-02T10:00:00', { Modality: '2' }));
    assert.equal(values(s)[0]!.Modality, '2');
  });

  it('an empty value never erases', () => {
    const s = new MergeState();
    s.apply(order('2026-11-02T09:00:00', { Modality: '1' }));
    const r = s.apply(order('2026-11-02T10:00:00', { Modality: '' }));
    assert.deepEqual(values(s), [{ Modality: '1' }]);
    assert.deepEqual(r.changed, []);
  });

  it('a result before its order waits, and joins when the order comes', () => {
    const s = new MergeState();
    assert.equal(s.apply(result('2026-11-02T12:00:00', { Ordered_Exam_Completed: '1' })).status, 'orphan');
    assert.equal(s.pendingOrphans().length, 1);
    const r = s.apply(order('2026-11-02T09:00:00', { Ordered_Exam_Completed: '2', Modality: '1' }));
    assert.equal(r.status, 'applied');
    assert.deepEqual(s.pendingOrphans(), []);
    assert.deepEqual(values(s), [{ Ordered_Exam_Completed: '1', Modality: '1' }]);
  });

  // one ORU naming two orders is two records of one message (same seq, same MSH-10): each is an orphan of its own
  const twoResults = (id: string) =>
    ['ORD3001', 'ORD3002'].map((o, i) =>
      rec({
        role: 'result',
        source: { kind: 'hl7v2', type: 'ORU^R01', role: 'result', id },
        orderKey: o,
        orderNumbers: [o, `ACC300${i + 1}`],
        sourceTime: '2026-11-02T12:00:00',
        consultationFields: { Ordered_Exam_Completed: '1', Exam_Completion_Date: '11/02/2026' },
      }),
    );
  const placed = (o: string, time: string) =>
    rec({
      orderKey: o,
      orderNumbers: [o],
      consultationDate: '11/02/2026',
      consultationTime: time,
      sourceTime: '2026-11-02T09:00:00',
      consultationFields: { Modality: '1' },
    });
  const completion = (s: MergeState) => [...s.encounters.values()].flatMap((e) => [...e.consultations].map(([k, c]) => [k, consultationValues(e, c)]));

  it('a result naming two orders, before them, completes both: from one order message or from two', () => {
    for (const orders of [
      [[placed('ORD3001', '09:30:00'), placed('ORD3002', '09:40:00')]],
      [[placed('ORD3001', '09:30:00')], [placed('ORD3002', '09:40:00')]],
    ]) {
      const s = new MergeState();
      for (const r of twoResults('MSG3000')) assert.equal(applyRecord(s, r, 1).status, 'orphan');
      assert.equal(s.pendingOrphans().length, 2);
      // the records of one message share its sequence number, as in the store
      orders.forEach((msg, i) => msg.forEach((r) => applyRecord(s, r, 2 + i)));
      assert.deepEqual(s.pendingOrphans(), []);
      assert.deepEqual(completion(s), [
        ['11/02/2026 09:30:00', { Modality: '1', Ordered_Exam_Completed: '1', Exam_Completion_Date: '11/02/2026' }],
        ['11/02/2026 09:40:00', { Modality: '1', Ordered_Exam_Completed: '1', Exam_Completion_Date: '11/02/2026' }],
      ]);
    }
  });

  it('the same two-order result sent again still waits once per order', () => {
    const s = new MergeState();
    for (const r of twoResults('MSG3000')) applyRecord(s, r, 1);
    for (const r of twoResults('MSG3000')) applyRecord(s, r, 2);
    assert.deepEqual(
      s.pendingOrphans().map((r) => r.orderKey),
      ['ORD3001', 'ORD3002'],
    );
  });

  it('the same message twice changes nothing the second time', () => {
    const s = new MergeState();
    const o = order('2026-11-02T09:00:00', { Modality: '1' });
    assert.deepEqual(s.apply(o).changed, ['Modality']);
    assert.deepEqual(s.apply(o).changed, []);
  });

  it('a cancel leaves the consultation out; a newer order brings it back', () => {
    const s = new MergeState();
    s.apply(order('2026-11-02T09:00:00', { Modality: '1' }));
    s.apply(order('2026-11-02T10:00:00', {}, { cancelled: true }));
    const enc = [...s.encounters.values()][0]!;
    assert.equal(sendableConsultations(enc).length, 0);
    s.apply(order('2026-11-02T11:00:00', {}));
    assert.equal(sendableConsultations(enc).length, 1);
    // a result never un-cancels
    s.apply(order('2026-11-02T12:00:00', {}, { cancelled: true }));
    s.apply(result('2026-11-02T13:00:00', { Ordered_Exam_Completed: '1' }));
    assert.equal(sendableConsultations(enc).length, 0);
  });

  it('consultation fields of an encounter-level record hold for every consultation, unless newer ones of its own', () => {
    const s = new MergeState();
    s.apply(order('2026-11-02T09:00:00', { Place_of_Service: '22' }));
    s.apply(rec({ role: 'encounter', sourceTime: '2026-11-02T10:00:00', consultationFields: { Place_of_Service: '23' } }));
    s.apply(order('2026-11-02T09:00:00', { Modality: '1' }, { orderKey: 'O2', consultationTime: '10:00:00' }));
    assert.deepEqual(
      values(s).map((v) => v.Place_of_Service),
      ['23', '23'],
    );
  });

  it('the merged result does not depend on arrival order when source times differ (property)', () => {
    const recs = fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { minLength: 1, maxLength: 6 }).chain((minutes) =>
      fc.tuple(
        ...minutes.map((m) =>
          fc.record({ kind: fc.constantFrom('order', 'result'), modality: fc.constantFrom('1', '2', ''), done: fc.constantFrom('1', '2', '') }).map((x) => {
            const t = `2026-11-02T10:${String(m).padStart(2, '0')}:00`;
            const f: Record<string, string> = { Modality: x.modality, Ordered_Exam_Completed: x.done };
            return x.kind === 'order' ? order(t, f) : result(t, f);
          }),
        ),
      ),
    );
    fc.assert(
      fc.property(recs, fc.func(fc.integer()), (list, key) => {
        const a = new MergeState();
        const b = new MergeState();
        for (const r of list) a.apply(r);
        for (const r of [...list].sort((x, y) => key(x.source.id) - key(y.source.id))) b.apply(r);
        assert.deepEqual(values(b), values(a));
      }),
      { numRuns: runs(300) },
    );
  });

  it('keeps with each value the rule and crosswalk rows that gave it', () => {
    const s = new MergeState();
    s.apply(
      order(
        '2026-11-02T09:00:00',
        { Modality: '1', Place_of_Service: '23' },
        {
          trace: [
            { field: 'Modality', rule: 'hl7v2.yaml:40', path: 'OBR-24', raw: 'CT', crosswalk: 'crosswalks/modality.csv:3', value: '1' },
            { field: 'Place_of_Service', rule: 'hl7v2.yaml:52', path: 'PV1-2', raw: 'E', value: '23' },
          ],
        },
      ),
    );
    const cons = [...[...s.encounters.values()][0]!.consultations.values()][0]!;
    assert.deepEqual(cons.fields.Modality, {
      value: '1',
      time: '2026-11-02T09:00:00',
      seq: 1,
      source: cons.fields.Modality?.source,
      rule: 'hl7v2.yaml:40',
      crosswalk: 'crosswalks/modality.csv:3',
    });
    assert.deepEqual([cons.fields.Place_of_Service?.rule, cons.fields.Place_of_Service?.crosswalk], ['hl7v2.yaml:52', undefined]);
  });

  it('keeps why a value is a guess, and drops the mark when a later message gives the value from a first path', () => {
    const s = new MergeState();
    const guessed = {
      field: 'Clinician1_Unique_ID',
      rule: 'hl7v2.yaml:103',
      path: 'OBR-16.1',
      raw: 'JSMITH',
      value: 'JSMITH',
      guess: 'fallback: OBR-16.1, the 2nd of 2 candidates',
    };
    s.apply(
      order(
        '2026-11-02T09:00:00',
        { Clinician1_Unique_ID: 'JSMITH', Modality: '2' },
        {
          trace: [
            guessed,
            // an entry that sent nothing guesses no value; the one that gave the value does
            { field: 'Modality', rule: 'hl7v2.yaml:73', path: 'OBR-24', raw: 'RAD', crosswalk: 'crosswalks/modality.csv:20', value: '' },
            {
              field: 'Modality',
              rule: 'hl7v2.yaml:77',
              path: 'OBR-44.1',
              raw: '72148',
              crosswalk: 'crosswalks/procedure_modality.csv:9',
              value: '2',
              guess: 'fallback: OBR-44.1, alternative 2 of 4',
            },
          ],
        },
      ),
    );
    const cons = () => [...[...s.encounters.values()][0]!.consultations.values()][0]!;
    assert.deepEqual(
      [cons().fields.Clinician1_Unique_ID?.guess, cons().fields.Modality?.guess],
      ['fallback: OBR-16.1, the 2nd of 2 candidates', 'fallback: OBR-44.1, alternative 2 of 4'],
    );
    s.apply(
      order(
        '2026-11-02T10:00:00',
        { Clinician1_Unique_ID: '1234567893' },
        { trace: [{ field: 'Clinician1_Unique_ID', rule: 'hl7v2.yaml:103', path: 'ORC-12.1', raw: '1234567893', value: '1234567893' }] },
      ),
    );
    assert.deepEqual([cons().fields.Clinician1_Unique_ID?.value, cons().fields.Clinician1_Unique_ID?.guess], ['1234567893', undefined]);
  });
});

describe("re-keying: a better consultation key moves the order's consultation", () => {
  /** An order message of O1 (or `o`) with its key from a source of rank `rank`. */
  const keyed = (time: string, rank: number | undefined, source: string, fields: Record<string, string> = {}, o = 'O1') =>
    rec({
      orderKey: o,
      orderNumbers: [o, `A-${o}`],
      consultationDate: '11/02/2026',
      consultationTime: time,
      ...(rank !== undefined ? { consultationKeyRank: rank } : {}),
      sourceTime: source,
      consultationFields: { CDS_Consultation_Date: '11/02/2026', CDS_Consultation_Time: time, ...fields },
    });
  const view = (s: MergeState) =>
    [...s.encounters.values()].flatMap((e) =>
      [...e.consultations].map(([k, c]) => ({ key: k, date: c.date, time: c.time, keyRank: c.keyRank, values: consultationValues(e, c) })),
    );

  it("a status message (SC) before its new order (NW): the NW's CDS time is the key", () => {
    const s = new MergeState();
    // the SC carries the order's transaction time (ORC-9, rank 4), and a later MSH-7 than the NW
    assert.deepEqual(s.apply(keyed('09:10:00', 4, '2026-11-02T09:40:00', { Modality: '1' })).consultationKey, '11/02/2026 09:10:00');
    const r = s.apply(keyed('09:30:15', 0, '2026-11-02T09:35:00', { CDS_Vendor: 'G1014' }));
    assert.deepEqual(
      [r.status, r.consultationKey, r.rekeyed, r.changed],
      ['applied', '11/02/2026 09:30:15', { from: '11/02/2026 09:10:00', to: '11/02/2026 09:30:15' }, ['CDS_Vendor', 'CDS_Consultation_Time']],
    );
    assert.deepEqual(view(s), [
      {
        key: '11/02/2026 09:30:15',
        date: '11/02/2026',
        time: '09:30:15',
        keyRank: 0,
        values: { CDS_Consultation_Date: '11/02/2026', CDS_Consultation_Time: '09:30:15', Modality: '1', CDS_Vendor: 'G1014' },
      },
    ]);
    // every number of the order finds the new key: a result by its accession lands there
    const res = s.apply(rec({ role: 'result', orderKey: 'A-O1', sourceTime: '2026-11-02T12:00:00', consultationFields: { Ordered_Exam_Completed: '1' } }));
    assert.deepEqual(
      [res.consultationKey, s.ordersAt('100000|V1', '11/02/2026 09:30:15'), s.ordersAt('100000|V1', '11/02/2026 09:10:00')],
      ['11/02/2026 09:30:15', ['100000|O1', '100000|A-O1'], []],
    );
    // the SC again (a later fallback) neither moves the key back nor changes its fields
    const again = s.apply(keyed('09:10:00', 4, '2026-11-02T09:50:00'));
    assert.deepEqual([again.consultationKey, again.rekeyed, again.changed], ['11/02/2026 09:30:15', undefined, []]);
    assert.deepEqual(view(s)[0]?.values.CDS_Consultation_Time, '09:30:15');
  });

  it('an order changed (XO) with its own CDS time moves its fallback key; a key as good does not move', () => {
    const s = new MergeState();
    s.apply(keyed('09:20:00', 2, '2026-11-02T09:20:00', { Modality: '1' }));
    const xo = s.apply(keyed('09:45:00', 0, '2026-11-02T09:50:00', { Modality: '2' }));
    assert.deepEqual([xo.consultationKey, xo.rekeyed], ['11/02/2026 09:45:00', { from: '11/02/2026 09:20:00', to: '11/02/2026 09:45:00' }]);
    const same = s.apply(keyed('09:55:00', 0, '2026-11-02T10:00:00'));
    assert.deepEqual([same.consultationKey, same.rekeyed], ['11/02/2026 09:45:00', undefined]);
    assert.deepEqual(view(s), [
      {
        key: '11/02/2026 09:45:00',
        date: '11/02/2026',
        time: '09:45:00',
        keyRank: 0,
        values: { CDS_Consultation_Date: '11/02/2026', CDS_Consultation_Time: '09:45:00', Modality: '2' },
      },
    ]);
  });

  it('a better key held by another order does not move; the consultation keeps its key, and says which order holds it', () => {
    const s = new MergeState();
    s.apply(keyed('09:10:00', 4, '2026-11-02T09:10:00', { Modality: '1' }));
    s.apply(keyed('09:30:15', 0, '2026-11-02T09:30:00', { Modality: '2' }, 'O2'));
    const r = s.apply(keyed('09:30:15', 0, '2026-11-02T09:40:00', { Modality: '3' }));
    assert.deepEqual(
      [r.status, r.consultationKey, r.rekeyed, r.rekeyRefused, r.changed],
      ['applied', '11/02/2026 09:10:00', undefined, { from: '11/02/2026 09:10:00', to: '11/02/2026 09:30:15', heldBy: ['O2', 'A-O2'] }, ['Modality']],
    );
    assert.deepEqual(view(s), [
      {
        key: '11/02/2026 09:10:00',
        date: '11/02/2026',
        time: '09:10:00',
        keyRank: 4,
        values: { CDS_Consultation_Date: '11/02/2026', CDS_Consultation_Time: '09:10:00', Modality: '3' },
      },
      {
        key: '11/02/2026 09:30:15',
        date: '11/02/2026',
        time: '09:30:15',
        keyRank: 0,
        values: { CDS_Consultation_Date: '11/02/2026', CDS_Consultation_Time: '09:30:15', Modality: '2' },
      },
    ]);
  });

  it('a consultation whose key source is unknown (stored before ranks) is never re-keyed; nor by a cancel', () => {
    const s = new MergeState();
    s.apply(keyed('09:10:00', undefined, '2026-11-02T09:10:00'));
    assert.equal(s.apply(keyed('09:30:15', 0, '2026-11-02T09:40:00')).consultationKey, '11/02/2026 09:10:00');
    const t = new MergeState();
    t.apply(keyed('09:10:00', 4, '2026-11-02T09:10:00'));
    assert.equal(t.apply({ ...keyed('09:30:15', 0, '2026-11-02T09:40:00'), cancelled: true }).consultationKey, '11/02/2026 09:10:00');
  });
});
