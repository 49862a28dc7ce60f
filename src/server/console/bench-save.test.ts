// "Save as site test" from the console's test bench: the bench's messages and what the draft
// folder's tables give them written into the draft's tests/ under a safe name, never over files
// that are there without the operator ticking Replace, behind the CSRF token, audited; what it
// writes passes test-mappings.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestServer, type TestServer } from '../../../test/server.js';
import { REPO_ROOT } from '../../../test/helpers.js';
import { loadMappings } from '../../mapping/load.js';
import { runSiteTests, type SiteOutput } from '../../mapping/site-tests.js';

const ROLES = { CDSR_OPERATE_API_KEYS: ['k-op'] };
const form = (body: string, cookie: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
const sample = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const SHIPPED = ['fhir-bundle.expected.json', 'fhir-bundle.json', 'orm-then-oru.1.hl7', 'orm-then-oru.2.hl7', 'orm-then-oru.expected.json'];

async function signedIn(s: TestServer): Promise<{ cookie: string; csrf: string }> {
  const r = await s.fetch('/ui/login', { method: 'POST', body: 'key=k-op', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0]!;
  const page = await (await s.fetch('/ui/bench', { headers: { cookie } })).text();
  return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(page)![1]! };
}

const note = (page: string) => /<p[^>]* id="bench-saved">(.*?)<\/p>/.exec(page)?.[1];

describe('console test bench: save as site test', () => {
  it('writes the messages and their expected output into the draft folder, refuses to write over them unless Replace is ticked, checks the CSRF token and audits', async () => {
    // the drafts folder the service is configured with (CDSR_BENCH_DRAFTS_DIR)
    const root = mkdtempSync(join(tmpdir(), 'cdsr-bench-save-'));
    try {
      await withTestServer(
        async (s) => {
          const draft = join(root, 'draft');
          cpSync(s.mappingsDir, draft, { recursive: true });
          const tests = join(draft, 'tests');
          const { cookie, csrf } = await signedIn(s);
          const text = `${sample('01-orm-new.hl7')}\n${sample('04-oru-final.hl7')}`;
          const post = async (path: string, fields: Record<string, string>) => {
            const r = await s.fetch(path, form(new URLSearchParams({ text, draft, ...fields }).toString(), cookie));
            return { status: r.status, text: await r.text() };
          };

          // after a run through the draft folder, the bench offers to save; not without a draft
          const run = await post('/ui/bench', { csrf });
          assert.match(run.text, /<legend>Save as site test<\/legend>/);
          assert.match(run.text, /<label for="bench-test-name">Site test name \(letters, digits, - and _\)<\/label>/);
          assert.equal((await post('/ui/bench', { csrf, draft: '' })).text.includes('Save as site test</legend>'), false);

          // no token, a wrong token: refused, nothing written
          assert.equal((await post('/ui/bench/save-test', { name: 'new-feed' })).status, 403);
          assert.equal((await post('/ui/bench/save-test', { csrf: 'x', name: 'new-feed' })).status, 403);
          assert.deepEqual(readdirSync(tests).sort(), SHIPPED);

          // a name that is not safe
          for (const bad of ['../evil', 'a.b', '', 'x'.repeat(65)]) {
            const r = await post('/ui/bench/save-test', { csrf, name: bad });
            assert.equal(r.status, 422, bad);
            assert.equal(note(r.text), `Not saved: &quot;${bad}&quot; cannot name a site test: use letters, digits, - and _ (at most 64, no dot).`);
          }
          assert.deepEqual(readdirSync(tests).sort(), SHIPPED);
          assert.deepEqual(readdirSync(root), ['draft']);

          const saved = await post('/ui/bench/save-test', { csrf, name: 'new-feed' });
          assert.equal(saved.status, 200);
          assert.equal(
            note(saved.text),
            "Saved in the draft folder's tests/: new-feed.1.hl7, new-feed.2.hl7, new-feed.expected.json. <code>cdsr-adapter test-mappings</code> on that folder runs it.",
          );
          assert.deepEqual(readdirSync(tests).sort(), [
            ...SHIPPED.slice(0, 2),
            'new-feed.1.hl7',
            'new-feed.2.hl7',
            'new-feed.expected.json',
            ...SHIPPED.slice(2),
          ]);
          // each message from its MSH, with CR segment ends
          assert.equal(
            readFileSync(join(tests, 'new-feed.1.hl7'), 'utf8'),
            `${sample('01-orm-new.hl7')
              .trim()
              .split(/\r\n|\r|\n/)
              .join('\r')}\r`,
          );
          assert.equal(
            readFileSync(join(tests, 'new-feed.2.hl7'), 'utf8'),
            `${sample('04-oru-final.hl7')
              .trim()
              .split(/\r\n|\r|\n/)
              .join('\r')}\r`,
          );
          const expected = JSON.parse(readFileSync(join(tests, 'new-feed.expected.json'), 'utf8')) as SiteOutput;
          assert.deepEqual(
            [
              expected.encounters.map((e) => [e.Unique_Encounter_ID, e.Consultations.map((c) => [c.Name_of_Exam_Ordered, c.Ordered_Exam_Completed])]),
              expected.problems,
            ],
            [[['V0001', [['CT HEAD WO CONTRAST', '1']]]], []],
          );
          // what it wrote passes test-mappings on that folder
          assert.deepEqual(
            runSiteTests(draft, loadMappings(draft).tables!).map((r) => [r.name, r.ok]),
            [
              ['fhir-bundle', true],
              ['new-feed', true],
              ['orm-then-oru', true],
            ],
          );

          // the same name again: nothing written over, the files named, Replace offered
          const before = readFileSync(join(tests, 'new-feed.expected.json'), 'utf8');
          const again = await post('/ui/bench/save-test', { csrf, name: 'new-feed', text: sample('01-orm-new.hl7') });
          assert.equal(again.status, 409);
          assert.equal(
            note(again.text),
            `Not saved: the draft folder's tests/ already has new-feed.1.hl7, new-feed.2.hl7, new-feed.expected.json. Tick "Replace" to write over them.`,
          );
          assert.match(again.text, /<label><input type="checkbox" name="replace" value="yes"> Replace the files of site test new-feed that are there<\/label>/);
          assert.equal(readFileSync(join(tests, 'new-feed.expected.json'), 'utf8'), before);

          // Replace ticked: the case is written anew (one message now: NAME.hl7)
          const r = await s.fetch(
            '/ui/bench/save-test',
            form(new URLSearchParams({ csrf, draft, name: 'new-feed', replace: 'yes', text: sample('01-orm-new.hl7') }).toString(), cookie),
          );
          assert.equal(r.status, 200);
          assert.equal(
            note(await r.text()),
            "Saved in the draft folder's tests/: new-feed.hl7, new-feed.expected.json. <code>cdsr-adapter test-mappings</code> on that folder runs it.",
          );
          assert.deepEqual(readdirSync(tests).sort(), [...SHIPPED.slice(0, 2), 'new-feed.expected.json', 'new-feed.hl7', ...SHIPPED.slice(2)]);

          // no draft folder: nothing to save into
          const none = await post('/ui/bench/save-test', { csrf, name: 'x', draft: '' });
          assert.equal(none.status, 422);
          assert.equal(note(none.text), 'Not saved: a site test is saved into a draft folder: give its path.');

          assert.deepEqual(
            (await s.store.accessLog({})).map((e) => [e.who, e.what]),
            [
              ['operate#1', 'console sign-in'],
              ['operate#1', `site test new-feed saved in ${tests}: new-feed.1.hl7, new-feed.2.hl7, new-feed.expected.json`],
              ['operate#1', `site test new-feed saved in ${tests}: new-feed.hl7, new-feed.expected.json`],
            ],
          );
          // the service's own mappings folder was not touched
          assert.deepEqual(readdirSync(join(s.mappingsDir, 'tests')).sort(), SHIPPED);
        },
        { roles: ROLES, security: { CDSR_BENCH_DRAFTS_DIR: root } },
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
