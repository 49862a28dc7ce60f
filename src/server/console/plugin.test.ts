// The console through the app (no browser): sign-in refuses a wrong key and a key without the
// operate role, the session cookie holds no key, forms need the CSRF token, patient data in a
// message is escaped, and with no keys configured the console is open like the API.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postHl7, withTestServer, type TestServer } from '../../../test/server.js';
import { unmappedMessages } from '../../../test/unmapped.js';
import { REPO_ROOT, transactionFor } from '../../../test/helpers.js';
import type { TransactionStatus } from '../../cdsr/schema.js';
import type { Problem } from '../../cdsr/problem.js';

const ROLES = { CDSR_SEND_API_KEYS: ['k-send'], CDSR_OPERATE_API_KEYS: ['k-op'], CDSR_VIEW_API_KEYS: ['k-view'] };
const form = (body: string, cookie?: string) => ({
  method: 'POST',
  body,
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
});

/**
 * The session cookie of a console without keys (every page of /ui sets it), from the test bench's
 * page: the Overview's counts are read on the store's reports connection, whose thread a test that
 * shows no counts need not start.
 */
async function openCookie(s: Pick<TestServer, 'fetch'>): Promise<string> {
  return ((await s.fetch('/ui/bench')).headers.get('set-cookie') ?? '').split(';')[0]!;
}

async function signIn(s: TestServer, key: string): Promise<{ status: number; cookie: string; text: string }> {
  const r = await s.fetch('/ui/login', form(`key=${encodeURIComponent(key)}`));
  return { status: r.status, cookie: (r.headers.get('set-cookie') ?? '').split(';')[0]!, text: await r.text() };
}

