// The synthetic transactions of `certify`: the two that must be accepted pass the adapter's own
// validator with the shipped value sets (no error, no warning); each crafted one draws its CD code
// from that validator too (Modality made enforced, as ACR's list is at NRDR); none carries
// anything about a person.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { NOW, REPO_ROOT } from '../../test/helpers.js';
import { loadValueSets } from '../cdsr/valuesets.js';
import { validateTransaction } from '../cdsr/validate.js';
import { TransactionSchema } from '../cdsr/schema.js';
import { certifyTransactions } from './certify-data.js';

const TXS = certifyTransactions({ runId: 'CERTTEST', now: NOW, facilityId: '100000', partnerId: '10000', appId: '10019', timeZone: 'America/New_York' });
const { catalog } = loadValueSets(join(REPO_ROOT, 'mappings', 'valuesets'));
const enforced = new Map([...catalog].map(([k, v]) => [k, { ...v, enforce: true }]));

describe('certify-data', () => {
  it('five transactions: ids, purposes and expected codes', () => {
    assert.deepEqual(
      TXS.map((t) => [
        t.body.Transaction_ID,
        t.purpose,
        t.expectedCode ?? null,
        t.body.Transaction_DateTime,
        t.body.Encounters[0]!.Consultations[0]!.CDS_Consultation_Date,
      ]),
      [
        ['CERTTEST-A1', 'accepted', null, '06/15/2026 08:00:00', '06/13/2026'],
        ['CERTTEST-A2', 'accepted', null, '06/15/2026 08:00:00', '06/13/2026'],
        ['CERTTEST-CD2013', 'error', 'CD2013', '07/15/2026 08:00:00', '06/13/2026'],
        ['CERTTEST-CD3130', 'error', 'CD3130', '06/15/2026 08:00:00', '07/15/2026'],
        ['CERTTEST-CD3120', 'error', 'CD3120', '06/15/2026 08:00:00', '06/13/2026'],
      ],
    );
    for (const t of TXS) TransactionSchema.parse(t.body);
  });

  it('the test transactions pass the adapter validator; each crafted one draws exactly its code', () => {
    const codes = (i: number) =>
      validateTransaction(TXS[i]!.body, { now: NOW, valueSets: enforced, timeZone: 'America/New_York' }).map((p) => `${p.severity} ${p.code}`);
    assert.deepEqual([0, 1, 2, 3, 4].map(codes), [[], [], ['error CD2013'], ['error CD3130'], ['error CD3120']]);
  });

  it("nothing about a person: only the spec's transaction, encounter id and order fields", () => {
    const fields = new Set(TXS.flatMap((t) => t.body.Encounters.flatMap((e) => [...Object.keys(e), ...e.Consultations.flatMap((c) => Object.keys(c))])));
    assert.deepEqual([...fields].sort(), [
      'CDS_Consultation_Date',
      'CDS_Consultation_Time',
      'CDS_Vendor',
      'Consultations',
      'Exam_Completion_Date',
      'Modality',
      'Modality_Other_Spec',
      'Name_of_Exam_Ordered',
      'Ordered_Exam_Completed',
      'Place_of_Service',
      'Unique_Encounter_ID',
    ]);
  });
});
