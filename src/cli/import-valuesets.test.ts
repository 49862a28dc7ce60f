// `import-valuesets` on a workbook the test writes to a temp dir: the report, the files written,
// the refusal to overwrite without --force, --out, and the exit codes of bad input.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import ExcelJS from 'exceljs';
import { runImportValueSets, type ImportValueSetsOptions } from './import-valuesets.js';
import { loadValueSets } from '../cdsr/valuesets.js';
import { loadSiteRules } from '../cdsr/site-rules.js';

let dir = '';
async function writeWorkbook(name: string, rows: unknown[][], more: Record<string, unknown[][]> = {}): Promise<string> {
  const wb = new ExcelJS.Workbook();
  for (const [sheet, sheetRows] of Object.entries({ 'CDSR Values': rows, ...more })) {
    const ws = wb.addWorksheet(sheet);
    for (const r of sheetRows) ws.addRow(r);
  }
  const file = join(dir, name);
  await wb.xlsx.writeFile(file);
  return file;
}

async function run(file: string, opts: ImportValueSetsOptions, mappings = join(dir, 'mappings')): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runImportValueSets(file, opts, { out: (t) => (out += t), err: (t) => (err += t), mappingsDir: mappings, progress: false });
  return { code, out, err };
}

describe('cdsr-adapter import-valuesets', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-import-'));
    mkdirSync(join(dir, 'mappings', 'valuesets'), { recursive: true });
    writeFileSync(
      join(dir, 'mappings', 'valuesets', 'Modality.csv'),
      '# enforce: no\ncode,label,flag,status\n1,CT,,check\n2,MR,,check\n88,Other,other,check\n',
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rows = [
    ['Field', 'Code', 'Label'],
    ['Modality', 1, 'CT'],
    ['Modality', 3, 'NM'],
    ['Modality', 88, 'Other (specify)'],
    ['Patient_Sex', 'F', 'Female'],
    ['Patient_Sex', 'M', 'Male'],
  ];

  it('reports and refuses to overwrite a file that would change; --force writes; a second run changes nothing', async () => {
    const wb = await writeWorkbook('CDSR_JSON_Mapping_1.0.xlsx', rows);
    const vs = join(dir, 'mappings', 'valuesets');
    const refused = await run(wb, {});
    assert.equal(refused.code, 1);
    assert.equal(
      refused.out,
      `value sets for ${vs}:\n` +
        'FILE             FIELDS       CODES  STATE    ADDED  REMOVED  RELABELLED\n' +
        'Modality.csv     Modality     3      changed  3      2        1,88\n' +
        'Patient_Sex.csv  Patient_Sex  2      new      F,M\n' +
        'site rules: the workbook has no requirement column ("Required to submit", "Conditionally Required"); site rules left as they are\n',
    );
    assert.equal(
      refused.err,
      '1 existing file(s) would change (Modality.csv); nothing written. Add --force to overwrite them, or --out DIR to write elsewhere.\n',
    );
    assert.deepEqual(readdirSync(vs), ['Modality.csv']);

    const forced = await run(wb, { force: true });
    assert.equal(forced.code, 0, forced.err);
    assert.ok(forced.out.endsWith(`written to ${vs}\n`));
    const loaded = loadValueSets(vs);
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual([...loaded.catalog.get('Modality')!.entries.keys()], ['1', '3', '88']);
    assert.equal(loaded.catalog.get('Modality')!.otherCode, '88');
    assert.equal(loaded.catalog.get('Modality')!.enforce, true);
    assert.equal(
      readFileSync(join(vs, 'Patient_Sex.csv'), 'utf8'),
      '# Patient_Sex: ACR CDSR value set (Patient_Sex), imported from CDSR_JSON_Mapping_1.0.xlsx sheet "CDSR Values".\n# enforce: yes\ncode,label,flag,status\nF,Female,,confirmed\nM,Male,,confirmed\n',
    );

    const again = await run(wb, { json: true });
    assert.equal(again.code, 0);
    const report = JSON.parse(again.out) as { written: boolean; files: { name: string; state: string }[] };
    assert.deepEqual(
      report.files.map((f) => [f.name, f.state]),
      [
        ['Modality', 'unchanged'],
        ['Patient_Sex', 'unchanged'],
      ],
    );
  });

  it('--out writes to another directory without touching the tables in force', async () => {
    const wb = await writeWorkbook('w2.xlsx', rows);
    const out = join(dir, 'new-sets');
    const r = await run(wb, { out });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(out).sort(), ['Modality.csv', 'Patient_Sex.csv']);
  });

  it('bad rows: exit 1 naming sheet, row and column, nothing written; not a workbook: exit 2', async () => {
    const wb = await writeWorkbook('bad.xlsx', [
      ['Field', 'Code', 'Label'],
      ['Modality', '', 'none'],
      ['Modalty', 1, 'CT'],
    ]);
    const out = join(dir, 'bad-out');
    const r = await run(wb, { out });
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      `${wb}: sheet "CDSR Values", row 2, column B: empty code for Modality\n` +
        `${wb}: sheet "CDSR Values", row 3, column A: "Modalty" is not an encounter or consultation field of CDSR 1.0\n` +
        '2 problem(s); nothing written\n',
    );
    const junk = join(dir, 'junk.xlsx');
    writeFileSync(junk, 'not a zip');
    const j = await run(junk, { out });
    assert.equal(j.code, 2);
    assert.match(j.err, /junk\.xlsx: not a readable \.xlsx workbook: /);
  });
});

