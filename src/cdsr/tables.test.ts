// Loading of the analysts' value-set and field-limit tables: every problem at once, file:line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fieldOutsideValueSet, outsideValueSet, parseValueSet, type ValueSetCatalog } from './valuesets.js';
import { parseFieldLimits } from './field-limits.js';
import { CONSULTATION_RULES, ENCOUNTER_RULES, effectiveRules } from './fields.js';
import { CONSULTATION_FIELDS, ENCOUNTER_FIELDS } from './schema.js';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { runs } from '../../test/runs.js';

const located = (ps: { file?: string; line?: number; message: string }[]) => ps.map((p) => `${p.file}:${p.line}: ${p.message}`);

describe('value-set files', () => {
  it('reads codes, labels, flags, status and the enforce directive', () => {
    const { valueSet, problems } = parseValueSet(
      'vs/Modality.csv',
      '# Modality\n# enforce: no\ncode,label,flag,status\n1,CT,,confirmed\n88,Other,other,check\n99,Unknown,unknown,\n',
    );
    assert.deepEqual(problems, []);
    assert.equal(valueSet?.name, 'Modality');
    assert.equal(valueSet?.enforce, false);
    assert.equal(valueSet?.otherCode, '88');
    assert.equal(valueSet?.unknownCode, '99');
    assert.deepEqual(valueSet?.entries.get('88'), { code: '88', label: 'Other', confirmed: false, line: 5, flag: 'other' });
    assert.deepEqual(valueSet?.entries.get('1'), { code: '1', label: 'CT', confirmed: true, line: 4 });
  });

  it('reports every problem with its line', () => {
    const { problems } = parseValueSet(
      'vs/X.csv',
      '# enforce: maybe\ncode,label,flag,status\n1,a,,\n1,b,,\n,c,,\n2,d,weird,\n3,e,,draft\n4,f,other,\n5,g,other,\n',
    );
    assert.deepEqual(located(problems), [
      'vs/X.csv:1: enforce must be yes or no, not "maybe"',
      'vs/X.csv:4: code "1" is listed twice (first on line 3)',
      'vs/X.csv:5: empty code',
      'vs/X.csv:6: flag must be "other", "unknown" or empty, not "weird"',
      'vs/X.csv:7: status must be "confirmed" or "check", not "draft"',
      'vs/X.csv:9: more than one code is flagged "other"',
    ]);
  });

  it('refuses a file without a code column and broken CSV', () => {
    assert.deepEqual(located(parseValueSet('a.csv', 'value,label\n1,x\n').problems), ['a.csv:1: the header must have a "code" column']);
    const broken = parseValueSet('b.csv', 'code,label\n1,"open\n');
    assert.equal(broken.problems.length, 1);
    assert.match(broken.problems[0]!.message, /^not a valid CSV file: /);
  });

  it('never throws on random text (fuzz)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => void parseValueSet('f.csv', s)),
      { numRuns: runs(500) },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => void parseFieldLimits('f.csv', s)),
      { numRuns: runs(500) },
    );
  });
});

