// The sign-in's and the console's defences (issue 25): wrong keys throttled per address and
// audited by a hash, never the key; no console form taken from another site's page (login CSRF);
// the session cookie Secure when the request came over TLS (X-Forwarded-Proto believed only from a
// configured proxy) and the session ended at its absolute lifetime; no HTML page framed; lists of
// identifiers audited without them; the test bench's draft folders confined to their root, one
// answer outside it whether the path exists or not. Clocks are stepped, never waited on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { postHl7, SERVER_NOW, withTestServer, type TestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { keyFingerprint, KeyThrottle } from './key-throttle.js';
import { crossSiteReason } from './console/plugin.js';

const ROLES = { CDSR_SEND_API_KEYS: ['k-send'], CDSR_OPERATE_API_KEYS: ['k-op'], CDSR_VIEW_API_KEYS: ['k-view'] };
const HOST = 'adapter.test:8780';
const FORM = { 'content-type': 'application/x-www-form-urlencoded', host: HOST };
const T0 = SERVER_NOW.getTime();
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** A clock the test moves: seconds after SERVER_NOW. */
function steppedClock(): { clock: () => Date; at: (seconds: number) => void } {
  let now = T0;
  return { clock: () => new Date(now), at: (seconds) => void (now = T0 + seconds * 1000) };
}

const auditRows = async (s: TestServer) => (await s.store.accessLog({ limit: 1000 })).map((e) => [e.who, e.what, e.at]);
const iso = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

describe('the key throttle', () => {
  it('refuses an address once it has the limit of failures within the window, until the oldest of them leaves it', () => {
    let now = 0;
    const t = new KeyThrottle({ maxFailures: 3, windowMs: 60_000 }, () => now);
    assert.equal(t.retryAfter('a'), undefined);
    assert.deepEqual([t.fail('a'), t.retryAfter('a')], [1, undefined]);
    now = 10_000;
    assert.deepEqual([t.fail('a'), t.retryAfter('a')], [2, undefined]);
    now = 20_000;
    // the third: refused until the first (at 0) leaves the window, 40 s from now
    assert.deepEqual([t.fail('a'), t.retryAfter('a')], [3, 40]);
    assert.equal(t.retryAfter('b'), undefined);
    now = 59_500;
    assert.equal(t.retryAfter('a'), 1);
    now = 60_000;
    // two failures left in the window: one more refuses again, until the one at 10 s leaves
    assert.equal(t.retryAfter('a'), undefined);
    assert.deepEqual([t.fail('a'), t.retryAfter('a')], [3, 10]);
    now = 200_000;
    assert.deepEqual([t.retryAfter('a'), t.fail('a')], [undefined, 1]);
  });

  it('names a key by 8 hex digits of its SHA-256', () => {
    assert.equal(keyFingerprint('k-wrong'), 'sha256:cb2f7ec9');
    assert.match(keyFingerprint(''), /^sha256:[0-9a-f]{8}$/);
  });
});

