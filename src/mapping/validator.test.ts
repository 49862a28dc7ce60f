// The validator the service uses follows the tables in force: a reloaded site rule or facility
// time zone applies to the next record checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadMappings, type MappingTables } from './load.js';
import { parseSiteRules } from '../cdsr/site-rules.js';
import { parseFacilities } from './facilities.js';
import { LiveValidator, validatorFor } from './validator.js';
import { REPO_ROOT, validConsultation, validEncounter } from '../../test/helpers.js';

const shipped = (): MappingTables => {
  const r = loadMappings(join(REPO_ROOT, 'mappings'));
  assert.deepEqual(r.problems, []);
  return r.tables!;
};

describe('the tables validator', () => {
  const now = new Date('2026-06-15T02:00:00Z'); // 06/14 evening in Chicago, 06/15 in Berlin
  const encounter = validEncounter({ Patient_Sex: 'F', Health_Insurance: undefined }, [
    validConsultation({
      CDS_Consultation_Date: '06/15/2026',
      Exam_Completion_Date: undefined,
      Clinician2_Unique_ID: '1234567893',
      Modality: '1',
      Place_of_Service: '22',
      Ordered_Exam_Completed: '1',
      Guideline_Steward: undefined,
      Appropriateness_Category: undefined,
      Medicare_Modifier: undefined,
      Clinician1_Role: undefined,
      Clinician1_Training: undefined,
      Clinician1_Medical_Specialty_Code: undefined,
    }),
  ]);
  const codes = (v: { validateEncounter(e: unknown, i: number, f?: string): { code: string }[] }, facility: string) =>
    v.validateEncounter(encounter, 0, facility).map((p) => p.code);

  it('a reload brings new site rules and facility zones to the next check', () => {
    let tables = shipped();
    const live = new LiveValidator(() => tables, { now, timeZone: 'Europe/Berlin' });
    assert.deepEqual(codes(live, '100000'), []);
    const rules = parseSiteRules('site-rules.csv', 'field,rule,when\nClinician2_Last_Name,required_when,Clinician2_Unique_ID reported\n');
    const fac = parseFacilities('facilities.csv', 'source,facility_id,timezone\nGENHOSP,100000,America/Chicago\n');
    tables = { ...tables, siteRules: rules.rules, facilities: fac.facilities };
    assert.deepEqual(codes(live, '100000'), ['CD3130', 'CD3007']);
    assert.deepEqual(codes(live, '999'), ['CD3007']); // no zone of its own: Berlin's, where 06/15 is today
    assert.deepEqual(codes(validatorFor(tables, { now, timeZone: 'Europe/Berlin' }), '100000'), ['CD3130', 'CD3007']);
  });
});
