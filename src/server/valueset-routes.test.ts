// A mapped value outside ACR's value set (issue 20): refused like an unmapped code — HL7 AE with
// an ERR naming the field, value and the table to fix, FHIR 422, the message in the error queue
// and on the worklist, applied after the fix is replayed; under "# enforce: no" only a warning (AA).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lines, postHl7, startTestServer, type TestServer, withTestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const SR = readFileSync(join(REPO_ROOT, 'samples', 'fhir', '01-servicerequest.json'), 'utf8');
const ACK_HEAD = 'MSH|^~\\&|CDSR|ACR|EHR|GENHOSP|20261123060000+0000||ACK^O01^ACK|';
const G9999 = ORM.replace('MSG0001', 'MSG0201').replace('||G1014||', '||G9999||');
const lineOf = (file: string, start: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((l) => l.startsWith(start)) + 1;

/** A server of its own on the shipped tables as they are (CDS_Vendor's set says "# enforce: yes"). */
const withVendorServer = (fn: (s: TestServer, vendorSet: string) => Promise<void>) =>
  withTestServer(async (s) => {
    const vendorSet = join(s.mappingsDir, 'valuesets', 'CDS_Vendor.csv');
    assert.match(readFileSync(vendorSet, 'utf8'), /^# enforce: yes$/m);
    await fn(s, vendorSet);
  });
const putServiceRequest = (s: TestServer) =>
  s.fetch('/fhir/ServiceRequest/sr-1001', {
    method: 'PUT',
    body: SR.replace('"valueString": "G1014"', '"valueString": "G9999"'),
    headers: { 'content-type': 'application/fhir+json' },
  });
/** Message 1: the HL7 order with G9999; message 2: the FHIR ServiceRequest with G9999. */
const sendBoth = async (s: TestServer) => {
  assert.equal((await postHl7(s, G9999)).status, 200);
  assert.equal((await putServiceRequest(s)).status, 422);
};

// Each test has a server of its own and sends what it needs.
describe('a mapped value outside an enforced value set (the shipped CDS_Vendor set)', () => {
  it('HL7: AE with an ERR naming the field, the value, the value set and the rule to fix; the message waits in the error queue', () =>
    withVendorServer(async (s, vendorSet) => {
      const rule = lineOf(join(s.mappingsDir, 'hl7v2.yaml'), '  CDS_Vendor:');
      const r = await postHl7(s, G9999);
      assert.equal(r.status, 200);
      assert.deepEqual(lines(r.text), [
        `${ACK_HEAD}CDSR1|P|2.5.1`,
        'MSA|AE|MSG0201',
        `ERR||OBX^1^5|103^Table value not found^HL70357|E||||MAP_NOT_IN_VALUESET: CDS_Vendor: "G9999" from OBX[3.1=CDS-GCODE]-5 is not in ACR's value set (${vendorSet}); fix the rule at ${join(s.mappingsDir, 'hl7v2.yaml')}:${rule} or add a crosswalk to it with a row G9999,<ACR code>`,
      ]);
      const m = await s.store.message(1);
      assert.equal(m?.status, 'error');
      assert.deepEqual(
        m?.problems.map((p) => [p.code, p.severity, p.field, p.value, p.source, p.file, p.line]),
        [['MAP_NOT_IN_VALUESET', 'error', 'CDS_Vendor', 'G9999', 'OBX[3.1=CDS-GCODE]-5', join(s.mappingsDir, 'hl7v2.yaml'), rule]],
      );
      // nothing of it was merged: no record to send with a value NRDR refuses
      assert.equal(await s.store.record('100000|V0001'), undefined);
    }));

  it('FHIR: 422 with the issue at the FHIRPath of the value', () =>
    withVendorServer(async (s, vendorSet) => {
      const rule = lineOf(join(s.mappingsDir, 'fhir.yaml'), '  CDS_Vendor:');
      const r = await putServiceRequest(s);
      assert.equal(r.status, 422);
      const body = (await r.json()) as { issue: unknown[] };
      assert.deepEqual(body.issue.slice(1), [
        {
          severity: 'error',
          code: 'code-invalid',
          diagnostics: `MAP_NOT_IN_VALUESET: CDS_Vendor: "G9999" from extension('http://fhir.org/argonaut/Extension/pama-rating-qcdsm-consulted').value is not in ACR's value set (${vendorSet}); fix the rule at ${join(s.mappingsDir, 'fhir.yaml')}:${rule} or add a crosswalk to it with a row G9999,<ACR code>`,
          expression: ["extension('http://fhir.org/argonaut/Extension/pama-rating-qcdsm-consulted').value"],
        },
      ]);
      assert.equal((await s.store.message(1))?.status, 'error');
    }));

  it('the worklist: one row per field, value and rule, with the fix to make', () =>
    withVendorServer(async (s) => {
      const hl7Rule = lineOf(join(s.mappingsDir, 'hl7v2.yaml'), '  CDS_Vendor:');
      const fhirRule = lineOf(join(s.mappingsDir, 'fhir.yaml'), '  CDS_Vendor:');
      await sendBoth(s);
      const w = (await s.fetch('/api/worklist').then((r) => r.json())) as { rows: unknown[]; messages: number; otherProblems: unknown };
      const common = {
        field: 'CDS_Vendor',
        value: 'G9999',
        facilityId: '100000',
        system: null,
        count: 1,
        firstSeen: '2026-11-23T06:00:00.000Z',
        lastSeen: '2026-11-23T06:00:00.000Z',
        stub: '',
      };
      assert.deepEqual(w, {
        messages: 2,
        otherProblems: {},
        guesses: [],
        rows: [
          {
            ...common,
            table: `fhir.yaml:${fhirRule}`,
            examples: [2],
            fix: `"G9999" is not an ACR code of CDS_Vendor: fix the rule at fhir.yaml:${fhirRule}, or add a crosswalk to it with a row G9999,<ACR code> (the codes of valuesets/CDS_Vendor.csv)`,
          },
          {
            ...common,
            table: `hl7v2.yaml:${hl7Rule}`,
            examples: [1],
            fix: `"G9999" is not an ACR code of CDS_Vendor: fix the rule at hl7v2.yaml:${hl7Rule}, or add a crosswalk to it with a row G9999,<ACR code> (the codes of valuesets/CDS_Vendor.csv)`,
          },
        ],
      });
    }));

  it('the console worklist: the fix in place of a row to paste, no paste section', () =>
    withVendorServer(async (s) => {
      const hl7Rule = lineOf(join(s.mappingsDir, 'hl7v2.yaml'), '  CDS_Vendor:');
      await sendBoth(s);
      const cookie = ((await s.fetch('/ui')).headers.get('set-cookie') ?? '').split(';')[0]!;
      const page = await (await s.fetch('/ui/worklist', { headers: { cookie } })).text();
      assert.match(
        page,
        /<p>2 message\(s\) in the error queue; 0 distinct value\(s\) to add to the tables, 2 mapped value\(s\) outside ACR&#39;s value sets to fix\.<\/p>/,
      );
      assert.ok(
        page.includes(
          `<span class="fix">&quot;G9999&quot; is not an ACR code of CDS_Vendor: fix the rule at hl7v2.yaml:${hl7Rule}, or add a crosswalk to it with a row G9999,&lt;ACR code&gt; (the codes of valuesets/CDS_Vendor.csv)</span>`,
        ),
        page,
      );
      assert.equal(page.includes('Rows to paste'), false);
    }));

  it('once the value set lists the code, the replay applies the message', () =>
    withVendorServer(async (s, vendorSet) => {
      assert.deepEqual(lines((await postHl7(s, G9999)).text)[1], 'MSA|AE|MSG0201');
      appendFileSync(vendorSet, 'G9999,a vendor the site confirmed,confirmed\n');
      assert.equal(s.mappings.reload().ok, true);
      const one = (await s.fetch('/api/messages/1/replay', { method: 'POST' }).then((r) => r.json())) as { status: string };
      assert.equal(one.status, 'applied');
      const rec = await s.store.record('100000|V0001');
      assert.equal(rec?.consultations[0]?.fields.CDS_Vendor?.value, 'G9999');
    }));
});

describe('a crosswalk row whose ACR code is outside an enforced value set', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('AE with an ERR naming the crosswalk row to fix', async () => {
    const set = join(s.mappingsDir, 'valuesets', 'Modality.csv');
    writeFileSync(set, readFileSync(set, 'utf8').replace('# enforce: no', '# enforce: yes'));
    const cw = join(s.mappingsDir, 'crosswalks', 'modality.csv');
    appendFileSync(cw, 'ZZ,9,a typo: there is no ACR code 9\n');
    const row = readFileSync(cw, 'utf8').trimEnd().split('\n').length;
    assert.equal(s.mappings.reload().ok, true);
    const r = await postHl7(s, ORM.replace('MSG0001', 'MSG0301').replace('|CT|SC', '|ZZ|SC'));
    assert.deepEqual(lines(r.text), [
      `${ACK_HEAD}CDSR1|P|2.5.1`,
      'MSA|AE|MSG0301',
      `ERR||OBR^1^24|103^Table value not found^HL70357|E||||MAP_NOT_IN_VALUESET: Modality: "9" is not in ACR's value set (${set}); the crosswalk row ${cw}:${row} maps "ZZ" to it: change that row's ACR code to a code of the set`,
    ]);
    assert.equal((await s.store.message(1))?.status, 'error');
  });
});

describe('a mapped value outside a value set that says "# enforce: no" (the shipped Medicare_Modifier set)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('AA: applied, with the warning kept on the message', async () => {
    const r = await postHl7(s, ORM.replace('MSG0001', 'MSG0202').replace('||ME||', '||ZZ||'));
    assert.deepEqual(lines(r.text), [`${ACK_HEAD}CDSR1|P|2.5.1`, 'MSA|AA|MSG0202']);
    const m = await s.store.message(1);
    assert.equal(m?.status, 'applied');
    assert.deepEqual(
      m?.problems.filter((p) => p.code === 'MAP_NOT_IN_VALUESET').map((p) => [p.severity, p.field, p.value]),
      [['warning', 'Medicare_Modifier', 'ZZ']],
    );
    const w = (await s.fetch('/api/worklist').then((r) => r.json())) as { rows: unknown[]; messages: number };
    assert.deepEqual([w.messages, w.rows], [0, []]);
  });
});
