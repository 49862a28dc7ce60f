// Edit and reprocess from a message page: the copy is processed through the normal ingest path as
// a new message of the same channel and sender, the original stays as it was, each page links to
// the other, the form is CSRF-checked, and the edit is in the access audit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, SERVER_NOW, type TestServer, withTestServer } from '../../../test/server.js';
import { REPO_ROOT } from '../../../test/helpers.js';
import { broken, ORM } from '../../../test/console-fixtures.js';

const NOTIFICATION = readFileSync(join(REPO_ROOT, 'samples', 'fhir', '04-notification-r4b.json'), 'utf8');
const BROKEN = broken();
const ROLES = { CDSR_SEND_API_KEYS: ['k-send'], CDSR_OPERATE_API_KEYS: ['k-op'] };
const form = (fields: Record<string, string>, cookie: string) => ({
  method: 'POST',
  body: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
});
const AT = SERVER_NOW.toISOString();

/** A session: signed in with the operate key, or (no keys configured) the open console's. */
async function signIn(s: TestServer, open = false): Promise<{ cookie: string; csrf: string }> {
  const r = open
    ? await s.fetch('/ui')
    : await s.fetch('/ui/login', { method: 'POST', body: 'key=k-op', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0]!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(await (await s.fetch('/ui/worklist', { headers: { cookie } })).text())![1]!;
  return { cookie, csrf };
}

const textarea = (page: string) =>
  /<textarea id="edit-text" name="text" rows="18" spellcheck="false" autocomplete="off">([\s\S]*?)<\/textarea>/.exec(page)?.[1];

describe('edit and reprocess a message from the console', () => {
  it('HL7: a broken message mended in a copy is processed as a new message of the same sender; the original untouched; linked both ways; CSRF; audited', () =>
    withTestServer(
      async (s) => {
        const refused = await postHl7(s, BROKEN, { authorization: 'Bearer k-send' });
        assert.deepEqual([refused.status, /\rMSA\|AR\|/.test(refused.text)], [200, true]);
        const original = await s.store.message(1);
        assert.deepEqual([original?.status, original?.sender, original?.controlId, original?.raw], ['rejected', 'EHR^GENHOSP', 'MSG0001', BROKEN]);
        const { cookie, csrf } = await signIn(s);

        // the message page: the broken line is shown as such, and the way to edit a copy
        const page = await (await s.fetch('/ui/messages/1', { headers: { cookie } })).text();
        assert.match(
          page,
          /<tr class="broken"><th scope="row">Line 7: not a segment<\/th><td><p>[^<]*<\/p><code>RENAL note\^I10\|\|20261102\|W<\/code><\/td><\/tr>/,
        );
        assert.equal(page.includes('<th scope="row">REN'), false);
        assert.match(
          page,
          /<p><a href="\/ui\/messages\/1\/edit">Edit a copy and process it<\/a>: the copy becomes a new message of the same channel; this one is kept as it is\.<\/p>/,
        );

        const edit = await s.fetch('/ui/messages/1/edit', { headers: { cookie } });
        assert.equal(edit.status, 200);
        const editHtml = await edit.text();
        assert.equal(textarea(editHtml), BROKEN.replaceAll('\r', '\n').replaceAll('&', '&amp;'));
        assert.match(
          editHtml,
          /<form method="post" action="\/ui\/messages\/1\/edit" id="edit-form"><input type="hidden" name="csrf" value="[^"]+">\n<label for="edit-text">Text of the copy<\/label>/,
        );

        // as a browser sends it: one segment a line, CRLF
        const mended = ORM.replaceAll('\r', '\r\n');
        const count = async () => (await s.store.messages({ limit: 100 })).length;
        assert.equal((await s.fetch('/ui/messages/1/edit', form({ text: mended }, cookie))).status, 403);
        assert.equal((await s.fetch('/ui/messages/1/edit', form({ text: mended, csrf: 'wrong' }, cookie))).status, 403);
        const same = await s.fetch('/ui/messages/1/edit', form({ text: BROKEN.replaceAll('\r', '\r\n'), csrf }, cookie));
        assert.equal(same.status, 422);
        assert.match(
          await same.text(),
          /<p class="bad" role="alert" id="edit-error">The copy is the same as the original: nothing to process \(to map the original again through the tables in force, replay it\)\.<\/p>/,
        );
        const empty = await s.fetch('/ui/messages/1/edit', form({ text: ' \r\n', csrf }, cookie));
        assert.equal(empty.status, 422);
        assert.match(await empty.text(), /id="edit-error">The copy is empty: nothing to process\.<\/p>/);
        assert.equal(await count(), 1);

        const done = await s.fetch('/ui/messages/1/edit', form({ text: mended, csrf }, cookie));
        assert.equal(done.status, 200);
        const after = await done.text();
        assert.match(after, /<title>Message #2 · cdsr-adapter<\/title>/);
        assert.match(
          after,
          /<p class="result" role="status" id="edit-result">The edited copy of message #1 was processed as <a href="\/ui\/messages\/2">message #2<\/a>: <strong>applied<\/strong> \(ACK AA\)\.<\/p>/,
        );
        assert.match(
          after,
          /<p class="note" id="edited-from">Edited from <a href="\/ui\/messages\/1">message #1<\/a> by operate#1 at <time datetime="2026-11-23T06:00:00\.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time>\.<\/p>/,
        );

        // the new message: the same channel, sender and control id, the mended text, through the console's key; its record made
        const copy = await s.store.message(2);
        assert.deepEqual(copy, {
          id: 2,
          receivedAt: AT,
          channel: 'hl7v2',
          sender: 'EHR^GENHOSP',
          controlId: 'MSG0001',
          contentType: 'application/hl7-v2',
          auth: 'operate#1',
          hash: copy?.hash,
          status: 'applied',
          problems: [],
          raw: ORM.replace(/\r+$/, ''),
        });
        assert.deepEqual(
          (await s.store.records({})).map((r) => [r.encounterKey, r.consultationKey, r.state]),
          [['100000|V0001', '11/02/2026 09:30:15', 'ready']],
        );
        assert.deepEqual(await s.store.messageEdits(2), { editedFrom: { messageId: 1, by: 'operate#1', at: AT }, editedAs: [] });
        assert.deepEqual(await s.store.messageEdits(1), { editedAs: [{ messageId: 2, by: 'operate#1', at: AT }] });
        // the original as it was received
        assert.deepEqual(await s.store.message(1), original);
        const originalPage = await (await s.fetch('/ui/messages/1', { headers: { cookie } })).text();
        assert.match(
          originalPage,
          /<p class="note" id="edited-as">Edited as <a href="\/ui\/messages\/2">message #2<\/a> \(by operate#1 at <time datetime="2026-11-23T06:00:00\.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time>\): this original is kept as it was received\.<\/p>/,
        );
        // the list shows the new row, linked
        const list = await (await s.fetch('/ui/messages', { headers: { cookie } })).text();
        assert.match(
          list,
          /<tr><td><input type="checkbox" name="id" value="2" aria-label="select message 2"><\/td><td><a href="\/ui\/messages\/2">#2<\/a><\/td><td><time datetime="2026-11-23T06:00:00\.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time><\/td><td>hl7v2<\/td><td>ORM\^O01<\/td><td>EHR\^GENHOSP<\/td><td>MSG0001<\/td><td>ACC2001, ORD1001<\/td><td><span class="st st-applied">applied<\/span><\/td><td>AA<\/td><td><\/td><\/tr>/,
        );

        assert.deepEqual(
          (await s.store.accessLog({})).map((e) => [e.who, e.what, e.at]),
          [
            ['operate#1', 'console sign-in', AT],
            ['operate#1', 'message 1', AT],
            ['operate#1', 'message 1', AT],
            ['operate#1', 'edited message 1 as message(s) 2 (applied, ACK AA)', AT],
            ['operate#1', 'message 2', AT],
            ['operate#1', 'message 1', AT],
            // the list of messages: one entry, its number of rows, no identifier
            ['operate#1', 'messages listed: 2 rows', AT],
          ],
        );
        assert.equal((await s.fetch('/ui/messages/9/edit', { headers: { cookie } })).status, 404);
        assert.equal((await s.fetch('/ui/messages/9/edit', form({ text: mended, csrf }, cookie))).status, 404);
      },
      { roles: ROLES },
    ));

  it('FHIR: the copy of a resource a subscription notification carried keeps its sender (the subscription); a copy that is not JSON is refused with the answer and nothing is stored', () =>
    withTestServer(async (s) => {
      const r = await s.fetch('/fhir', { method: 'POST', body: NOTIFICATION, headers: { 'content-type': 'application/fhir+json' } });
      assert.ok(r.status < 500);
      const original = await s.store.message(1);
      const SUBSCRIPTION = 'https://ehr.example.org/fhir/Subscription/cdsr';
      assert.deepEqual(
        [original?.channel, original?.sender, original?.controlId],
        ['fhir', SUBSCRIPTION, 'ServiceRequest/sr-1001/_history/2026-11-02T09:35:00-05:00'],
      );
      const { cookie, csrf } = await signIn(s, true);
      const edit = await (await s.fetch('/ui/messages/1/edit', { headers: { cookie } })).text();
      // shown indented, as stored
      assert.equal(textarea(edit)?.startsWith('{\n  &quot;resourceType&quot;: &quot;ServiceRequest&quot;,\n  &quot;id&quot;: &quot;sr-1001&quot;,'), true);

      const notJson = await s.fetch('/ui/messages/1/edit', form({ text: '{"resourceType": "ServiceRequest",', csrf }, cookie));
      assert.equal(notJson.status, 422);
      assert.match(await notJson.text(), /id="edit-error">The copy was refused and nothing was stored \(HTTP 400\): not JSON \(at character \d+\)<\/p>/);
      assert.equal((await s.store.messages({ limit: 10 })).length, 1);

      const resource = JSON.parse(original!.raw) as { meta: object };
      const copy = JSON.stringify({ ...resource, meta: { ...resource.meta, lastUpdated: '2026-11-02T10:00:00-05:00' } }, null, 2);
      const done = await s.fetch('/ui/messages/1/edit', form({ text: copy, csrf }, cookie));
      assert.equal(done.status, 200);
      assert.match(
        await done.text(),
        /<p class="note" id="edited-from">Edited from <a href="\/ui\/messages\/1">message #1<\/a> by open at <time datetime="2026-11-23T06:00:00\.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time>\.<\/p>/,
      );
      const m = await s.store.message(2);
      assert.deepEqual(
        [m?.channel, m?.sender, m?.controlId, m?.auth, m?.status],
        ['fhir', SUBSCRIPTION, 'ServiceRequest/sr-1001/_history/2026-11-02T10:00:00-05:00', 'open', original?.status],
      );
      assert.deepEqual(await s.store.message(1), original);
      assert.deepEqual(
        (await s.store.accessLog({})).map((e) => e.what).filter((w) => w.startsWith('edited')),
        ['edited message 1: nothing stored (HTTP 400)', `edited message 1 as message(s) 2 (${original?.status}, HTTP ${r.status})`],
      );
    }));
});
