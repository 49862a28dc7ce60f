// `cdsr-adapter subscribe` against a stub FHIR server on loopback (test/fhir-stub.ts): exactly what
// the server receives for R4 (backport), R4B and R5, full-resource and id-only; a second run that
// creates nothing; show, remove, dry run; the key never printed; each failure named with what to
// do. Last, a notification built from a created Subscription's settings is taken by the adapter.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { startFhirStub, type FhirStub, type Json, type RecordedRequest } from '../../test/fhir-stub.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { freePort, withTestServer } from '../../test/server.js';
import { createFhirFetcher } from '../fhir/fetch.js';
import {
  BACKPORT_PROFILE,
  BACKPORT_TOPIC_CANONICAL,
  criteriaOf,
  FilterSyntaxError,
  parseCriteria,
  readCapabilities,
  readSubscription,
} from '../fhir/subscription.js';
import { debugLogsFhirKit, MAX_PAGES, runSubscribe, type SubscribeOptions } from './subscribe.js';

const KEY = 'send-key-7f3a9c';
const TOKEN = 'ehr-token-55b1';
const TOPIC = 'http://ehr.example.org/SubscriptionTopic/imaging-order';
const ENDPOINT = 'https://cdsr.example.org/fhir';
const IMAGING = 'ServiceRequest?category=http://snomed.info/sct|363679005';
const REASON = 'cdsr-adapter: imaging orders (ServiceRequest) and their Encounters for the ACR CDSR registry';
const ENV = { CDSR_SUBSCRIPTION_KEY: KEY, FHIR_SERVER_TOKEN: TOKEN };

function capability(fhirVersion: string, resources: Json[]): Json {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    kind: 'instance',
    fhirVersion,
    format: ['json'],
    rest: [{ mode: 'server', resource: resources }],
  };
}
const advertised = { url: BACKPORT_TOPIC_CANONICAL, valueCanonical: TOPIC };
const R4_BACKPORT = capability('4.0.1', [{ type: 'Subscription', supportedProfile: [BACKPORT_PROFILE], extension: [advertised] }, { type: 'ServiceRequest' }]);
const R4B = capability('4.3.0', [{ type: 'SubscriptionTopic' }, { type: 'Subscription', extension: [advertised] }]);
const R5 = capability('5.0.0', [{ type: 'SubscriptionTopic' }, { type: 'Subscription' }]);

const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), mappingsDir: '', progress: false },
    out: () => out.join(''),
    err: () => err.join(''),
  };
};

async function withStub(cs: unknown, fn: (stub: FhirStub) => Promise<void>): Promise<void> {
  const stub = await startFhirStub(cs);
  try {
    await fn(stub);
  } finally {
    await stub.close();
  }
}

/** Runs the command; checks the key and the token appear nowhere in what it printed. */
async function run(stub: FhirStub | string, o: Partial<SubscribeOptions>, env: Record<string, string | undefined> = ENV) {
  const c = capture();
  const code = await runSubscribe({ fhirServer: typeof stub === 'string' ? stub : stub.base, endpoint: ENDPOINT, ...o }, env, c.io);
  for (const secret of [KEY, TOKEN]) {
    assert.ok(!c.out().includes(secret), `stdout shows a secret:\n${c.out()}`);
    assert.ok(!c.err().includes(secret), `stderr shows a secret:\n${c.err()}`);
  }
  return { code, out: c.out(), err: c.err() };
}

const searchUrl = `/fhir/Subscription?url=${encodeURIComponent(ENDPOINT)}`;
const reads = [
  { method: 'GET', url: '/fhir/metadata', authorization: `Bearer ${TOKEN}`, accept: 'application/fhir+json' },
  { method: 'GET', url: searchUrl, authorization: `Bearer ${TOKEN}`, accept: 'application/fhir+json' },
];
const post = (body: Json) => ({
  method: 'POST',
  url: '/fhir/Subscription',
  contentType: 'application/fhir+json',
  authorization: `Bearer ${TOKEN}`,
  accept: 'application/fhir+json',
  body,
});

