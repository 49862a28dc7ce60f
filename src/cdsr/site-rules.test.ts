// Site rules (site-rules.csv) and the per-field limits a site adds (format, max_items, required):
// loading with file:line problems, and the validator's exact codes and NRDR-worded messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { isNpi, npiCheckDigit, parseSiteRules } from './site-rules.js';
import { parseFieldLimits } from './field-limits.js';
import { validateTransaction, type ValidatorOptions } from './validate.js';
import { validateTransactionStream } from './validate-stream.js';
import type { Problem } from './problem.js';
import { NOW, fixtureValueSets, validConsultation as cons, validEncounter as enc, validTransaction as tx } from '../../test/helpers.js';
import { transaction } from '../../test/arbitraries.js';
import { runs } from '../../test/runs.js';

const located = (ps: Problem[]) => ps.map((p) => `${p.file}:${p.line}: ${p.message}`);
const brief = (ps: Problem[]) => ps.map((p) => ({ code: p.code, message: p.message, path: p.path }));
const C0 = 'Encounters[0].Consultations[0]';

const RULES = [
  'field,rule,when,code,comment',
  'Exam_Completion_Date,required_when,Ordered_Exam_Completed = 4,,done exams carry their date',
  'Clinician2_Last_Name,required_when,Clinician2_Unique_ID reported,,',
  'Clinician1_Unique_ID,required_when,Clinician1_Last_Name not reported,,',
  'Clinician2_Role,only_when,Clinician2_Unique_ID reported,,',
  'Guideline_Steward_Other_Spec,only_when,Guideline_Steward in 9|10,,',
  'Modality,required_when,Patient_Sex in F|M,CD3007,code chosen by the site',
  'Health_Insurance_Other_Spec,required_when,Health_Insurance in 88,,',
].join('\n');

function siteOptions(rulesText = RULES, limitsText?: string): ValidatorOptions {
  const r = parseSiteRules('m/site-rules.csv', rulesText);
  assert.deepEqual(located(r.problems), []);
  const l = limitsText === undefined ? { overrides: [], problems: [] } : parseFieldLimits('m/field-limits.csv', limitsText);
  assert.deepEqual(located(l.problems), []);
  return { now: NOW, valueSets: fixtureValueSets(), siteRules: r.rules, fieldLimits: l.overrides };
}

