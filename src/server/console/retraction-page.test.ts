// A retraction on the record page: an order cancelled after NRDR accepted it shows what the site
// does at NRDR, NRDR's verdict on what was sent (not "no verdict yet"), and an Acknowledge button
// that is the API's operation (POST /api/records/{f}/{e}/acknowledge), CSRF-checked and audited.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postHl7, SERVER_NOW, type TestServer, withTestServer } from '../../../test/server.js';
import { acceptedThenCancelled, INSTRUCTION, ORM } from '../../../test/console-fixtures.js';
import { esc } from './html.js';

const ROLES = { CDSR_SEND_API_KEYS: ['k-send'], CDSR_OPERATE_API_KEYS: ['k-op'], CDSR_VIEW_API_KEYS: ['k-view'] };
const SEND = { authorization: 'Bearer k-send' };
const form = (body: string, cookie: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
const KEY = '11/02/2026 09:30:15';

async function signIn(s: TestServer): Promise<{ cookie: string }> {
  const r = await s.fetch('/ui/login', { method: 'POST', body: 'key=k-op', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(r.status, 303);
  return { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0]! };
}

/** The consultation's section from its "Retraction at NRDR" heading to its History heading. */
const section = (page: string) =>
  /<h3>Retraction at NRDR<\/h3>[\s\S]*?(?=<h3>History<\/h3>)/.exec(page)?.[0] ?? /<h3>NRDR verdict<\/h3>[\s\S]*?(?=<h3>History<\/h3>)/.exec(page)?.[0];

describe('retractions on the record page', () => {
  it('the instruction, the verdict on what was sent and the Acknowledge button; refused without the CSRF token; acknowledged once, audited, then shown as done', () =>
    withTestServer(
      async (s) => {
        await acceptedThenCancelled(s, SEND);
        const { cookie } = await signIn(s);
        const before = await (await s.fetch('/ui/records/100000/V0001', { headers: { cookie } })).text();
        const csrf = /name="csrf" value="([^"]+)"/.exec(before)![1]!;
        assert.match(
          before,
          /<h2>Consultation 11\/02\/2026 09:30:15 <span class="st st-cancelled-after-submission">cancelled-after-submission<\/span> \(cancelled\)<\/h2>/,
        );
        assert.equal(
          section(before),
          `<h3>Retraction at NRDR</h3><p class="note" id="retraction-11-02-2026-09-30-15">To do: ${esc(INSTRUCTION)}.</p>\n` +
            `<form method="post" action="/ui/records/100000/V0001/acknowledge" class="search"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="consultation" value="11/02/2026 09:30:15">\n` +
            '<p>Once the NRDR Help Desk has removed it, say so here (written to the access audit):</p> <button type="submit" aria-label="Acknowledge the retraction of consultation 11/02/2026 09:30:15">Acknowledge</button></form>\n' +
            '<h3>NRDR verdict</h3><p class="good" id="verdict-11-02-2026-09-30-15">On what was sent in T-ACCEPTED, NRDR accepted it.</p>\n',
        );
        assert.equal(before.includes('No verdict from NRDR yet'), false);

        // without the token, or with another, nothing is acknowledged
        const body = `consultation=${encodeURIComponent(KEY)}`;
        assert.equal((await s.fetch('/ui/records/100000/V0001/acknowledge', form(body, cookie))).status, 403);
        assert.equal((await s.fetch('/ui/records/100000/V0001/acknowledge', form(`${body}&csrf=wrong`, cookie))).status, 403);
        assert.equal((await s.store.record('100000|V0001'))?.consultations[0]?.retraction?.acknowledged, null);

        const ack = await s.fetch('/ui/records/100000/V0001/acknowledge', form(`${body}&csrf=${csrf}`, cookie));
        assert.equal(ack.status, 200);
        const after = await ack.text();
        assert.match(
          after,
          /<p id="acknowledge-result" role="status" class="good">Acknowledged: the retraction of consultation 11\/02\/2026 09:30:15 at NRDR is recorded as done \(by operate#1, <time datetime="2026-11-23T06:00:00\.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time>\)\.<\/p>/,
        );
        assert.equal(
          section(after),
          `<h3>Retraction at NRDR</h3><p class="note" id="retraction-11-02-2026-09-30-15">To do: ${esc(INSTRUCTION)}.</p>\n` +
            '<p class="good">Acknowledged by operate#1 at <time datetime="2026-11-23T06:00:00.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC</time>: the site removed it at NRDR.</p>\n' +
            '<h3>NRDR verdict</h3><p class="good" id="verdict-11-02-2026-09-30-15">On what was sent in T-ACCEPTED, NRDR accepted it.</p>\n',
        );
        // the same state as the API's acknowledgement: the order is excluded, acknowledged by the console's key
        const orders = (await (await s.fetch('/api/orders?reason=cancelled-after-submission', { headers: { authorization: 'Bearer k-view' } })).json()) as {
          orders: { state: string; retraction: { acknowledged: unknown } }[];
        };
        assert.deepEqual(
          orders.orders.map((o) => [o.state, o.retraction.acknowledged]),
          [['excluded', { by: 'operate#1', at: SERVER_NOW.toISOString() }]],
        );

        const again = await s.fetch('/ui/records/100000/V0001/acknowledge', form(`${body}&csrf=${csrf}`, cookie));
        assert.equal(again.status, 200);
        assert.match(
          await again.text(),
          /<p id="acknowledge-result" role="status" class="empty">Already acknowledged by operate#1 at <time datetime="2026-11-23T06:00:00\.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time>: nothing changed\.<\/p>/,
        );
        const notOne = await s.fetch(
          '/ui/records/100000/V0001/acknowledge',
          form(`consultation=${encodeURIComponent('11/02/2026 09:30:16')}&csrf=${csrf}`, cookie),
        );
        assert.equal(notOne.status, 404);
        assert.match(await notOne.text(), /<p id="acknowledge-result" role="alert" class="bad">No consultation 11\/02\/2026 09:30:16 in this encounter\.<\/p>/);
        assert.equal((await s.fetch('/ui/records/100000/NOPE/acknowledge', form(`${body}&csrf=${csrf}`, cookie))).status, 404);

        assert.deepEqual(
          (await s.store.accessLog({})).map((e) => [e.who, e.what, e.at]),
          [
            ['operate#1', 'console sign-in', SERVER_NOW.toISOString()],
            ['operate#1', 'record 100000|V0001', SERVER_NOW.toISOString()],
            ['operate#1', 'acknowledged retraction of 100000|V0001 11/02/2026 09:30:15', SERVER_NOW.toISOString()],
            ['operate#1', 'record 100000|V0001', SERVER_NOW.toISOString()],
            // the view key's list of the ledger: by which parameter, how many rows, never the numbers
            ['view#1', 'orders listed: 1 row (by reason)', SERVER_NOW.toISOString()],
            ['operate#1', 'record 100000|V0001', SERVER_NOW.toISOString()],
            ['operate#1', 'record 100000|V0001', SERVER_NOW.toISOString()],
          ],
        );
      },
      { roles: ROLES },
    ));

  it('a record that is not a retraction has no Acknowledge button, and one posted anyway is refused (409)', () =>
    withTestServer(async (s) => {
      assert.match((await postHl7(s, ORM)).text, /MSA\|AA/);
      const cookie = ((await s.fetch('/ui')).headers.get('set-cookie') ?? '').split(';')[0]!;
      const page = await (await s.fetch('/ui/records/100000/V0001', { headers: { cookie } })).text();
      assert.equal(section(page), '<h3>NRDR verdict</h3><p class="empty">No verdict from NRDR yet.</p>\n');
      assert.equal(page.includes('name="csrf"'), false);
      // the token of the session, from a page with a form
      const csrf = /name="csrf" value="([^"]+)"/.exec(await (await s.fetch('/ui/worklist', { headers: { cookie } })).text())![1]!;
      const r = await s.fetch('/ui/records/100000/V0001/acknowledge', form(`consultation=${encodeURIComponent(KEY)}&csrf=${csrf}`, cookie));
      assert.equal(r.status, 409);
      assert.match(
        await r.text(),
        /<p id="acknowledge-result" role="alert" class="bad">Consultation 11\/02\/2026 09:30:15 is not cancelled after submission \(it is ready\): nothing to acknowledge\.<\/p>/,
      );
      assert.deepEqual(
        (await s.store.accessLog({})).map((e) => e.what).filter((w) => w.startsWith('acknowledged')),
        [],
      );
    }));
});
