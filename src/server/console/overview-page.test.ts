// The Overview's last 30 days through the app: each facility's chart in its own days, each bar a
// link to that day's orders, the same numbers in a table, the age of the oldest held order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, withTestServer, type TestServer } from '../../../test/server.js';
import { REPO_ROOT } from '../../../test/helpers.js';

const sample = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const facilities = (zone: string) => `source,facility_id,partner_id,timezone,comment\nGENHOSP,100000,,${zone},sample hospital\n`;

async function overview(s: TestServer): Promise<string> {
  const cookie = ((await s.fetch('/ui')).headers.get('set-cookie') ?? '').split(';')[0]!;
  const r = await s.fetch('/ui', { headers: { cookie } });
  assert.equal(r.status, 200);
  return r.text();
}

const between = (text: string, from: string, to: string): string => {
  const i = text.indexOf(from);
  assert.notEqual(i, -1, from);
  return text.slice(i, text.indexOf(to, i) + to.length);
};

describe('console overview: the last 30 days', () => {
  // the server's clock is 2026-11-23T06:00Z: midnight of Nov 23 in Chicago
  it("charts a facility's orders on its local day, each bar a link to that day's orders with its numbers in words, a table of the same numbers, and the oldest held order's age", () =>
    withTestServer(
      async (s) => {
        // reported, two orphan results (held), an XR order (excluded)
        for (const n of ['01-orm-new.hl7', '08-oru-two-results-no-orc.hl7', '09-orm-xr-excluded.hl7'])
          assert.match((await postHl7(s, sample(n))).text, /MSA\|AA/);
        const page = await overview(s);
        assert.ok(
          page.includes(
            '<h3 id="h-days-0">Facility 100000 <small>America/Chicago</small></h3>\n<p>Oldest held order: waiting 0 min, since <time datetime="2026-11-23T06:00:00.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 00:00:00 CST</time>. <a href="/ui/orders?facility=100000&amp;state=held">Held orders</a>.</p>',
          ),
        );
        const svg = between(page, '<svg ', '</svg>');
        assert.match(
          svg,
          /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="day-chart" viewBox="0 0 514 146" width="514" height="146" role="group" aria-labelledby="days-0-t" aria-describedby="days-0-d"><title id="days-0-t">Orders of facility 100000 by day, 2026-10-25 to 2026-11-23 \(America\/Chicago\)<\/title><desc id="days-0-d">4 order\(s\) seen in 30 day\(s\), at most 4 a day\./,
        );
        // one bar (the other 29 days have none), the last; its parts reported, held, excluded from the bottom
        assert.deepEqual(
          [...svg.matchAll(/<a href="([^"]*)" aria-label="([^"]*)">/g)].map((m) => [m[1], m[2]]),
          [['/ui/orders?facility=100000&amp;day=2026-11-23', '2026-11-23: 4 seen, 1 reported, 2 held, 1 excluded; open these orders']],
        );
        assert.deepEqual(
          [...svg.matchAll(/<rect x="496" y="(\d+)" width="12" height="(\d+)" fill="([^"]+)"/g)].map((m) => [Number(m[1]), Number(m[2]), m[3]]),
          [
            [105, 25, '#0b3d66'],
            [55, 50, 'url(#days-0-held)'],
            [30, 25, 'url(#days-0-excl)'],
          ],
        );
        // drawn here: no script, nothing fetched from elsewhere
        assert.equal(/<script|<image|<use|href="http|url\(http/.test(svg), false);
        const rows = between(page, '<details><summary>The 30 days as a table</summary>', '</details>');
        assert.equal([...rows.matchAll(/<tr><td>\d{4}-\d{2}-\d{2}<\/td>/g)].length, 30);
        assert.ok(rows.includes('<caption>Facility 100000, 2026-10-25 to 2026-11-23 (America/Chicago)</caption>'));
        assert.ok(rows.includes('<tr><td>2026-11-22</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>'));
        assert.ok(
          rows.includes(
            '<tr><td>2026-11-23</td><td><a href="/ui/orders?facility=100000&amp;day=2026-11-23">4</a></td><td><a href="/ui/orders?facility=100000&amp;day=2026-11-23&amp;state=reported">1</a></td><td><a href="/ui/orders?facility=100000&amp;day=2026-11-23&amp;state=held">2</a></td><td><a href="/ui/orders?facility=100000&amp;day=2026-11-23&amp;state=excluded">1</a></td></tr>',
          ),
        );
        // the chart's numbers are the reconciliation's
        const recon = (await (await s.fetch('/api/reconciliation?from=2026-11-23&to=2026-11-23')).json()) as { days: unknown[] };
        assert.deepEqual(recon.days, [
          { facilityId: '100000', day: '2026-11-23', seen: 4, reported: 1, held: { orphan: 2 }, excluded: { 'not-advanced-imaging': 1 } },
        ]);
        // every id of the page once
        const ids = [...page.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
        assert.deepEqual(
          ids.filter((id, i) => ids.indexOf(id) !== i),
          [],
        );
      },
      { facilities: facilities('America/Chicago') },
    ));

  it("in Los Angeles the same instant is Nov 22: the chart ends on the facility's today, not UTC's; nothing held says so; no order at all says so", async () => {
    await withTestServer(
      async (s) => {
        assert.match((await postHl7(s, sample('01-orm-new.hl7'))).text, /MSA\|AA/);
        const page = await overview(s);
        assert.ok(page.includes('<h3 id="h-days-0">Facility 100000 <small>America/Los_Angeles</small></h3>\n<p>No order held.</p>'));
        assert.ok(page.includes('<title id="days-0-t">Orders of facility 100000 by day, 2026-10-24 to 2026-11-22 (America/Los_Angeles)</title>'));
        assert.deepEqual(
          [...between(page, '<svg ', '</svg>').matchAll(/<a href="([^"]*)" aria-label="([^"]*)">/g)].map((m) => [m[1], m[2]]),
          [['/ui/orders?facility=100000&amp;day=2026-11-22', '2026-11-22: 1 seen, 1 reported, 0 held, 0 excluded; open these orders']],
        );
      },
      { facilities: facilities('America/Los_Angeles') },
    );
    await withTestServer(async (s) => {
      assert.ok(
        (await overview(s)).includes(
          '<h2 id="h-days">The last 30 days (each facility\'s days in its time zone)</h2>\n<p class="empty">No order seen in the last 30 days.</p>',
        ),
      );
    });
  });
});
