// The console's fixes without leaving the page, in headless Chromium (Debian's chromium driven by
// playwright-core), by keyboard, role and label: acknowledge a retraction from its record page;
// open a broken message (its broken line shown as such), edit a copy and process it. No console
// error, no request off loopback; nothing is written into the repository (but the screenshots of
// `npm run screenshots`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { openLoopbackBrowser, shot, signInByKeyboard, skipWithoutChromium } from '../../test/browser.js';
import { postHl7, startTestServer } from '../../test/server.js';
import { acceptedThenCancelled, BREAK, broken, ORM } from '../../test/console-fixtures.js';

const KEY = 'console-edit-operate-key';
const SEND = { authorization: 'Bearer console-edit-send-key' };
// another order than the retraction's: the mended copy must not be a resend of 01-orm-new
const OTHER = ORM.replaceAll('MSG0001', 'MSG0501').replaceAll('ORD1001', 'ORD1501').replaceAll('ACC2001', 'ACC2501').replaceAll('V0001', 'V0501');

describe('console fixes in Chromium', () => {
  it('acknowledges a retraction from the record page; edits a broken message and processes the copy', async (t) => {
    if (skipWithoutChromium(t)) return;
    const s = await startTestServer({ listen: true, roles: { CDSR_OPERATE_API_KEYS: [KEY], CDSR_SEND_API_KEYS: ['console-edit-send-key'] } });
    const profile = mkdtempSync(join(tmpdir(), 'cdsr-chromium-'));
    let context: BrowserContext | undefined;
    try {
      await acceptedThenCancelled(s, SEND);
      assert.equal((await postHl7(s, broken(OTHER), SEND)).status, 200);
      const browser = await openLoopbackBrowser(profile);
      context = browser.context;
      const { page, hosts, errors } = browser;

      // sign in with the keyboard
      await signInByKeyboard(page, s.url, KEY);

      // the retraction: Records → the encounter → the instruction, the verdict, Acknowledge (by keyboard)
      const nav = page.getByRole('navigation', { name: 'Console' });
      await nav.getByRole('link', { name: 'Records' }).click();
      await page.getByRole('link', { name: 'V0001', exact: true }).click();
      const main = page.getByRole('main');
      await main.getByRole('heading', { name: 'Retraction at NRDR' }).waitFor();
      assert.match(
        await main.innerText(),
        /To do: cancelled after it was sent to NRDR \(Transaction_ID T-ACCEPTED\), and NRDR's API cannot delete a record: ask the NRDR Help Desk to remove consultation 11\/02\/2026 09:30:15/,
      );
      assert.match(await main.innerText(), /On what was sent in T-ACCEPTED, NRDR accepted it\./);
      assert.equal((await main.innerText()).includes('No verdict from NRDR yet'), false);
      await shot(page, 'record-retraction');
      await main.getByRole('button', { name: 'Acknowledge the retraction of consultation 11/02/2026 09:30:15' }).focus();
      await Promise.all([page.waitForURL(/\/acknowledge$/), page.keyboard.press('Enter')]);
      assert.equal(
        await page.getByRole('status').innerText(),
        'Acknowledged: the retraction of consultation 11/02/2026 09:30:15 at NRDR is recorded as done (by operate#1, 2026-11-23 06:00:00 UTC).',
      );
      assert.equal(await main.getByRole('button', { name: /^Acknowledge/ }).count(), 0);
      assert.match(await main.innerText(), /Acknowledged by operate#1 at 2026-11-23 06:00:00 UTC: the site removed it at NRDR\./);

      // the broken message: Messages → rejected → its page shows the broken line as such
      await nav.getByRole('link', { name: 'Messages' }).click();
      await page.getByLabel('Status').selectOption('rejected');
      await Promise.all([page.waitForURL(/status=rejected/), page.getByRole('button', { name: 'Search' }).click()]);
      await page.getByRole('link', { name: '#3', exact: true }).click();
      assert.equal(await page.getByRole('rowheader', { name: 'Line 7: not a segment' }).count(), 1);
      assert.equal(await page.getByRole('rowheader', { name: /^REN/ }).count(), 0);

      // edit a copy: mend the line break, process it
      await page.getByRole('link', { name: 'Edit a copy and process it' }).click();
      const text = page.getByLabel('Text of the copy');
      const typed = await text.inputValue();
      assert.equal(typed, broken(OTHER).replaceAll('\r', '\n'));
      await text.fill(typed.replace(BREAK[1], BREAK[0]));
      await shot(page, 'message-edit');
      await page.getByRole('button', { name: 'Process the copy as a new message' }).click();
      await page.getByRole('heading', { name: 'Message #4' }).waitFor();
      assert.equal(await page.getByRole('status').innerText(), 'The edited copy of message #3 was processed as message #4: applied (ACK AA).');
      assert.match(await main.innerText(), /Edited from message #3 by operate#1 at 2026-11-23 06:00:00 UTC\./);
      assert.equal(await page.getByRole('rowheader', { name: /not a segment/ }).count(), 0);
      // its record, from the new message; the original, linked back
      assert.equal(await main.getByRole('link', { name: '100000 / V0501' }).count(), 1);
      await main.getByRole('link', { name: 'message #3' }).click();
      await page.getByRole('heading', { name: 'Message #3' }).waitFor();
      assert.match(await main.innerText(), /Edited as message #4 \(by operate#1 at 2026-11-23 06:00:00 UTC\): this original is kept as it was received\./);

      const copy = await s.store.message(4);
      assert.deepEqual([copy?.status, copy?.sender, copy?.controlId, copy?.raw], ['applied', 'EHR^GENHOSP', 'MSG0501', OTHER.replace(/\r+$/, '')]);
      assert.equal((await s.store.message(3))?.raw, broken(OTHER));
      const audit = (await s.store.accessLog({ limit: 1000 })).map((e) => e.what);
      for (const what of ['acknowledged retraction of 100000|V0001 11/02/2026 09:30:15', 'edited message 3 as message(s) 4 (applied, ACK AA)'])
        assert.ok(audit.includes(what), what);
      assert.deepEqual(errors, []);
      assert.deepEqual([...hosts], ['127.0.0.1']);
    } finally {
      await context?.close();
      await s.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