describe('wrong API keys: 401 and audited, then 429 with Retry-After for that address', () => {
  it('counts per address, refuses the right key too while throttled, lets it in once the window has passed', async () => {
    const { clock, at } = steppedClock();
    await withTestServer(
      async (s) => {
        const from = (remoteAddress: string, key?: string) =>
          s.fetch('/api/orders', { remoteAddress, ...(key !== undefined ? { headers: { authorization: `Bearer ${key}` } } : {}) });
        // no key at all is not a key presented: not counted
        for (let i = 0; i < 4; i++) assert.equal((await from('10.0.0.1')).status, 401);
        for (const key of ['k-wrong', 'k-wrong', 'k-other']) {
          const r = await from('10.0.0.1', key);
          assert.deepEqual(
            [r.status, r.headers.get('www-authenticate'), r.headers.get('retry-after'), await r.json()],
            [401, 'Bearer', null, { code: 'UNAUTHENTICATED', error: 'missing or wrong credentials (Authorization: Bearer <key> or X-API-Key)' }],
          );
        }
        const refused = async (key: string) => {
          const r = await from('10.0.0.1', key);
          return [r.status, r.headers.get('retry-after'), await r.json()];
        };
        const tooMany = (wait: number) => [
          429,
          String(wait),
          { code: 'TOO_MANY_FAILURES', error: 'too many wrong keys from this address: wait for the time Retry-After gives, then try again', retryAfter: wait },
        ];
        assert.deepEqual(await refused('k-view'), tooMany(60));
        assert.deepEqual(await refused('k-wrong'), tooMany(60));
        // another address is not held back
        assert.equal((await from('10.0.0.2', 'k-view')).status, 200);
        at(45);
        assert.deepEqual(await refused('k-view'), tooMany(15));
        at(60);
        assert.equal((await from('10.0.0.1', 'k-view')).status, 200);

        const rows = await auditRows(s);
        assert.deepEqual(rows, [
          [`wrong key ${keyFingerprint('k-wrong')}`, 'key refused (GET /api/orders) from 10.0.0.1: 1 of 3 in 60 s', iso(0)],
          [`wrong key ${keyFingerprint('k-wrong')}`, 'key refused (GET /api/orders) from 10.0.0.1: 2 of 3 in 60 s', iso(0)],
          [
            `wrong key ${keyFingerprint('k-other')}`,
            'key refused (GET /api/orders) from 10.0.0.1: 3 of 3 in 60 s; keys from this address refused for 60 s',
            iso(0),
          ],
          ['view#1', 'orders listed: 0 rows', iso(0)],
          ['view#1', 'orders listed: 0 rows', iso(60)],
        ]);
        // the keys themselves are nowhere: not in the audit, not in the log
        assert.equal(JSON.stringify(rows).includes('k-wrong') || JSON.stringify(rows).includes('k-other'), false);
        assert.equal(s.logs().includes('k-wrong'), false);
      },
      { roles: ROLES, clock, security: { CDSR_AUTH_MAX_FAILURES: 3, CDSR_AUTH_FAILURE_WINDOW_S: 60 } },
    );
  });

  it('FHIR and HL7 answer the 429 in their own shape, with Retry-After', () =>
    withTestServer(
      async (s) => {
        assert.equal((await postHl7(s, 'MSH|x', { authorization: 'Bearer k-wrong' })).status, 401);
        const hl7 = await s.fetch('/hl7v2', {
          method: 'POST',
          body: 'MSH|x',
          headers: { 'content-type': 'application/hl7-v2', authorization: 'Bearer k-send' },
        });
        assert.deepEqual([hl7.status, hl7.headers.get('retry-after')], [429, '300']);
        assert.match(await hl7.text(), /\rMSA\|AR\|\rERR\|[^\r]*\|TOO_MANY_FAILURES: too many wrong keys from this address/);
        const fhir = await s.fetch('/fhir', {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'application/fhir+json', authorization: 'Bearer k-send' },
        });
        assert.deepEqual([fhir.status, fhir.headers.get('retry-after')], [429, '300']);
        const outcome = (await fhir.json()) as { issue: { code: string; details: { coding: { code: string }[] } }[] };
        assert.deepEqual([outcome.issue[0]!.code, outcome.issue[0]!.details.coding[0]!.code], ['throttled', 'TOO_MANY_FAILURES']);
      },
      { roles: ROLES, security: { CDSR_AUTH_MAX_FAILURES: 1 } },
    ));

  it('the source address is the one X-Forwarded-For gives only when the request comes from a proxy CDSR_TRUST_PROXY lists', async () => {
    const whoFrom = async (security: Record<string, unknown>) => {
      let what = '';
      await withTestServer(
        async (s) => {
          await s.fetch('/api/orders', { remoteAddress: '10.1.1.1', headers: { 'x-api-key': 'k-wrong', 'x-forwarded-for': '203.0.113.9' } });
          what = (await s.store.accessLog({})).map((e) => e.what).join('\n');
        },
        { roles: ROLES, security },
      );
      return what;
    };
    assert.equal(await whoFrom({}), 'key refused (GET /api/orders) from 10.1.1.1: 1 of 10 in 300 s');
    assert.equal(await whoFrom({ CDSR_TRUST_PROXY: ['10.0.0.0/8'] }), 'key refused (GET /api/orders) from 203.0.113.9: 1 of 10 in 300 s');
    assert.equal(await whoFrom({ CDSR_TRUST_PROXY: ['192.168.0.1'] }), 'key refused (GET /api/orders) from 10.1.1.1: 1 of 10 in 300 s');
  });
});

