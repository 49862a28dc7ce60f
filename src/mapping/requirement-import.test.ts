// The workbook's requirement column into site rules: the words of a condition read (or listed
// with their cell when not), the columns found by tolerant headers on any sheet, and the
// imported block of site-rules.csv replaced while the rules written by hand stay.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type ExcelJS from 'exceljs';
import { workbook } from '../../test/workbook.js';
import fc from 'fast-check';
import { parseSiteRules } from '../cdsr/site-rules.js';
import { readValueSetWorkbook } from './valueset-import.js';
import {
  normHeader,
  parseRequirementWords,
  planSiteRules,
  readRequirements,
  knownCodes,
  conditionText,
  type RequirementReading,
} from './requirement-import.js';
import { runs } from '../../test/runs.js';

const VALUES = [
  ['Field', 'Code', 'Label'],
  ['Modality', 1, 'CT'],
  [undefined, 88, 'Other (specify)'],
  ['Ordered_Exam_Completed', 1, 'Yes'],
  [undefined, 2, 'No'],
  ['Health_Insurance', 1, 'Medicare'],
  [undefined, 88, 'Other'],
];

const FIELDS = [
  ['CDSR JSON mapping, version 1.0'],
  [],
  ['JSON Element', 'Description', ' Required to\nSubmit ? ', 'Conditionally Required'],
  ['Transaction_ID', 'the id', 'Yes'],
  ['Unique_Encounter_ID', '', 'Y'],
  ['Clinician1_Last_Name', '', 'Required'],
  ['Exam_Completion_Date', '', 'C', 'Required if Ordered_Exam_Completed = 1'],
  ['Health_Insurance_Other_Spec', '', 'Conditional', 'Required if Health_Insurance is 88 (Other). Otherwise, should be blank.'],
  ['Clinician2_Role', '', 'Conditionally Required', 'Only applicable if Clinician2_Unique_ID is reported'],
  ['Guideline_Steward_Other_Spec', '', 'C', 'Required when Guideline_Steward in (9, 10)'],
  ['clinician1_unique_id', '', 'C', 'Required if Clinician1_Last_Name is blank'],
  ['Modality_Other_Spec', '', 'Conditionally required: required if Modality is Other'],
  ['Appropriateness_Category_Other_Spec', '', 'C', 'Required when the category is not listed'],
  ['Medicare_Modifier', '', 'C'],
  ['Patient_Sex', '', 'C', 'Required if Modality = 1'],
  ['Exam_Ordered_Code', '', 'Y'],
  ['Clinician2_Training', '', 'Optional'],
  ['Clinician2_Last_Name', '', 'C', 'Required if Ordered_Exam_Completed = 7'],
  ['CDS_Vendor_Other_Spec', '', 'C', 'Required if CDS_Vendor is reported. Otherwise, fill in N/A'],
  ['Clinician1_Training', '', 'Yes', 'Required if Clinician1_Unique_ID is reported'],
  ['Clinician1_Role', '', { error: '#REF!' }],
  ['Exam_Completion_Date', '', 'C', 'Required if Ordered_Exam_Completed = 1'],
];

function reading(wb: ExcelJS.Workbook): RequirementReading {
  const sets = readValueSetWorkbook(wb).sets;
  const r = readRequirements(wb, {}, sets);
  assert.ok(r !== undefined && !('problem' in r), JSON.stringify(r));
  return r;
}

