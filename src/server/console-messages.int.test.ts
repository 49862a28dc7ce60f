// The Messages page in headless Chromium, by keyboard, role and label: a search by PID-3.1 finds
// exactly the messages whose PID-3.1 holds the value (not one that has it in another field), with
// their type, order numbers and ACK; a page of them and the next. No console error, no request
// off loopback; nothing is written into the repository (but the screenshots of `npm run screenshots`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { openLoopbackBrowser, shot, signInByKeyboard, skipWithoutChromium } from '../../test/browser.js';
import { postHl7, startTestServer } from '../../test/server.js';
import { ORM } from '../../test/console-fixtures.js';

const KEY = 'console-messages-operate-key';
const SEND = { authorization: 'Bearer console-messages-send-key' };
/** ORM of another order (n), for the patient `mrn` in PID-3, `pid2` in PID-2. */
const order = (n: number, mrn: string, pid2 = '') =>
  ORM.replace('PID|1||MRN0001', `PID|1|${pid2}|${mrn}`)
    .replaceAll('MSG0001', `MSG07${n}`)
    .replaceAll('ORD1001', `ORD17${n}`)
    .replaceAll('ACC2001', `ACC27${n}`)
    .replaceAll('V0001', `V07${n}`);

describe('the Messages page in Chromium', () => {
  it('searches messages by PID-3.1 from the search form, shows type, order numbers and ACK', async (t) => {
    if (skipWithoutChromium(t)) return;
    const s = await startTestServer({ listen: true, roles: { CDSR_OPERATE_API_KEYS: [KEY], CDSR_SEND_API_KEYS: ['console-messages-send-key'] } });
    const profile = mkdtempSync(join(tmpdir(), 'cdsr-chromium-'));
    let context: BrowserContext | undefined;
    try {
      // #1 and #3 for MRN123 in PID-3; #2 has MRN123 in PID-2 only; #4 another patient
      for (const body of [order(10, 'MRN123'), order(11, 'MRN999', 'MRN123'), order(12, 'MRN123'), order(13, 'MRN456')])
        assert.equal((await postHl7(s, body, SEND)).status, 200);
      const browser = await openLoopbackBrowser(profile);
      context = browser.context;
      const { page, hosts, errors } = browser;
      await signInByKeyboard(page, s.url, KEY);

      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Messages' }).click();
      const search = page.getByRole('search');
      await search.getByLabel('Content').fill('PID-3.1=MRN123');
      await Promise.all([page.waitForURL(/q=PID-3\.1%3DMRN123/), search.getByLabel('Content').press('Enter')]);
      const rows = page.getByRole('main').getByRole('table').getByRole('row');
      const cells = async () =>
        (await rows.allInnerTexts()).slice(1).map((r) =>
          r
            .split('\t')
            .filter((_, i) => i !== 0 && i !== 2)
            .map((c) => c.trim()),
        );
      assert.deepEqual(await cells(), [
        ['#3', 'hl7v2', 'ORM^O01', 'EHR^GENHOSP', 'MSG0712', 'ACC2712, ORD1712', 'applied', 'AA', ''],
        ['#1', 'hl7v2', 'ORM^O01', 'EHR^GENHOSP', 'MSG0710', 'ACC2710, ORD1710', 'applied', 'AA', ''],
      ]);
      assert.equal(await search.getByLabel('Content').inputValue(), 'PID-3.1=MRN123');
      await shot(page, 'messages-search');
      // the same value as a text finds the message that has it in PID-2 too
      await search.getByLabel('Content').fill('MRN123');
      await Promise.all([page.waitForURL(/q=MRN123/), search.getByRole('button', { name: 'Search' }).click()]);
      assert.deepEqual(
        (await cells()).map((r) => r[0]),
        ['#3', '#2', '#1'],
      );
      // a malformed path: refused, naming why
      await search.getByLabel('Content').fill('PID-0=1');
      await Promise.all([page.waitForURL(/q=PID-0/), search.getByLabel('Content').press('Enter')]);
      assert.equal(await page.getByRole('alert').innerText(), 'q: position "0": positions start at 1');
      // the refused search is answered 400, which Chromium logs; nothing else
      assert.deepEqual(errors, ['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
      assert.deepEqual([...hosts], ['127.0.0.1']);
    } finally {
      await context?.close();
      await s.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
