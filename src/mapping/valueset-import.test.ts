// Reading value sets from a workbook the test builds with exceljs: columns by header or letter,
// a field written once above its codes, every problem named by sheet/row/column; and random
// workbooks: the reader never throws, and what it reads round-trips through the CSV files.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import ExcelJS from 'exceljs';
import { workbook } from '../../test/workbook.js';
import fc from 'fast-check';
import { columnLetter, compareSet, readValueSetWorkbook, valueSetCsv } from './valueset-import.js';
import { parseValueSet } from '../cdsr/valuesets.js';
import { runs } from '../../test/runs.js';

const where = (ps: readonly { sheet: string; row?: number; column?: string; message: string }[]) =>
  ps.map((p) => `${p.sheet}!${p.column ?? ''}${p.row ?? ''}: ${p.message}`);

describe('value sets from a workbook', () => {
  it('reads fields, codes and labels by header, carrying a field down to the rows below it', () => {
    const wb = workbook({
      Notes: [['about this workbook']],
      'Value Sets': [
        ['Field', 'Code', 'Description'],
        ['Modality', 1, 'CT'],
        [undefined, 2, 'MR'],
        [undefined, '88', 'Other (specify)'],
        [],
        ['Clinician1_Role', 1, 'Ordering'],
        ['Clinician2_Role', 1, 'Ordering'],
        ['Clinician2_Role', '99', { richText: [{ text: 'Un' }, { text: 'known' }] }],
        ['patient_sex', 'F', 'Female'],
      ],
    });
    const r = readValueSetWorkbook(wb, { sheet: 'value sets' });
    assert.deepEqual(r.problems, []);
    assert.equal(r.sheet, 'Value Sets');
    assert.deepEqual(
      r.sets.map((s) => [s.name, s.fields, s.entries.map((e) => [e.code, e.label, e.flag ?? '', e.cell])]),
      [
        [
          'Clinician_Role',
          ['Clinician1_Role', 'Clinician2_Role'],
          [
            ['1', 'Ordering', '', 'Value Sets!B6'],
            ['99', 'Unknown', 'unknown', 'Value Sets!B8'],
          ],
        ],
        [
          'Modality',
          ['Modality'],
          [
            ['1', 'CT', '', 'Value Sets!B2'],
            ['2', 'MR', '', 'Value Sets!B3'],
            ['88', 'Other (specify)', 'other', 'Value Sets!B4'],
          ],
        ],
        ['Patient_Sex', ['Patient_Sex'], [['F', 'Female', '', 'Value Sets!B9']]],
      ],
    );
    const modality = r.sets.find((s) => s.name === 'Modality')!;
    assert.equal(
      valueSetCsv(modality, 'CDSR_JSON_Mapping_1.0.xlsx sheet "Value Sets"'),
      '# Modality: ACR CDSR value set (Modality), imported from CDSR_JSON_Mapping_1.0.xlsx sheet "Value Sets".\n# enforce: yes\ncode,label,flag,status\n1,CT,,confirmed\n2,MR,,confirmed\n88,Other (specify),other,confirmed\n',
    );
  });

  it('takes columns by letter and another header row, and a sheet by position', () => {
    const wb = workbook({ A: [['x']], B: [['title'], ['Element', 'junk', 'Meaning', 'Value'], ['Place_of_Service', '-', 'Inpatient', 21]] });
    const r = readValueSetWorkbook(wb, { sheet: '2', headerRow: 2, codeColumn: 'D', labelColumn: 'meaning' });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.sets.map((s) => s.entries.map((e) => [e.code, e.label, e.cell])),
      [[['21', 'Inpatient', 'B!D3']]],
    );
  });

  it('names sheet, row and column for an empty code, a duplicate, an unknown or uncoded field', () => {
    const wb = workbook({
      VS: [
        ['Field', 'Code', 'Label'],
        ['Modality', 1, 'CT'],
        ['Modality', ' ', 'nothing'],
        ['Modality', '1', 'CT again'],
        ['Modality_Type', 3, 'x'],
        ['Name_of_Exam_Ordered', 'CT HEAD', 'x'],
        ['Modality', 'a|b', 'pipe'],
        ['Health_Insurance', '1,2', 'comma'],
        ['Modality', { error: '#N/A' }, 'error'],
      ],
    });
    assert.deepEqual(where(readValueSetWorkbook(wb).problems), [
      'VS!B3: empty code for Modality',
      'VS!B4: code "1" of Modality is listed twice (first on row 2)',
      'VS!A5: "Modality_Type" is not an encounter or consultation field of CDSR 1.0',
      'VS!A6: Name_of_Exam_Ordered is not a coded field (it has no value set)',
      'VS!B7: code "a|b" contains "|", which NRDR refuses (CD2091)',
      'VS!B8: code "1,2" contains a comma, which separates the codes of the multi-select Health_Insurance',
      'VS!B9: the code cell holds an error value',
    ]);
  });

  it('names the sheet or header that is not there', () => {
    const wb = workbook({ Codes: [['Name', 'Code']] });
    assert.deepEqual(where(readValueSetWorkbook(wb, { sheet: 'Lists' }).problems), ['Lists!: no sheet "Lists"; the workbook has "Codes"']);
    assert.deepEqual(where(readValueSetWorkbook(wb, { labelColumn: 'Meaning' }).problems), [
      'Codes!1: field column: no column headed "field", "cdsr field", "field name", "element", "json element", "data element" (give --field-column NAME or a letter)',
      'Codes!1: label column: no column "Meaning" in the header row (give --label-column NAME or a letter)',
    ]);
    assert.deepEqual(where(readValueSetWorkbook(new ExcelJS.Workbook()).problems), ['!: the workbook has no sheet']);
  });

  it('keeps the flags of an existing file and reports codes added, removed and relabelled', () => {
    const r = readValueSetWorkbook(
      workbook({
        S: [
          ['Field', 'Code', 'Label'],
          ['Modality', 1, 'CT scan'],
          ['Modality', 5, 'PET'],
          ['Modality', 88, 'Other'],
        ],
      }),
    );
    const set = r.sets[0]!;
    const before = '# enforce: no\ncode,label,flag,status\n1,CT,,check\n2,MR,,check\n88,Other,other,check\n';
    const existing = parseValueSet('Modality.csv', before).valueSet;
    const text = valueSetCsv(set, 'w.xlsx sheet "S"', existing);
    assert.ok(text.endsWith('code,label,flag,status\n1,CT scan,,confirmed\n5,PET,,confirmed\n88,Other,other,confirmed\n'), text);
    assert.deepEqual(compareSet(set, 'Modality.csv', text, before), {
      name: 'Modality',
      fields: ['Modality'],
      codes: 3,
      state: 'changed',
      added: ['5'],
      removed: ['2'],
      relabelled: ['1', '88'],
    });
    assert.equal(compareSet(set, 'Modality.csv', text, text).state, 'unchanged');
    assert.equal(compareSet(set, 'Modality.csv', text, undefined).state, 'new');
  });
});