describe('the requirement column of the workbook', () => {
  it('finds the columns on another sheet below a title, reads each form of condition, lists the rest with its cell', () => {
    const r = reading(workbook({ Values: VALUES, Fields: FIELDS }));
    assert.equal(r.sheet, 'Fields');
    assert.equal(r.columns, 'C "Required to Submit ?", D "Conditionally Required"');
    assert.deepEqual(
      r.rules.map((x) => [x.field, x.rule, x.when, x.cell]),
      [
        ['Clinician1_Last_Name', 'required', '', 'Fields!C6'],
        ['Exam_Completion_Date', 'required_when', 'Ordered_Exam_Completed = 1', 'Fields!D7'],
        ['Health_Insurance_Other_Spec', 'required_when', 'Health_Insurance = 88', 'Fields!D8'],
        ['Health_Insurance_Other_Spec', 'only_when', 'Health_Insurance = 88', 'Fields!D8'],
        ['Clinician2_Role', 'only_when', 'Clinician2_Unique_ID reported', 'Fields!D9'],
        ['Guideline_Steward_Other_Spec', 'required_when', 'Guideline_Steward in 9|10', 'Fields!D10'],
        ['Clinician1_Unique_ID', 'required_when', 'Clinician1_Last_Name not reported', 'Fields!D11'],
        ['Modality_Other_Spec', 'required_when', 'Modality = 88', 'Fields!C12'],
      ],
    );
    assert.deepEqual(
      r.unread.map((u) => `${u.sheet}!${u.column}${u.row} ${u.field}: "${u.text}": ${u.reason}`),
      [
        'Fields!D13 Appropriateness_Category_Other_Spec: "Required when the category is not listed": not in a form the importer reads (see mappings/README.md, "Requirements")',
        'Fields!C14 Medicare_Modifier: "C": conditionally required, but the workbook states no condition',
        'Fields!D15 Patient_Sex: "Required if Modality = 1": Patient_Sex is an encounter field; its condition must be on an encounter field, not the consultation field Modality',
        'Fields!C16 Exam_Ordered_Code: "Y": "Exam_Ordered_Code" is not an encounter or consultation field of CDSR 1.0',
        'Fields!D18 Clinician2_Last_Name: "Required if Ordered_Exam_Completed = 7": "7" is not a code of Ordered_Exam_Completed in the workbook\'s value set (1, 2)',
        'Fields!D19 CDS_Vendor_Other_Spec: "Required if CDS_Vendor is reported. Otherwise, fill in N/A": "otherwise, fill in N/A" is not read (only "otherwise, should be blank")',
        'Fields!D20 Clinician1_Training: "Yes / Required if Clinician1_Unique_ID is reported": marked required and given a condition: which applies? (write the rule by hand)',
        'Fields!C21 Clinician1_Role: "": the cell holds an error value',
      ],
    );
    assert.deepEqual(r.specRequired, ['Unique_Encounter_ID']);
    assert.deepEqual(r.transactionFields, ['Transaction_ID']);
    // --header-row is the value-set sheet's: the Fields sheet's header is still found on row 3
    const both = workbook({ Values: VALUES, Fields: FIELDS });
    const withRow = readRequirements(both, { headerRow: 1 }, readValueSetWorkbook(both).sets);
    assert.ok(withRow !== undefined && !('problem' in withRow));
    assert.deepEqual([withRow.sheet, withRow.rules.length], ['Fields', 8]);
  });

  it('reads the requirement on the value-set sheet, once per field written over its codes; headers by letter', () => {
    const wb = workbook({
      VS: [
        ['Field', 'Code', 'Label', 'REQUIRED TO SUBMIT (Y/N/C)'],
        ['Modality', 1, 'CT', 'Y'],
        [undefined, 88, 'Other', 'Y'],
        ['Clinician1_Role', 1, 'Ordering', 'Required if Clinician1_Unique_ID is reported'],
        [undefined, 2, 'Attending'],
        ['Clinician2_Role', 1, 'Ordering', 'N'],
      ],
    });
    const r = reading(wb);
    assert.deepEqual([r.sheet, r.columns], ['VS', 'D "REQUIRED TO SUBMIT (Y/N/C)"']);
    assert.deepEqual(
      r.rules.map((x) => [x.field, x.rule, x.when, x.cell, x.text]),
      [['Clinician1_Role', 'required_when', 'Clinician1_Unique_ID reported', 'VS!D4', 'Required if Clinician1_Unique_ID is reported']],
    );
    assert.deepEqual([r.unread, r.specRequired], [[], ['Modality']]);
    const byLetter = readRequirements(wb, { requiredColumn: 'd', fieldColumn: 'A' });
    assert.ok(byLetter !== undefined && !('problem' in byLetter));
    assert.deepEqual(
      byLetter.rules.map((x) => x.cell),
      ['VS!D4'],
    );
  });

  it('no requirement column: nothing to import; one asked for and not there: a problem naming the sheet', () => {
    const wb = workbook({ VS: VALUES });
    assert.equal(readRequirements(wb, {}), undefined);
    assert.deepEqual(readRequirements(wb, { requiredColumn: 'Mandatory?' }), {
      problem: {
        sheet: 'VS',
        message:
          'no sheet has a field column and the requirement column asked for (requirement "Mandatory?"; condition "conditionally required", "conditionally required if", "condition", "conditions", "conditional requirement", "required if", "requirement condition", "business rule", "business rules")',
      },
    });
    assert.deepEqual(readRequirements(wb, { requirementSheet: 'Rules' }), { problem: { sheet: 'Rules', message: 'no sheet "Rules"; the workbook has "VS"' } });
  });

  it('header forms', () => {
    assert.deepEqual(
      [
        'Required to submit?',
        ' REQUIRED  TO SUBMIT ',
        'Required to Submit (Y/N)',
        'Required/Conditionally Required',
        'Conditionally Required:',
        'Required*',
      ].map(normHeader),
      ['required to submit', 'required to submit', 'required to submit', 'required / conditionally required', 'conditionally required', 'required'],
    );
  });
});

