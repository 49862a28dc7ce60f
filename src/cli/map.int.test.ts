// `cdsr-adapter map`, `check-mappings` and `test-mappings` as a user runs them. A few runs are
// processes of their own (`run`: the options, the environment, the output and the exit status
// through the command itself); the others call the command's module here with what cli.ts hands
// it (`mapHere` and the like), which costs a fraction of a process start.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { loadConfig, nrdrIds } from '../config.js';
import { runMap, runTestMappings, type MapCliOptions } from './map.js';
import { runCheckMappings } from './check-mappings.js';
import type { CliIo } from './validate.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
let dir = '';
function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CDSR_TIMEZONE: 'UTC', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const NOW = ['--now', '2026-11-23T06:00:00Z'];

// run here as `run` runs the command: from the repository, whose tables are named relative to it
before(() => process.chdir(REPO_ROOT));

/** A command's module run here: its output and exit status, as `run` gives them. */
function here(command: (io: CliIo) => number, env: Record<string, string> = {}) {
  const r = { status: 0, stdout: '', stderr: '' };
  const mappingsDir = loadConfig(env).CDSR_MAPPINGS_DIR;
  r.status = command({ out: (t) => (r.stdout += t), err: (t) => (r.stderr += t), mappingsDir, progress: false });
  return r;
}
/** `map FILES --now 2026-11-23T06:00:00Z`, its defaults from the environment as cli.ts reads them. */
function mapHere(files: string[], opts: MapCliOptions = {}, env: Record<string, string> = {}) {
  const config = loadConfig({ CDSR_TIMEZONE: 'UTC', ...env });
  const defaults = {
    defaultFacilityId: config.CDSR_DEFAULT_FACILITY_ID,
    ...nrdrIds(config),
    maxEncounters: config.CDSR_BATCH_MAX_ENCOUNTERS,
    timeZone: config.CDSR_TIMEZONE,
  };
  return here((io) => runMap(files, { now: new Date('2026-11-23T06:00:00Z'), ...opts }, defaults, io), env);
}
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

