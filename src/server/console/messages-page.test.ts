// The Messages page and /api/messages: type/trigger, order numbers and the ACK sent as columns;
// content search by an HL7 path = value or a text, paged by id; a malformed path refused naming it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postHl7, type TestServer, withTestServer } from '../../../test/server.js';
import { broken, ORM } from '../../../test/console-fixtures.js';
import { bundleOfTwoServiceRequests } from '../../../test/fhir-fixtures.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../test/helpers.js';

const sampleFhir = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'fhir', n), 'utf8');
import { ackSent, messageTypeOf } from './messages-page.js';

const OMI_MRN2 = ORM.replace('PID|1||MRN0001', 'PID|1||MRN0002').replaceAll('ORD1001^EHR|ACC2001', 'ORD1002^EHR|ACC2002').replace('|MSG0001|', '|MSG0002|');
const ORM_AGAIN = ORM.replaceAll('ORD1001^EHR|ACC2001', 'ORD1009^EHR|ACC2009').replace('|MSG0001|', '|MSG0009|');

async function seed(s: TestServer): Promise<void> {
  for (const body of [ORM, OMI_MRN2, ORM, broken(ORM).replace('|MSG0001|', '|MSG0004|'), ORM_AGAIN]) await postHl7(s, body);
}

const api = async (s: TestServer, query: string) => {
  const r = await s.fetch(`/api/messages?${query}`);
  const body = (await r.json()) as { messages?: { id: number }[]; next?: string | null; error?: string };
  return { status: r.status, ids: body.messages?.map((m) => m.id), next: body.next, error: body.error };
};

/** The cells after the received time of the row of message `id`. */
const rowOf = (page: string, id: number) => new RegExp(`<a href="/ui/messages/${id}">#${id}</a></td><td>.*?</td>(<td>hl7v2</td>.*?)</tr>`).exec(page)?.[1];

describe('the Messages page: columns and content search', () => {
  it("a resend's page says it keeps no copy of its text and finds the first delivery, not that retention purged it", () =>
    withTestServer(async (s) => {
      await seed(s);
      const page = await (await s.fetch('/ui/messages/3')).text();
      assert.ok(
        page.includes(
          '<p class="empty">A resend keeps no copy of its text: it is the text of the first delivery of control id <a href="/ui/messages?q=MSG0001">MSG0001</a>, answered as that one was.</p>',
        ),
      );
      assert.equal(page.includes('purged by retention'), false);
    }));

  it('type/trigger, order numbers, the ACK sent (a resend answered as its first delivery, a refused one AR)', () =>
    withTestServer(async (s) => {
      await seed(s);
      const page = await (await s.fetch('/ui/messages')).text();
      assert.match(
        page,
        /<th scope="col">Type<\/th><th scope="col">Sender<\/th><th scope="col">Control id<\/th><th scope="col">Order numbers<\/th><th scope="col">Status<\/th><th scope="col">ACK<\/th>/,
      );
      assert.equal(
        rowOf(page, 1),
        '<td>hl7v2</td><td>ORM^O01</td><td>EHR^GENHOSP</td><td>MSG0001</td><td>ACC2001, ORD1001</td><td><span class="st st-applied">applied</span></td><td>AA</td><td></td>',
      );
      assert.equal(
        rowOf(page, 3),
        '<td>hl7v2</td><td></td><td>EHR^GENHOSP</td><td>MSG0001</td><td></td><td><span class="st st-duplicate">duplicate</span></td><td>AA</td><td></td>',
      );
      assert.match(
        rowOf(page, 4) ?? '',
        /^<td>hl7v2<\/td><td>ORM\^O01<\/td><td>EHR\^GENHOSP<\/td><td>MSG0004<\/td><td><\/td><td><span class="st st-rejected">rejected<\/span><\/td><td>AR<\/td><td>HL7_/,
      );
      assert.ok(
        page.includes('A message whose text was purged by retention (CDSR_RETENTION_DAYS), or a resend (which keeps no copy), is not found by its content.'),
      );
      assert.ok(page.includes('<label>Content <input type="search" name="q" value="" placeholder="PID-3.1=MRN123 or text"></label>'));
    }));

  it('search by PID-3.1 = value and by text, newest first on the page, paged by id on the API; a malformed path is refused naming it', () =>
    withTestServer(async (s) => {
      await seed(s);
      const page = await (await s.fetch(`/ui/messages?q=${encodeURIComponent('PID-3.1=MRN0001')}`)).text();
      assert.deepEqual(
        [...page.matchAll(/<a href="\/ui\/messages\/(\d+)">/g)].map((m) => Number(m[1])),
        [5, 4, 1],
      );
      assert.ok(page.includes('value="PID-3.1=MRN0001"'));
      assert.deepEqual(await api(s, 'q=PID-3.1%3DMRN0002'), { status: 200, ids: [2], next: null, error: undefined });
      assert.deepEqual(await api(s, 'q=PID-3.1%3DMRN0001&limit=2'), { status: 200, ids: [1, 4], next: '4', error: undefined });
      assert.deepEqual(await api(s, 'q=PID-3.1%3DMRN0001&limit=2&after=4'), { status: 200, ids: [5], next: null, error: undefined });
      assert.deepEqual(await api(s, 'q=PID-3.1%3DMRN0001&order=newest&limit=1&after=5'), { status: 200, ids: [4], next: '4', error: undefined });
      // a text: exactly, case-sensitive; OBR-3.1 by its path
      assert.deepEqual((await api(s, 'q=ACC2009')).ids, [5]);
      assert.deepEqual((await api(s, 'q=acc2009')).ids, []);
      assert.deepEqual((await api(s, 'q=OBR-3.1%3DACC2002')).ids, [2]);
      assert.deepEqual(await api(s, 'q=PID-3.x%3D1'), {
        status: 400,
        ids: undefined,
        next: undefined,
        error: 'q: position "3.x" is not field(.component(.subcomponent)), e.g. 3 or 3.1 or 3(2).1',
      });
      // no segment-dash shape: a text
      assert.deepEqual((await api(s, 'q=a%3Db')).ids, []);
      assert.deepEqual(await api(s, 'q=PID-3.1%3D'), { status: 400, ids: undefined, next: undefined, error: 'q: PID-3.1= needs a value after =' });
      assert.deepEqual(await api(s, 'q=PID-3.1%3DMRN0001&channel=fhir'), {
        status: 400,
        ids: undefined,
        next: undefined,
        error: 'q: PID-3.1 is an HL7 v2 path; channel=fhir has none',
      });
      const bad = await s.fetch(`/ui/messages?q=${encodeURIComponent('PID-0=1')}`);
      assert.equal(bad.status, 400);
      assert.ok((await bad.text()).includes('<p class="bad" role="alert">q: position &quot;0&quot;: positions start at 1</p>'));
    }));
});