describe('the words of a condition', () => {
  const codes = knownCodes(readValueSetWorkbook(workbook({ V: VALUES })).sets);
  const read = (field: string, words: string) => {
    const r = parseRequirementWords(field, words, codes);
    return typeof r === 'string' ? r : r.map((x) => `${x.rule} ${conditionText(x.when)}`).join(' + ');
  };

  it('reads the recognised patterns', () => {
    assert.deepEqual(
      [
        ['Exam_Completion_Date', 'Required if Ordered_Exam_Completed = 1'],
        ['Exam_Completion_Date', 'required when ordered_exam_completed == "1".'],
        ['Exam_Completion_Date', 'If Ordered_Exam_Completed is Yes'],
        ['Exam_Completion_Date', 'Exam_Completion_Date is required, if Ordered_Exam_Completed is 1'],
        ['Modality_Other_Spec', 'Required if Modality = 88 - Other'],
        ['Health_Insurance_Other_Spec', 'Must be reported when Health_Insurance is one of 1, 88'],
        ['Health_Insurance_Other_Spec', 'Required if Health_Insurance = 1 or 88'],
        ['Health_Insurance_Other_Spec', 'Required if Health_Insurance in [1|88]'],
        ['Clinician2_Role', 'Clinician2_Role is only applicable, if Clinician2_Unique_ID is reported. Otherwise, should be blank'],
        ['Clinician2_Role', 'Should be blank unless Clinician2_Unique_ID is populated'],
        ['Clinician1_Unique_ID', 'Required when Clinician1_Last_Name is not reported'],
        ['Clinician2_Last_Name', 'Required if Clinician2_Unique_ID reported; otherwise it should be left blank'],
      ].map(([f, w]) => read(f!, w!)),
      [
        'required_when Ordered_Exam_Completed = 1',
        'required_when Ordered_Exam_Completed = 1',
        'required_when Ordered_Exam_Completed = 1',
        'required_when Ordered_Exam_Completed = 1',
        'required_when Modality = 88',
        'required_when Health_Insurance in 1|88',
        'required_when Health_Insurance in 1|88',
        'required_when Health_Insurance in 1|88',
        'only_when Clinician2_Unique_ID reported',
        'only_when Clinician2_Unique_ID reported',
        'required_when Clinician1_Last_Name not reported',
        'required_when Clinician2_Unique_ID reported + only_when Clinician2_Unique_ID reported',
      ],
    );
  });

  it('says why it does not read the others', () => {
    assert.deepEqual(
      [
        ['Exam_Completion_Date', 'Required for completed exams'],
        ['Exam_Completion_Date', 'Required if Ordered_Exam_Completed = 1 and Modality = 88'],
        ['Exam_Completion_Date', 'Required if Ordered_Exam_Completed is not 2'],
        ['Exam_Completion_Date', 'Modality_Other_Spec is required if Modality = 88'],
        ['Exam_Completion_Date', 'Required if Exam_Status = 3'],
        ['Exam_Completion_Date', 'Required if Ordered_Exam_Completed = Maybe'],
        ['Exam_Completion_Date', 'Required if Ordered_Exam_Completed = 1, , 2'],
      ].map(([f, w]) => read(f!, w!)),
      [
        'not in a form the importer reads (see mappings/README.md, "Requirements")',
        '"1 and Modality = 88" is not a code of Ordered_Exam_Completed in the workbook\'s value set (1, 2)',
        '"not 2" is not a code of Ordered_Exam_Completed in the workbook\'s value set (1, 2)',
        "the words are about Modality_Other_Spec, not Exam_Completion_Date (the row's field)",
        '"Exam_Status" is not an encounter or consultation field of CDSR 1.0',
        '"Maybe" is not a code of Ordered_Exam_Completed in the workbook\'s value set (1, 2)',
        'an empty value in "1, , 2"',
      ],
    );
    // a field whose codes the workbook does not list: a value with a space is not a code
    assert.equal(
      read('Clinician2_Last_Name', 'Required if Clinician2_Role = Attending MD'),
      'not in a form the importer reads (see mappings/README.md, "Requirements")',
    );
    assert.equal(read('Clinician2_Last_Name', 'Required if Clinician2_Role = 2'), 'required_when Clinician2_Role = 2');
  });
});