describe('cdsr-adapter map', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-map-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the transactions of an ORM and its ORU, exit 0', () => {
    const r = run(['map', 'samples/hl7v2/01-orm-new.hl7', 'samples/hl7v2/04-oru-final.hl7', ...NOW]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(join(REPO_ROOT, 'test', 'golden', 'hl7v2-orm-then-oru.json'), 'utf8'));
  });

  it('--trace adds where every value came from', () => {
    const r = run(['map', 'samples/hl7v2/01-orm-new.hl7', '--trace', ...NOW]);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, readFileSync(join(REPO_ROOT, 'test', 'golden', 'hl7v2-01-orm-new.trace.json'), 'utf8'));
  });

  it('--summary over a batch of 100 mixed messages prints the counts and the unmapped values, exit 1', () => {
    const r = mapHere(['test/fixtures/mixed-100.hl7'], { summary: true });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, readFileSync(join(REPO_ROOT, 'test', 'golden', 'mixed-100.summary.txt'), 'utf8'));
  });

  it('NDJSON: each line a resource, named by index and line; a broken line is a problem with its line', () => {
    const file = join(dir, 'feed.ndjson');
    const line = (f: string) => JSON.stringify(JSON.parse(readFileSync(join(REPO_ROOT, 'samples', 'fhir', f), 'utf8')));
    writeFileSync(file, [line('02-encounter.json'), line('01-servicerequest.json'), '{"resourceType": "Patient",'].join('\n') + '\n');
    const r = mapHere([file]);
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { transactions: { Encounters: unknown[] }[]; problems: Record<string, unknown>[] };
    assert.equal(out.transactions[0]?.Encounters.length, 1);
    assert.deepEqual(out.problems, [
      {
        code: 'JSON_SYNTAX',
        message: 'line 3 is not a JSON document; it is not mapped',
        severity: 'error',
        scope: 'file',
        path: '',
        line: 3,
        input: 'feed.ndjson',
        file: 'feed.ndjson',
      },
    ]);
  });

  it('a Mirth Connect export: problems name the message by its index and line in the export', () => {
    const file = join(dir, 'export.xml');
    const esc = (t: string) =>
      t
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/\r\n|\r|\n/g, '&#xd;');
    const entry = (t: string) =>
      `  <message>\n    <connectorMessages><entry><int>0</int><connectorMessage><metaDataId>0</metaDataId><raw><content>${esc(t)}</content></raw></connectorMessage></entry></connectorMessages>\n  </message>`;
    writeFileSync(
      file,
      ['<list>', entry(ORM), entry(ORM.replace('|CT|SC', '|ZZ|SC').replace('^CPT|', '^L|').replace(/V0001/g, 'V0002')), '</list>'].join('\n'),
    );
    const r = mapHere([file]);
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { transactions: { Encounters: unknown[] }[]; problems: Record<string, unknown>[] };
    assert.equal(out.transactions[0]?.Encounters.length, 1);
    assert.deepEqual(
      out.problems.map((p) => [p.code, p.value, p.input]),
      [['MAP_UNMAPPED_CODE', 'ZZ', 'export.xml#2 (line 5)']],
    );
  });

  it('names the crosswalk file that needs a row for an unmapped code, exit 1', () => {
    const file = join(dir, 'xr.hl7');
    writeFileSync(file, ORM.replace('|CT|SC', '|ZZ|SC').replace('^CPT|', '^L|'));
    const r = mapHere([file]);
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { transactions: unknown[]; problems: Record<string, string>[] };
    assert.deepEqual(out.transactions, []);
    assert.deepEqual(out.problems, [
      {
        code: 'MAP_UNMAPPED_CODE',
        message: 'Modality: no row for "ZZ" in mappings/crosswalks/modality.csv; add a row: ZZ,<ACR code>',
        severity: 'error',
        scope: 'consultation',
        path: '',
        field: 'Modality',
        source: 'OBR-24',
        file: 'mappings/crosswalks/modality.csv',
        value: 'ZZ',
        facilityId: '100000',
        input: 'xr.hl7',
      },
    ]);
  });

  it('an unknown sending facility is an error unless a default facility is given', () => {
    const file = join(dir, 'other.hl7');
    writeFileSync(file, ORM.replace('|GENHOSP|CDSR|', '|OTHERHOSP|CDSR|'));
    const r = mapHere([file]);
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { problems: { code: string; message: string }[] };
    assert.deepEqual(
      out.problems.map((p) => [p.code, p.message]),
      [
        [
          'MAP_NO_FACILITY',
          'no facilities.csv row for sending facility "OTHERHOSP" (MSH-4.1) and no default facility (CDSR_DEFAULT_FACILITY_ID or --facility-id)',
        ],
      ],
    );
    const withFlag = JSON.parse(run(['map', file, '--facility-id', '100042', ...NOW]).stdout) as { transactions: { Facility_ID: string }[] };
    assert.equal(withFlag.transactions[0]?.Facility_ID, '100042');
    const withEnv = JSON.parse(run(['map', file, ...NOW], { CDSR_DEFAULT_FACILITY_ID: '100043' }).stdout) as { transactions: { Facility_ID: string }[] };
    assert.equal(withEnv.transactions[0]?.Facility_ID, '100043');
  });

  it('a mapped value outside an enforced value set: the problem names the rule to fix (exit 1); --summary lists it with where to fix it', () => {
    const tables = join(dir, 'enforced');
    cpSync(join(REPO_ROOT, 'mappings'), tables, { recursive: true });
    const set = join(tables, 'valuesets', 'CDS_Vendor.csv');
    writeFileSync(set, readFileSync(set, 'utf8').replace('# enforce: no', '# enforce: yes'));
    const rule = readFileSync(join(tables, 'hl7v2.yaml'), 'utf8').split('\n').indexOf('  CDS_Vendor:') + 1;
    const file = join(dir, 'g9999.hl7');
    writeFileSync(file, ORM.replace('||G1014||', '||G9999||'));
    const r = mapHere([file], { mappings: tables });
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { transactions: unknown[]; problems: Record<string, unknown>[] };
    assert.deepEqual(out, {
      transactions: [],
      problems: [
        {
          code: 'MAP_NOT_IN_VALUESET',
          message: `CDS_Vendor: "G9999" from OBX[3.1=CDS-GCODE]-5 is not in ACR's value set (${set}); fix the rule at ${join(tables, 'hl7v2.yaml')}:${rule} or add a crosswalk to it with a row G9999,<ACR code>`,
          severity: 'error',
          scope: 'consultation',
          path: '',
          field: 'CDS_Vendor',
          source: 'OBX[3.1=CDS-GCODE]-5',
          value: 'G9999',
          file: join(tables, 'hl7v2.yaml'),
          line: rule,
          facilityId: '100000',
          input: 'g9999.hl7',
        },
      ],
    });
    const summary = run(['map', file, '--mappings', tables, '--summary', ...NOW]);
    assert.equal(summary.status, 1);
    const at = `${join(tables, 'hl7v2.yaml')}:${rule}`;
    assert.ok(
      summary.stdout.includes(
        [
          "\n1 distinct mapped value(s) outside ACR's value sets; fix the crosswalk row or rule named:",
          `FIELD       FIX AT${' '.repeat(at.length - 6)}  VALUE  SEVERITY  COUNT  FIRST SEEN IN`,
          `CDS_Vendor  ${at}  G9999  error     1      g9999.hl7`,
          '',
        ].join('\n'),
      ),
      summary.stdout,
    );
  });

  it('a message type the tables do not handle, and a file that is not HL7, are problems', () => {
    const adt = join(dir, 'adt.hl7');
    writeFileSync(adt, ORM.replace('ORM^O01^ORM_O01', 'ADT^A01^ADT_A01'));
    const junk = join(dir, 'junk.hl7');
    writeFileSync(junk, 'hello');
    const out = JSON.parse(mapHere([adt, junk]).stdout) as { problems: { code: string; message: string; input: string }[] };
    assert.deepEqual(
      out.problems.map((p) => [p.input, p.code, p.message]),
      [
        ['adt.hl7', 'MAP_UNSUPPORTED', 'message type ADT^A01 is not handled by the mapping tables (handled: ORM^O01, OMI^O23, ORU^R01)'],
        ['junk.hl7', 'HL7_INVALID', 'not an HL7 v2 message: it does not start with an MSH segment'],
      ],
    );
  });
});