describe('console sign-in and forms', () => {
  it('a browser without a session is sent to the sign-in form; a wrong key and a view key are refused', () =>
    withTestServer(
      async (s) => {
        const r = await s.fetch('/ui/messages');
        assert.equal(r.status, 303);
        assert.equal(r.headers.get('location'), '/ui/login');
        assert.equal((await s.fetch('/ui/worklist/replay', form('csrf=x'))).status, 401);
        const wrong = await signIn(s, 'nope');
        assert.equal(wrong.status, 401);
        assert.match(wrong.text, /That key is not one of this adapter’s keys\./);
        const view = await signIn(s, 'k-view');
        assert.equal(view.status, 403);
        assert.match(view.text, /This key \(view#1\) has no operate role; the console needs one\./);
        // the API keys still work on the API, not on the console
        assert.equal((await s.fetch('/ui', { headers: { authorization: 'Bearer k-op' } })).status, 303);
      },
      { roles: ROLES },
    ));

  it('an operator signs in: HttpOnly SameSite=Strict cookie without the key, security headers, CSRF on forms, sign-out ends the session', () =>
    withTestServer(
      async (s) => {
        const ok = await signIn(s, 'k-op');
        assert.equal(ok.status, 303);
        const r = await s.fetch('/ui/login', form('key=k-op'));
        assert.match(r.headers.get('set-cookie') ?? '', /^cdsr_console=[A-Za-z0-9_-]{43}; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=43200$/);
        assert.equal(ok.cookie.includes('k-op'), false);
        const page = await s.fetch('/ui/worklist', { headers: { cookie: ok.cookie } });
        assert.equal(page.status, 200);
        assert.equal(
          page.headers.get('content-security-policy'),
          "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        );
        assert.equal(page.headers.get('cache-control'), 'no-store');
        const html = await page.text();
        const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
        assert.ok(csrf);
        assert.equal((await s.fetch('/ui/worklist/replay', form('csrf=wrong', ok.cookie))).status, 403);
        assert.equal((await s.fetch('/ui/worklist/replay', form('', ok.cookie))).status, 403);
        const replay = await s.fetch('/ui/worklist/replay', form(`csrf=${csrf}`, ok.cookie));
        assert.equal(replay.status, 200);
        assert.match(await replay.text(), /<strong>0<\/strong> message\(s\) replayed: none\./);
        assert.equal((await s.fetch('/ui/logout', form(`csrf=${csrf}`, ok.cookie))).status, 303);
        assert.equal((await s.fetch('/ui/worklist', { headers: { cookie: ok.cookie } })).status, 303);
        assert.deepEqual(
          (await s.store.accessLog({})).map((e) => [e.who, e.what]),
          [
            ['operate#1', 'console sign-in'],
            ['operate#1', 'console sign-in'],
          ],
        );
      },
      { roles: ROLES },
    ));

  it('patient data and values from messages are escaped on every page that shows them; a bad search is a 400 page naming the parameter', () =>
    withTestServer(async (s) => {
      const raw = unmappedMessages([{ field: 'Modality', value: '<img src=x onerror=alert(1)>', count: 1 }])[0]!.raw.replace(
        'TESTPATIENT',
        '<script>alert(2)</script>',
      );
      await postHl7(s, raw);
      const pages = ['/ui/messages/1', '/ui/worklist', '/ui/messages'];
      const cookie = await openCookie(s);
      for (const p of pages) {
        const t = await (await s.fetch(p, { headers: { cookie } })).text();
        assert.equal(/<script>alert|<img src=x/.test(t), false, p);
      }
      const m = await (await s.fetch('/ui/messages/1', { headers: { cookie } })).text();
      assert.match(m, /<span class="pos">PID-5\.1<\/span> <span class="v">&lt;script&gt;alert\(2\)&lt;\/script&gt;<\/span>/);
      const w = await (await s.fetch('/ui/worklist', { headers: { cookie } })).text();
      assert.match(w, /<code>&lt;img src=x onerror=alert\(1\)&gt;<\/code>/);
      const bad = await s.fetch('/ui/messages?status=lost', { headers: { cookie } });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /role="alert">status must be one of applied, error, ignored, rejected, duplicate, pending</);
      const unknown = await s.fetch('/ui/messages?sendr=x', { headers: { cookie } });
      assert.equal(unknown.status, 400);
    }));

  it('the overview shows a refused reload with its file:line problems, then a good one', () =>
    withTestServer(async (s) => {
      const cookie = await openCookie(s);
      const overview = async () => (await (await s.fetch('/ui', { headers: { cookie } })).text()).replace(/\s+/g, ' ');
      assert.match(await overview(), /No reload since start\./);
      const file = join(s.mappingsDir, 'crosswalks', 'modality.csv');
      appendFileSync(file, 'CT,2,\n');
      assert.equal(s.mappings.reload(new Date('2026-11-23T06:05:00Z')).ok, false);
      assert.match(
        await overview(),
        /Last reload 2026-11-23T06:05:00.000Z: refused; the previous tables stay in force\.<\/p><ul class="problems"><li><code>crosswalks\/modality\.csv:\d+: &quot;CT&quot; is already mapped to &quot;1&quot; on line \d+; this row says &quot;2&quot;<\/code><\/li><\/ul>/,
      );
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.replace('CT,2,\n', ''));
      assert.equal(s.mappings.reload(new Date('2026-11-23T06:06:00Z')).ok, true);
      assert.match(await overview(), /Last reload 2026-11-23T06:06:00.000Z: loaded\./);
    }));
});

const sample = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const AT = (s: number) => new Date(Date.parse('2026-11-23T06:00:00Z') + s * 1000);
const nrdrSaid = (Status: string, extra: Partial<TransactionStatus> = {}): TransactionStatus => ({
  Transaction_ID: 'T-PAGE-1',
  Transaction_DateTime: '11/23/2026 06:00:00',
  Num_of_Exam_Included: 1,
  Num_of_Exam_In_Error: 0,
  PartnerID: '10000',
  AppID: '10019',
  Facility_ID: '100000',
  Status,
  Error_Msg: null,
  Exam_Errors: [],
  ...extra,
});

/** One record of the samples sent in T-PAGE-1 and answered by NRDR as `verdict`. */
async function sentAndAnswered(s: TestServer, verdict: 'accepted' | 'rejected', headers: Record<string, string> = {}, warnings: Problem[] = []): Promise<void> {
  assert.match((await postHl7(s, sample('01-orm-new.hl7'), headers)).text, /MSA\|AA/);
  const ready = await s.store.wireEncounters('ready', 1);
  assert.equal(ready.length, 1);
  const body = transactionFor(
    'T-PAGE-1',
    ready.map((r) => r.wire),
    '11/23/2026 06:00:00',
  );
  assert.equal((await s.store.createTransaction(body, ready, AT(0))).created, true);
  await s.store.updateTransaction('T-PAGE-1', { status: 'sent' }, AT(1));
  await s.store.updateTransaction('T-PAGE-1', { status: 'posted', attempted: true, nrdr: nrdrSaid('Received') }, AT(1));
  await s.store.nrdrStatusSeen('T-PAGE-1', nrdrSaid('Loading'), AT(4));
  const last =
    verdict === 'accepted'
      ? nrdrSaid('Posted')
      : nrdrSaid('ValidationFail', {
          Num_of_Exam_In_Error: 1,
          Error_Msg: 'Validation failed',
          Exam_Errors: [{ Exam_Unique_ID: 'V0001', Error_Msg: 'CD2053:Facility_ID is not registered' }],
        });
  await s.store.nrdrStatusSeen('T-PAGE-1', last, AT(9));
  await s.store.updateTransaction('T-PAGE-1', { status: 'done', nrdr: last }, AT(9));
  const problems =
    verdict === 'accepted'
      ? warnings
      : [{ code: 'CD2053' as const, message: 'Facility_ID is not registered', severity: 'error' as const, scope: 'transaction' as const, path: '' }];
  await s.store.recordResults('T-PAGE-1', [{ ...ready[0]!, result: verdict, problems }], AT(9));
}

describe('console transaction and record pages', () => {
  // the facility is in America/Chicago (facilities.csv): times in its local time, UTC on hover
  it("the transaction page shows NRDR's status history, oldest first, in the facility's local time, and the API gives it", () =>
    withTestServer(
      async (s) => {
        await sentAndAnswered(s, 'rejected');
        const cookie = await openCookie(s);
        const page = await (await s.fetch('/ui/transactions/T-PAGE-1', { headers: { cookie } })).text();
        const table = /<h2>NRDR status history<\/h2>\n(<table id="nrdr-history">[\s\S]*?<\/table>)/.exec(page)?.[1];
        assert.equal(
          table,
          '<table id="nrdr-history"><thead><tr><th scope="col">When</th><th scope="col">Status</th><th scope="col">Error_Msg</th><th scope="col">Exam errors</th><th scope="col">Summary</th></tr></thead>\n' +
            '<tbody><tr><td><time datetime="2026-11-23T06:00:01.000Z" title="2026-11-23 06:00:01 UTC">2026-11-23 00:00:01 CST</time></td><td>Received</td><td></td><td>0</td><td></td></tr>\n' +
            '<tr><td><time datetime="2026-11-23T06:00:04.000Z" title="2026-11-23 06:00:04 UTC">2026-11-23 00:00:04 CST</time></td><td>Loading</td><td></td><td>0</td><td></td></tr>\n' +
            '<tr><td><time datetime="2026-11-23T06:00:09.000Z" title="2026-11-23 06:00:09 UTC">2026-11-23 00:00:09 CST</time></td><td>ValidationFail</td><td>Validation failed</td><td>1</td><td>V0001: CD2053:Facility_ID is not registered</td></tr>\n' +
            '</tbody></table>',
        );
        const api = (await (await s.fetch('/api/transactions/T-PAGE-1')).json()) as { nrdrHistory: unknown };
        assert.deepEqual(api.nrdrHistory, [
          { at: '2026-11-23T06:00:01.000Z', status: 'Received', errorMsg: null, examErrors: 0, summary: '' },
          { at: '2026-11-23T06:00:04.000Z', status: 'Loading', errorMsg: null, examErrors: 0, summary: '' },
          {
            at: '2026-11-23T06:00:09.000Z',
            status: 'ValidationFail',
            errorMsg: 'Validation failed',
            examErrors: 1,
            summary: 'V0001: CD2053:Facility_ID is not registered',
          },
        ]);
      },
      { timeZone: 'UTC', facilities: 'source,facility_id,partner_id,timezone\nGENHOSP,100000,,America/Chicago\n' },
    ));

  it('a rejected record is resubmitted from its page: the CSRF-checked form, the same operation as the API, in the history and the access audit', () =>
    withTestServer(
      async (s) => {
        await sentAndAnswered(s, 'rejected', { authorization: 'Bearer k-send' });
        const { cookie } = await signIn(s, 'k-op');
        const get = async () => (await s.fetch('/ui/records/100000/V0001', { headers: { cookie } })).text();
        const before = await get();
        assert.match(
          before,
          /<form method="post" action="\/ui\/records\/100000\/V0001\/resubmit" id="resubmit" class="search"><input type="hidden" name="csrf" value="[^"]+">\n<p>NRDR rejected 1 consultation\(s\) of this encounter\./,
        );
        assert.match(before, /<button type="submit">Resubmit<\/button><\/form>/);
        assert.match(before, /<h3>History<\/h3>\n<p class="empty">No change made by hand\.<\/p>/);
        const csrf = /name="csrf" value="([^"]+)"/.exec(before)![1]!;
        // without the token nothing changes
        assert.equal((await s.fetch('/ui/records/100000/V0001/resubmit', form('reason=x', cookie))).status, 403);
        assert.equal((await s.store.record('100000|V0001'))?.consultations[0]?.state, 'rejected');
        const r = await s.fetch('/ui/records/100000/V0001/resubmit', form(`csrf=${csrf}&reason=${encodeURIComponent('facility registered at ACR')}`, cookie));
        assert.equal(r.status, 200);
        const after = await r.text();
        assert.match(
          after,
          /<p id="resubmit-result" role="status" class="good">1 consultation\(s\) put back to ready; they are sent in the next submission round\.<\/p>/,
        );
        assert.match(after, /<h2>Consultation 11\/02\/2026 09:30:15 <span class="st st-ready">ready<\/span><\/h2>/);
        assert.equal(after.includes('id="resubmit" '), false);
        assert.equal(
          /<h3>History<\/h3>\n(<table>[\s\S]*?<\/table>)/.exec(after)?.[1],
          '<table><thead><tr><th scope="col">When</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Who</th><th scope="col">Why</th><th scope="col">Transaction</th><th scope="col">NRDR codes then</th></tr></thead>\n' +
            '<tbody><tr><td><time datetime="2026-11-23T06:00:00.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC</time></td><td>rejected</td><td>ready</td><td>operate#1</td><td>resubmit: facility registered at ACR</td><td>T-PAGE-1</td><td><code>CD2053</code> </td></tr>\n</tbody></table>',
        );
        // again: nothing is rejected now
        const again = await (await s.fetch('/ui/records/100000/V0001/resubmit', form(`csrf=${csrf}`, cookie))).text();
        assert.match(
          again,
          /<p id="resubmit-result" role="status" class="empty">Nothing to resubmit: no consultation of this encounter is rejected now\.<\/p>/,
        );
        assert.equal((await s.fetch('/ui/records/100000/NOPE/resubmit', form(`csrf=${csrf}`, cookie))).status, 404);
        assert.deepEqual(
          (await s.store.accessLog({})).map((e) => [e.who, e.what]),
          [
            ['operate#1', 'console sign-in'],
            ['operate#1', 'record 100000|V0001'],
            ['operate#1', 'resubmit record 100000|V0001: 1 consultation(s)'],
            ['operate#1', 'record 100000|V0001'],
            ['operate#1', 'resubmit record 100000|V0001: 0 consultation(s)'],
            ['operate#1', 'record 100000|V0001'],
          ],
        );
      },
      { roles: ROLES },
    ));

  it('an accepted record has no Resubmit button', () =>
    withTestServer(async (s) => {
      await sentAndAnswered(s, 'accepted');
      const cookie = await openCookie(s);
      const page = await (await s.fetch('/ui/records/100000/V0001', { headers: { cookie } })).text();
      assert.match(page, /<p class="good">Accepted by NRDR\.<\/p>\n<h3>History<\/h3>/);
      assert.equal(page.includes('Resubmit'), false);
    }));

  it('an accepted record shows the Exam_Errors of the Posted answer as warnings', () =>
    withTestServer(async (s) => {
      await sentAndAnswered(s, 'accepted', {}, [
        { code: 'CD2070', message: 'Invalid. Missing encounter object information', severity: 'warning', scope: 'transaction', path: '' },
      ]);
      const cookie = await openCookie(s);
      const page = await (await s.fetch('/ui/records/100000/V0001', { headers: { cookie } })).text();
      assert.match(
        page,
        /<p class="good">Accepted by NRDR\.<\/p><p>With what NRDR's answer still says about it \(warnings\):<\/p><table><thead>.*<tr><td><code>CD2070<\/code><\/td><td><\/td><td><\/td><td><\/td><td>Invalid\. Missing encounter object information<\/td><\/tr>/s,
      );
      assert.equal(page.includes('Resubmit'), false);
    }));
});