describe('site-rules.csv loading', () => {
  it('reads each rule with its default code and origin', () => {
    const { rules } = parseSiteRules('m/site-rules.csv', RULES);
    assert.deepEqual(
      rules.map((r) => [r.field, r.rule, 'when' in r ? r.when.kind : '', r.code, r.origin]),
      [
        ['Exam_Completion_Date', 'required_when', 'in', 'CD3005', 'm/site-rules.csv:2'],
        ['Clinician2_Last_Name', 'required_when', 'reported', 'CD3007', 'm/site-rules.csv:3'],
        ['Clinician1_Unique_ID', 'required_when', 'not_reported', 'CD3006', 'm/site-rules.csv:4'],
        ['Clinician2_Role', 'only_when', 'reported', 'CD3004', 'm/site-rules.csv:5'],
        ['Guideline_Steward_Other_Spec', 'only_when', 'in', 'CD3002', 'm/site-rules.csv:6'],
        ['Modality', 'required_when', 'in', 'CD3007', 'm/site-rules.csv:7'],
        ['Health_Insurance_Other_Spec', 'required_when', 'in', 'CD3005', 'm/site-rules.csv:8'],
      ],
    );
    assert.deepEqual(rules[4] !== undefined && 'when' in rules[4] ? rules[4].when : undefined, { kind: 'in', field: 'Guideline_Steward', values: ['9', '10'] });
  });

  it('reports every broken row as file:line', () => {
    const { rules, problems } = parseSiteRules(
      'm/site-rules.csv',
      [
        'field,rule,when,code',
        'Nope,required_when,Modality reported,',
        'Modality,must,Patient_Sex reported,',
        'Modality,required_when,Patient_Sex is F,',
        'Modality,required_when,Nope reported,',
        'Modality,required_when,Modality reported,',
        'Patient_Sex,required_when,Modality reported,',
        'Modality,required_when,Patient_Sex reported,CD3004',
        'Modality,only_when,Patient_Sex not reported,',
        'Modality,required_when,Patient_Sex in F||M,',
        'Modality,required_when,Patient_Sex reported,cd3007',
      ].join('\n'),
    );
    assert.deepEqual(located(problems), [
      'm/site-rules.csv:2: "Nope" is not an encounter or consultation field of CDSR 1.0',
      'm/site-rules.csv:3: rule must be required_when, only_when, required or npi, not "must"',
      'm/site-rules.csv:4: when must be "<field> reported", "<field> not reported", "<field> = <value>" or "<field> in <value>|<value>", not "Patient_Sex is F"',
      'm/site-rules.csv:5: "Nope" (in when) is not an encounter or consultation field of CDSR 1.0',
      'm/site-rules.csv:6: Modality cannot depend on itself',
      'm/site-rules.csv:7: Patient_Sex is an encounter field; its condition must be on an encounter field, not the consultation field Modality',
      'm/site-rules.csv:8: code for required_when must be one of CD3005, CD3006, CD3007, not "CD3004"',
      'm/site-rules.csv:9: only_when needs a condition "<field> reported" or "<field> = <value>" (NRDR has no code for "not reported" here)',
      'm/site-rules.csv:10: an empty value in "F||M"',
    ]);
    assert.deepEqual(
      rules.map((r) => r.code),
      ['CD3007'],
    );
  });

  it('a header without the needed columns is one problem on line 1', () => {
    assert.deepEqual(located(parseSiteRules('r.csv', 'field,when\nModality,Patient_Sex reported\n').problems), [
      'r.csv:1: the header must have a "rule" column',
    ]);
  });
});

