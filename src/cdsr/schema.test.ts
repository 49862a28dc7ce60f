// The zod wire schemas against the spec's own examples.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TransactionSchema, TransactionStatusSchema, WebServiceErrorSchema } from './schema.js';
import { FIXTURES, readJson, validTransaction } from '../../test/helpers.js';

describe('CDSR wire schemas', () => {
  it('reads the spec §4.4.1 status example, numbers for ids included', () => {
    const status = TransactionStatusSchema.parse({
      Transaction_ID: '26',
      Transaction_DateTime: '2023-02-02T00:00:00',
      Num_of_Exam_Included: 1,
      Num_of_Exam_In_Error: 0,
      PartnerID: 10000,
      AppID: 10019,
      Facility_ID: '100000',
      Error_Msg: '',
      Exam_Errors: [{ Exam_Unique_ID: '', Error_Msg: 'CD2070:Invalid. Missing encounter object information' }],
      Status: 'Posted',
    });
    assert.equal(status.PartnerID, '10000');
    assert.equal(status.AppID, '10019');
    assert.equal(status.Status, 'Posted');
  });

  it('refuses an unknown status and reads the web-service error body', () => {
    assert.equal(TransactionStatusSchema.safeParse({ Status: 'Done' }).success, false);
    assert.deepEqual(WebServiceErrorSchema.parse({ error_code: 'invalid_token', error_description: 'expired' }), {
      error_code: 'invalid_token',
      error_description: 'expired',
    });
  });

  it("the strict transaction schema (what the adapter sends) takes a valid transaction and refuses the example's string count and nulls", () => {
    assert.equal(TransactionSchema.safeParse(validTransaction()).success, true);
    const r = TransactionSchema.safeParse(readJson(join(FIXTURES, 'spec-example.json')));
    assert.equal(r.success, false);
    assert.deepEqual(
      r.error?.issues.map((i) => i.path.join('.')),
      [
        'Num_of_Encounters_Included',
        'Encounters.0.Consultations.0.Guideline_Steward_Other_Spec',
        'Encounters.0.Consultations.0.CDS_Vendor_Other_Spec',
        'Encounters.0.Consultations.0.Clinician2_Role_Other_Spec',
        'Encounters.0.Consultations.0.Clinician2_Training_Other_Spec',
      ],
    );
  });
});