const backportForm = (content: 'full-resource' | 'id-only', filters: string[] = []): Json => ({
  resourceType: 'Subscription',
  meta: { profile: ['http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription'] },
  status: 'requested',
  reason: REASON,
  criteria: TOPIC,
  ...(filters.length > 0
    ? {
        _criteria: {
          extension: filters.map((f) => ({
            url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria',
            valueString: f,
          })),
        },
      }
    : {}),
  channel: {
    type: 'rest-hook',
    endpoint: ENDPOINT,
    payload: 'application/fhir+json',
    _payload: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: content }] },
    header: [`Authorization: Bearer ${KEY}`],
  },
});

describe('cdsr-adapter subscribe: what the EHR server receives', () => {
  for (const [name, cs, form] of [
    ['R4 with the backport', R4_BACKPORT, 'R4 backport'],
    ['R4B', R4B, 'R4B backport'],
  ] as const) {
    it(`${name}: full-resource, then (removed) id-only with the imaging filter, in the backport form`, () =>
      withStub(cs, async (stub) => {
        const a = await run(stub, {});
        assert.equal(a.code, 0, a.err);
        assert.equal(a.err, '');
        assert.equal(
          a.out,
          `created Subscription/sub-1 at ${stub.base} (${form} form, topic ${TOPIC}, payload full-resource); status requested\n` +
            `the EHR makes it active after its handshake reaches ${ENDPOINT}: check with --show\n`,
        );
        assert.deepEqual(stub.requests, [...reads, post(backportForm('full-resource'))]);
        assert.equal((await run(stub, { remove: true })).code, 0);
        stub.requests.length = 0;
        const b = await run(stub, { payload: 'id-only', filter: [IMAGING] });
        assert.equal(b.code, 0, b.err);
        assert.deepEqual(stub.requests, [...reads, post(backportForm('id-only', [IMAGING]))]);
      }));
  }

  it('R5: the native form (topic, filterBy, channelType, content), full-resource and id-only', () =>
    withStub(R5, async (stub) => {
      const r5 = (content: string, filterBy?: Json[]): Json => ({
        resourceType: 'Subscription',
        status: 'requested',
        reason: REASON,
        topic: TOPIC,
        ...(filterBy ? { filterBy } : {}),
        channelType: { system: 'http://terminology.hl7.org/CodeSystem/subscription-channel-type', code: 'rest-hook' },
        endpoint: ENDPOINT,
        parameter: [{ name: 'Authorization', value: `Bearer ${KEY}` }],
        contentType: 'application/fhir+json',
        content,
      });
      const a = await run(stub, { topic: TOPIC });
      assert.equal(a.code, 0, a.err);
      assert.match(a.out, /^created Subscription\/sub-1 at http:\/\/127\.0\.0\.1:\d+\/fhir \(R5 form, topic /);
      assert.deepEqual(stub.requests, [...reads, post(r5('full-resource'))]);
      assert.equal((await run(stub, { remove: true })).code, 0);
      stub.requests.length = 0;
      const b = await run(stub, {
        topic: TOPIC,
        payload: 'id-only',
        filter: [IMAGING, 'Encounter?class:not=http://terminology.hl7.org/CodeSystem/v3-ActCode|VR'],
      });
      assert.equal(b.code, 0, b.err);
      assert.deepEqual(stub.requests, [
        ...reads,
        post(
          r5('id-only', [
            { resourceType: 'ServiceRequest', filterParameter: 'category', value: 'http://snomed.info/sct|363679005' },
            { resourceType: 'Encounter', filterParameter: 'class', modifier: 'not', value: 'http://terminology.hl7.org/CodeSystem/v3-ActCode|VR' },
          ]),
        ),
      ]);
      // read back in the R5 form: the same settings are found again (filters, content, the header parameter)
      const again = await run(stub, {
        topic: TOPIC,
        payload: 'id-only',
        filter: [IMAGING, 'Encounter?class:not=http://terminology.hl7.org/CodeSystem/v3-ActCode|VR'],
      });
      assert.match(again.out, /^Subscription\/sub-2 \(status requested, .* already points at .*: nothing changed\n$/);
      const shown = await run(stub, { show: true });
      assert.match(shown.out, /\nsub-2 +requested +\S+ +id-only +ServiceRequest\?category=\S+ & Encounter\?class:not=\S+ +Authorization: \*\*\*\*\n$/);
      // and a dry run of a change prints the parameter masked
      const dry = await run(stub, { topic: TOPIC, dryRun: true });
      const printed = JSON.parse(dry.out.slice(dry.out.indexOf('\n') + 1)) as Json;
      assert.deepEqual(printed.parameter, [{ name: 'Authorization', value: '****' }]);
      assert.match(dry.out, /^dry run: would update Subscription\/sub-2 .*: payload id-only → full-resource; filters .* → \(none\)\n/);
    }));

  it('R4B: serving SubscriptionTopic is sign enough of topic-based Subscriptions (with --topic, none advertised); in R4 it is not', async () => {
    await withStub(capability('4.3.0', [{ type: 'SubscriptionTopic' }, { type: 'Subscription' }]), async (stub) => {
      const r = await run(stub, { topic: TOPIC });
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(stub.requests.at(-1), post(backportForm('full-resource')));
    });
    await withStub(capability('4.0.1', [{ type: 'SubscriptionTopic' }, { type: 'Subscription' }]), async (stub) => {
      const r = await run(stub, { topic: TOPIC });
      assert.equal(r.code, 2);
      assert.match(r.err, /shows no sign of the Subscriptions R5 Backport/);
    });
  });

  it('--fhir-version overrides what /metadata says (an R4 server that shows no sign of the backport)', () =>
    withStub(capability('4.0.1', [{ type: 'Subscription' }]), async (stub) => {
      const r = await run(stub, { fhirVersion: 'R4', topic: TOPIC });
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(stub.requests.at(-1), post(backportForm('full-resource')));
    }));
});

/** A stub's answer carrying an OperationOutcome with these issues. */
const outcomeAnswer = (status: number, issue: object[]) => ({ status, body: JSON.stringify({ resourceType: 'OperationOutcome', issue }) });

const outcome400 = () => outcomeAnswer(400, [{ severity: 'error', code: 'not-supported', diagnostics: 'Unknown search parameter url' }]);

describe('cdsr-adapter subscribe: once only, show, remove, dry run', () => {
  it('a second run creates nothing; a changed setting updates the one there (PUT), naming what changed', () =>
    withStub(R4_BACKPORT, async (stub) => {
      assert.equal((await run(stub, {})).code, 0);
      stub.requests.length = 0;
      const again = await run(stub, {});
      assert.equal(again.code, 0);
      assert.equal(
        again.out,
        `Subscription/sub-1 (status requested, topic ${TOPIC}, payload full-resource) already points at ${ENDPOINT} with these settings: nothing changed\n`,
      );
      assert.deepEqual(stub.requests, reads);
      assert.equal(stub.subscriptions.size, 1);

      stub.requests.length = 0;
      const changed = await run(stub, { payload: 'id-only' }, { ...ENV, CDSR_SUBSCRIPTION_KEY: 'rotated-key' });
      assert.equal(changed.code, 0, changed.err);
      assert.equal(
        changed.out,
        `updated Subscription/sub-1 at ${stub.base} (R4 backport form): payload full-resource → id-only; channel header (the send key) changed; status requested\n`,
      );
      assert.ok(!changed.out.includes('rotated-key'));
      const put = stub.requests.at(-1)! as RecordedRequest;
      assert.equal(put.method, 'PUT');
      assert.equal(put.url, '/fhir/Subscription/sub-1');
      assert.equal(put.contentType, 'application/fhir+json');
      const want = backportForm('id-only');
      (want.channel as Json).header = ['Authorization: Bearer rotated-key'];
      assert.deepEqual(put.body, { ...want, id: 'sub-1' });
      assert.equal(stub.subscriptions.size, 1);
    }));

  it('a Subscription the EHR put in error is re-requested', () =>
    withStub(R4_BACKPORT, async (stub) => {
      assert.equal((await run(stub, {})).code, 0);
      stub.subscriptions.set('sub-1', { ...stub.subscriptions.get('sub-1')!, status: 'error', error: 'endpoint answered 401' });
      const r = await run(stub, {});
      assert.equal(r.out, `updated Subscription/sub-1 at ${stub.base} (R4 backport form): status error → requested; status requested\n`);
    }));

  it('--show lists those at this endpoint with status, headers masked; --remove deletes them and says how many', () =>
    withStub(R4_BACKPORT, async (stub) => {
      assert.equal((await run(stub, {})).code, 0);
      stub.subscriptions.set('other', {
        resourceType: 'Subscription',
        id: 'other',
        status: 'active',
        criteria: TOPIC,
        channel: { type: 'rest-hook', endpoint: 'https://elsewhere.example.org/hook', header: ['Authorization: Bearer theirs'] },
      });
      stub.subscriptions.set('sub-1', { ...stub.subscriptions.get('sub-1')!, status: 'error', error: 'the endpoint answered 503' });
      const shown = await run(stub, { show: true });
      assert.equal(shown.code, 1, 'a Subscription in error is something to act on');
      assert.equal(
        shown.out,
        [
          `1 Subscription(s) at ${stub.base} point at ${ENDPOINT} (FHIR 4.0.1):`,
          'ID     STATUS  TOPIC                                                   PAYLOAD        FILTERS  HEADERS              ERROR',
          `sub-1  error   ${TOPIC}  full-resource           Authorization: ****  the endpoint answered 503`,
          '',
        ].join('\n'),
      );
      stub.requests.length = 0;
      const dry = await run(stub, { remove: true, dryRun: true });
      assert.equal(dry.out, `dry run: would delete 1 Subscription(s) at ${stub.base} pointing at ${ENDPOINT}: Subscription/sub-1\n`);
      assert.deepEqual(stub.requests, reads);
      const removed = await run(stub, { remove: true });
      assert.equal(removed.out, `deleted 1 Subscription(s) at ${stub.base} pointing at ${ENDPOINT}: Subscription/sub-1\n`);
      assert.deepEqual(
        stub.requests.slice(-1).map((r) => [r.method, r.url]),
        [['DELETE', '/fhir/Subscription/sub-1']],
      );
      assert.deepEqual([...stub.subscriptions.keys()], ['other']);
      assert.equal((await run(stub, { remove: true })).out, `deleted 0 Subscription(s) at ${stub.base} pointing at ${ENDPOINT} (none pointed at it)\n`);
      const none = await run(stub, { show: true });
      assert.deepEqual([none.code, none.out], [1, `no Subscription at ${stub.base} points at ${ENDPOINT}\n`]);
    }));

  it('follows next pages on the server itself, never to another host (the token would go with it)', () =>
    withStub(R4_BACKPORT, async (stub) => {
      const mine = (id: string, status: string) => ({
        resource: {
          ...backportForm('full-resource'),
          id,
          status,
          channel: { ...(backportForm('full-resource').channel as Json), header: ['Authorization: Bearer old'] },
        },
      });
      const page = (entry: Json[], next?: string) => ({
        status: 200,
        body: JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry, ...(next !== undefined ? { link: [{ relation: 'next', url: next }] } : {}) }),
      });
      let nextHost = '';
      stub.override = (q) =>
        q.url.startsWith('/fhir/Subscription?url=')
          ? page([mine('a', 'active')], `${nextHost}/fhir/Subscription?page=2`)
          : q.url === '/fhir/Subscription?page=2'
            ? page([mine('b', 'off')])
            : undefined;
      nextHost = new URL(stub.base).origin;
      const shown = await run(stub, { show: true });
      assert.equal(shown.code, 1);
      assert.match(shown.out, /^2 Subscription\(s\) at .*\n(.*\n){1}a +active .*\nb +off .*\n$/);
      // a next link that never ends: refused after MAX_PAGES, nothing changed
      stub.override = (q) =>
        q.method === 'GET' && q.url.startsWith('/fhir/Subscription?') ? page([], `${new URL(stub.base).origin}/fhir/Subscription?page=2`) : undefined;
      stub.requests.length = 0;
      const endless = await run(stub, {});
      assert.equal(
        endless.err,
        `cdsr-adapter subscribe: ${stub.base} has more than ${MAX_PAGES} pages of Subscriptions for this search: not all could be read, so nothing was changed\n`,
      );
      assert.equal(stub.requests.filter((r) => r.url === '/fhir/Subscription?page=2').length, MAX_PAGES - 1);
      assert.equal(stub.requests.filter((r) => r.method === 'POST').length, 0);
      stub.override = (q) => (q.url.startsWith('/fhir/Subscription?url=') ? page([mine('a', 'active')], `${nextHost}/fhir/Subscription?page=2`) : undefined);
      nextHost = 'https://elsewhere.example.org';
      const refused = await run(stub, { show: true });
      assert.equal(refused.code, 2);
      assert.equal(refused.err, `cdsr-adapter subscribe: ${stub.base} gave a next page on another host (https://elsewhere.example.org): not followed\n`);
    }));

  it('a server without the url search parameter (400): every Subscription is read and those at the endpoint kept', () =>
    withStub(R4_BACKPORT, async (stub) => {
      assert.equal((await run(stub, {})).code, 0);
      stub.subscriptions.set('other', {
        resourceType: 'Subscription',
        id: 'other',
        status: 'active',
        criteria: TOPIC,
        channel: { type: 'rest-hook', endpoint: 'https://elsewhere.example.org/hook' },
      });
      stub.override = (q) => (q.url.startsWith('/fhir/Subscription?url=') ? outcome400() : undefined);
      stub.requests.length = 0;
      const again = await run(stub, {});
      assert.equal(again.code, 0, again.err);
      assert.match(again.out, /^Subscription\/sub-1 \(status requested, .*nothing changed\n$/);
      assert.deepEqual(
        stub.requests.map((r) => `${r.method} ${r.url}`),
        ['GET /fhir/metadata', `GET ${searchUrl}`, 'GET /fhir/Subscription'],
      );
    }));

  it('--dry-run prints the resource with the key masked and sends no write', () =>
    withStub(R4_BACKPORT, async (stub) => {
      const r = await run(stub, { dryRun: true, filter: [IMAGING] });
      assert.equal(r.code, 0);
      const masked = backportForm('full-resource', [IMAGING]);
      (masked.channel as Json).header = ['Authorization: ****'];
      assert.equal(r.out, `dry run: would create at ${stub.base}/Subscription (R4 backport form, FHIR 4.0.1):\n${JSON.stringify(masked, null, 2)}\n`);
      assert.deepEqual(stub.requests, reads);
    }));
});

describe('cdsr-adapter subscribe: failures say what to do', () => {
  const fails = async (cs: unknown, o: Partial<SubscribeOptions>, env: Record<string, string | undefined>, setup?: (s: FhirStub) => void) => {
    let r: { code: number; out: string; err: string } | undefined;
    let kept = 0;
    await withStub(cs, async (stub) => {
      setup?.(stub);
      r = await run(stub, o, env);
      kept = stub.subscriptions.size;
    });
    assert.equal(r!.code, 2);
    assert.equal(r!.out, '');
    assert.equal(kept, 0);
    return r!.err.replace(/127\.0\.0\.1:\d+/g, 'HOST');
  };
  const outcome = (status: number, diagnostics: string) => () => outcomeAnswer(status, [{ severity: 'error', code: 'security', diagnostics }]);

  it('401 without a token names the variable to set; with one, says it was refused; 403 says what the token lacks', async () => {
    const { FHIR_SERVER_TOKEN: _, ...noToken } = ENV;
    assert.equal(
      await fails(R4_BACKPORT, {}, noToken, (s) => (s.override = outcome(401, 'no token'))),
      "cdsr-adapter subscribe: http://HOST/fhir answered 401 to GET metadata: no token was sent: set FHIR_SERVER_TOKEN (or name another variable with --token-env) to a bearer token the EHR's FHIR server accepts\n",
    );
    assert.equal(
      await fails(R4_BACKPORT, { tokenEnv: 'EHR_TOKEN' }, { ...ENV, EHR_TOKEN: 'x' }, (s) => (s.override = outcome(401, 'expired'))),
      'cdsr-adapter subscribe: http://HOST/fhir answered 401 to GET metadata: the token in EHR_TOKEN was refused (expired?)\n',
    );
    assert.equal(
      await fails(R4_BACKPORT, {}, ENV, (s) => (s.override = (q) => (q.method === 'POST' ? outcome(403, 'scope')() : undefined))),
      'cdsr-adapter subscribe: http://HOST/fhir answered 403 to POST Subscription: the token in FHIR_SERVER_TOKEN may not do this (it needs the right to read and write Subscription)\n',
    );
  });

  it("an OperationOutcome is shown with its issues' text", async () => {
    await withStub(R4_BACKPORT, async (stub) => {
      stub.override = (q) =>
        q.method === 'POST'
          ? outcomeAnswer(422, [
              { severity: 'error', code: 'processing', diagnostics: 'Unknown SubscriptionTopic' },
              { severity: 'warning', code: 'invalid', details: { text: 'channel.header is not stored' } },
            ])
          : undefined;
      const r = await run(stub, {});
      assert.equal(r.code, 2);
      assert.equal(
        r.err,
        `cdsr-adapter subscribe: ${stub.base} refused POST Subscription (HTTP 422): error processing: Unknown SubscriptionTopic; warning invalid: channel.header is not stored\n`,
      );
      assert.equal(stub.subscriptions.size, 0);
    });
  });

  it('a server that quotes the channel header or the token back: neither is printed', async () => {
    await withStub(R4_BACKPORT, async (stub) => {
      stub.override = (q) =>
        q.method === 'POST'
          ? outcomeAnswer(422, [
              { severity: 'error', code: 'invalid', diagnostics: `header "Authorization: Bearer ${KEY}" refused for token ${ENV.FHIR_SERVER_TOKEN}` },
            ])
          : undefined;
      const r = await run(stub, {});
      assert.equal(r.code, 2);
      assert.equal(
        r.err,
        `cdsr-adapter subscribe: ${stub.base} refused POST Subscription (HTTP 422): error invalid: header "Authorization: Bearer ****" refused for token ****\n`,
      );
    });
  });

  it('not a FHIR server: a web page, a 404, another resource', async () => {
    const page = () => ({ status: 200, body: '<html>sign in</html>', contentType: 'text/html' });
    assert.equal(
      await fails(R4_BACKPORT, {}, ENV, (s) => (s.override = page)),
      'cdsr-adapter subscribe: http://HOST/fhir answered GET metadata with HTTP 200 and a body that is not JSON: is --fhir-server the FHIR base URL?\n',
    );
    assert.equal(
      await fails(R4_BACKPORT, {}, ENV, (s) => (s.override = () => ({ status: 404, body: 'Not Found', contentType: 'text/plain' }))),
      'cdsr-adapter subscribe: http://HOST/fhir refused GET metadata (HTTP 404): is --fhir-server the FHIR base URL (the one /metadata is under)?\n',
    );
    assert.equal(
      await fails({ resourceType: 'Patient' }, {}, ENV),
      'cdsr-adapter subscribe: http://HOST/fhir/metadata is not a CapabilityStatement (a Patient): is --fhir-server the FHIR base URL?\n',
    );
  });

  it('a version it does not take; R4 without the backport; no topic advertised', async () => {
    assert.equal(
      await fails(capability('3.0.2', []), {}, ENV),
      'cdsr-adapter subscribe: http://HOST/fhir is FHIR 3.0.2: subscribe takes R4 (4.0.x), R4B (4.3.x) and R5 (5.0.x)\n',
    );
    assert.equal(
      await fails(capability('4.0.1', [{ type: 'Subscription' }]), {}, ENV),
      'cdsr-adapter subscribe: http://HOST/fhir is FHIR 4.0.1 (R4) and its CapabilityStatement shows no sign of the Subscriptions R5 Backport (no backport-subscription profile, SubscriptionTopic or advertised topic): ask the EHR team whether it takes topic-based Subscriptions; if it does, run again with --fhir-version R4\n',
    );
    assert.equal(
      await fails(R5, {}, ENV),
      "cdsr-adapter subscribe: http://HOST/fhir advertises no SubscriptionTopic in its CapabilityStatement: give --topic, the canonical URL of the EHR's topic for ServiceRequest (imaging order) changes\n",
    );
  });

  it('the options: no key, an http endpoint off loopback, a bad filter, DEBUG on fhir-kit-client', async () => {
    assert.equal(
      await fails(R4_BACKPORT, {}, { FHIR_SERVER_TOKEN: TOKEN }),
      "cdsr-adapter subscribe: set CDSR_SUBSCRIPTION_KEY (or name another variable with --key-env) to one of the adapter's send keys (CDSR_SEND_API_KEYS): the EHR sends it with every notification\n",
    );
    assert.equal(
      await fails(R4_BACKPORT, { endpoint: 'http://cdsr.example.org/fhir' }, ENV),
      'cdsr-adapter subscribe: --endpoint http://cdsr.example.org/fhir is not https: the EHR sends the send key with every notification, so the endpoint must be https (http only on loopback, for a test)\n',
    );
    assert.equal(
      await fails(R4_BACKPORT, { filter: ['category=imaging'] }, ENV),
      'cdsr-adapter subscribe: --filter: "category=imaging" is not Type?parameter=value (e.g. ServiceRequest?category=http://snomed.info/sct|363679005)\n',
    );
    assert.equal(
      await fails(R4_BACKPORT, {}, { ...ENV, DEBUG: 'fhir-kit-client:*' }),
      "cdsr-adapter subscribe: DEBUG enables fhir-kit-client's request log, which would print the token and the key: unset DEBUG for this command\n",
    );
    // http on loopback is taken (a test set-up)
    await withStub(R4_BACKPORT, async (stub) => assert.equal((await run(stub, { endpoint: 'http://127.0.0.1:8780/fhir' })).code, 0));
  });

  it('a server that does not answer in time is named, with the time waited', async () => {
    assert.equal(
      await fails(R4_BACKPORT, { timeoutMs: 50 }, ENV, (s) => (s.override = () => 'hang')),
      'cdsr-adapter subscribe: http://HOST/fhir did not answer GET metadata in 50 ms: check --fhir-server and the network\n',
    );
  });

  it('DEBUG is read as the debug package reads it', () => {
    for (const on of ['*', 'fhir-kit-client:*', 'fhir*', 'express,fhir-kit-client:info', 'fhir-kit-client:error']) assert.equal(debugLogsFhirKit(on), true, on);
    for (const off of ['', 'express', 'fhir-kit-client', '*,-fhir-kit-client:*', 'fhir-kit-client:other', 'fhir.kit*'])
      assert.equal(debugLogsFhirKit(off), false, off);
  });

  it('a server that cannot be reached is named', async () => {
    const port = await freePort();
    const r = await run(`http://127.0.0.1:${port}/fhir`, {});
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      `cdsr-adapter subscribe: cannot reach the FHIR server at http://127.0.0.1:${port}/fhir for GET metadata (connect ECONNREFUSED 127.0.0.1:${port}): check --fhir-server and the network\n`,
    );
  });
});