describe('the console sign-in', () => {
  const signIn = (s: TestServer, body: string, headers: Record<string, string> = {}, remoteAddress?: string) =>
    s.fetch('/ui/login', { method: 'POST', body, headers: { ...FORM, ...headers }, ...(remoteAddress !== undefined ? { remoteAddress } : {}) });

  it('counts wrong keys with the API, answers 429 with Retry-After on its page, audits each by hash', async () => {
    const { clock, at } = steppedClock();
    await withTestServer(
      async (s) => {
        // one wrong key at the API, two at the form: the same count
        assert.equal((await s.fetch('/api/orders', { headers: { 'x-api-key': 'k-wrong' } })).status, 401);
        const wrong = await signIn(s, 'key=k-nope');
        assert.equal(wrong.status, 401);
        assert.match(await wrong.text(), /<p class="bad" role="alert">That key is not one of this adapter’s keys\.<\/p>/);
        at(10);
        assert.equal((await signIn(s, 'key=')).status, 401);
        const held = await signIn(s, 'key=k-op');
        assert.deepEqual([held.status, held.headers.get('retry-after'), held.headers.get('set-cookie')], [429, '290', null]);
        assert.match(await held.text(), /<p class="bad" role="alert">Too many wrong keys from this address: try again in 290 s\.<\/p>/);
        at(300);
        assert.equal((await signIn(s, 'key=k-op')).status, 303);
        assert.deepEqual(await auditRows(s), [
          [`wrong key ${keyFingerprint('k-wrong')}`, 'key refused (GET /api/orders) from 127.0.0.1: 1 of 3 in 300 s', iso(0)],
          [`wrong key ${keyFingerprint('k-nope')}`, 'key refused (console sign-in) from 127.0.0.1: 2 of 3 in 300 s', iso(0)],
          ['no key', 'key refused (console sign-in) from 127.0.0.1: 3 of 3 in 300 s; keys from this address refused for 290 s', iso(10)],
          ['operate#1', 'console sign-in', iso(300)],
        ]);
      },
      { roles: ROLES, clock, security: { CDSR_AUTH_MAX_FAILURES: 3 } },
    );
  });

  it('refuses a form sent from another site (login CSRF and every other form), with the error page; takes its own and non-browser posts', () =>
    withTestServer(
      async (s) => {
        const crossSite: Record<string, string>[] = [
          { origin: 'https://evil.example' },
          { origin: 'null' },
          { origin: 'http://adapter.test:8781' },
          { 'sec-fetch-site': 'cross-site' },
          { 'sec-fetch-site': 'same-site' },
          // Sec-Fetch-Site, when sent, decides: a matching Origin does not make a cross-site post good
          { 'sec-fetch-site': 'cross-site', origin: `http://${HOST}` },
        ];
        for (const headers of crossSite) {
          const r = await signIn(s, 'key=k-op', headers);
          assert.deepEqual(
            [r.status, r.headers.get('set-cookie'), r.headers.get('x-frame-options'), r.headers.get('content-security-policy')],
            [403, null, 'DENY', PAGE_CSP],
            JSON.stringify(headers),
          );
          const page = await r.text();
          assert.match(
            page,
            /<p class="bad" role="alert">refused: the form was sent from another site, not from this console; open the console at its own address and try again<\/p>\n<p class="muted">HTTP 403 · CROSS_SITE<\/p>/,
          );
        }
        // nothing was signed in, nothing counted as a wrong key
        assert.deepEqual(await auditRows(s), []);
        assert.match(s.logs(), /"event":"console_cross_site_refused","route":"\/ui\/login","reason":"Origin: https:\/\/evil.example"/);

        // its own page (same origin), what the user did (none), and a client that is no browser (neither header)
        const own: Record<string, string>[] = [{ origin: `http://${HOST}` }, { 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }, {}];
        for (const headers of own) {
          const r = await signIn(s, 'key=k-op', headers);
          assert.equal(r.status, 303, JSON.stringify(headers));
        }
        // every other form too, even with the session and its CSRF token
        const cookie = ((await signIn(s, 'key=k-op')).headers.get('set-cookie') ?? '').split(';')[0]!;
        const csrf = /name="csrf" value="([^"]+)"/.exec(await (await s.fetch('/ui/worklist', { headers: { cookie } })).text())![1]!;
        const replay = (headers: Record<string, string>) =>
          s.fetch('/ui/worklist/replay', { method: 'POST', body: `csrf=${encodeURIComponent(csrf)}`, headers: { ...FORM, cookie, ...headers } });
        assert.equal((await replay({ origin: 'https://evil.example' })).status, 403);
        assert.equal((await replay({ 'sec-fetch-site': 'cross-site' })).status, 403);
        assert.equal((await replay({ origin: `http://${HOST}`, 'sec-fetch-site': 'same-origin' })).status, 200);
      },
      { roles: ROLES },
    ));

  it('the rule, header by header', () => {
    const h = (headers: Record<string, string>) => crossSiteReason(headers, HOST);
    assert.equal(h({}), undefined);
    assert.equal(h({ origin: 'http://adapter.test:8780' }), undefined);
    assert.equal(h({ origin: 'https://adapter.test:8780' }), undefined);
    assert.equal(h({ origin: 'http://adapter.test' }), 'Origin: http://adapter.test');
    assert.equal(h({ origin: 'not a url' }), 'Origin: not a url');
    assert.equal(h({ 'sec-fetch-site': 'same-site', origin: 'http://adapter.test:8780' }), 'Sec-Fetch-Site: same-site');
    assert.equal(h({ 'sec-fetch-site': 'none' }), undefined);
  });
});

