// lastSentOf: a consultation is found in its last transaction by its key, a re-keyed one as the
// one consultation there whose key the record no longer has; a transaction gone leaves it out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordView, TransactionRow } from '../store/store.js';
import { lastSentOf } from './last-sent.js';

const consultation = (consultationKey: string, transactionId?: string) => ({ consultationKey, ...(transactionId !== undefined ? { transactionId } : {}) });
const record = (consultations: { consultationKey: string; transactionId?: string }[]) =>
  ({ encounterKey: '100000|V1', facilityId: '100000', encounterId: 'V1', fields: {}, consultationDefaults: {}, consultations }) as unknown as RecordView;
const sent = (d: string, t: string, modality: string) => ({ CDS_Consultation_Date: d, CDS_Consultation_Time: t, Modality: modality });
const tx = {
  transactionId: 'T1',
  body: {
    Encounters: [
      { Unique_Encounter_ID: 'V0', Consultations: [sent('11/01/2026', '08:00:00', '9')] },
      { Unique_Encounter_ID: 'V1', Patient_Sex: 'F', Consultations: [sent('11/02/2026', '09:00:00', '1'), sent('11/02/2026', '07:00:00', '2')] },
    ],
  },
  records: [],
} as unknown as TransactionRow;
const REJECTED = [
  { code: 'CD2053', message: 'Facility_ID is not registered for this partner', severity: 'error' as const, scope: 'transaction' as const, path: '' },
];
// NRDR's verdicts on T2: the 09:00 record accepted, the 07:00 one (sent under its old key) rejected, V0's still pending
const tx2 = {
  ...tx,
  transactionId: 'T2',
  records: [
    { encounterKey: '100000|V1', consultationKey: '11/02/2026 09:00:00', result: 'accepted', problems: [] },
    { encounterKey: '100000|V1', consultationKey: '11/02/2026 07:00:00', result: 'rejected', problems: REJECTED },
    { encounterKey: '100000|V0', consultationKey: '11/01/2026 08:00:00', problems: [] },
  ],
} as unknown as TransactionRow;
const store = { transaction: (id: string) => Promise.resolve(id === 'T1' ? tx : id === 'T2' ? tx2 : undefined) };

describe('lastSentOf', () => {
  it('a transaction of the test profile: found by the pseudonym the encounter went under, only with the step that made it', async () => {
    const deid = {
      ...tx,
      transactionId: 'T3',
      profile: 'test',
      body: { Encounters: [{ Unique_Encounter_ID: '00000000000000000042', Consultations: [sent('11/02/2026', '09:00:00', '1')] }] },
    } as unknown as TransactionRow;
    const st = { transaction: (id: string) => Promise.resolve(id === 'T3' ? deid : undefined) };
    const r = record([consultation('11/02/2026 09:00:00', 'T3')]);
    const pseudonym = (f: string, e: string) => (f === '100000' && e === 'V1' ? '00000000000000000042' : 'other');
    assert.deepEqual(Object.fromEntries(await lastSentOf(st, r, pseudonym)), {
      '11/02/2026 09:00:00': {
        transactionId: 'T3',
        consultationKey: '11/02/2026 09:00:00',
        values: { Unique_Encounter_ID: '00000000000000000042', ...sent('11/02/2026', '09:00:00', '1') },
      },
    });
    assert.deepEqual(Object.fromEntries(await lastSentOf(st, r)), {});
  });

  it('by key; a re-keyed consultation under its old key; none for a consultation never sent or a transaction gone', async () => {
    const got = await lastSentOf(
      store,
      record([
        consultation('11/02/2026 09:00:00', 'T1'),
        consultation('11/02/2026 07:30:00', 'T1'),
        consultation('11/03/2026 10:00:00'),
        consultation('11/04/2026 10:00:00', 'T-GONE'),
      ]),
    );
    assert.deepEqual(Object.fromEntries(got), {
      '11/02/2026 09:00:00': {
        transactionId: 'T1',
        consultationKey: '11/02/2026 09:00:00',
        values: { Unique_Encounter_ID: 'V1', Patient_Sex: 'F', ...sent('11/02/2026', '09:00:00', '1') },
      },
      '11/02/2026 07:30:00': {
        transactionId: 'T1',
        consultationKey: '11/02/2026 07:00:00',
        values: { Unique_Encounter_ID: 'V1', Patient_Sex: 'F', ...sent('11/02/2026', '07:00:00', '2') },
      },
    });
  });

  it("carries NRDR's verdict on what was sent (under the key it was sent with); none while NRDR has not answered", async () => {
    const got = await lastSentOf(store, record([consultation('11/02/2026 09:00:00', 'T2'), consultation('11/02/2026 07:30:00', 'T2')]));
    assert.deepEqual(
      [...got.values()].map((x) => [x.transactionId, x.consultationKey, x.verdict]),
      [
        ['T2', '11/02/2026 09:00:00', { result: 'accepted', problems: [] }],
        ['T2', '11/02/2026 07:00:00', { result: 'rejected', problems: REJECTED }],
      ],
    );
    assert.equal((await lastSentOf(store, record([consultation('11/02/2026 09:00:00', 'T1')]))).get('11/02/2026 09:00:00')?.verdict, undefined);
  });
});