describe('subscription shapes read from outside', () => {
  it('criteria round-trip through parseCriteria; any other text is refused with FilterSyntaxError only', () => {
    const part = fc.record({
      resourceType: fc.constantFrom('ServiceRequest', 'Encounter', 'Patient'),
      parameter: fc.stringMatching(/^[a-z][a-zA-Z0-9_.-]{0,20}$/),
      modifier: fc.option(fc.constantFrom('not', 'missing', 'text'), { nil: undefined }),
      value: fc.stringMatching(/^[^&\s]{1,40}$/),
    });
    fc.assert(
      fc.property(part, (p) => {
        const f = { resourceType: p.resourceType, parameter: p.parameter, ...(p.modifier !== undefined ? { modifier: p.modifier } : {}), value: p.value };
        assert.deepEqual(parseCriteria(criteriaOf(f)), [f]);
      }),
    );
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          for (const f of parseCriteria(s)) assert.ok(f.value.length > 0 && f.parameter.length > 0);
        } catch (e) {
          assert.ok(e instanceof FilterSyntaxError, String(e));
        }
      }),
    );
  });

  it('any JSON read as a CapabilityStatement or a Subscription gives an answer or undefined, never a throw', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        readCapabilities(v);
        readSubscription(v);
        readCapabilities({
          resourceType: 'CapabilityStatement',
          fhirVersion: v,
          rest: [{ resource: [v, { type: 'Subscription', extension: v, supportedProfile: v }] }],
        });
        readSubscription({ resourceType: 'Subscription', channel: v, _criteria: v, filterBy: [v] });
      }),
    );
  });
});