describe('cdsr-adapter import-valuesets: the requirement column into site-rules.csv', () => {
  const VALUES = [
    ['Field', 'Code', 'Label'],
    ['Modality', 1, 'CT'],
    ['Modality', 88, 'Other (specify)'],
    ['Ordered_Exam_Completed', 1, 'Yes'],
    ['Ordered_Exam_Completed', 2, 'No'],
  ];
  const FIELDS = [
    ['Element', 'Required to submit?', 'Conditionally Required'],
    ['Transaction_ID', 'Y'],
    ['Modality', 'Y'],
    ['Clinician1_Last_Name', 'Y'],
    ['Exam_Completion_Date', 'C', 'Required if Ordered_Exam_Completed = 1 (Yes)'],
    ['Modality_Other_Spec', 'C', 'Required if Modality is Other. Otherwise, should be blank'],
    ['Clinician2_Last_Name', 'C', 'Required if Clinician2_Unique_ID is reported'],
    ['Appropriateness_Category_Other_Spec', 'C', 'Required when the category is not listed'],
  ];
  const HAND =
    '# our rules\nfield,rule,when,code,comment\nClinician1_Unique_ID,npi,,,shipped\nClinician2_Last_Name,required_when,Clinician2_Unique_ID reported,,ours\n';
  const BLOCK = [
    '# import-valuesets:start: rules read from CDSR_JSON_Mapping_1.1.xlsx sheet "Fields" by import-valuesets; each import replaces this block (write your own rules outside it)',
    'Clinician1_Last_Name,required,,,Fields!B4: Y',
    'Exam_Completion_Date,required_when,Ordered_Exam_Completed = 1,,Fields!C5: Required if Ordered_Exam_Completed = 1 (Yes)',
    'Modality_Other_Spec,required_when,Modality = 88,,"Fields!C6: Required if Modality is Other. Otherwise, should be blank"',
    'Modality_Other_Spec,only_when,Modality = 88,,"Fields!C6: Required if Modality is Other. Otherwise, should be blank"',
    '# not imported, write by hand above this block: Fields!C8 Appropriateness_Category_Other_Spec: "Required when the category is not listed": not in a form the importer reads (see mappings/README.md, "Requirements")',
    '# import-valuesets:end',
    '',
  ].join('\n');
  // a directory of its own (the workbooks), and a mappings directory of its own per test
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-import-rules-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const mappingsWith = (rules: string) => {
    const mappings = mkdtempSync(join(dir, 'with-rules-'));
    mkdirSync(join(mappings, 'valuesets'));
    const rulesFile = join(mappings, 'site-rules.csv');
    writeFileSync(rulesFile, rules);
    return { mappings, rulesFile };
  };

  it('previews the rules and refuses to change site-rules.csv without --force; --force writes only the block; a second run changes nothing', async () => {
    const { mappings, rulesFile } = mappingsWith(HAND);
    const wb = await writeWorkbook('CDSR_JSON_Mapping_1.1.xlsx', VALUES, { Fields: FIELDS });
    const vs = join(mappings, 'valuesets');
    const refused = await run(wb, {}, mappings);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.out,
      `value sets for ${vs}:\n` +
        'FILE                        FIELDS                  CODES  STATE  ADDED  REMOVED  RELABELLED\n' +
        'Modality.csv                Modality                2      new    1,88\n' +
        'Ordered_Exam_Completed.csv  Ordered_Exam_Completed  2      new    1,2\n' +
        `site rules for ${rulesFile}, from sheet "Fields" column B "Required to submit?", C "Conditionally Required":\n` +
        'FIELD                 RULE           WHEN                           STATE    CELL       NOTE\n' +
        'Clinician1_Last_Name  required                                      added    Fields!B4\n' +
        'Exam_Completion_Date  required_when  Ordered_Exam_Completed = 1     added    Fields!C5\n' +
        'Modality_Other_Spec   required_when  Modality = 88                  added    Fields!C6\n' +
        'Modality_Other_Spec   only_when      Modality = 88                  added    Fields!C6\n' +
        'Clinician2_Last_Name  required_when  Clinician2_Unique_ID reported  by hand  Fields!C7  kept: site-rules.csv:4\n' +
        '4 added, 0 changed, 0 removed, 0 unchanged, 1 by hand; file changed\n' +
        'required by the CDSR spec already (CD3001), no rule needed: Modality\n' +
        'transaction fields and arrays, checked by the validator itself: Transaction_ID\n' +
        'not imported, write by hand (outside the imported block):\n' +
        'CELL       FIELD                                WORKBOOK TEXT                             WHY\n' +
        'Fields!C8  Appropriateness_Category_Other_Spec  Required when the category is not listed  not in a form the importer reads (see mappings/README.md, "Requirements")\n',
    );
    assert.equal(
      refused.err,
      '1 requirement(s) of the workbook not imported: write them by hand (listed above)\n' +
        '1 existing file(s) would change (site-rules.csv); nothing written. Add --force to overwrite them, or --out DIR to write elsewhere.\n',
    );
    assert.equal(readFileSync(rulesFile, 'utf8'), HAND);
    assert.deepEqual(readdirSync(vs), []);

    const forced = await run(wb, { force: true }, mappings);
    assert.equal(forced.code, 0, forced.err);
    assert.ok(forced.out.endsWith(`written to ${vs} and ${rulesFile}\n`), forced.out);
    assert.equal(forced.err, '1 requirement(s) of the workbook not imported: write them by hand (listed above and in site-rules.csv)\n');
    assert.equal(readFileSync(rulesFile, 'utf8'), HAND + BLOCK);
    const loaded = loadSiteRules(rulesFile);
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual(
      loaded.rules.map((r) => `${basename(r.origin)} ${r.field} ${r.rule}`),
      [
        'site-rules.csv:3 Clinician1_Unique_ID npi',
        'site-rules.csv:4 Clinician2_Last_Name required_when',
        'site-rules.csv:6 Clinician1_Last_Name required',
        'site-rules.csv:7 Exam_Completion_Date required_when',
        'site-rules.csv:8 Modality_Other_Spec required_when',
        'site-rules.csv:9 Modality_Other_Spec only_when',
      ],
    );

    const again = await run(wb, { json: true }, mappings);
    assert.equal(again.code, 0, again.err);
    const report = JSON.parse(again.out) as {
      written: boolean;
      siteRules: { state: string; rules: { state: string }[]; unread: { row: number; column: string }[] };
    };
    assert.equal(report.siteRules.state, 'unchanged');
    assert.deepEqual(
      report.siteRules.rules.map((r) => r.state),
      ['unchanged', 'unchanged', 'unchanged', 'unchanged', 'by hand'],
    );
    assert.deepEqual(
      report.siteRules.unread.map((u) => `${u.column}${u.row}`),
      ['C8'],
    );
    assert.equal(readFileSync(rulesFile, 'utf8'), HAND + BLOCK);
  });

  it('--out previews the rules without touching site-rules.csv; --site-rules writes another file', async () => {
    // the rules file as a first import left it
    const { mappings, rulesFile } = mappingsWith(HAND + BLOCK);
    const wb = await writeWorkbook('CDSR_JSON_Mapping_1.1.xlsx', VALUES, { Fields: FIELDS.slice(0, 5) });
    const before = readFileSync(rulesFile, 'utf8');
    const preview = await run(wb, { out: join(dir, 'preview') }, mappings);
    assert.equal(preview.code, 0, preview.err);
    assert.match(
      preview.out,
      new RegExp(
        `site rules \\(a preview: --out leaves ${rulesFile.replace(/[/\\]/g, '.')} alone; give --site-rules FILE to write them\\), from sheet "Fields"`,
      ),
    );
    assert.match(preview.out, /\nModality_Other_Spec +required_when +Modality = 88 +removed\n/);
    assert.equal(readFileSync(rulesFile, 'utf8'), before);
    const other = join(dir, 'other-rules.csv');
    const written = await run(wb, { out: join(dir, 'preview'), siteRules: other }, mappings);
    assert.equal(written.code, 0, written.err);
    assert.equal(
      readFileSync(other, 'utf8'),
      'field,rule,when,code,comment\n' +
        '# import-valuesets:start: rules read from CDSR_JSON_Mapping_1.1.xlsx sheet "Fields" by import-valuesets; each import replaces this block (write your own rules outside it)\n' +
        'Clinician1_Last_Name,required,,,Fields!B4: Y\n' +
        'Exam_Completion_Date,required_when,Ordered_Exam_Completed = 1,,Fields!C5: Required if Ordered_Exam_Completed = 1 (Yes)\n' +
        '# import-valuesets:end\n',
    );
  });

  it('a requirement column asked for and not there, or broken block markers: exit 1, nothing written', async () => {
    const { mappings } = mappingsWith(HAND);
    const wb = await writeWorkbook('CDSR_JSON_Mapping_1.1.xlsx', VALUES, { Fields: FIELDS });
    const out = join(dir, 'not-written');
    const missing = await run(wb, { out, requirementSheet: 'Fields', requiredColumn: 'Mandatory' }, mappings);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.err,
      `${wb}: sheet "Fields": no field column and requirement column in the header rows (requirement "Mandatory"; condition "conditionally required", "conditionally required if", "condition", "conditions", "conditional requirement", "required if", "requirement condition", "business rule", "business rules")\n` +
        '1 problem(s); nothing written\n',
    );
    const broken = join(dir, 'broken-rules.csv');
    writeFileSync(broken, HAND + '# import-valuesets:end\n');
    const r = await run(wb, { out, siteRules: broken }, mappings);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      'broken-rules.csv: the imported block\'s marker lines "# import-valuesets:start" … "# import-valuesets:end" are not one pair (line 5); put them right by hand; nothing written\n',
    );
    assert.equal(readFileSync(broken, 'utf8'), HAND + '# import-valuesets:end\n');
    assert.throws(() => readdirSync(out), /ENOENT/);
  });
});
