// `cdsr-adapter validate` as a user runs it: the built command in a child process, exact output
// and exit codes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, FIXTURE_VALUESETS, REPO_ROOT, validConsultation, validEncounter, validTransaction } from '../../test/helpers.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
let dir = '';

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, CDSR_MAPPINGS_DIR: join(dir, 'none') } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const fixed = ['--valuesets', FIXTURE_VALUESETS, '--limits', '/nonexistent/field-limits.csv', '--now', '2026-06-15T12:00:00Z'];

describe('cdsr-adapter validate', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-cli-'));
  });
  after(() => rmSync(dir, { recursive: true }));

  it('exits 0 on the spec example without value sets and site rules', () => {
    const r = run('validate', join(FIXTURES, 'spec-example.json'), '--valuesets', join(dir, 'empty'), '--rules', '/nonexistent/site-rules.csv');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split('\n').slice(1).join('\n'), 'no problems\n');
  });

  it("the shipped site rules refuse the spec example's placeholder clinician ids: they are not NPIs", () => {
    const r = run('validate', join(FIXTURES, 'spec-example.json'), '--valuesets', join(dir, 'empty'));
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(
      r.stdout
        .split('\n')
        .filter((l) => l.startsWith('SITE_NOT_NPI'))
        .map((l) => l.replace(/\s+/g, ' ')),
      [1, 2].map(
        (n) =>
          `SITE_NOT_NPI error Encounters[0].Consultations[0].Clinician${n}_Unique_ID encounter 8 03/03/2022 15:08:33 Clinician${n}_Unique_ID "clinician unique${n}" is not an NPI; an NPI has 10 digits: a user mnemonic or a local id? (site rule site-rules.csv:${9 + n}; remove that line if your site sends other clinician ids)`,
      ),
    );
  });

  it('prints a table and exits 1 on problems', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify(
        validTransaction({ Num_of_Encounters_Included: 2 }, [validEncounter({}, [validConsultation({ Modality: '7', CDS_Consultation_Time: '3 PM' })])]),
      ),
    );
    const r = run('validate', file, ...fixed);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stdout,
      `${file}: 1 encounter(s), 1 consultation(s); value sets from ${FIXTURE_VALUESETS} (7 file(s))\n` +
        'CODE    SEVERITY  WHERE                                                 ENCOUNTER  CONSULTATION     MESSAGE\n' +
        'CD2074  error     Num_of_Encounters_Included                                                        Num_of_Encounters_Included 2 does not match with encounters records received 1\n' +
        'CD3061  error     Encounters[0].Consultations[0].CDS_Consultation_Time  V1001      03/03/2022 3 PM  Invalid CDS_Consultation_Time format. Valid format is hh:mi:ss in military format\n' +
        'CD3120  error     Encounters[0].Consultations[0].Modality               V1001      03/03/2022 3 PM  Invalid Modality. Values 1,2,3,4,88 expected\n' +
        '3 error(s), 0 warning(s)\n',
    );
  });

  it('--json prints one JSON document', () => {
    const file = join(dir, 'one.json');
    writeFileSync(file, JSON.stringify(validTransaction({ AppID: '' })));
    const r = run('validate', file, ...fixed, '--json');
    assert.equal(r.status, 1);
    assert.deepEqual(JSON.parse(r.stdout), {
      file,
      encounters: 1,
      consultations: 1,
      omitted: 0,
      problems: [{ code: 'CD2041', message: 'Missing AppID', severity: 'error', scope: 'transaction', path: 'AppID', field: 'AppID' }],
    });
  });

  it('exits 2 on a file that is not JSON, naming line and column', () => {
    const file = join(dir, 'not.json');
    writeFileSync(file, 'MSH|^~\\&|not json');
    const r = run('validate', file, ...fixed, '--json');
    assert.equal(r.status, 2);
    const out = JSON.parse(r.stdout) as { problems: { code: string; line: number; column: number }[] };
    assert.deepEqual(
      out.problems.map((p) => [p.code, p.line, p.column]),
      [['JSON_SYNTAX', 1, 1]],
    );
  });

  it('exits 2 on a missing file and on a broken value-set table', () => {
    assert.equal(run('validate', join(dir, 'missing.json'), ...fixed).status, 2);
    const vs = join(dir, 'vs');
    rmSync(vs, { recursive: true, force: true });
    spawnSync('mkdir', ['-p', vs]);
    writeFileSync(join(vs, 'Modality.csv'), 'code,label\n1,CT\n1,MR\n');
    const r = run('validate', join(FIXTURES, 'spec-example.json'), '--valuesets', vs);
    assert.equal(r.status, 2);
    assert.match(r.stdout, new RegExp(`${join(vs, 'Modality.csv')}:3 .*code "1" is listed twice \\(first on line 2\\)`));
  });

  it('refuses a bad option value with a message', () => {
    const r = run('validate', 'x.json', '--now', 'tomorrow');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--now <iso>' argument 'tomorrow' is invalid\. must be an ISO 8601 date-time/);
  });

  it('--timezone reads "now" in that zone; without it a wall clock is future only when future everywhere', () => {
    // 12:00 UTC = 07:00 in Chicago (CDT): 08:00 local is future there, not at UTC+14
    const file = join(dir, 'tz.json');
    writeFileSync(file, JSON.stringify(validTransaction({ Transaction_DateTime: '06/15/2026 08:00:00' })));
    const graced = run('validate', file, ...fixed, '--json');
    assert.equal(graced.status, 0, graced.stdout);
    const r = run('validate', file, ...fixed, '--json', '--timezone', 'America/Chicago');
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { problems: { code: string; message: string; path: string }[] };
    assert.deepEqual(
      out.problems.map((p) => [p.code, p.message, p.path]),
      [['CD2013', 'Transaction_DateTime is a future date', 'Transaction_DateTime']],
    );
    const bad = run('validate', file, '--timezone', 'Mars/Olympus');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--timezone <zone>' argument 'Mars\/Olympus' is invalid\. must be an IANA time zone/);
  });

  it('applies site rules (--rules) and reports a broken rules table as file:line with exit 2', () => {
    const rules = join(dir, 'site-rules.csv');
    writeFileSync(rules, 'field,rule,when\nClinician2_Last_Name,required_when,Clinician2_Unique_ID reported\n');
    const file = join(dir, 'rule.json');
    writeFileSync(file, JSON.stringify(validTransaction({}, [validEncounter({}, [validConsultation({ Clinician2_Unique_ID: '1234567893' })])])));
    const r = run('validate', file, ...fixed, '--rules', rules, '--json');
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout) as { problems: { code: string; message: string }[] };
    assert.deepEqual(
      out.problems.map((p) => [p.code, p.message]),
      [['CD3007', 'Invalid. Clinician2_Last_Name is required, if Clinician2_Unique_ID is reported']],
    );
    writeFileSync(rules, 'field,rule,when\nClinician2_Last_Name,required_when,Clinician2_Unique_ID is here\n');
    const broken = run('validate', file, ...fixed, '--rules', rules);
    assert.equal(broken.status, 2);
    assert.match(broken.stdout, new RegExp(`${rules}:2 .*when must be`));
  });
});