/** Every file of a folder with its content and modification time (to show nothing was written). */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => {
      const f = join(d.parentPath, d.name);
      return `${f} ${statSync(f).mtimeMs} ${createHash('sha256').update(readFileSync(f)).digest('hex')}`;
    })
    .sort();
}

describe('console test bench with a draft folder', () => {
  it('maps through a draft folder (read, never written) instead of the tables in force; a draft that does not load shows its problems as file:line', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdsr-draft-test-'));
    try {
      await withTestServer(
        async (s) => {
          const draft = join(root, 'draft');
          cpSync(s.mappingsDir, draft, { recursive: true });
          const cw = join(draft, 'crosswalks', 'modality.csv');
          writeFileSync(cw, readFileSync(cw, 'utf8').replace('\nCT,1,', '\nCT,2,'));
          const line =
            readFileSync(cw, 'utf8')
              .split('\n')
              .findIndex((l) => l.startsWith('CT,2,')) + 1;
          const cookie = await openCookie(s);
          const page = await (await s.fetch('/ui/bench', { headers: { cookie } })).text();
          assert.match(page, /<input id="bench-draft" name="draft" value="" spellcheck="false" placeholder="\/srv\/cdsr\/mappings-draft">/);
          const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
          const bench = async (draftDir: string) => {
            const r = await s.fetch(
              '/ui/bench',
              form(`csrf=${encodeURIComponent(csrf)}&text=${encodeURIComponent(sample('01-orm-new.hl7'))}&draft=${encodeURIComponent(draftDir)}`, cookie),
            );
            return { status: r.status, text: await r.text() };
          };
          const before = snapshot(root);
          const inForce = await bench('');
          assert.equal(inForce.status, 200);
          assert.match(inForce.text, /<p id="bench-tables">Mapped through the tables in force\.<\/p>/);
          assert.match(inForce.text, /&quot;Modality&quot;: &quot;1&quot;/);
          const drafted = await bench(draft);
          assert.equal(drafted.status, 200);
          assert.ok(drafted.text.includes(`<p id="bench-tables">Mapped through the draft folder <code>${draft}</code>.</p>`));
          assert.match(drafted.text, /&quot;Modality&quot;: &quot;2&quot;/);
          // the draft's rows named relative to the draft folder
          assert.ok(drafted.text.includes(`<td>crosswalks/modality.csv:${line}</td>`), 'trace row of the draft');
          assert.deepEqual(snapshot(root), before, 'the draft folder is only read');
          // the tables in force stay
          assert.match((await bench('')).text, /&quot;Modality&quot;: &quot;1&quot;/);

          // a draft that does not load
          appendFileSync(cw, 'CT,3,\n');
          const broken = await bench(draft);
          assert.equal(broken.status, 422);
          const lines = readFileSync(cw, 'utf8').split('\n').length - 1;
          assert.ok(
            broken.text.includes(
              `<div id="bench-draft-refused"><p class="bad" role="alert">the draft in ${draft} does not load:</p><ul class="problems"><li><code>crosswalks/modality.csv:${lines}: &quot;CT&quot; is already mapped to &quot;2&quot; on line ${line}; this row says &quot;3&quot;</code></li></ul></div>`,
            ),
            broken.text.slice(broken.text.indexOf('<main'), broken.text.indexOf('<main') + 3000),
          );
          assert.equal(broken.text.includes('id="bench-result"'), false);

          // a path relative to the drafts folder names the same draft
          assert.equal((await bench('draft')).status, 422);
          // what is not a readable directory inside the drafts folder is refused, named
          const refused = async (dir: string) => /<p class="bad" role="alert">([^<]*)<\/p>/.exec((await bench(dir)).text)?.[1];
          assert.equal(await refused(join(root, 'none')), `${join(root, 'none')} does not exist.`);
          assert.equal(await refused(cw), `${cw} is not a directory.`);
          // outside it, one answer whether the path exists or not (auth-hardening.test.ts has the rest)
          assert.equal(await refused(s.mappingsDir), `the draft folder must be inside ${root} (CDSR_BENCH_DRAFTS_DIR).`);
        },
        { security: { CDSR_BENCH_DRAFTS_DIR: root } },
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('console record page', () => {
  it('an order a crosswalk row excludes says so, naming the row and the rule, never a plain cancel', () =>
    withTestServer(async (s) => {
      const orm = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8').replace('|CT|SC', '|XR|SC');
      assert.match((await postHl7(s, orm)).text, /\rMSA\|AA\|MSG0001\r/);
      const cookie = await openCookie(s);
      const page = await (await s.fetch('/ui/records/100000/V0001', { headers: { cookie } })).text();
      assert.match(page, /<h2>Consultation 11\/02\/2026 09:30:15 <span class="st st-cancelled">cancelled<\/span> \(excluded\)<\/h2>/);
      assert.match(
        page,
        /<p class="note">Not reported: <code>XR<\/code> is known and not advanced imaging \(crosswalks\/modality\.csv:\d+, read by hl7v2\.yaml:\d+\); the order is excluded as <code>not-advanced-imaging<\/code>\.<\/p>/,
      );
    }));

  it('values the tables guessed are labelled with why, the record held for a clinician id that is not an NPI; the worklist counts the guesses per rule', () =>
    withTestServer(async (s) => {
      // ORC-12 empty: the clinician comes from OBR-16, the second candidate, and is a user mnemonic
      const orm = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8')
        .replace('|||1234567893^ORDER^ANN^^^^^^NPI\r', '|||\r')
        .replace('1234567893^ORDER^ANN^^^^^^NPI', 'JSMITH^SMITH^JOHN');
      assert.match((await postHl7(s, orm)).text, /\rMSA\|AA\|MSG0001\r/);
      const cookie = await openCookie(s);
      const page = await (await s.fetch('/ui/records/100000/V0001', { headers: { cookie } })).text();
      assert.match(page, /<span class="st st-invalid">invalid<\/span>/);
      assert.match(
        page,
        /<p class="note">Guessed by the tables \(marked <span class="guess">guess<\/span> below, with why\): Clinician1_First_Name, Clinician1_Last_Name, Clinician1_Unique_ID\.<\/p>/,
      );
      assert.match(page, /<td>JSMITH <span class="guess">guess<\/span> <small class="guess-why">fallback: OBR-16\.1, the 2nd of 2 candidates<\/small><\/td>/);
      assert.match(page, /SITE_NOT_NPI/);
      assert.match(
        page,
        /Clinician1_Unique_ID &quot;JSMITH&quot; is not an NPI; an NPI has 10 digits: a user mnemonic or a local id\? \(site rule site-rules\.csv:10; remove that line if your site sends other clinician ids\)/,
      );
      const w = await (await s.fetch('/ui/worklist', { headers: { cookie } })).text();
      assert.match(w, /<h2 id="h-guesses">Where the tables guessed<\/h2>\s*<p>3 value\(s\) of the records/);
      assert.match(
        w,
        /<td><code>Clinician1_Unique_ID<\/code><\/td><td><code>hl7v2\.yaml:\d+<\/code><\/td><td><span class="guess">guess<\/span> fallback: OBR-16\.1, the 2nd of 2 candidates<\/td><td>1<\/td><td><a href="\/ui\/messages\?controlId=MSG0001">MSG0001<\/a> <\/td>/,
      );
      const api = (await (await s.fetch('/api/worklist')).json()) as { guesses: { rule: string }[] };
      assert.deepEqual(
        api.guesses.map((g) => ({ ...g, rule: g.rule.replace(/:\d+$/, ':N') })),
        ['First_Name', 'Last_Name', 'Unique_ID'].map((f, i) => ({
          field: `Clinician1_${f}`,
          rule: 'hl7v2.yaml:N',
          guess: `fallback: OBR-16.${[3, 2, 1][i]}, the 2nd of 2 candidates`,
          count: 1,
          examples: ['MSG0001'],
        })),
      );
    }));
});

describe('console orders', () => {
  const page = async (s: TestServer, path: string, cookie: string) => {
    const r = await s.fetch(path, { headers: { cookie } });
    return { status: r.status, text: await r.text() };
  };
  const consoleCookie = openCookie;

  it("an order is found by its accession; its timeline lists the message with its type and ACK, its record, and NRDR's verdict in the transaction that carried it", () =>
    withTestServer(async (s) => {
      await sentAndAnswered(s, 'accepted');
      const cookie = await consoleCookie(s);
      const list = await page(s, '/ui/orders?order=ACC2001', cookie);
      assert.equal(list.status, 200);
      assert.match(list.text, /<nav aria-label="Console">.*<a href="\/ui\/messages">Messages<\/a><a href="\/ui\/orders" aria-current="page">Orders<\/a>/);
      assert.match(list.text, /<label>Order number <input type="text" name="order" value="ACC2001" placeholder="placer or accession"><\/label>/);
      assert.match(list.text, /<label>MRN <input type="text" name="mrn" value="" placeholder="the patient's" autocomplete="off"><\/label>/);
      assert.match(
        list.text,
        /<p class="note">MRN: the orders a message of the patient touched \(HL7 PID-3\.1; FHIR the identifier of the Patient a message references\)\. A message whose text was purged by retention \(CDSR_RETENTION_DAYS\) is not found by it\. A search by MRN is written to the access audit, without the MRN\.<\/p>/,
      );
      // the MRN of the message finds the order; another finds none; the audit says a search by MRN was made, not its value
      assert.match((await page(s, '/ui/orders?mrn=MRN0001', cookie)).text, /<tbody><tr><td><a href="\/ui\/orders\/1">ACC2001 \/ ORD1001<\/a><\/td>/);
      assert.match((await page(s, '/ui/orders?mrn=MRN0002', cookie)).text, /<p class="empty">No order matches\.<\/p>/);
      assert.deepEqual(
        (await s.store.accessLog({ limit: 100 })).map((a) => a.what).filter((w) => /MRN/.test(w)),
        ['orders searched by MRN', 'orders searched by MRN'],
      );
      assert.match(
        list.text,
        /<tbody><tr><td><a href="\/ui\/orders\/1">ACC2001 \/ ORD1001<\/a><\/td><td>100000<\/td><td><a href="\/ui\/records\/100000\/V0001">V0001<\/a><\/td><td>11\/02\/2026 09:30:15<\/td><td><span class="st st-reported">reported<\/span><\/td><td><time datetime="2026-11-23T06:00:00.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time><\/td>/,
      );
      // the placer number finds the same order; another number finds none
      assert.match((await page(s, '/ui/orders?order=ORD1001', cookie)).text, /<a href="\/ui\/orders\/1">ACC2001 \/ ORD1001<\/a>/);
      assert.match((await page(s, '/ui/orders?order=ACC9999', cookie)).text, /<p class="empty">No order matches\.<\/p>/);

      const one = await page(s, '/ui/orders/1', cookie);
      assert.equal(one.status, 200);
      assert.match(one.text, /<h1>Order ACC2001 \/ ORD1001<\/h1>/);
      assert.match(
        one.text,
        /<tbody><tr><td><a href="\/ui\/messages\/1">#1<\/a><\/td><td><time datetime="2026-11-23T06:00:00.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time><\/td><td>ORM\^O01<\/td><td>MSG0001<\/td><td>EHR\^GENHOSP<\/td><td><span class="st st-applied">applied<\/span><\/td><td>AA<\/td><\/tr>/,
      );
      assert.match(
        one.text,
        /<p>Consultation 11\/02\/2026 09:30:15 of <a href="\/ui\/records\/100000\/V0001">100000 \/ V0001<\/a>: <span class="st st-accepted">accepted<\/span>\.<\/p>/,
      );
      assert.match(
        one.text,
        /<table id="order-submissions">.*<tbody><tr><td><a href="\/ui\/transactions\/T-PAGE-1">T-PAGE-1<\/a><\/td><td><time datetime="2026-11-23T06:00:00.000Z" title="2026-11-23 06:00:00 UTC">2026-11-23 06:00:00 UTC<\/time><\/td><td>done<\/td><td>Posted<\/td><td>accepted<\/td><td><\/td><\/tr>/s,
      );
      assert.deepEqual(
        (await s.store.accessLog({ limit: 100 })).map((a) => a.what).filter((w) => w.startsWith('order ')),
        ['order 1'],
      );
      for (const [path, status, text] of [
        ['/ui/orders/99', 404, '<p>No order 99.</p>'],
        ['/ui/orders/x', 404, '<p>No order x.</p>'],
        ['/ui/orders?state=lost', 400, '<p class="bad" role="alert">state must be one of reported, held, excluded</p>'],
        ['/ui/orders?day=23-11-2026', 400, '<p class="bad" role="alert">day must be a day as YYYY-MM-DD</p>'],
      ] as const) {
        const r = await page(s, path, cookie);
        assert.equal(r.status, status, path);
        assert.ok(r.text.includes(text), `${path}: ${r.text.slice(r.text.indexOf('<main'))}`);
      }
    }));

  it("the Overview's counts link to the orders they count, on the facility's day; the Records list names the orders, the exam, and an excluded order as excluded", () =>
    withTestServer(
      async (s) => {
        await sentAndAnswered(s, 'accepted');
        assert.match((await postHl7(s, sample('09-orm-xr-excluded.hl7'))).text, /MSA\|AA/);
        const cookie = await consoleCookie(s);
        const overview = (await page(s, '/ui', cookie)).text;
        // 06:00 UTC is midnight in Chicago: the orders are on the 23rd there
        assert.match(
          overview,
          /<tr><td>100000<\/td><td>2026-11-23 <small>America\/Chicago<\/small><\/td><td><a href="\/ui\/orders\?facility=100000&amp;day=2026-11-23" aria-label="2 seen order\(s\) of 100000 on 2026-11-23">2<\/a><\/td><td><a href="\/ui\/orders\?facility=100000&amp;day=2026-11-23&amp;state=reported" aria-label="1 reported order\(s\) of 100000 on 2026-11-23">1<\/a><\/td><td><a href="\/ui\/orders\?facility=100000&amp;day=2026-11-23&amp;state=held" aria-label="0 held order\(s\) of 100000 on 2026-11-23">0<\/a> <small><\/small><\/td><td><a href="\/ui\/orders\?facility=100000&amp;day=2026-11-23&amp;state=excluded" aria-label="1 excluded order\(s\) of 100000 on 2026-11-23">1<\/a> <small>not-advanced-imaging <a href="\/ui\/orders\?facility=100000&amp;day=2026-11-23&amp;state=excluded&amp;reason=not-advanced-imaging" aria-label="1 excluded not-advanced-imaging order\(s\) of 100000 on 2026-11-23">1<\/a><\/small><\/td><\/tr>/,
        );
        const orderLinks = (t: string) => [...t.matchAll(/<td><a href="(\/ui\/orders\/\d+)">/g)].map((m) => m[1]);
        assert.deepEqual(orderLinks((await page(s, '/ui/orders?facility=100000&day=2026-11-23&state=excluded&reason=not-advanced-imaging', cookie)).text), [
          '/ui/orders/2',
        ]);
        assert.deepEqual(orderLinks((await page(s, '/ui/orders?facility=100000&day=2026-11-23&state=reported', cookie)).text), ['/ui/orders/1']);
        assert.deepEqual(orderLinks((await page(s, '/ui/orders?facility=100000&day=2026-11-23', cookie)).text), ['/ui/orders/1', '/ui/orders/2']);
        // the day before in Chicago (the same UTC day as the one before midnight UTC) has none
        assert.deepEqual(orderLinks((await page(s, '/ui/orders?facility=100000&day=2026-11-22', cookie)).text), []);

        const excluded = (await page(s, '/ui/orders/2', cookie)).text;
        assert.match(excluded, /<dd id="order-state"><span class="st st-excluded">excluded<\/span> <small>not-advanced-imaging<\/small><\/dd>/);
        assert.match(
          excluded,
          /<p class="note">Excluded as <code>not-advanced-imaging<\/code>: <code>XR<\/code> \(crosswalks\/modality\.csv:\d+, read by hl7v2\.yaml:\d+\)\.<\/p>/,
        );
        assert.match(excluded, /: <span class="st st-excluded">excluded<\/span>\.<\/p>/);
        assert.match(excluded, /<h2 id="h-submissions">Submissions and NRDR's answers<\/h2>\s*<p class="empty">Not sent to NRDR\.<\/p>/);

        const records = (await page(s, '/ui/records', cookie)).text;
        assert.match(records, /<th scope="col">Orders<\/th><th scope="col">Exam<\/th><th scope="col">State<\/th>/);
        assert.match(
          records,
          /<td>11\/02\/2026 09:30:15<\/td><td><a href="\/ui\/orders\/1">ACC2001 \/ ORD1001<\/a> <small>reported<\/small><\/td><td>CT HEAD WO CONTRAST<\/td><td><span class="st st-accepted">accepted<\/span><\/td>/,
        );
        assert.match(
          records,
          /<td>11\/02\/2026 15:00:00<\/td><td><a href="\/ui\/orders\/2">ACC2009 \/ ORD1009<\/a> <small>excluded not-advanced-imaging<\/small><\/td><td>XR CHEST 2 VIEWS<\/td><td><span class="st st-excluded">excluded<\/span><\/td>/,
        );
        assert.equal(records.includes('st-cancelled'), false);
      },
      { timeZone: 'America/Chicago' },
    ));
});