describe('the console session', () => {
  const cookieOf = (r: Response) => r.headers.get('set-cookie') ?? '';
  const signIn = (s: TestServer, headers: Record<string, string> = {}, remoteAddress?: string) =>
    s.fetch('/ui/login', { method: 'POST', body: 'key=k-op', headers: { ...FORM, ...headers }, ...(remoteAddress !== undefined ? { remoteAddress } : {}) });

  it('its cookie is Secure when the request came over TLS: X-Forwarded-Proto believed only from a configured proxy', async () => {
    const cookies = async (security: Record<string, unknown>) => {
      const out: string[] = [];
      await withTestServer(
        async (s) => {
          out.push(cookieOf(await signIn(s)).replace(/=[^;]+;/, '=…;'));
          out.push(cookieOf(await signIn(s, { 'x-forwarded-proto': 'https' }, '10.2.3.4')).replace(/=[^;]+;/, '=…;'));
        },
        { roles: ROLES, security },
      );
      return out;
    };
    const plain = 'cdsr_console=…; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=43200';
    const secure = 'cdsr_console=…; Path=/ui; HttpOnly; SameSite=Strict; Secure; Max-Age=43200';
    assert.deepEqual(await cookies({}), [plain, plain]);
    assert.deepEqual(await cookies({ CDSR_TRUST_PROXY: ['10.2.3.4'] }), [plain, secure]);
    assert.deepEqual(await cookies({ CDSR_TRUST_PROXY: ['10.9.9.9'] }), [plain, plain]);
  });

  it('ends when unused for its idle time, and at its absolute lifetime however much it is used', async () => {
    const { clock, at } = steppedClock();
    await withTestServer(
      async (s) => {
        const signed = await signIn(s);
        assert.match(cookieOf(signed), /; Max-Age=7200$/);
        const cookie = cookieOf(signed).split(';')[0]!;
        const use = async (seconds: number) => {
          at(seconds);
          const r = await s.fetch('/ui/worklist', { headers: { cookie } });
          return [r.status, r.headers.get('location')];
        };
        // used every 50 minutes: kept, until two hours after the sign-in
        assert.deepEqual(await use(50 * 60), [200, null]);
        assert.deepEqual(await use(100 * 60), [200, null]);
        assert.deepEqual(await use(7199), [200, null]);
        assert.deepEqual(await use(7200), [303, '/ui/login']);

        // a new sign-in at 3 h: unused for an hour and a second, it is gone
        at(3 * 3600);
        const again = cookieOf(await signIn(s)).split(';')[0]!;
        at(4 * 3600);
        assert.equal((await s.fetch('/ui/worklist', { headers: { cookie: again } })).status, 200);
        at(5 * 3600 + 1);
        assert.equal((await s.fetch('/ui/worklist', { headers: { cookie: again } })).status, 303);
      },
      { roles: ROLES, clock, security: { CDSR_SESSION_IDLE_MINUTES: 60, CDSR_SESSION_MAX_HOURS: 2 } },
    );
  });
});