describe('cdsr-adapter check-mappings', () => {
  let broken = '';
  before(() => {
    broken = mkdtempSync(join(tmpdir(), 'cdsr-check-'));
    cpSync(join(REPO_ROOT, 'mappings'), broken, { recursive: true });
    const f = join(broken, 'hl7v2.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('  Patient_Sex:', '  Patient_Gender:'));
  });
  after(() => rmSync(broken, { recursive: true, force: true }));

  it('reports the shipped tables OK, exit 0', () => {
    const r = run(['check-mappings', 'mappings']);
    assert.equal(r.status, 0);
    assert.equal(
      r.stdout,
      'mappings: OK — hl7v2.yaml 21 rules, 3 message types; fhir.yaml 16 rules, 2 resource types; 9 crosswalks, 11 value sets, 1 facilities\n',
    );
  });

  it('lists problems as file:line: message, exit 1', () => {
    const r = here((io) => runCheckMappings(broken, io));
    assert.equal(r.status, 1);
    assert.equal(r.stdout, `${join(broken, 'hl7v2.yaml')}:27: "Patient_Gender" is not a CDSR encounter or consultation field\n1 problem(s) in ${broken}\n`);
  });
});

describe('cdsr-adapter test-mappings', () => {
  let site = '';
  before(() => {
    site = mkdtempSync(join(tmpdir(), 'cdsr-site-cli-'));
    cpSync(join(REPO_ROOT, 'mappings'), site, { recursive: true });
  });
  after(() => rmSync(site, { recursive: true, force: true }));

  it('passes the shipped site tests, exit 0', () => {
    const r = here((io) => runTestMappings('mappings', {}, io));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'PASS  fhir-bundle\nPASS  orm-then-oru\n2 site test(s): 2 passed, 0 failed\n');
  });

  it('a table edit that changes an expected value: exit 1 with the diff', () => {
    const f = join(site, 'crosswalks', 'patient_class.csv');
    writeFileSync(f, readFileSync(f, 'utf8').replace('E,23,', 'E,21,').replace('EMER,23,', 'EMER,21,'));
    const r = here((io) => runTestMappings(site, {}, io));
    assert.equal(r.status, 1);
    const ctx = (line: string) => `                  ${line}`;
    const change = ['      -           "Place_of_Service": "23",', '      +           "Place_of_Service": "21",'];
    const head = [ctx('"CDS_Consultation_Date": "11/02/2026",'), ctx('"CDS_Consultation_Time": "09:30:15",'), ...change];
    assert.equal(
      r.stdout,
      [
        'FAIL  fhir-bundle',
        '        …',
        ...head,
        ctx('"Modality": "1",'),
        ctx('"Name_of_Exam_Ordered": "CT HEAD WO CONTRAST",'),
        '        …',
        'FAIL  orm-then-oru',
        '        …',
        ...head,
        ctx('"Guideline_Steward": "1",'),
        ctx('"Modality": "1",'),
        '        …',
        '2 site test(s): 0 passed, 2 failed',
        '',
      ].join('\n'),
    );
  });

  it('an input without an expected file is listed, exit 1; --update creates its expected file, then it passes', () => {
    const fresh = join(site, 'fresh');
    cpSync(join(REPO_ROOT, 'mappings'), fresh, { recursive: true });
    writeFileSync(join(fresh, 'tests', 'new-feed.hl7'), readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7')));
    const r = here((io) => runTestMappings(fresh, {}, io));
    assert.equal(r.status, 1);
    assert.equal(
      r.stdout,
      [
        'PASS  fhir-bundle',
        'NEW   new-feed: no expected file new-feed.expected.json for new-feed.hl7',
        'PASS  orm-then-oru',
        '3 site test(s): 2 passed, 0 failed, 1 without an expected file (test-mappings --update writes them from what the tables give now)',
        '',
      ].join('\n'),
    );
    const u = run(['test-mappings', fresh, '--update']);
    assert.equal(u.status, 0, u.stderr);
    assert.equal(
      u.stdout,
      'wrote fhir-bundle.expected.json\ncreated new-feed.expected.json (new: review it)\nwrote orm-then-oru.expected.json\n3 site test(s): 3 passed, 0 failed (1 expected file(s) created, 2 rewritten: review the diff)\n',
    );
    assert.equal(
      (JSON.parse(readFileSync(join(fresh, 'tests', 'new-feed.expected.json'), 'utf8')) as { encounters: { Unique_Encounter_ID: string }[] }).encounters[0]
        ?.Unique_Encounter_ID,
      'V0001',
    );
    const again = here((io) => runTestMappings(fresh, {}, io));
    assert.equal(again.status, 0);
    assert.equal(again.stdout, 'PASS  fhir-bundle\nPASS  new-feed\nPASS  orm-then-oru\n3 site test(s): 3 passed, 0 failed\n');
  });

  it('a directory without tests says how to add one, exit 0', () => {
    const empty = join(site, 'empty');
    cpSync(join(REPO_ROOT, 'mappings'), empty, { recursive: true, filter: (src) => !src.includes(`${join(REPO_ROOT, 'mappings', 'tests')}`) });
    const r = here((io) => runTestMappings(empty, {}, io));
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `no site tests in ${join(empty, 'tests')} (add NAME.hl7 or NAME.json with NAME.expected.json; --update writes the expected file)\n`);
  });
});