describe('site rules in the validator', () => {
  const options = siteOptions();
  const check = (v: unknown) => brief(validateTransaction(v, options));

  it('a record that meets every rule has no problem', () => {
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician2_Unique_ID: '1234567893', Clinician2_Last_Name: 'Two', Clinician2_Role: '1' })])])), []);
  });

  it('required_when "= value": CD3005 with NRDR words', () => {
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Exam_Completion_Date: undefined })])])), [
      { code: 'CD3005', message: 'Invalid. Exam_Completion_Date is required, if Ordered_Exam_Completed is 4', path: `${C0}.Exam_Completion_Date` },
    ]);
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Exam_Completion_Date: undefined, Ordered_Exam_Completed: '2' })])])), []);
  });

  it('required_when reported / not reported: CD3007, CD3006', () => {
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician2_Unique_ID: '1234567893', Clinician2_Role: '1' })])])), [
      { code: 'CD3007', message: 'Invalid. Clinician2_Last_Name is required, if Clinician2_Unique_ID is reported', path: `${C0}.Clinician2_Last_Name` },
    ]);
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Unique_ID: null, Clinician1_Last_Name: '' })])])), [
      { code: 'CD3006', message: 'Invalid. Clinician1_Unique_ID is required, if Clinician1_Last_Name is not reported', path: `${C0}.Clinician1_Unique_ID` },
    ]);
  });

  it('only_when: CD3004 and CD3002 when the field is filled without its condition', () => {
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician2_Role: '1', Guideline_Steward_Other_Spec: 'local' })])])), [
      {
        code: 'CD3004',
        message: 'Invalid. Clinician2_Role is only applicable, if Clinician2_Unique_ID is reported. Otherwise, should be blank',
        path: `${C0}.Clinician2_Role`,
      },
      {
        code: 'CD3002',
        message: 'Invalid. Guideline_Steward_Other_Spec is only applicable, if Guideline_Steward is 9,10. Otherwise, should be blank',
        path: `${C0}.Guideline_Steward_Other_Spec`,
      },
    ]);
  });

  it('a consultation rule reads an encounter field; a site-chosen code keeps its NRDR text', () => {
    assert.deepEqual(check(tx({}, [enc({ Patient_Sex: 'M' }, [cons({ Modality: undefined })])])), [
      { code: 'CD3001', message: 'Invalid. Required field is missing Modality', path: `${C0}.Modality` },
      { code: 'CD3007', message: 'Invalid. Modality is required, if Patient_Sex is reported', path: `${C0}.Modality` },
    ]);
  });

  it('an encounter rule on a multi-select field matches any chosen code', () => {
    assert.deepEqual(check(tx({}, [enc({ Health_Insurance: '1,88' })])), [
      {
        code: 'CD3005',
        message: 'Invalid. Health_Insurance_Other_Spec is required, if Health_Insurance is 88',
        path: 'Encounters[0].Health_Insurance_Other_Spec',
      },
    ]);
  });

  it('a condition field of the wrong JSON type decides nothing (CD1003 only)', () => {
    assert.deepEqual(
      check(tx({}, [enc({}, [cons({ Ordered_Exam_Completed: true, Exam_Completion_Date: undefined })])])).map((p) => p.code),
      ['CD1003'],
    );
  });

  it('the streamed validator agrees with the in-memory one with site rules and limits', async () => {
    const opts: ValidatorOptions = {
      ...siteOptions(RULES, 'field,max_length,numeric,required,format,max_items\nHealth_Insurance,,,,,1\nName_of_Exam_Ordered,,,,[A-Za-z ]+,\n'),
      // the facility's zone (Facility_ID comes before Encounters, as in every file the adapter writes)
      timeZone: 'Pacific/Pago_Pago',
      timeZoneOf: (id) => (id === '100000' ? 'Asia/Tokyo' : undefined),
    };
    await fc.assert(
      fc.asyncProperty(transaction, async (t) => {
        const text = JSON.stringify(t);
        const streamed = await validateTransactionStream(Readable.from([Buffer.from(text)]), opts);
        assert.deepEqual(streamed.problems, validateTransaction(JSON.parse(text), opts));
      }),
      { numRuns: runs(150) },
    );
  });
});

