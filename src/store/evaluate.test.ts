// A record's state after a merge under a site's rules and a facility's time zone: a field a site
// rule requires makes it incomplete (listed in missing), a field it forbids makes it invalid, and
// "today" is the facility's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CdsrValidator } from '../cdsr/validate.js';
import { parseSiteRules } from '../cdsr/site-rules.js';
import type { ConsultationState, EncounterState, FieldMap } from '../mapping/merge.js';
import { evaluateConsultation } from './evaluate.js';
import { fixtureValueSets, validConsultation } from '../../test/helpers.js';

const fields = (values: Record<string, unknown>): FieldMap =>
  Object.fromEntries(
    Object.entries(values)
      .filter(([k, v]) => typeof v === 'string' && k !== 'CDS_Consultation_Date' && k !== 'CDS_Consultation_Time')
      .map(([k, v]) => [k, { value: v as string, time: '20260101000000', seq: 1, source: 'm1' }]),
  );

function encounter(facilityId: string, overrides: Record<string, unknown>, date = '03/03/2022'): { enc: EncounterState; cons: ConsultationState } {
  const cons: ConsultationState = { date, time: '15:08:33', fields: fields(validConsultation(overrides)) };
  const enc: EncounterState = { facilityId, encounterId: 'V1', fields: {}, consultationDefaults: {}, consultations: new Map([['k', cons]]) };
  return { enc, cons };
}

const rules = parseSiteRules(
  'site-rules.csv',
  'field,rule,when\nClinician2_Last_Name,required_when,Clinician2_Unique_ID reported\nClinician2_Role,only_when,Clinician2_Unique_ID reported\n',
).rules;

describe('record states under site rules and facility time zones', () => {
  // 2026-06-15 02:00 UTC: still 06/14 in Chicago, already 06/15 in Berlin
  const now = new Date('2026-06-15T02:00:00Z');
  const validator = new CdsrValidator({
    now,
    valueSets: fixtureValueSets(),
    siteRules: rules,
    timeZone: 'Europe/Berlin',
    timeZoneOf: (id) => (id === '200' ? 'America/Chicago' : undefined),
  });

  it('a field a site rule requires: incomplete, listed in missing, with CD3007', () => {
    const { enc, cons } = encounter('100', { Clinician2_Unique_ID: '1234567893' });
    const v = evaluateConsultation(validator, enc, cons);
    assert.equal(v.state, 'incomplete');
    assert.deepEqual(v.missing, ['Clinician2_Last_Name']);
    assert.deepEqual(
      v.problems.map((p) => p.code),
      ['CD3007'],
    );
  });

  it('a clinician id that is not an NPI under the shipped npi rule: invalid (held), SITE_NOT_NPI naming the value', () => {
    const npi = new CdsrValidator({
      now,
      valueSets: fixtureValueSets(),
      siteRules: parseSiteRules('site-rules.csv', 'field,rule,when\nClinician1_Unique_ID,npi,\n').rules,
    });
    const { enc, cons } = encounter('100', { Clinician1_Unique_ID: 'JSMITH' });
    const v = evaluateConsultation(npi, enc, cons);
    assert.equal(v.state, 'invalid');
    assert.deepEqual(v.missing, []);
    assert.deepEqual(
      v.problems.map((p) => [p.code, p.message]),
      [
        [
          'SITE_NOT_NPI',
          'Clinician1_Unique_ID "JSMITH" is not an NPI; an NPI has 10 digits: a user mnemonic or a local id? (site rule site-rules.csv:2; remove that line if your site sends other clinician ids)',
        ],
      ],
    );
    const ok = encounter('100', { Clinician1_Unique_ID: '1234567893' });
    assert.equal(evaluateConsultation(npi, ok.enc, ok.cons).state, 'ready');
  });

  it('a field a site rule forbids: invalid, CD3004', () => {
    const { enc, cons } = encounter('100', { Clinician2_Role: '1' });
    const v = evaluateConsultation(validator, enc, cons);
    assert.equal(v.state, 'invalid');
    assert.deepEqual(v.missing, []);
    assert.deepEqual(
      v.problems.map((p) => [p.code, p.message]),
      [['CD3004', 'Invalid. Clinician2_Role is only applicable, if Clinician2_Unique_ID is reported. Otherwise, should be blank']],
    );
  });

  it('a consultation dated 06/15: ready in Berlin (the default zone), invalid (CD3130) in Chicago (the facility zone)', () => {
    const berlin = encounter('100', {}, '06/15/2026');
    assert.equal(evaluateConsultation(validator, berlin.enc, berlin.cons).state, 'ready');
    const chicago = encounter('200', {}, '06/15/2026');
    const v = evaluateConsultation(validator, chicago.enc, chicago.cons);
    assert.equal(v.state, 'invalid');
    assert.deepEqual(
      v.problems.map((p) => p.code),
      ['CD3130'],
    );
  });
});