describe('the imported block of site-rules.csv', () => {
  const SHIPPED = [
    '# Site rules (see mappings/README.md).',
    'field,rule,when,code,comment',
    'Clinician1_Unique_ID,npi,,,shipped',
    'Clinician2_Last_Name,required_when,Clinician2_Unique_ID reported,,written by hand',
    '',
  ].join('\n');
  const rule = (field: string, r: 'required' | 'required_when' | 'only_when', when: string, cell: string, text: string) => ({
    field,
    rule: r,
    when,
    cell,
    text,
  });
  const base: RequirementReading = {
    sheet: 'Fields',
    columns: 'C "Required to submit"',
    rules: [
      rule('Exam_Completion_Date', 'required_when', 'Ordered_Exam_Completed = 1', 'Fields!D7', 'Required if Ordered_Exam_Completed = 1'),
      rule('Clinician1_Last_Name', 'required', '', 'Fields!C6', 'Y'),
      rule('Clinician2_Last_Name', 'required_when', 'Clinician2_Unique_ID reported', 'Fields!D9', 'Required if Clinician2_Unique_ID is reported'),
      rule('Modality_Other_Spec', 'required_when', 'Modality in 88|99', 'Fields!D12', 'Required if Modality is 88, 99'),
    ],
    unread: [
      {
        sheet: 'Fields',
        row: 13,
        column: 'D',
        field: 'Appropriateness_Category_Other_Spec',
        text: 'Required when "the category" is not listed',
        reason: 'not in a form the importer reads',
      },
    ],
    specRequired: [],
    transactionFields: [],
  };
  const plan = (existing: string | undefined, r: RequirementReading = base) => {
    const p = planSiteRules('site-rules.csv', existing, r, 'W.xlsx sheet "Fields"');
    assert.ok(!('problem' in p), JSON.stringify(p));
    return p;
  };
  const BLOCK_1 = [
    '# import-valuesets:start: rules read from W.xlsx sheet "Fields" by import-valuesets; each import replaces this block (write your own rules outside it)',
    'Exam_Completion_Date,required_when,Ordered_Exam_Completed = 1,,Fields!D7: Required if Ordered_Exam_Completed = 1',
    'Clinician1_Last_Name,required,,,Fields!C6: Y',
    'Modality_Other_Spec,required_when,Modality in 88|99,,"Fields!D12: Required if Modality is 88, 99"',
    '# not imported, write by hand above this block: Fields!D13 Appropriateness_Category_Other_Spec: "Required when "the category" is not listed": not in a form the importer reads',
    '# import-valuesets:end',
    '',
  ].join('\n');

  it('appends the block after the rules written by hand, leaving them as they are; a rule written by hand is not written twice', () => {
    const p = plan(SHIPPED);
    assert.equal(p.state, 'changed');
    assert.equal(p.text, SHIPPED + BLOCK_1);
    assert.deepEqual(p.changes, [
      { field: 'Exam_Completion_Date', rule: 'required_when', when: 'Ordered_Exam_Completed = 1', state: 'added', cell: 'Fields!D7' },
      { field: 'Clinician1_Last_Name', rule: 'required', when: '', state: 'added', cell: 'Fields!C6' },
      {
        field: 'Clinician2_Last_Name',
        rule: 'required_when',
        when: 'Clinician2_Unique_ID reported',
        state: 'by hand',
        cell: 'Fields!D9',
        before: 'site-rules.csv:4',
      },
      { field: 'Modality_Other_Spec', rule: 'required_when', when: 'Modality in 88|99', state: 'added', cell: 'Fields!D12' },
    ]);
    // the file loads: the comment lines (quotes and all) are skipped, every rule has its line
    const loaded = parseSiteRules('site-rules.csv', p.text);
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual(
      loaded.rules.map((r) => `${r.origin} ${r.field} ${r.rule}`),
      [
        'site-rules.csv:3 Clinician1_Unique_ID npi',
        'site-rules.csv:4 Clinician2_Last_Name required_when',
        'site-rules.csv:6 Exam_Completion_Date required_when',
        'site-rules.csv:7 Clinician1_Last_Name required',
        'site-rules.csv:8 Modality_Other_Spec required_when',
      ],
    );
    assert.equal(plan(p.text).state, 'unchanged');
  });

  it('the next import replaces only the block: added, changed, removed, unchanged; a rule the analyst adds later wins', () => {
    const first = plan(SHIPPED).text;
    const edited = first.replace(
      '# import-valuesets:end\n',
      '# import-valuesets:end\nModality_Other_Spec,required_when,Modality = 88,,the analyst narrowed it\n',
    );
    const next: RequirementReading = {
      ...base,
      rules: [
        rule('Exam_Completion_Date', 'required_when', 'Ordered_Exam_Completed in 1|2', 'Fields!D7', 'Required if Ordered_Exam_Completed is 1 or 2'),
        rule('Modality_Other_Spec', 'required_when', 'Modality in 88|99', 'Fields!D12', 'Required if Modality is 88, 99'),
        rule('Clinician2_Role', 'only_when', 'Clinician2_Unique_ID reported', 'Fields!D14', 'Only applicable if Clinician2_Unique_ID is reported'),
      ],
      unread: [],
    };
    const p = plan(edited, next);
    assert.deepEqual(p.changes, [
      {
        field: 'Exam_Completion_Date',
        rule: 'required_when',
        when: 'Ordered_Exam_Completed in 1|2',
        state: 'changed',
        cell: 'Fields!D7',
        before: 'Ordered_Exam_Completed = 1',
      },
      {
        field: 'Modality_Other_Spec',
        rule: 'required_when',
        when: 'Modality in 88|99',
        state: 'by hand',
        cell: 'Fields!D12',
        before: 'site-rules.csv:11: Modality = 88',
      },
      { field: 'Clinician2_Role', rule: 'only_when', when: 'Clinician2_Unique_ID reported', state: 'added', cell: 'Fields!D14' },
      { field: 'Clinician1_Last_Name', rule: 'required', when: '', state: 'removed' },
      { field: 'Modality_Other_Spec', rule: 'required_when', when: 'Modality in 88|99', state: 'removed' },
    ]);
    assert.equal(
      p.text,
      SHIPPED +
        [
          '# import-valuesets:start: rules read from W.xlsx sheet "Fields" by import-valuesets; each import replaces this block (write your own rules outside it)',
          'Exam_Completion_Date,required_when,Ordered_Exam_Completed in 1|2,,Fields!D7: Required if Ordered_Exam_Completed is 1 or 2',
          'Clinician2_Role,only_when,Clinician2_Unique_ID reported,,Fields!D14: Only applicable if Clinician2_Unique_ID is reported',
          '# import-valuesets:end',
          'Modality_Other_Spec,required_when,Modality = 88,,the analyst narrowed it',
          '',
        ].join('\n'),
    );
    // nothing left to import: the block goes, the rules by hand stay
    const none = plan(p.text, { ...next, rules: [] });
    assert.equal(none.text, SHIPPED + 'Modality_Other_Spec,required_when,Modality = 88,,the analyst narrowed it\n');
    assert.deepEqual(
      none.changes.map((c) => `${c.field} ${c.state}`),
      ['Exam_Completion_Date removed', 'Clinician2_Role removed'],
    );
  });

  it('no file: a new one with its header; a header without comment: rows with its columns; CRLF kept', () => {
    const fresh = plan(undefined);
    assert.equal(fresh.state, 'new');
    // no rule by hand: the workbook's Clinician2_Last_Name rule is written too
    assert.equal(
      fresh.text,
      'field,rule,when,code,comment\n' +
        BLOCK_1.replace(
          'Fields!C6: Y\n',
          'Fields!C6: Y\nClinician2_Last_Name,required_when,Clinician2_Unique_ID reported,,Fields!D9: Required if Clinician2_Unique_ID is reported\n',
        ),
    );
    assert.equal(plan(undefined, { ...base, rules: [], unread: [] }).state, 'none');
    const four = plan('field,rule,when,code\r\nModality,required,,\r\n', { ...base, rules: base.rules.slice(0, 1), unread: [] });
    assert.equal(
      four.text,
      'field,rule,when,code\r\nModality,required,,\r\n# import-valuesets:start: rules read from W.xlsx sheet "Fields" by import-valuesets; each import replaces this block (write your own rules outside it)\r\nExam_Completion_Date,required_when,Ordered_Exam_Completed = 1,\r\n# import-valuesets:end\r\n',
    );
    assert.deepEqual(parseSiteRules('s.csv', four.text).problems, []);
  });

  it('refuses a file whose markers are not one pair, or that does not read as CSV', () => {
    const broken = SHIPPED + '# import-valuesets:start\nModality,required,,,\n';
    assert.deepEqual(planSiteRules('site-rules.csv', broken, base, 'W.xlsx'), {
      problem:
        'site-rules.csv: the imported block\'s marker lines "# import-valuesets:start" … "# import-valuesets:end" are not one pair (line 5); put them right by hand',
    });
    assert.deepEqual(planSiteRules('site-rules.csv', 'field,rule,when\n"Modality,required,\n', base, 'W.xlsx'), {
      problem: 'site-rules.csv:2: not a valid CSV file: Quote Not Closed: the parsing is finished with an opening quote at line 2; put it right first',
    });
  });
});

