// The de-identification step of the test profile: the body it makes of the spec's own example,
// field by field; the same input gives the same pseudonyms (across steps with the same key), two
// facilities' equal encounter ids stay apart; the check at the POST boundary refuses a body the
// step did not make (or changed since), naming the Transaction_ID and the field; and the NRDR
// client of the test profile refuses to POST any other body.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS, TRANSACTION_FIELDS, TransactionSchema, type Transaction } from '../cdsr/schema.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { CONSULTATION_TREATMENT, DeidentificationError, Deidentifier, ENCOUNTER_TREATMENT, isDeidentified, npiCheckDigit } from './deidentify.js';
import { NrdrClient } from './nrdr-client.js';
import { StaticToken } from './token.js';

const KEY = Buffer.alloc(32, 7);
const TARGET = { facilityId: 'TESTFAC1', partnerId: '20000', appId: '10019' };
/** The spec's example with what the schema types (Num_of_Encounters_Included a number). */
function specExample(): Transaction {
  const raw = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'spec-example.json'), 'utf8'), (_k, v: unknown) =>
    v === null ? undefined : v,
  ) as Record<string, unknown>;
  return TransactionSchema.parse({ ...raw, Num_of_Encounters_Included: 1 });
}

describe('de-identification (test profile)', () => {
  it('every field of CDSR 1.0 has a treatment', () => {
    assert.deepEqual(Object.keys(ENCOUNTER_TREATMENT).sort(), ENCOUNTER_FIELDS.filter((f) => f !== 'Consultations').sort());
    assert.deepEqual(Object.keys(CONSULTATION_TREATMENT).sort(), [...CONSULTATION_FIELDS].sort());
  });

  it("makes of the spec's example the body below: pseudonyms in the fields' forms, fixed text, the test facility; codes, dates and times kept", () => {
    const { body, seal } = new Deidentifier(KEY, TARGET).transaction(specExample());
    const d = new Deidentifier(KEY, TARGET);
    const e = body.Encounters[0]!;
    const c = e.Consultations[0]!;
    assert.deepEqual(
      { ...body, Encounters: undefined },
      {
        Transaction_ID: d.transactionId('cdsr-334'),
        Transaction_DateTime: '03/04/2022',
        Num_of_Encounters_Included: 1,
        Facility_ID: 'TESTFAC1',
        PartnerID: '20000',
        AppID: '10019',
        CDSR_File_Version_Num: '1.0',
        Encounters: undefined,
      },
    );
    assert.match(body.Transaction_ID, /^CDSR-TESTFAC1-\d{20}$/);
    assert.deepEqual(
      { ...e, Consultations: undefined },
      {
        Unique_Encounter_ID: d.encounterId('100000', 'encounter 8'),
        Patient_Sex: 'M',
        Health_Insurance: '1,2,3,4,5,6,7',
        Health_Insurance_Other_Spec: 'TEST',
        Clinical_Scenario_Codes: 'code1,code2',
        Clinical_Scenario_Descriptions: 'TEST,TEST',
        Consultations: undefined,
      },
    );
    assert.match(e.Unique_Encounter_ID, /^\d{20}$/);
    assert.deepEqual(c, {
      CDS_Consultation_Date: '03/03/2022',
      CDS_Consultation_Time: '15:08:33',
      Place_of_Service: '99',
      Guideline_Steward: '1',
      Modality: '88',
      Modality_Other_Spec: 'TEST',
      Name_of_Exam_Ordered: 'TEST EXAM',
      Ordered_Exam_Completed: '4',
      Exam_Completion_Date: '01/01/2022',
      Appropriateness_Category: '1',
      Appropriateness_Category_Other_Spec: 'TEST',
      CDS_Vendor: 'G1014',
      Medicare_Modifier: 'ME',
      Clinician1_Unique_ID: d.clinicianId('clinician unique1'),
      Clinician1_Role: '88',
      Clinician1_Role_Other_Spec: 'TEST',
      Clinician1_First_Name: d.name('first', 'First'),
      Clinician1_Last_Name: d.name('last', 'Last'),
      Clinician1_Training: '88',
      Clinician1_Training_Other_Spec: 'TEST',
      Clinician1_Medical_Specialty_Code: '999',
      Clinician2_Unique_ID: d.clinicianId('clinician unique2'),
      Clinician2_Role: '99',
      Clinician2_First_Name: d.name('first', 'First Two'),
      Clinician2_Last_Name: d.name('last', 'Last Two'),
      Clinician2_Training: '99',
      Clinician2_Medical_Specialty_Code: '20',
    });
    for (const id of [c.Clinician1_Unique_ID, c.Clinician2_Unique_ID]) {
      assert.match(id, /^1\d{9}$/);
      assert.equal(npiCheckDigit(id.slice(0, 9)), Number(id[9]), `${id} carries the NPI check digit`);
    }
    for (const n of [c.Clinician1_First_Name, c.Clinician1_Last_Name]) assert.match(n, /^[A-Z][a-z]{7}$/);
    assert.match(seal, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(isDeidentified(body), true);
    // the body the schema and the sandbox's rules read: valid CDSR
    assert.equal(TransactionSchema.safeParse(body).success, true);
  });

  it("docs/operations.md's table lists every field once, and says `kept` exactly for the fields the step keeps", () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## De-identification under `test`'));
    const rows = section
      .slice(0, section.indexOf('\n## ', 3))
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| field') && !l.startsWith('|---'))
      .map((l) => l.split(' | ').map((c) => c.replace(/^\| /, '').trim()));
    const listed = rows.flatMap(([fields, sent]) =>
      fields!.split(', ').flatMap((f) => (f.startsWith('Clinician1/2_') ? [1, 2].map((n) => [f.replace('1/2', String(n)), sent!]) : [[f, sent!]])),
    );
    const all = [...TRANSACTION_FIELDS.filter((f) => f !== 'Encounters'), ...ENCOUNTER_FIELDS.filter((f) => f !== 'Consultations'), ...CONSULTATION_FIELDS];
    assert.deepEqual(listed.map(([f]) => f).sort(), [...all].sort());
    const treatment: Record<string, string> = { ...ENCOUNTER_TREATMENT, ...CONSULTATION_TREATMENT };
    for (const [f, sent] of listed) if (f! in treatment) assert.equal(sent === 'kept', treatment[f!] === 'keep', `${f}: the table says "${sent}"`);
  });

  it('a kept field holding something other than its shape (a name, a note, a date written otherwise) is sent as TEST, and the check holds it to that', () => {
    const tx = specExample();
    const e = tx.Encounters[0]!;
    const c = e.Consultations[0]!;
    Object.assign(c, { CDS_Vendor: 'JOHN SMITH', Medicare_Modifier: 'MRN 0012345', Exam_Completion_Date: 'yesterday', CDS_Consultation_Time: '9:30 am' });
    Object.assign(e, { Patient_Sex: 'Jane Q. Doe', Clinical_Scenario_Codes: '12, 13' });
    const d = new Deidentifier(KEY, TARGET);
    const { body, seal } = d.transaction(tx);
    const [be] = body.Encounters;
    const [bc] = be!.Consultations;
    assert.deepEqual(
      [bc!.CDS_Vendor, bc!.Medicare_Modifier, bc!.Exam_Completion_Date, bc!.CDS_Consultation_Time, be!.Patient_Sex, be!.Clinical_Scenario_Codes],
      ['TEST', 'TEST', 'TEST', 'TEST', 'TEST', 'TEST'],
    );
    for (const v of ['JOHN SMITH', 'MRN 0012345', 'Jane Q. Doe']) assert.ok(!JSON.stringify(body).includes(v), v);
    // what the step made passes; the same body with the name put back does not
    d.check(JSON.parse(JSON.stringify(body)) as Transaction, seal);
    const edited = JSON.parse(JSON.stringify(body)) as Transaction;
    edited.Encounters[0]!.Consultations[0]!.CDS_Vendor = 'JOHN SMITH';
    assert.throws(
      () => d.check(edited, seal),
      (err: unknown) => err instanceof DeidentificationError && err.fieldPath === 'Encounters[0].Consultations[0].CDS_Vendor',
    );
  });

  it('the NPI check digit is the one of a known NPI (1234567893)', () => {
    assert.equal(npiCheckDigit('123456789'), 3);
  });

  it('the same key gives the same pseudonyms; another key others; two facilities with one encounter id stay apart', () => {
    const a = new Deidentifier(KEY, TARGET);
    const b = new Deidentifier(Buffer.from(KEY), TARGET);
    const other = new Deidentifier(Buffer.alloc(32, 8), TARGET);
    assert.equal(a.encounterId('100000', 'V0001'), b.encounterId('100000', 'V0001'));
    assert.notEqual(a.encounterId('100000', 'V0001'), other.encounterId('100000', 'V0001'));
    assert.notEqual(a.encounterId('100000', 'V0001'), a.encounterId('100001', 'V0001'));
    assert.equal(a.clinicianId('1234567893'), b.clinicianId('1234567893'));
    assert.notEqual(a.name('first', 'Ann'), a.name('last', 'Ann'));
    assert.throws(() => new Deidentifier(Buffer.alloc(16), TARGET), RangeError);
  });

  it('the check at the POST boundary passes what the step made, read back in another key order', () => {
    const d = new Deidentifier(KEY, TARGET);
    const { body, seal } = d.transaction(specExample());
    // every object's keys in reverse order, as a store might hand them back
    const reverse = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reverse)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reverse(x)]),
            )
          : v;
    const reread = reverse(body) as Transaction;
    assert.notEqual(Object.keys(reread)[0], Object.keys(body)[0]);
    assert.equal(isDeidentified(reread), false);
    const checked = d.check(reread, seal);
    assert.equal(isDeidentified(checked), true);
  });

  it('refuses a body the step did not make, or changed since, naming the Transaction_ID and the field', () => {
    const d = new Deidentifier(KEY, TARGET);
    const { body, seal } = d.transaction(specExample());
    const refusal = (b: Transaction, s: string | undefined) => {
      try {
        d.check(b, s);
      } catch (e) {
        assert.ok(e instanceof DeidentificationError);
        return [e.code, e.transactionId, e.fieldPath, e.message];
      }
      return 'passed';
    };
    const raw = specExample();
    assert.deepEqual(refusal(raw, undefined), [
      'NOT_DEIDENTIFIED',
      'cdsr-334',
      'Facility_ID',
      'transaction cdsr-334: Facility_ID is not the test facility (CDSR_TEST_FACILITY_ID): not de-identified, not sent to the test environment',
    ]);
    // the facility made right by hand: the encounter id still gives it away
    const patched = structuredClone({ ...raw, Transaction_ID: body.Transaction_ID, Facility_ID: 'TESTFAC1', PartnerID: '20000' });
    assert.deepEqual(refusal(patched, seal), [
      'NOT_DEIDENTIFIED',
      body.Transaction_ID,
      'Encounters[0].Unique_Encounter_ID',
      `transaction ${body.Transaction_ID}: Encounters[0].Unique_Encounter_ID is not of the form the step writes: not de-identified, not sent to the test environment`,
    ]);
    // a clinician name put back after the step: of a name's form, but not what the step sealed
    const changed = structuredClone(body) as Transaction;
    changed.Encounters[0]!.Consultations[0]!.Clinician1_Last_Name = 'Smithson';
    assert.deepEqual(refusal(changed, seal)[2], '(the whole body)');
    assert.deepEqual(refusal(structuredClone(body) as Transaction, undefined).slice(2), [
      '(the whole body)',
      `transaction ${body.Transaction_ID}: (the whole body) carries no seal of the step: not de-identified, not sent to the test environment`,
    ]);
    // free text left in
    const text = structuredClone(body) as Transaction;
    text.Encounters[0]!.Consultations[0]!.Name_of_Exam_Ordered = 'CT HEAD WO CONTRAST';
    assert.deepEqual(refusal(text, seal)[2], 'Encounters[0].Consultations[0].Name_of_Exam_Ordered');
  });

  it("the test profile's NRDR client refuses, before any request, a body that did not come out of the step", async () => {
    let requests = 0;
    const client = new NrdrClient({
      baseUrl: 'http://127.0.0.1:1/t',
      tokens: new StaticToken('t'),
      deidentifiedOnly: true,
      transport: () => {
        requests++;
        return Promise.resolve({ status: 200, body: '' });
      },
    });
    let claimed = 0;
    const claim = () => ((claimed += 1), Promise.resolve(true));
    assert.deepEqual(await client.postTransaction(specExample(), claim), {
      ok: false,
      permanent: false,
      code: 'not_deidentified',
      message: 'not sent: transaction cdsr-334 did not go through the de-identification step (the test profile sends no other)',
    });
    assert.deepEqual([requests, claimed], [0, 0]);
    const { body } = new Deidentifier(KEY, TARGET).transaction(specExample());
    assert.deepEqual(await client.postTransaction(body, claim), { ok: true, raw: '' });
    assert.deepEqual([requests, claimed], [1, 1]);
  });
});
