// The merge rules (merge.ts) on small partial records.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MergeState, consultationValues } from './merge.js';
import type { PartialRecord } from './record.js';
import { sendableConsultations } from './wire.js';

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
    assert.deepEqual(values(s).map((v) => v.Place_of_Service), ['23', '23']);
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
      { numRuns: 300 },
    );
  });

  it('keeps with each value the rule and crosswalk rows that gave it', () => {
    const s = new MergeState();
    s.apply(
      order('2026-11-02T09:00:00', { Modality: '1', Place_of_Service: '23' }, {
        trace: [
          { field: 'Modality', rule: 'hl7v2.yaml:40', path: 'OBR-24', raw: 'CT', crosswalk: 'crosswalks/modality.csv:3', value: '1' },
          { field: 'Place_of_Service', rule: 'hl7v2.yaml:52', path: 'PV1-2', raw: 'E', value: '23' },
        ],
      }),
    );
    const cons = [...[...s.encounters.values()][0]!.consultations.values()][0]!;
    assert.deepEqual(cons.fields.Modality, { value: '1', time: '2026-11-02T09:00:00', seq: 1, source: cons.fields.Modality?.source, rule: 'hl7v2.yaml:40', crosswalk: 'crosswalks/modality.csv:3' });
    assert.deepEqual([cons.fields.Place_of_Service?.rule, cons.fields.Place_of_Service?.crosswalk], ['hl7v2.yaml:52', undefined]);
  });

  it('keeps why a value is a guess, and drops the mark when a later message gives the value from a first path', () => {
    const s = new MergeState();
    const guessed = { field: 'Clinician1_Unique_ID', rule: 'hl7v2.yaml:103', path: 'OBR-16.1', raw: 'JSMITH', value: 'JSMITH', guess: 'fallback: OBR-16.1, the 2nd of 2 candidates' };
    s.apply(
      order('2026-11-02T09:00:00', { Clinician1_Unique_ID: 'JSMITH', Modality: '2' }, {
        trace: [
          guessed,
          // an entry that sent nothing guesses no value; the one that gave the value does
          { field: 'Modality', rule: 'hl7v2.yaml:73', path: 'OBR-24', raw: 'RAD', crosswalk: 'crosswalks/modality.csv:20', value: '' },
          { field: 'Modality', rule: 'hl7v2.yaml:77', path: 'OBR-44.1', raw: '72148', crosswalk: 'crosswalks/procedure_modality.csv:9', value: '2', guess: 'fallback: OBR-44.1, alternative 2 of 4' },
        ],
      }),
    );
    const cons = () => [...[...s.encounters.values()][0]!.consultations.values()][0]!;
    assert.deepEqual(
      [cons().fields.Clinician1_Unique_ID?.guess, cons().fields.Modality?.guess],
      ['fallback: OBR-16.1, the 2nd of 2 candidates', 'fallback: OBR-44.1, alternative 2 of 4'],
    );
    s.apply(order('2026-11-02T10:00:00', { Clinician1_Unique_ID: '1234567893' }, { trace: [{ field: 'Clinician1_Unique_ID', rule: 'hl7v2.yaml:103', path: 'ORC-12.1', raw: '1234567893', value: '1234567893' }] }));
    assert.deepEqual([cons().fields.Clinician1_Unique_ID?.value, cons().fields.Clinician1_Unique_ID?.guess], ['1234567893', undefined]);
  });
});