describe('the npi site rule (clinician ids must be NPIs)', () => {
  const NPI_RULES = 'field,rule,when,code,comment\nClinician1_Unique_ID,npi,,,shipped\nClinician2_Unique_ID,NPI,,SITE_NOT_NPI,\n';
  const check = (v: unknown) =>
    validateTransaction(v, siteOptions(NPI_RULES)).map((p) => ({
      code: p.code,
      message: p.message,
      path: p.path,
      field: p.field,
      value: p.value,
      severity: p.severity,
    }));

  it('the NPI check digit: Luhn over 80840 and the first nine digits', () => {
    assert.equal(npiCheckDigit('123456789'), 3);
    assert.equal(npiCheckDigit('100300012'), 6);
    assert.deepEqual(
      ['1234567893', '1003000126', '1245319599', '1234567890', '123456789', '12345678930', 'JSMITH', '123456789A', ' 1234567893', ''].map((id) => [
        id,
        isNpi(id),
      ]),
      [
        ['1234567893', true],
        ['1003000126', true],
        ['1245319599', true],
        ['1234567890', false],
        ['123456789', false],
        ['12345678930', false],
        ['JSMITH', false],
        ['123456789A', false],
        [' 1234567893', false],
        ['', false],
      ],
    );
  });

  it('is read with its code and origin; a when or another code is refused at its line', () => {
    const { rules, problems } = parseSiteRules('m/site-rules.csv', NPI_RULES);
    assert.deepEqual(located(problems), []);
    assert.deepEqual(rules, [
      { field: 'Clinician1_Unique_ID', rule: 'npi', code: 'SITE_NOT_NPI', origin: 'm/site-rules.csv:2' },
      { field: 'Clinician2_Unique_ID', rule: 'npi', code: 'SITE_NOT_NPI', origin: 'm/site-rules.csv:3' },
    ]);
    const bad = parseSiteRules(
      'm/site-rules.csv',
      'field,rule,when,code\nClinician1_Unique_ID,npi,Clinician1_Last_Name reported,\nClinician1_Unique_ID,npi,,CD3020\nNope,npi,,\n',
    );
    assert.deepEqual(located(bad.problems), [
      'm/site-rules.csv:2: an npi rule checks every Clinician1_Unique_ID filled: its when must be empty, not "Clinician1_Last_Name reported"',
      'm/site-rules.csv:3: code for npi must be SITE_NOT_NPI (or empty), not "CD3020"',
      'm/site-rules.csv:4: "Nope" is not an encounter or consultation field of CDSR 1.0',
    ]);
    assert.deepEqual(bad.rules, []);
  });

  it('valid NPIs and an empty id pass', () => {
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Unique_ID: '1234567893', Clinician2_Unique_ID: '1245319599' })])])), []);
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Unique_ID: undefined })])])), []);
  });

  it('a mnemonic, a wrong check digit and nine digits: one error each, naming field and value', () => {
    const why = '(site rule site-rules.csv:2; remove that line if your site sends other clinician ids)';
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Unique_ID: 'JSMITH' })])])), [
      {
        code: 'SITE_NOT_NPI',
        message: `Clinician1_Unique_ID "JSMITH" is not an NPI; an NPI has 10 digits: a user mnemonic or a local id? ${why}`,
        path: `${C0}.Clinician1_Unique_ID`,
        field: 'Clinician1_Unique_ID',
        value: 'JSMITH',
        severity: 'error',
      },
    ]);
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Unique_ID: '1234567890' })])])), [
      {
        code: 'SITE_NOT_NPI',
        message: `Clinician1_Unique_ID "1234567890" is not an NPI; its last digit should be 3 (the NPI check digit): a mistyped NPI? ${why}`,
        path: `${C0}.Clinician1_Unique_ID`,
        field: 'Clinician1_Unique_ID',
        value: '1234567890',
        severity: 'error',
      },
    ]);
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Unique_ID: '123456789', Clinician2_Unique_ID: 'DR_WHO' })])])), [
      {
        code: 'SITE_NOT_NPI',
        message: `Clinician1_Unique_ID "123456789" is not an NPI; an NPI has 10 digits, this has 9: a local number? ${why}`,
        path: `${C0}.Clinician1_Unique_ID`,
        field: 'Clinician1_Unique_ID',
        value: '123456789',
        severity: 'error',
      },
      {
        code: 'SITE_NOT_NPI',
        message:
          'Clinician2_Unique_ID "DR_WHO" is not an NPI; an NPI has 10 digits: a user mnemonic or a local id? (site rule site-rules.csv:3; remove that line if your site sends other clinician ids)',
        path: `${C0}.Clinician2_Unique_ID`,
        field: 'Clinician2_Unique_ID',
        value: 'DR_WHO',
        severity: 'error',
      },
    ]);
  });
});

