// The Orders page in headless Chromium, driven by keyboard and by role and label (not CSS): find an
// order by its accession and by the patient's MRN, open its timeline and the message in it, and follow an Overview count to
// exactly the orders it counts. No request leaves loopback, no console error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { openLoopbackBrowser, shot, signInByKeyboard, skipWithoutChromium } from '../../test/browser.js';
import { postHl7, startTestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';

const KEY = 'orders-test-operate-key';
const SEND_KEY = 'orders-test-send-key';
const sample = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');

/** Follows a link by keyboard: focus, Enter, and wait for the page it leads to. */
/** The order links (accession / order number) of the page's table, in order. */
const orderLinks = (page: Page) =>
  page
    .getByRole('table')
    .getByRole('row')
    .getByRole('link', { name: /\/ ORD/ })
    .allInnerTexts();

async function follow(page: Page, link: Locator): Promise<void> {
  await link.focus();
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
}

describe('Orders page in Chromium', () => {
  it('finds an order by accession and by MRN, opens its timeline and its message, and follows an Overview count and a day of its chart to the orders they count', async (t) => {
    if (skipWithoutChromium(t)) return;
    // 06:00 UTC is midnight in Chicago: the Overview's day there is 2026-11-23
    const s = await startTestServer({ listen: true, timeZone: 'America/Chicago', roles: { CDSR_OPERATE_API_KEYS: [KEY], CDSR_SEND_API_KEYS: [SEND_KEY] } });
    const profile = mkdtempSync(join(tmpdir(), 'cdsr-chromium-'));
    let context: BrowserContext | undefined;
    try {
      const auth = { authorization: `Bearer ${SEND_KEY}` };
      // a CT order (reported) and an XR order that a crosswalk row excludes, on the same encounter
      assert.match((await postHl7(s, sample('01-orm-new.hl7'), auth)).text, /MSA\|AA\|MSG0001/);
      assert.match((await postHl7(s, sample('09-orm-xr-excluded.hl7'), auth)).text, /MSA\|AA\|MSG0009/);
      const browser = await openLoopbackBrowser(profile);
      context = browser.context;
      const { page, hosts, errors } = browser;

      await signInByKeyboard(page, s.url, KEY);

      // find by accession
      await follow(page, page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Orders' }));
      assert.equal(new URL(page.url()).pathname, '/ui/orders');
      await page.getByLabel('Order number').fill('ACC2009');
      await Promise.all([page.waitForURL(/order=ACC2009/), page.keyboard.press('Enter')]);
      const found = page.getByRole('table').getByRole('row');
      assert.equal(await found.count(), 2, 'a header row and one order');
      assert.match(
        await found.nth(1).innerText(),
        /^ACC2009 \/ ORD1009\t100000\tV0001\t11\/02\/2026 15:00:00\texcluded not-advanced-imaging\t2026-11-23 00:00:00 CST\t2026-11-23 00:00:00 CST$/,
      );

      // find by the patient's MRN: both orders (each message carries MRN0001 in PID-3.1)
      await page.getByLabel('Order number').fill('');
      await page.getByLabel('MRN', { exact: true }).fill('MRN0001');
      await Promise.all([page.waitForURL(/mrn=MRN0001/), page.keyboard.press('Enter')]);
      assert.deepEqual(await orderLinks(page), ['ACC2001 / ORD1001', 'ACC2009 / ORD1009']);
      assert.equal(await page.getByLabel('MRN', { exact: true }).inputValue(), 'MRN0001');
      await shot(page, 'orders');

      // its timeline, then the message that touched it
      await follow(page, page.getByRole('link', { name: 'ACC2009 / ORD1009' }));
      assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Order ACC2009 / ORD1009');
      const messages = page.getByRole('table').filter({ has: page.getByRole('columnheader', { name: 'ACK for its status' }) });
      assert.match(await messages.getByRole('row').nth(1).innerText(), /^#2\t2026-11-23 00:00:00 CST\tORM\^O01\tMSG0009\tEHR\^GENHOSP\tapplied\tAA$/);
      assert.match(await page.getByRole('main').innerText(), /Submissions and NRDR's answers\n+Not sent to NRDR\./);
      await shot(page, 'order');
      await follow(page, messages.getByRole('link', { name: '#2' }));
      assert.equal(new URL(page.url()).pathname, '/ui/messages/2');

      // the Overview's excluded count leads to exactly the order it counts
      await follow(page, page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Overview' }));
      await follow(page, page.getByRole('link', { name: '1 excluded order(s) of 100000 on 2026-11-23' }));
      assert.equal(new URL(page.url()).search, '?facility=100000&day=2026-11-23&state=excluded');
      assert.equal(await page.getByLabel('State').inputValue(), 'excluded');
      const counted = page.getByRole('table').getByRole('row');
      assert.equal(await counted.count(), 2);
      assert.equal(await counted.nth(1).getByRole('link').first().innerText(), 'ACC2009 / ORD1009');
      // and the seen count to both
      await page.goBack();
      await follow(page, page.getByRole('link', { name: '2 seen order(s) of 100000 on 2026-11-23' }));
      assert.deepEqual(await orderLinks(page), ['ACC2001 / ORD1001', 'ACC2009 / ORD1009']);

      // a day of the Overview's 30-day chart leads to that day's orders (the facility's local day)
      await follow(page, page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Overview' }));
      await shot(page, 'overview-chart', page.getByRole('region', { name: /^Facility 100000/ }));
      await follow(page, page.getByRole('link', { name: /^2026-11-23: 2 seen, .*; open these orders$/ }));
      assert.equal(new URL(page.url()).search, '?facility=100000&day=2026-11-23');
      assert.deepEqual(await orderLinks(page), ['ACC2001 / ORD1001', 'ACC2009 / ORD1009']);

      assert.deepEqual([...hosts], ['127.0.0.1']);
      assert.deepEqual(errors, []);
    } finally {
      await context?.close();
      await s.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