describe('type and ACK of a row', () => {
  it("FHIR: the HTTP status the whole request was answered with, kept per message: a resource applied beside a failed one shows the request's 422", () =>
    withTestServer(async (s) => {
      const r = await s.fetch('/fhir', { method: 'POST', body: bundleOfTwoServiceRequests(), headers: { 'content-type': 'application/fhir+json' } });
      assert.equal(r.status, 422);
      // the Encounter and the first ServiceRequest applied, the second kept in the error queue: all three were answered 422
      assert.deepEqual(
        (await s.store.messageDetails([1, 2, 3])).map((d) => [d.id, d.answeredAs, d.answerStatus]),
        [
          [1, 'applied', 422],
          [2, 'applied', 422],
          [3, 'error', 422],
        ],
      );
      const page = await (await s.fetch('/ui/messages')).text();
      const acks = [...page.matchAll(/<a href="\/ui\/messages\/(\d+)">#\d+<\/a>.*?<span class="st st-(\w+)">\w+<\/span><\/td><td>([^<]*)<\/td>/g)].map((m) =>
        m.slice(1),
      );
      assert.deepEqual(acks, [
        ['3', 'error', '422'],
        ['2', 'applied', '422'],
        ['1', 'applied', '422'],
      ]);
      // a request all applied: 200 on its message
      const one = await s.fetch('/fhir', {
        method: 'POST',
        body: sampleFhir('06-servicerequest-update.json'),
        headers: { 'content-type': 'application/fhir+json' },
      });
      assert.equal(one.status, 200);
      assert.deepEqual(
        (await s.store.messageDetails([4])).map((d) => [d.answeredAs, d.answerStatus]),
        [['applied', 200]],
      );
    }));

  it('FHIR: the resourceType, else the type the control id names; 422 for a direct POST kept in the error queue, 200 for a notification', () => {
    assert.equal(messageTypeOf({ channel: 'fhir', controlId: 'x' }, '{"resourceType":"ServiceRequest"}'), 'ServiceRequest');
    assert.equal(messageTypeOf({ channel: 'fhir', controlId: 'Encounter/e1/_history/2' }, ''), 'Encounter');
    assert.equal(messageTypeOf({ channel: 'hl7v2', controlId: 'M' }, 'MSH|^~\\&|A|B|C|D|20261102||ADT^A08|M|P|2.5.1\rPID|1'), 'ADT^A08');
    assert.deepEqual(
      [
        ackSent({ channel: 'fhir', sender: 'fhir' }, { answeredAs: 'error' }),
        ackSent({ channel: 'fhir', sender: 'fhir' }, { answeredAs: 'applied' }),
        ackSent({ channel: 'fhir', sender: 'fhir' }, { answeredAs: 'pending' }),
        ackSent({ channel: 'fhir', sender: 'sub-1' }, { answeredAs: 'error' }),
        ackSent({ channel: 'hl7v2', sender: 'A^B' }, { answeredAs: 'ignored' }),
        ackSent({ channel: 'hl7v2', sender: 'A^B' }, { answeredAs: 'pending' }),
        // the status kept for the request wins over the one derived
        ackSent({ channel: 'fhir', sender: 'fhir' }, { answeredAs: 'applied', answerStatus: 422 }),
        ackSent({ channel: 'fhir', sender: 'sub-1' }, { answeredAs: 'error', answerStatus: 200 }),
        ackSent({ channel: 'hl7v2', sender: 'A^B' }, { answeredAs: 'applied', answerStatus: 422 }),
      ],
      ['422', '200', '200', '200', 'AR', 'AA', '422', '200', 'AA'],
    );
  });
});