describe('the requirement reader (fuzz)', () => {
  const fields = [
    'Modality',
    'Modality_Other_Spec',
    'Exam_Completion_Date',
    'Clinician2_Role',
    'Health_Insurance_Other_Spec',
    'Patient_Sex',
    'Transaction_ID',
    'Nope_Field',
    '',
    ' ',
  ];
  const reqs = [
    '',
    'Y',
    'N',
    'Optional',
    'C',
    'Conditional: required if Modality = 88',
    'Required if Ordered_Exam_Completed = 1',
    'maybe',
    { error: '#N/A' },
    7,
  ];
  const conds = [
    '',
    'Required if Modality = 88',
    'Only applicable if Clinician2_Unique_ID is reported. Otherwise, should be blank',
    'Required when Patient_Sex in (F, M)',
    'Required if Modality = 1 or Place_of_Service = 2',
    'Required when the exam is done',
    'Required if Modality_Other_Spec not reported',
    'Should be blank unless Health_Insurance = 88',
    'if "Modality" is "Other"',
  ];
  const row = fc.tuple(fc.constantFrom(...fields), fc.constantFrom(...reqs), fc.constantFrom(...conds));

  it('never throws; every row with a requirement ends as a rule, a listed row, or a field the spec or validator covers; what it writes loads', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 25 }), (rows) => {
        const wb = workbook({ V: VALUES, F: [['Field', 'Required to submit', 'Condition'], ...rows] });
        const r = reading(wb);
        const ruleRows = new Set(r.rules.map((x) => Number(/\d+$/.exec(x.cell)![0])));
        const unreadRows = new Set(r.unread.map((u) => u.row));
        const seen = new Set<string>();
        let carried = '';
        rows.forEach(([f, req, cond], i) => {
          const n = i + 2;
          if (f.trim() !== '') carried = f.trim();
          const reqText = typeof req === 'string' ? req : typeof req === 'number' ? String(req) : '#';
          const key = `${carried}|${reqText}|${cond}`;
          const repeated = seen.has(key);
          seen.add(key);
          if ((reqText === '' || reqText === 'N' || reqText === 'Optional') && cond === '') return;
          const covered =
            ruleRows.has(n) ||
            unreadRows.has(n) ||
            repeated ||
            r.specRequired.some((x) => x === carried) ||
            r.transactionFields.includes(carried) ||
            r.rules.some((x) => x.field === carried);
          assert.ok(covered, `row ${n} ${JSON.stringify([f, req, cond])} is not accounted for: ${JSON.stringify(r)}`);
        });
        const plan = planSiteRules('site-rules.csv', undefined, r, 'w.xlsx');
        assert.ok(!('problem' in plan));
        if (plan.state === 'none') {
          assert.deepEqual([plan.text, r.rules.length, r.unread.length], ['', 0, 0]);
          return;
        }
        const loaded = parseSiteRules('site-rules.csv', plan.text);
        assert.deepEqual(loaded.problems, []);
        assert.equal(loaded.rules.length, r.rules.length);
      }),
      { numRuns: runs(200) },
    );
  });
});