describe('value-set workbook reader (fuzz)', () => {
  const coded = ['Modality', 'Patient_Sex', 'Place_of_Service', 'Clinician1_Role', 'CDS_Vendor', 'Health_Insurance'];
  const anyCell = fc.oneof(
    fc.constant(undefined),
    fc.string({ maxLength: 12 }),
    fc.integer({ min: -5, max: 200 }),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constantFrom('Field', 'Code', 'Label', 'Modality', 'Bogus', '', ' ', '#x', '"q"'),
    fc.constant({ error: '#REF!' }),
    fc.record({ richText: fc.array(fc.record({ text: fc.string({ maxLength: 5 }) }), { maxLength: 3 }) }),
    fc.record({ formula: fc.constant('A1'), result: fc.oneof(fc.string({ maxLength: 5 }), fc.integer()) }),
  );

  it('never throws on random workbooks, and names sheet, row and column of each problem on a row', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.array(anyCell, { maxLength: 5 }), { maxLength: 12 }), { minLength: 1, maxLength: 3 }),
        fc.record({
          sheet: fc.option(fc.constantFrom('Sheet1', '2', 'nope'), { nil: undefined }),
          headerRow: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
        }),
        (sheets, layout) => {
          const wb = workbook(Object.fromEntries(sheets.map((rows, i) => [`Sheet${i + 1}`, rows])));
          const r = readValueSetWorkbook(wb, {
            ...(layout.sheet ? { sheet: layout.sheet } : {}),
            ...(layout.headerRow ? { headerRow: layout.headerRow } : {}),
          });
          for (const p of r.problems) {
            assert.ok(p.message.length > 0);
            if (p.column !== undefined) assert.ok(p.row !== undefined && p.row > (layout.headerRow ?? 1) && /^[A-Z]+$/.test(p.column), JSON.stringify(p));
          }
          for (const s of r.sets) for (const e of s.entries) assert.ok(e.code !== '' && e.code === e.code.trim());
        },
      ),
      { numRuns: runs(200) },
    );
  });

  it('what a valid random workbook holds is exactly what the written files hold', () => {
    const code = fc.oneof(
      fc.integer({ min: 0, max: 999 }).map(String),
      fc.stringMatching(/^[A-Za-z0-9#" ]{1,6}$/).filter((s) => s.trim() !== ''),
    );
    const label = fc.string({ maxLength: 20 }).map((s) => s.replace(/\s+/g, ' ').trim());
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.constantFrom(...coded), code, label), { selector: ([f, c]) => `${f}\u0000${c.trim()}`, maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        (rows, headerRow) => {
          const lines: unknown[][] = Array.from({ length: headerRow - 1 }, () => ['notes']);
          lines.push(['Label', 'CDSR Field', 'Value']);
          // a code that reads the same as a number is written as one (as spreadsheets store it); "00" stays text
          for (const [f, c, l] of rows) lines.push([l, f, String(Number(c)) === c ? Number(c) : c]);
          const r = readValueSetWorkbook(workbook({ S: lines }), { headerRow });
          const labelFlags = r.problems.filter((p) => / codes read as /.test(p.message));
          assert.deepEqual(
            r.problems.filter((p) => !labelFlags.includes(p)),
            [],
          );
          if (labelFlags.length > 0) return;
          const expected = new Map<string, Set<string>>();
          for (const [f, c] of rows) {
            const name = f === 'Clinician1_Role' ? 'Clinician_Role' : f;
            expected.set(name, (expected.get(name) ?? new Set()).add(c.trim()));
          }
          const got = new Map(r.sets.map((s) => [s.name, new Set(parseValueSet(`${s.name}.csv`, valueSetCsv(s, 'w.xlsx')).valueSet?.entries.keys())]));
          assert.deepEqual(got, expected);
          for (const s of r.sets) assert.deepEqual(parseValueSet(`${s.name}.csv`, valueSetCsv(s, 'w.xlsx')).problems, []);
        },
      ),
      { numRuns: runs(150) },
    );
  });

  it('a code stored as a number reads as that number: "01" must be a text cell', () => {
    const r = readValueSetWorkbook(
      workbook({
        S: [
          ['Field', 'Code', 'Label'],
          ['Modality', 1, 'a'],
          ['Modality', '01', 'b'],
        ],
      }),
    );
    assert.deepEqual(
      r.sets[0]?.entries.map((e) => e.code),
      ['1', '01'],
    );
  });

  it('column letters', () => {
    assert.deepEqual([1, 26, 27, 52, 703].map(columnLetter), ['A', 'Z', 'AA', 'AZ', 'AAA']);
  });
});
