// No PHI in logs: the server's log output, at the most verbose level, over every sample and the
// error paths (unmapped code, not HL7, replay, FHIR notifications, records API), names no
// patient, MRN, birth date, clinician name or message content.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, withTestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';

const PHI = [
  'TESTPATIENT',
  'ALEX',
  'MRN0001',
  '19700101',
  '1970-01-01',
  '1 TEST ST',
  'ANYTOWN',
  'ORDER^ANN',
  'Ann',
  'No acute intracranial',
  'Headache',
  'MEDICARE001',
  'V0001',
];

describe('logs', () => {
  it('carry no patient data at LOG_LEVEL=trace', async () => {
    await withTestServer(async (s) => {
      const hl7 = readdirSync(join(REPO_ROOT, 'samples', 'hl7v2')).map((f) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', f), 'utf8'));
      for (const m of hl7) await postHl7(s, m);
      await postHl7(s, hl7[0]!.replace('MSG0001', 'MSG0900').replace('|CT|SC', '|ZZ|SC').replace('^CPT|', '^L|'));
      await postHl7(s, 'PID|1||MRN0001||TESTPATIENT^ALEX');
      for (const f of readdirSync(join(REPO_ROOT, 'samples', 'fhir'))) {
        await s.fetch(`/fhir`, {
          method: 'POST',
          body: readFileSync(join(REPO_ROOT, 'samples', 'fhir', f), 'utf8'),
          headers: { 'content-type': 'application/fhir+json' },
        });
      }
      appendFileSync(join(s.mappingsDir, 'crosswalks', 'modality.csv'), 'ZZ,5,\n');
      s.mappings.reload();
      await s.fetch(`/api/replay?status=error`, { method: 'POST' });
      await s.fetch(`/api/records/100000/V0001`);
      // a resubmit logs what it did, never the encounter it did it to
      assert.equal((await s.fetch(`/api/records/100000/V0001/resubmit`, { method: 'POST' })).status, 200);
      await s.fetch(`/api/messages?status=error`);
      // a search by MRN: the MRN is in the URL, never in a log line
      assert.equal((await s.fetch(`/api/orders?mrn=MRN0001`)).status, 200);
      const logs = s.logs();
      assert.ok(logs.split('\n').length > 30, 'the server logged too little for this test to mean anything');
      for (const word of PHI) assert.equal(logs.includes(word), false, `the logs contain "${word}"`);
    });
  });
});

describe('error answers', () => {
  it("never echo the URL, the body or a driver's text", async () => {
    await withTestServer(async (s) => {
      const seen: string[] = [];
      const nf = await s.fetch('/fhir/Patient?family=TESTPATIENT&identifier=MRN0001');
      seen.push(await nf.text());
      assert.equal(nf.status, 404);
      const notJson = await s.fetch('/fhir', {
        method: 'POST',
        body: 'MSH|^~\\&|TESTPATIENT^ALEX MRN0001',
        headers: { 'content-type': 'application/fhir+json' },
      });
      seen.push(await notJson.text());
      assert.equal(notJson.status, 400);
      // a driver failing with a value of the message in its text
      const real = s.store.ingest.bind(s.store);
      let calls = 0;
      s.store.ingest = (meta, outcome) =>
        ++calls === 1 ? Promise.reject(Object.assign(new Error('duplicate key value (MRN0001, TESTPATIENT)'), { code: '23505' })) : real(meta, outcome);
      const ack = await postHl7(s, readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8'));
      s.store.ingest = real;
      seen.push(ack.text);
      assert.match(ack.text, /INTERNAL_ERROR: the adapter failed on this message \(Error 23505\); it is kept for replay/);
      const all = seen.join('\n') + s.logs();
      for (const word of ['TESTPATIENT', 'MRN0001', 'ALEX']) assert.equal(all.includes(word), false, `"${word}" in an answer or a log line`);
    });
  });
});