describe('outsideValueSet: the one reading of a value set (CD3120, MAP_NOT_IN_VALUESET, check-mappings)', () => {
  const set = (name: string, enforce: 'yes' | 'no') => parseValueSet(`vs/${name}.csv`, `# enforce: ${enforce}\ncode,label\n1,a\n2,b\nG1001,c\n`).valueSet!;
  const catalog: ValueSetCatalog = new Map([
    ['CDS_Vendor', set('CDS_Vendor', 'yes')],
    ['Health_Insurance', set('Health_Insurance', 'yes')],
    ['Modality', set('Modality', 'no')],
  ]);

  it('the values a set lacks, in order, an error while the set is enforced', () => {
    const s = catalog.get('CDS_Vendor')!;
    assert.equal(outsideValueSet(s, ['1', 'G1001']), undefined);
    assert.deepEqual(outsideValueSet(s, ['G9999', '1', 'x']), { set: s, values: ['G9999', 'x'], severity: 'error' });
    assert.equal(outsideValueSet(undefined, ['G9999']), undefined);
  });

  it('a field\'s text as it is sent: each element of a multi-select, trimmed; "enforce: no" a warning; no set, no check', () => {
    assert.deepEqual(fieldOutsideValueSet(catalog, 'CDS_Vendor', ' G9999 ')?.values, ['G9999']);
    assert.equal(fieldOutsideValueSet(catalog, 'CDS_Vendor', ' G1001 '), undefined);
    assert.deepEqual(fieldOutsideValueSet(catalog, 'Health_Insurance', '1, 7,2,8')?.values, ['7', '8']);
    // a single-code field is one value, commas and all
    assert.deepEqual(fieldOutsideValueSet(catalog, 'CDS_Vendor', '1,2')?.values, ['1,2']);
    assert.deepEqual(
      [
        fieldOutsideValueSet(catalog, 'Modality', '9')?.severity,
        fieldOutsideValueSet(catalog, 'Place_of_Service', '99'),
        fieldOutsideValueSet(catalog, 'Name_of_Exam_Ordered', 'CT HEAD'),
      ],
      ['warning', undefined, undefined],
    );
    assert.equal(fieldOutsideValueSet(new Map(), 'CDS_Vendor', 'G9999'), undefined);
  });
});

describe('field table and its overrides', () => {
  it('covers every encounter and consultation field of the schema', () => {
    assert.deepEqual(Object.keys(ENCOUNTER_RULES).sort(), ENCOUNTER_FIELDS.filter((f) => f !== 'Consultations').sort());
    assert.deepEqual(Object.keys(CONSULTATION_RULES).sort(), [...CONSULTATION_FIELDS].sort());
  });

  it('parses field-limits.csv and applies it', () => {
    const { overrides, problems } = parseFieldLimits('l.csv', 'field,max_length,numeric\nName_of_Exam_Ordered,500,\nClinician1_Unique_ID,none,yes\n');
    assert.deepEqual(problems, []);
    const rules = effectiveRules(overrides);
    assert.equal(rules.consultation.Name_of_Exam_Ordered?.maxLength, 500);
    assert.equal(rules.consultation.Clinician1_Unique_ID?.maxLength, undefined);
    assert.equal(rules.consultation.Clinician1_Unique_ID?.numeric, true);
    assert.equal(CONSULTATION_RULES.Name_of_Exam_Ordered.maxLength, 255); // defaults untouched
  });

  it('reports bad rows of field-limits.csv with their lines', () => {
    const { problems } = parseFieldLimits('l.csv', 'field,max_length,numeric\nModality,0,\nNope,5,\nModality,5,maybe\nModality,6,\n');
    assert.deepEqual(located(problems), [
      'l.csv:2: max_length must be a positive whole number or "none", not "0"',
      'l.csv:3: "Nope" is not an encounter or consultation field of CDSR 1.0',
      'l.csv:4: Modality is listed twice (first on line 2)',
      'l.csv:4: numeric must be yes, no or empty, not "maybe"',
      'l.csv:5: Modality is listed twice (first on line 2)',
    ]);
  });
});

describe('the analyst guide', () => {
  it('lists the field table exactly as the code has it', () => {
    const guide = readFileSync(join(REPO_ROOT, 'mappings', 'README.md'), 'utf8');
    const block = guide.slice(guide.indexOf('<!-- field-table:start -->'), guide.indexOf('<!-- field-table:end -->'));
    const documented = block
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| field'))
      .map((l) => l.trim());
    const expected: string[] = [];
    for (const [level, table] of [
      ['encounter', ENCOUNTER_RULES],
      ['consultation', CONSULTATION_RULES],
    ] as const) {
      for (const [field, r] of Object.entries(table)) {
        const other = r.otherSpecOf ? `Other_Spec of ${r.otherSpecOf}` : r.defaultOtherCode ? `Other = ${r.defaultOtherCode}` : '';
        const cells = [field, level, r.required ? 'yes' : '', r.kind, r.maxLength ?? 'none', r.numeric ? 'yes' : '', r.valueSet ?? '', other];
        expected.push(`| ${cells.join(' | ')} |`);
      }
    }
    assert.deepEqual(documented, expected);
  });
});
