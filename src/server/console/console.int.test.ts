// The console end to end in headless Chromium (Debian's chromium driven by playwright-core): sign
// in by keyboard, every page loads, the main flows work (worklist → dry run → replay; search →
// open → replay; reprocess: preview → apply), no console error, no request leaves loopback; with
// CDSR_SCREENSHOTS=1 (`npm run screenshots`) a screenshot of each page is saved under docs/ for
// docs/console.md (a plain test run writes nothing into the repository).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { openLoopbackBrowser, shot, signInByKeyboard, skipWithoutChromium } from '../../../test/browser.js';
import { postHl7, startTestServer, type TestServer } from '../../../test/server.js';
import { REPO_ROOT, transactionFor } from '../../../test/helpers.js';
import { codeFor, SEVEN, tableOf, unmappedMessages } from '../../../test/unmapped.js';

const KEY = 'console-test-operate-key';
const SEND_KEY = 'console-test-send-key';
const sample = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');

async function seed(s: TestServer): Promise<number> {
  const auth = { authorization: `Bearer ${SEND_KEY}` };
  for (const n of ['01-orm-new.hl7', '04-oru-final.hl7', '05-omi-new.hl7', '07-orm-two-orders.hl7']) await postHl7(s, sample(n), auth);
  const msgs = unmappedMessages(SEVEN.map((c) => ({ ...c, count: Math.ceil(c.count / 4) })));
  for (const m of msgs) await postHl7(s, m.raw, auth);
  // a transaction NRDR answered: one record accepted, one rejected
  const ready = await s.store.wireEncounters('ready', 2);
  assert.ok(ready.length >= 2, 'the samples give two ready records');
  const body = transactionFor(
    'T-CONSOLE-1',
    ready.map((r) => r.wire),
    '11/23/2026 06:00:00',
  );
  const at = new Date('2026-11-23T06:00:00Z');
  assert.equal((await s.store.createTransaction(body, ready, at)).created, true);
  // NRDR's answers as the submitter keeps them: the POST's, then each poll that said something new
  const said = (Status: string, errors: { Exam_Unique_ID: string; Error_Msg: string }[] = []) => ({
    Transaction_ID: 'T-CONSOLE-1',
    Transaction_DateTime: body.Transaction_DateTime,
    Num_of_Exam_Included: 2,
    Num_of_Exam_In_Error: errors.length,
    PartnerID: '10000',
    AppID: '10019',
    Facility_ID: '100000',
    Status,
    Error_Msg: errors.length > 0 ? 'Some exams failed' : null,
    Exam_Errors: errors,
  });
  const later = (s: number) => new Date(at.getTime() + s * 1000);
  await s.store.updateTransaction('T-CONSOLE-1', { status: 'sent' }, at);
  await s.store.updateTransaction('T-CONSOLE-1', { status: 'posted', attempted: true, nrdr: said('Received') }, at);
  await s.store.nrdrStatusSeen('T-CONSOLE-1', said('Loading'), later(5));
  const final = said('PartiallySuccessful', [
    { Exam_Unique_ID: ready[1]!.wire.Unique_Encounter_ID, Error_Msg: 'CD2053:Facility_ID is not registered for this partner' },
  ]);
  await s.store.nrdrStatusSeen('T-CONSOLE-1', final, later(12));
  await s.store.updateTransaction('T-CONSOLE-1', { status: 'done', nrdr: final }, later(12));
  await s.store.recordResults(
    'T-CONSOLE-1',
    [
      { ...ready[0]!, result: 'accepted', problems: [] },
      {
        ...ready[1]!,
        result: 'rejected',
        problems: [{ code: 'CD2053', message: 'Facility_ID is not registered for this partner', severity: 'error', scope: 'transaction', path: '' }],
      },
    ],
    at,
  );
  return msgs.length;
}

