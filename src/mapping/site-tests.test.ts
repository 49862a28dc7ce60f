// Site regression tests: the shipped ones pass on the shipped tables; a table edit that changes
// an expected value fails with a readable diff; the hot reload refuses such an edit, names the
// test, keeps the tables in force and shows it in its status.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { lookup } from './crosswalk.js';
import { MappingHolder } from './holder.js';
import { loadMappings } from './load.js';
import { lineDiff, runSiteTests, siteCases, type SiteOutput } from './site-tests.js';

const MODALITY_DIFF = [
  '  …',
  '            "Place_of_Service": "23",',
  '            "Guideline_Steward": "1",',
  '-           "Modality": "1",',
  '+           "Modality": "9",',
  '            "Name_of_Exam_Ordered": "CT HEAD WO CONTRAST",',
  '            "Ordered_Exam_Completed": "1",',
  '  …',
  '      }',
  '    ],',
  '-   "problems": []',
  '+   "problems": [',
  // each message's mapped value, then the record's (Modality.csv says "enforce: no": warnings)
  '+     {',
  '+       "code": "MAP_NOT_IN_VALUESET",',
  '+       "severity": "warning",',
  '+       "field": "Modality",',
  '+       "value": "9",',
  '+       "input": "orm-then-oru.1.hl7"',
  '+     },',
  '+     {',
  '+       "code": "MAP_NOT_IN_VALUESET",',
  '+       "severity": "warning",',
  '+       "field": "Modality",',
  '+       "value": "9",',
  '+       "input": "orm-then-oru.2.hl7"',
  '+     },',
  '+     {',
  '+       "code": "CD3120",',
  '+       "severity": "warning",',
  '+       "field": "Modality"',
  '+     }',
  '+   ]',
  '  }',
].join('\n');