describe('a notification built from the created Subscription', () => {
  const sample = (n: string) => JSON.parse(readFileSync(join(REPO_ROOT, 'samples', 'fhir', n), 'utf8')) as Json;
  type Channel = { header: string[]; payload: string; _payload: { extension: { valueCode: string }[] } };

  /** The R4 backport notification of samples/fhir/05, naming this Subscription, its topic and the focus; with the resource for full-resource. */
  function notification(stub: FhirStub, sub: Json): Json {
    const note = sample('05-notification-id-only.json') as { entry: Json[] };
    const focus = `${stub.base}/ServiceRequest/sr-1001`;
    const status = note.entry[0]!.resource as { parameter: Json[] };
    status.parameter = status.parameter.map((p) =>
      p.name === 'subscription'
        ? { ...p, valueReference: { reference: `${stub.base}/Subscription/${String(sub.id)}` } }
        : p.name === 'topic'
          ? { ...p, valueCanonical: sub.criteria }
          : p.name === 'notification-event'
            ? { ...p, part: (p.part as Json[]).map((q) => (q.name === 'focus' ? { ...q, valueReference: { reference: focus } } : q)) }
            : p,
    );
    if ((sub.channel as Channel)._payload.extension[0]!.valueCode === 'full-resource')
      note.entry.push({ fullUrl: focus, resource: sample('01-servicerequest.json') });
    return note;
  }

  /** The channel's header, as the EHR sends it. */
  const headerOf = (sub: Json): Record<string, string> => {
    const [name, value] = (sub.channel as Channel).header[0]!.split(/:\s*/, 2) as [string, string];
    return { [name.toLowerCase()]: value };
  };

  it("is taken by the adapter's /fhir with the channel header it carries (R4 backport, full-resource); another key is refused", () =>
    withStub(R4_BACKPORT, async (stub) => {
      assert.equal((await run(stub, { endpoint: 'http://127.0.0.1:8780/fhir' })).code, 0);
      const sub = stub.subscriptions.get('sub-1')!;
      const note = JSON.stringify(notification(stub, sub));
      const type = (sub.channel as Channel).payload;
      await withTestServer(
        async (s) => {
          const r = await s.fetch('/fhir', { method: 'POST', body: note, headers: { 'content-type': type, ...headerOf(sub) } });
          const body = (await r.json()) as { issue: { diagnostics: string }[] };
          assert.equal(r.status, 200, JSON.stringify(body));
          assert.equal(body.issue[0]!.diagnostics, '1 resource(s) applied, 0 kept in the error queue, 0 pending fetch');
          const subs: unknown = await (await s.fetch('/api/subscriptions', { headers: headerOf(sub) })).json();
          // the adapter knows the notification by the Subscription the EHR created (the sample's event 2 of 2: 1 never came)
          assert.deepEqual(subs, {
            subscriptions: [
              { subscription: `${stub.base}/Subscription/sub-1`, received: 1, reportedSince: 2, missing: [1], lastSeenAt: '2026-11-23T06:00:00.000Z' },
            ],
          });
          const other = await s.fetch('/fhir', { method: 'POST', body: note, headers: { 'content-type': type, authorization: 'Bearer another-key' } });
          assert.equal(other.status, 401);
        },
        { apiKeys: [KEY] },
      );
    }));

  it('id-only: the adapter reads the focus from the server the Subscription was created at (its FHIR_SERVER_URL)', () =>
    withStub(R4_BACKPORT, async (stub) => {
      assert.equal((await run(stub, { endpoint: 'http://127.0.0.1:8780/fhir', payload: 'id-only' })).code, 0);
      const sub = stub.subscriptions.get('sub-1')!;
      stub.resources.set('ServiceRequest/sr-1001', sample('01-servicerequest.json'));
      stub.requests.length = 0;
      await withTestServer(
        async (s) => {
          const r = await s.fetch('/fhir', {
            method: 'POST',
            body: JSON.stringify(notification(stub, sub)),
            headers: { 'content-type': (sub.channel as Channel).payload, ...headerOf(sub) },
          });
          const body = (await r.json()) as { issue: { diagnostics: string }[] };
          assert.equal(r.status, 200, JSON.stringify(body));
          assert.equal(body.issue[0]!.diagnostics, '1 resource(s) applied, 0 kept in the error queue, 0 pending fetch');
          assert.deepEqual(
            stub.requests.map((q) => `${q.method} ${q.url}`),
            // the focus, then the references it makes (not served here: the record waits for them, the message is applied)
            [
              'GET /fhir/ServiceRequest/sr-1001',
              'GET /fhir/Patient/pat-0001',
              'GET /fhir/Encounter/enc-0001',
              'GET /fhir/Coverage/cov-0001',
              'GET /fhir/Practitioner/prac-1234567893',
            ],
          );
        },
        { apiKeys: [KEY], fhirFetcher: createFhirFetcher({ baseUrl: stub.base }) },
      );
    }));
});