describe('web console in Chromium', () => {
  it('signs in, shows every page, runs the worklist and message flows, stays on loopback without console errors', async (t) => {
    if (skipWithoutChromium(t)) return;
    const profile = mkdtempSync(join(tmpdir(), 'cdsr-chromium-'));
    // the test bench's drafts folder (CDSR_BENCH_DRAFTS_DIR): the draft below is made in it
    const s = await startTestServer({
      listen: true,
      roles: { CDSR_OPERATE_API_KEYS: [KEY], CDSR_SEND_API_KEYS: [SEND_KEY] },
      security: { CDSR_BENCH_DRAFTS_DIR: profile },
    });
    let context: BrowserContext | undefined;
    try {
      const unmapped = await seed(s);
      const browser = await openLoopbackBrowser(profile);
      context = browser.context;
      const { page, hosts, errors } = browser;

      // sign in with the keyboard only
      await signInByKeyboard(page, s.url, KEY);
      const cookie = (await context.cookies()).find((c) => c.name === 'cdsr_console');
      assert.equal(cookie?.httpOnly, true);
      assert.equal(cookie?.sameSite, 'Strict');
      assert.notEqual(cookie?.value, KEY);
      assert.match(await page.locator('main').innerText(), new RegExp(`${unmapped} message\\(s\\) wait in the error queue`));
      await shot(page, 'overview');

      // worklist → dry run (nothing resolves yet) → rows added → dry run → replay
      await page.click('nav >> text=Worklist');
      assert.equal(await page.locator('#worklist tbody tr').count(), 7);
      await page.click('#dry-run');
      assert.match(await page.locator('#dry-run-result').innerText(), new RegExp(`0 of ${unmapped} message\\(s\\) would resolve`));
      for (const c of SEVEN) appendFileSync(join(s.mappingsDir, tableOf(c.field)), `${c.value},${codeFor(c.field)},added in the console test\n`);
      await page.click('#dry-run');
      assert.match(await page.locator('#dry-run-result').innerText(), new RegExp(`${unmapped} of ${unmapped} message\\(s\\) would resolve`));
      await shot(page, 'worklist');
      assert.equal(s.mappings.reload().ok, true);

      // messages: search → open → replay one; then a selection
      await page.click('nav >> text=Messages');
      await page.fill('input[name=controlId]', 'WL0001');
      await page.selectOption('select[name=status]', 'error');
      await page.keyboard.press('Enter');
      await page.waitForURL(/controlId=WL0001/);
      assert.equal(await page.locator('#messages tbody tr').count(), 1);
      await page.click('#messages tbody tr a');
      assert.match(await page.locator('table.er7').innerText(), /OBR-24\s+ZA/);
      await shot(page, 'message');
      await page.click('#replay-one');
      assert.match(await page.locator('#replay-result').innerText(), /now applied/);
      assert.match(await page.locator('main').innerText(), /Modality\tOBR-24\tZA\tcrosswalks\/modality\.csv:\d+\t1\thl7v2\.yaml:\d+/);
      await page.goto(`${s.url}/ui/messages?status=error`);
      assert.equal(await page.locator('#messages tbody tr').count(), unmapped - 1);
      await shot(page, 'messages');
      await page.check('#messages tbody tr:nth-child(1) input[type=checkbox]');
      await page.check('#messages tbody tr:nth-child(2) input[type=checkbox]');
      await page.click('#replay-selection button[type=submit]');
      assert.match(await page.locator('#replay-result').innerText(), /2 message\(s\) replayed: applied 2/);
      await page.goto(`${s.url}/ui/worklist`);
      await page.click('#replay-all');
      assert.match(await page.locator('#replay-result').innerText(), new RegExp(`${unmapped - 3} message\\(s\\) replayed: applied ${unmapped - 3}`));

      // a record with its provenance, reached from its message
      await page.goto(`${s.url}/ui/messages?controlId=WL0001`);
      await page.click('#messages tbody tr a');
      await page.click('dd >> a[href^="/ui/records/"]');
      const record = await page.locator('main').innerText();
      assert.match(record, /Modality\s+1\s+WL0001/);
      assert.match(record, /\tcrosswalks\/modality\.csv:\d+\t/);
      await shot(page, 'record');
      await page.click('nav >> text=Records');
      assert.ok((await page.locator('#records tbody tr').count()) > unmapped);

      // reprocess: a preview of everything (its page refreshes itself until done), then applied
      await page.click('nav >> text=Reprocess');
      await page.check('#reprocess-form input[name=all]');
      await page.click('#reprocess-preview');
      await page.waitForURL(/\/ui\/reprocess\/\d+$/);
      await page.waitForSelector('#run-running', { state: 'detached', timeout: 60_000 });
      assert.match(await page.locator('#run-meta').innerText(), /Kind\s+preview \(dry run\): nothing was changed\s+Status\s+done/);
      assert.match(await page.locator('#run-summary').innerText(), /unit\(s\) done/);
      await shot(page, 'reprocess-run');
      await page.click('#apply-preview button');
      await page.waitForSelector('#run-running', { state: 'detached', timeout: 60_000 });
      assert.match(await page.locator('#run-meta').innerText(), /Kind\s+applied\s+Status\s+done/);
      await page.click('nav >> text=Reprocess');
      assert.deepEqual(await page.locator('#runs tbody tr td:nth-child(2)').allInnerTexts(), ['applied', 'preview']);
      await shot(page, 'reprocess');

      // transactions: the list, one with its verdicts and the JSON sent
      await page.click('nav >> text=Transactions');
      await page.click('#transactions >> text=T-CONSOLE-1');
      const tx = await page.locator('main').innerText();
      assert.match(tx, /CD2053/);
      assert.match(tx, /"Transaction_ID": "T-CONSOLE-1"/);
      assert.deepEqual(await page.locator('#nrdr-history tbody tr td:nth-child(2)').allInnerTexts(), ['Received', 'Loading', 'PartiallySuccessful']);
      await shot(page, 'transaction');

      // test bench: nothing stored
      const before = (await s.store.messages({ limit: 1000 })).length;
      await page.click('nav >> text=Test bench');
      await page.fill('#bench-text', sample('01-orm-new.hl7').replaceAll('\r', '\n'));
      await page.click('#bench-run');
      const bench = await page.locator('#bench-result').innerText();
      assert.match(bench, /"Facility_ID": "100000"/);
      assert.match(bench, /Modality\s+OBR-24\s+CT/);
      assert.equal((await s.store.messages({ limit: 1000 })).length, before);
      await shot(page, 'bench');
      // the same message through a draft folder (a copy with CT mapped to 2): the draft's row, the tables in force untouched
      const draft = join(profile, 'draft-mappings');
      cpSync(s.mappingsDir, draft, { recursive: true });
      const cw = join(draft, 'crosswalks', 'modality.csv');
      writeFileSync(cw, readFileSync(cw, 'utf8').replace('\nCT,1,', '\nCT,2,'));
      await page.fill('#bench-draft', draft);
      await page.click('#bench-run');
      assert.match(await page.locator('#bench-tables').innerText(), /^Mapped through the draft folder /);
      assert.match(await page.locator('#bench-result').innerText(), /"Modality": "2"/);
      assert.equal(readFileSync(join(s.mappingsDir, 'crosswalks', 'modality.csv'), 'utf8').includes('\nCT,1,'), true);
      // the bench case saved as a site test of the draft folder, by label and role
      await page.getByLabel('Site test name (letters, digits, - and _)').fill('ct-head');
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Save as site test' }).click()]);
      assert.match(
        await page.getByRole('status').filter({ hasText: 'Saved in' }).innerText(),
        /^Saved in the draft folder's tests\/: ct-head\.hl7, ct-head\.expected\.json\./,
      );
      assert.deepEqual(
        readdirSync(join(draft, 'tests'))
          .filter((f) => f.startsWith('ct-head'))
          .sort(),
        ['ct-head.expected.json', 'ct-head.hl7'],
      );

      assert.deepEqual(errors, []);
      assert.deepEqual([...hosts], ['127.0.0.1']);

      // a form posted with the session but without its CSRF token is refused; without a session too
      const session = (await context.cookies()).find((c) => c.name === 'cdsr_console')!;
      const post = (headers: Record<string, string>) =>
        fetch(`${s.url}/ui/worklist/replay`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
          body: 'csrf=wrong',
        });
      assert.equal((await post({ cookie: `cdsr_console=${session.value}` })).status, 403);
      assert.equal((await post({})).status, 401);

      const audit = (await s.store.accessLog({ limit: 1000 })).filter((e) => e.who === 'operate#1').map((e) => e.what);
      assert.equal(audit[0], 'console sign-in');
      for (const what of ['record 100000|WV0001', 'transaction T-CONSOLE-1']) assert.ok(audit.includes(what), what);
      assert.ok(audit.some((w) => /^message \d+$/.test(w)));
    } finally {
      await context?.close();
      await s.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
