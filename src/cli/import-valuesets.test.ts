// `import-valuesets` on a workbook the test writes to a temp dir: the report, the files written,
// the refusal to overwrite without --force, --out, and the exit codes of bad input.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { runImportValueSets, type ImportValueSetsOptions } from './import-valuesets.js';
import { loadValueSets } from '../cdsr/valuesets.js';

let dir = '';
async function writeWorkbook(name: string, rows: unknown[][]): Promise<string> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('CDSR Values');
  for (const r of rows) ws.addRow(r);
  const file = join(dir, name);
  await wb.xlsx.writeFile(file);
  return file;
}

async function run(file: string, opts: ImportValueSetsOptions): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runImportValueSets(file, opts, { out: (t) => (out += t), err: (t) => (err += t), mappingsDir: join(dir, 'mappings'), progress: false });
  return { code, out, err };
}

describe('cdsr-adapter import-valuesets', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-import-'));
    mkdirSync(join(dir, 'mappings', 'valuesets'), { recursive: true });
    writeFileSync(join(dir, 'mappings', 'valuesets', 'Modality.csv'), '# enforce: no\ncode,label,flag,status\n1,CT,,check\n2,MR,,check\n88,Other,other,check\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rows = [['Field', 'Code', 'Label'], ['Modality', 1, 'CT'], ['Modality', 3, 'NM'], ['Modality', 88, 'Other (specify)'], ['Patient_Sex', 'F', 'Female'], ['Patient_Sex', 'M', 'Male']];

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
        'Patient_Sex.csv  Patient_Sex  2      new      F,M\n',
    );
    assert.equal(refused.err, '1 existing file(s) would change (Modality.csv); nothing written. Add --force to overwrite them, or --out DIR to write elsewhere.\n');
    assert.deepEqual(readdirSync(vs), ['Modality.csv']);

    const forced = await run(wb, { force: true });
    assert.equal(forced.code, 0, forced.err);
    assert.ok(forced.out.endsWith(`written to ${vs}\n`));
    const loaded = loadValueSets(vs);
    assert.deepEqual(loaded.problems, []);
    assert.deepEqual([...loaded.catalog.get('Modality')!.entries.keys()], ['1', '3', '88']);
    assert.equal(loaded.catalog.get('Modality')!.otherCode, '88');
    assert.equal(loaded.catalog.get('Modality')!.enforce, true);
    assert.equal(readFileSync(join(vs, 'Patient_Sex.csv'), 'utf8'), '# Patient_Sex: ACR CDSR value set (Patient_Sex), imported from CDSR_JSON_Mapping_1.0.xlsx sheet "CDSR Values".\n# enforce: yes\ncode,label,flag,status\nF,Female,,confirmed\nM,Male,,confirmed\n');

    const again = await run(wb, { json: true });
    assert.equal(again.code, 0);
    const report = JSON.parse(again.out) as { written: boolean; files: { name: string; state: string }[] };
    assert.deepEqual(report.files.map((f) => [f.name, f.state]), [['Modality', 'unchanged'], ['Patient_Sex', 'unchanged']]);
  });

  it('--out writes to another directory without touching the tables in force', async () => {
    const wb = await writeWorkbook('w2.xlsx', rows);
    const out = join(dir, 'new-sets');
    const r = await run(wb, { out });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(out).sort(), ['Modality.csv', 'Patient_Sex.csv']);
  });

  it('bad rows: exit 1 naming sheet, row and column, nothing written; not a workbook: exit 2', async () => {
    const wb = await writeWorkbook('bad.xlsx', [['Field', 'Code', 'Label'], ['Modality', '', 'none'], ['Modalty', 1, 'CT']]);
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