describe('the required site rule (the workbook\'s "Required to submit")', () => {
  const REQUIRED =
    'field,rule,when,code,comment\nClinician1_Last_Name,required,,,\nExam_Completion_Date,REQUIRED,,CD3001,\nModality,required,,,the spec requires it already\n';

  it('is read with CD3001 and its origin; a when or another code is refused at its line', () => {
    const { rules, problems } = parseSiteRules('m/site-rules.csv', REQUIRED);
    assert.deepEqual(located(problems), []);
    assert.deepEqual(rules, [
      { field: 'Clinician1_Last_Name', rule: 'required', code: 'CD3001', origin: 'm/site-rules.csv:2' },
      { field: 'Exam_Completion_Date', rule: 'required', code: 'CD3001', origin: 'm/site-rules.csv:3' },
      { field: 'Modality', rule: 'required', code: 'CD3001', origin: 'm/site-rules.csv:4' },
    ]);
    const bad = parseSiteRules(
      'm/site-rules.csv',
      'field,rule,when,code\nClinician1_Last_Name,required,Clinician1_Unique_ID reported,\nClinician1_Last_Name,required,,CD3007\n',
    );
    assert.deepEqual(located(bad.problems), [
      'm/site-rules.csv:2: a required rule applies always: its when must be empty, not "Clinician1_Unique_ID reported" (for a condition use required_when)',
      'm/site-rules.csv:3: code for required must be CD3001 (or empty), not "CD3007"',
    ]);
    assert.deepEqual(bad.rules, []);
  });

  it('a missing field is CD3001 (once, for a field the spec or field-limits.csv already requires)', () => {
    const check = (v: unknown, limits?: string) => brief(validateTransaction(v, siteOptions(REQUIRED, limits)));
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Last_Name: undefined, Exam_Completion_Date: '', Modality: undefined })])])), [
      { code: 'CD3001', message: 'Invalid. Required field is missing Modality', path: `${C0}.Modality` },
      { code: 'CD3001', message: 'Invalid. Required field is missing Clinician1_Last_Name', path: `${C0}.Clinician1_Last_Name` },
      { code: 'CD3001', message: 'Invalid. Required field is missing Exam_Completion_Date', path: `${C0}.Exam_Completion_Date` },
    ]);
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Last_Name: undefined })])]), 'field,required\nClinician1_Last_Name,yes\n'), [
      { code: 'CD3001', message: 'Invalid. Required field is missing Clinician1_Last_Name', path: `${C0}.Clinician1_Last_Name` },
    ]);
    assert.deepEqual(check(tx({}, [enc({}, [cons({ Clinician1_Last_Name: 'Lee' })])])), []);
  });
});

describe('per-field limits a site adds (field-limits.csv)', () => {
  const limits = [
    'field,max_length,numeric,required,format,max_items,comment',
    'Health_Insurance,,,,,2,at most two payers',
    'Clinician1_Unique_ID,,,yes,\\d{10},,NPI',
    'CDS_Vendor,,,,G\\d{4},,',
  ].join('\n');
  const options = siteOptions('field,rule,when\n', limits);
  const check = (v: unknown) => brief(validateTransaction(v, options));

  it('CD3031 for too many elements, CD3020 for a value off the format, CD3001 for a field the site requires', () => {
    assert.deepEqual(check(tx({}, [enc({ Health_Insurance: '1,2,3' }, [cons({ Clinician1_Unique_ID: undefined, CDS_Vendor: 'X1' })])])), [
      { code: 'CD3031', message: 'Invalid Health_Insurance. Maximum array length is 2 elements', path: 'Encounters[0].Health_Insurance' },
      { code: 'CD3020', message: 'Invalid CDS_Vendor format', path: `${C0}.CDS_Vendor` },
      { code: 'CD3001', message: 'Invalid. Required field is missing Clinician1_Unique_ID', path: `${C0}.Clinician1_Unique_ID` },
    ]);
  });

  it('reports bad cells as file:line', () => {
    const { problems } = parseFieldLimits(
      'f.csv',
      [
        'field,max_length,numeric,required,format,max_items',
        'Modality,,,no,,',
        'Patient_Sex,,,maybe,,',
        'CDS_Vendor,,,,[unclosed,',
        'CDS_Consultation_Date,,,,\\d+,',
        'Place_of_Service,,,,,3',
        'Health_Insurance,,,,,0',
      ].join('\n'),
    );
    assert.deepEqual(
      located(problems).map((l) => l.replace(/: Invalid regular expression.*$/, ': …')),
      [
        'f.csv:2: Modality is required by the CDSR spec; required cannot be "no"',
        'f.csv:3: required must be yes, no or empty, not "maybe"',
        'f.csv:4: format is not a regular expression: …',
        "f.csv:5: CDS_Consultation_Date is a date: its format is the spec's (CD3060/CD3061), not a site's",
        'f.csv:6: max_items applies to multi-select fields only; Place_of_Service is not one',
        'f.csv:7: max_items must be a positive whole number or "none", not "0"',
      ],
    );
  });
});