describe('site regression tests', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-site-'));
    cpSync(join(REPO_ROOT, 'mappings'), dir, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the shipped tests and their inputs, in name order', () => {
    assert.deepEqual(
      siteCases(dir).map((c) => [c.name, c.inputs.map((f) => f.slice(dir.length + 1))]),
      [
        ['fhir-bundle', ['tests/fhir-bundle.json']],
        ['orm-then-oru', ['tests/orm-then-oru.1.hl7', 'tests/orm-then-oru.2.hl7']],
      ],
    );
  });

  it('inputs without an expected file are cases too, grouped by the name before their first dot; hidden files and notes are not inputs', () => {
    const msg = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'));
    for (const f of ['new-feed.1.hl7', 'new-feed.2.hl7', 'alone.hl7', '.new-feed.3.hl7.swp', 'README.md', 'alone.hl7~'])
      writeFileSync(join(dir, 'tests', f), msg);
    assert.deepEqual(
      siteCases(dir).map((c) => [c.name, c.expected, c.inputs.map((f) => f.slice(dir.length + 1)), c.expectedFile.slice(dir.length + 1)]),
      [
        ['alone', false, ['tests/alone.hl7'], 'tests/alone.expected.json'],
        ['fhir-bundle', true, ['tests/fhir-bundle.json'], 'tests/fhir-bundle.expected.json'],
        ['new-feed', false, ['tests/new-feed.1.hl7', 'tests/new-feed.2.hl7'], 'tests/new-feed.expected.json'],
        ['orm-then-oru', true, ['tests/orm-then-oru.1.hl7', 'tests/orm-then-oru.2.hl7'], 'tests/orm-then-oru.expected.json'],
      ],
    );
    // without update: listed as not ok, without a file written; the hot reload's filter (noExpected) lets them by
    const tables = loadMappings(dir).tables!;
    assert.deepEqual(
      runSiteTests(dir, tables).map((r) => [r.name, r.ok, r.diff, r.noExpected ?? false]),
      [
        ['alone', false, 'no expected file alone.expected.json for alone.hl7', true],
        ['fhir-bundle', true, '', false],
        ['new-feed', false, 'no expected file new-feed.expected.json for new-feed.1.hl7, new-feed.2.hl7', true],
        ['orm-then-oru', true, '', false],
      ],
    );
    assert.equal(existsSync(join(dir, 'tests', 'alone.expected.json')), false);
    // update creates them; they pass afterwards
    assert.deepEqual(
      runSiteTests(dir, tables, { update: true }).map((r) => [r.name, r.created ?? false]),
      [
        ['alone', true],
        ['fhir-bundle', false],
        ['new-feed', true],
        ['orm-then-oru', false],
      ],
    );
    const alone = JSON.parse(readFileSync(join(dir, 'tests', 'alone.expected.json'), 'utf8')) as SiteOutput;
    assert.deepEqual(
      [alone.encounters.map((e) => [e.Unique_Encounter_ID, e.Consultations.map((c) => c.Name_of_Exam_Ordered)]), alone.problems],
      [[['V0001', ['CT HEAD WO CONTRAST']]], []],
    );
    assert.deepEqual(
      runSiteTests(dir, tables).map((r) => [r.name, r.ok]),
      [
        ['alone', true],
        ['fhir-bundle', true],
        ['new-feed', true],
        ['orm-then-oru', true],
      ],
    );
  });

  it('pass on the shipped tables', () => {
    assert.deepEqual(
      runSiteTests(dir, loadMappings(dir).tables!).map((r) => [r.name, r.ok, r.diff]),
      [
        ['fhir-bundle', true, ''],
        ['orm-then-oru', true, ''],
      ],
    );
  });

  it('a crosswalk edit that changes an expected value fails the tests it touches, with the diff', () => {
    const f = join(dir, 'crosswalks', 'modality.csv');
    writeFileSync(f, readFileSync(f, 'utf8').replace('CT,1,', 'CT,9,'));
    const r = runSiteTests(dir, loadMappings(dir).tables!);
    assert.deepEqual(
      r.map((x) => [x.name, x.ok]),
      [
        ['fhir-bundle', true],
        ['orm-then-oru', false],
      ],
    );
    assert.equal(r[1]!.diff, MODALITY_DIFF);
  });

  it('the hot reload refuses an edit that breaks a site test; the tables in force stay; the status names the test', () => {
    const warnings: { obj: object; msg: string }[] = [];
    const h = MappingHolder.load(
      dir,
      { info: () => undefined, warn: (obj, msg) => warnings.push({ obj, msg }) },
      () => new Date('2026-12-01T10:00:00Z'),
    ).holder!;
    const f = join(dir, 'crosswalks', 'modality.csv');
    writeFileSync(f, readFileSync(f, 'utf8').replace('CT,1,', 'CT,9,'));
    assert.deepEqual(h.reload(), { ok: false, problems: [], failingTests: ['orm-then-oru'] });
    assert.equal(lookup(h.current.crosswalks.get('modality')!, 'CT')?.acrCode, '1');
    assert.equal(h.generation, 1);
    assert.deepEqual(warnings, [
      {
        obj: { event: 'mappings_refused', failingTests: ['orm-then-oru'] },
        msg: 'changed mapping tables refused: they break the site test(s) orm-then-oru (run test-mappings); the previous tables stay in force',
      },
    ]);
    assert.deepEqual(h.lastReload, {
      at: '2026-12-01T10:00:00.000Z',
      ok: false,
      generation: 1,
      problems: [],
      failingTests: [{ name: 'orm-then-oru', diff: MODALITY_DIFF }],
    });
    // a valid edit (a new row) goes through
    writeFileSync(f, readFileSync(f, 'utf8').replace('CT,9,', 'CT,1,') + 'ZZ,88,a local code\n');
    assert.equal(h.reload().ok, true);
    assert.deepEqual(h.lastReload, { at: '2026-12-01T10:00:00.000Z', ok: true, generation: 2, problems: [], failingTests: [] });
  });

  it('an expected file that is not JSON, or a case without inputs, fails naming it', () => {
    writeFileSync(join(dir, 'tests', 'broken.expected.json'), '{');
    writeFileSync(join(dir, 'tests', 'lonely.expected.json'), '{}');
    writeFileSync(join(dir, 'tests', 'broken.hl7'), readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7')));
    const r = runSiteTests(dir, loadMappings(dir).tables!).filter((x) => !x.ok);
    assert.deepEqual(
      r.map((x) => x.name),
      ['broken', 'lonely'],
    );
    // the JSON reader's own words vary with the Node version
    assert.match(r[0]!.diff.replace(dir, '<dir>'), /^<dir>\/tests\/broken\.expected\.json: not JSON \(Expected property name/);
    assert.equal(r[1]!.diff.replace(dir, '<dir>'), 'no input file lonely.* beside <dir>/tests/lonely.expected.json');
  });
});

describe('lineDiff', () => {
  it('marks removed and added lines with context, and elides the rest', () => {
    const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n');
    const b = ['1', '2', '3', '4', 'five', '6', '7', '8', '9', '10'].join('\n');
    assert.equal(lineDiff(a, b, 1), ['  …', '  4', '- 5', '+ five', '  6', '  …', '  9', '+ 10'].join('\n'));
  });
});