describe('no HTML page may be framed', () => {
  it('the sign-in pages of /auth/acr, the console and its error pages say so; JSON answers are left alone', () =>
    withTestServer(
      async (s) => {
        const op = { 'x-api-key': 'k-op' };
        const pages = [
          await s.fetch('/auth/acr/start', { headers: op }),
          await s.fetch('/auth/acr/callback?code=x&state=y'),
          await s.fetch('/ui/login'),
          await s.fetch('/ui/no-such-page'),
          await s.fetch('/ui/worklist/replay', { method: 'POST', body: 'csrf=x', headers: FORM }),
        ];
        assert.deepEqual(
          pages.map((r) => [r.status, r.headers.get('content-type'), r.headers.get('x-frame-options'), r.headers.get('content-security-policy')]),
          [
            [404, 'text/html; charset=utf-8', 'DENY', PAGE_CSP],
            [404, 'text/html; charset=utf-8', 'DENY', PAGE_CSP],
            [200, 'text/html; charset=utf-8', 'DENY', PAGE_CSP],
            [401, 'text/html; charset=utf-8', 'DENY', PAGE_CSP],
            [401, 'text/html; charset=utf-8', 'DENY', PAGE_CSP],
          ],
        );
        const json = await s.fetch('/healthz');
        assert.deepEqual([json.headers.get('x-frame-options'), json.headers.get('content-security-policy')], [null, null]);
      },
      { roles: ROLES },
    ));
});

describe('lists of identifiers are audited, without the identifiers', () => {
  it('one entry per list asked for: who, which list, by which parameters, how many rows', () =>
    withTestServer(
      async (s) => {
        const orm = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
        assert.match((await postHl7(s, orm, { authorization: 'Bearer k-send' })).text, /MSA\|AA/);
        const view = { headers: { 'x-api-key': 'k-view' } };
        const lists = [
          '/api/orders',
          '/api/orders?encounter=V0001&state=held',
          '/api/records',
          '/api/records?state=ready&limit=1',
          '/api/messages?controlId=MSG0001',
        ];
        for (const path of lists) assert.equal((await s.fetch(path, view)).status, 200, path);
        // a refused list is no list
        assert.equal((await s.fetch('/api/orders?state=lost', view)).status, 400);
        const rows = (await s.store.accessLog({})).map((e) => [e.who, e.what]);
        const orders = ((await (await s.fetch('/api/orders', view)).json()) as { orders: unknown[] }).orders.length;
        const records = ((await (await s.fetch('/api/records', view)).json()) as { records: unknown[] }).records.length;
        assert.ok(orders > 0 && records > 0);
        const n = (k: number) => `${k} ${k === 1 ? 'row' : 'rows'}`;
        assert.deepEqual(rows, [
          ['view#1', `orders listed: ${n(orders)}`],
          ['view#1', 'orders listed: 0 rows (by encounter, state)'],
          ['view#1', `records listed: ${n(records)}`],
          ['view#1', 'records listed: 1 row (by state)'],
          ['view#1', 'messages listed: 1 row (by controlId)'],
        ]);
        const text = JSON.stringify(await s.store.accessLog({}));
        for (const id of ['V0001', 'MSG0001', 'ORD1001', 'ACC2001']) assert.equal(text.includes(id), false, id);
      },
      { roles: ROLES },
    ));
});

describe("the test bench's draft folders", () => {
  it('are read inside CDSR_BENCH_DRAFTS_DIR only; outside it one answer whether the path exists or not, by name or through a link', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdsr-drafts-'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'cdsr-elsewhere-'));
    try {
      await withTestServer(
        async (s) => {
          cpSync(s.mappingsDir, join(root, 'site-a'), { recursive: true });
          symlinkSync(elsewhere, join(root, 'link-out'));
          mkdirSync(join(elsewhere, 'present'));
          const cookie = ((await s.fetch('/ui/login', { method: 'POST', body: 'key=k-op', headers: FORM })).headers.get('set-cookie') ?? '').split(';')[0]!;
          const csrf = /name="csrf" value="([^"]+)"/.exec(await (await s.fetch('/ui/bench', { headers: { cookie } })).text())![1]!;
          const post = async (path: string, draft: string) => {
            const body = new URLSearchParams({ csrf, text: 'MSH|^~\\&|A|B\r', draft, name: 'x' }).toString();
            const r = await s.fetch(path, { method: 'POST', body, headers: { ...FORM, cookie } });
            return [r.status, /<div id="bench-draft-refused"><p class="bad" role="alert">([^<]*)<\/p>/.exec(await r.text())?.[1]];
          };
          const outside = `the draft folder must be inside ${root} (CDSR_BENCH_DRAFTS_DIR).`;
          for (const draft of [
            s.mappingsDir,
            join(s.dir, 'no-such-folder'),
            '/etc',
            '/no/such/folder',
            `../${basename(elsewhere)}`,
            `../${basename(elsewhere)}/none`,
            join(root, '..', basename(elsewhere)),
            'link-out',
            'link-out/present',
            'link-out/none',
          ]) {
            assert.deepEqual(await post('/ui/bench', draft), [422, outside], draft);
            assert.deepEqual(await post('/ui/bench/save-test', draft), [422, outside], draft);
          }
          // inside: by its path there or in full; what is not there is named
          assert.deepEqual(await post('/ui/bench', 'site-a'), [200, undefined]);
          assert.deepEqual(await post('/ui/bench', join(root, 'site-a')), [200, undefined]);
          assert.deepEqual(await post('/ui/bench', 'site-b'), [422, `${join(root, 'site-b')} does not exist.`]);
        },
        { roles: ROLES, security: { CDSR_BENCH_DRAFTS_DIR: root } },
      );
      // without the setting there are no draft folders
      await withTestServer(
        async (s) => {
          const cookie = ((await s.fetch('/ui/login', { method: 'POST', body: 'key=k-op', headers: FORM })).headers.get('set-cookie') ?? '').split(';')[0]!;
          const csrf = /name="csrf" value="([^"]+)"/.exec(await (await s.fetch('/ui/bench', { headers: { cookie } })).text())![1]!;
          const body = new URLSearchParams({ csrf, text: '', draft: join(root, 'site-a') }).toString();
          const r = await s.fetch('/ui/bench', { method: 'POST', body, headers: { ...FORM, cookie } });
          assert.equal(r.status, 422);
          assert.match(
            await r.text(),
            /<p class="bad" role="alert">draft folders are off: CDSR_BENCH_DRAFTS_DIR names the folder they must be in \(docs\/operations\.md\)\.<\/p>/,
          );
        },
        { roles: ROLES },
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
