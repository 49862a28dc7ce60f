// FHIR inbound over real HTTP: the same ServiceRequest as a resource, in a Bundle, in a
// full-resource notification and in an id-only notification (fetched from a stub FHIR server on
// loopback) ends in the same stored record.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startTestServer, type TestServer, withTestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { createFhirFetcher } from '../fhir/fetch.js';
import type { RecordView } from '../store/store.js';

const sample = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'fhir', n), 'utf8');
type Json = Record<string, unknown>;

/** A FHIR server stand-in: serves the sample resources by Type/id (and _history), counts reads. */
async function stubFhirServer(): Promise<{ base: string; reads: string[]; close(): Promise<void> }> {
  const bundle = JSON.parse(sample('03-bundle-transaction.json')) as { entry: { resource: Json }[] };
  const byKey = new Map<string, Json>();
  for (const e of bundle.entry) byKey.set(`${String(e.resource.resourceType)}/${String(e.resource.id)}`, e.resource);
  // the served versions refer by Type/id, as a server's resources do
  const sr = JSON.parse(sample('06-servicerequest-update.json')) as Json;
  byKey.set('ServiceRequest/sr-1001', sr);
  byKey.set('Encounter/enc-0001', JSON.parse(sample('02-encounter.json')) as Json);
  for (const r of bundle.entry.map((e) => e.resource)) {
    if (r.resourceType !== 'ServiceRequest' && r.resourceType !== 'Encounter')
      byKey.set(`${String(r.resourceType)}/${String(r.id)}`, JSON.parse(JSON.stringify(r).replace(/urn:uuid:[0-9a-f-]+/g, (u) => u)) as Json);
  }
  const reads: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').replace(/^\/fhir\//, '').split('/_history/')[0]!;
    reads.push(path);
    const search = /^ServiceRequest\?identifier=([^&]*)/.exec(path);
    if (search) {
      // search by identifier: `system|value` or `value`, over the served ServiceRequests
      const [system, value] = decodeURIComponent(search[1]!).includes('|')
        ? decodeURIComponent(search[1]!).split('|')
        : [undefined, decodeURIComponent(search[1]!)];
      const hits = [...byKey.values()].filter(
        (r) =>
          r.resourceType === 'ServiceRequest' &&
          ((r.identifier as { system?: string; value?: string }[] | undefined) ?? []).some(
            (i) => i.value === value && (system === undefined || i.system === system),
          ),
      );
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: hits.length, entry: hits.map((resource) => ({ resource })) }));
      return;
    }
    const r = byKey.get(path);
    res.writeHead(r ? 200 : 404, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify(r ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] }));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}/fhir`, reads, close: () => new Promise((ok) => server.close(() => ok())) };
}

async function post(s: Pick<TestServer, 'fetch'>, path: string, body: string, method = 'POST') {
  const r = await s.fetch(path, { method, body, headers: { 'content-type': 'application/fhir+json' } });
  return { status: r.status, body: (await r.json()) as { resourceType: string; issue: { severity: string; diagnostics: string }[] } };
}

/** The stored consultation values of V0001 (without provenance). */
async function stored(s: TestServer): Promise<Record<string, string>> {
  const rec = (await s.store.record('100000|V0001')) as RecordView;
  const c = rec.consultations[0]!;
  return Object.fromEntries(Object.entries({ ...rec.consultationDefaults, ...c.fields }).map(([k, v]) => [k, v.value]));
}

describe('FHIR inbound', () => {
  let fhir: Awaited<ReturnType<typeof stubFhirServer>>;
  before(async () => {
    fhir = await stubFhirServer();
  });
  after(() => fhir.close());

  const expected = {
    CDS_Consultation_Date: '11/02/2026',
    CDS_Consultation_Time: '09:30:15',
    Modality: '1',
    Name_of_Exam_Ordered: 'CT HEAD WO CONTRAST',
    Ordered_Exam_Completed: '2',
    Appropriateness_Category: '2',
    CDS_Vendor: 'G1014',
    Medicare_Modifier: 'MF',
    Clinician1_Unique_ID: '1234567893',
    Clinician1_First_Name: 'ANN',
    Clinician1_Last_Name: 'ORDER',
    Place_of_Service: '23',
  };

  const forms: [string, (s: TestServer) => Promise<void>][] = [
    [
      'resources PUT one by one (R4 rest-hook)',
      async (s) => {
        const b = JSON.parse(sample('03-bundle-transaction.json')) as { entry: { resource: Json }[] };
        for (const e of b.entry) {
          const r = JSON.stringify(e.resource).replace(
            /"urn:uuid:2b0f7d0e-0001-4000-8000-00000000000(\d)"/g,
            (_m, d: string) =>
              `"${['', 'Patient/pat-0001', 'Encounter/enc-0001', 'Coverage/cov-0001', 'Practitioner/prac-1234567893', 'Organization/org-genhosp'][Number(d)]}"`,
          );
          const res = await post(s, `/fhir/${String(e.resource.resourceType)}/${String(e.resource.id)}`, r, 'PUT');
          assert.equal(res.status, 200, JSON.stringify(res.body));
        }
        assert.equal((await post(s, '/fhir/ServiceRequest/sr-1001', sample('06-servicerequest-update.json'), 'PUT')).status, 200);
      },
    ],
    [
      'a transaction Bundle, then the update',
      async (s) => {
        assert.equal((await post(s, '/fhir', sample('03-bundle-transaction.json'))).status, 200);
        assert.equal((await post(s, '/fhir', sample('06-servicerequest-update.json'))).status, 200);
      },
    ],
    [
      'a full-resource notification after the Encounter, then the update',
      async (s) => {
        assert.equal((await post(s, '/fhir/Encounter/enc-0001', sample('02-encounter.json'), 'PUT')).status, 200);
        const n = await post(s, '/fhir', sample('04-notification-r4b.json'));
        assert.equal(n.status, 200);
        assert.equal((await post(s, '/fhir', sample('06-servicerequest-update.json'))).status, 200);
      },
    ],
    [
      'an id-only notification, fetched from the FHIR server with its references',
      async (s) => {
        // the focus names the EHR's own base, which is FHIR_SERVER_URL
        const note = sample('05-notification-id-only.json').replace('https://ehr.example.org/fhir/ServiceRequest', `${fhir.base}/ServiceRequest`);
        const n = await post(s, '/fhir', note);
        assert.equal(n.status, 200, JSON.stringify(n.body));
        assert.equal(n.body.issue[0]?.diagnostics, '1 resource(s) applied, 0 kept in the error queue, 0 pending fetch');
      },
    ],
  ];

  for (const [name, send] of forms) {
    it(`${name} → the same stored record`, async () => {
      await withTestServer(
        async (s) => {
          await send(s);
          const v = await stored(s);
          for (const [k, want] of Object.entries(expected)) assert.equal(v[k], want, `${name}: ${k}`);
        },
        { fhirFetcher: createFhirFetcher({ baseUrl: fhir.base }) },
      );
    });
  }

  it('an id-only notification whose fetch fails is answered 200 and kept for retry; replay fetches it later', async () => {
    await withTestServer(
      async (s) => {
        const n = await post(s, '/fhir', sample('05-notification-id-only.json'));
        assert.equal(n.status, 200);
        assert.equal(n.body.issue[0]?.diagnostics, '0 resource(s) applied, 0 kept in the error queue, 1 pending fetch');
        const queued = await s
          .fetch(`/api/messages?status=error`)
          .then((r) => r.json() as Promise<{ messages: { id: number; problems: { code: string }[] }[] }>);
        assert.deepEqual(
          queued.messages.map((m) => m.problems[0]?.code),
          ['FHIR_FETCH'],
        );
      },
      { fhirFetcher: { read: () => Promise.reject(new Error('server down')) } },
    );
  });

  it('400 for what is not FHIR, 422 for a resource kept in the error queue, 200 for an empty ping', async () => {
    await withTestServer(async (s) => {
      const bad = await post(s, '/fhir', '{"hello": 1}');
      assert.deepEqual([bad.status, bad.body.issue[0]?.diagnostics], [400, 'not a FHIR resource: no resourceType']);
      const notJson = await post(s, '/fhir', 'MSH|^~\\&');
      assert.equal(notJson.status, 400);
      const sr = JSON.parse(sample('01-servicerequest.json')) as Json;
      sr.code = { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '99999' }], text: 'X' };
      const unmapped = await post(s, '/fhir/ServiceRequest/sr-1001', JSON.stringify(sr), 'PUT');
      assert.equal(unmapped.status, 422);
      assert.match(unmapped.body.issue[1]?.diagnostics ?? '', /^MAP_UNMAPPED_CODE: Modality: no row for "99999"/);
      assert.equal((await s.fetch(`/fhir`, { method: 'POST' })).status, 200);
    });
  });

  it('503 when the store cannot take it now, for a resource and for a notification', async () => {
    await withTestServer(async (s) => {
      await s.store.close();
      const direct = await post(s, '/fhir', sample('03-bundle-transaction.json'));
      assert.deepEqual([direct.status, direct.body.issue[0]?.diagnostics], [503, 'the adapter cannot store this now; send it again']);
      const note = await post(s, '/fhir', sample('04-notification-r4b.json'));
      assert.equal(note.status, 503);
    });
  });

  it('DELETE of a ServiceRequest cancels its consultation', async () => {
    await withTestServer(async (s) => {
      await post(s, '/fhir', sample('03-bundle-transaction.json'));
      const before = await s.store.records({});
      assert.deepEqual(
        before.map((r) => r.state),
        ['ready'],
      );
      const del = await s.fetch(`/fhir/ServiceRequest/sr-1001`, { method: 'DELETE' });
      assert.equal(del.status, 200);
      assert.deepEqual(
        (await s.store.records({})).map((r) => r.state),
        ['cancelled'],
      );
    });
  });

  it('a ServiceRequest with neither identifier nor id is 422 naming the missing order key, its order held, never keyed "ServiceRequest/"', async () => {
    await withTestServer(async (s) => {
      const bundle = JSON.parse(sample('03-bundle-transaction.json')) as { entry: { resource: Json }[] };
      const sr = bundle.entry.find((e) => e.resource.resourceType === 'ServiceRequest')!.resource;
      delete sr.identifier;
      delete sr.id;
      const r = await post(s, '/fhir', JSON.stringify(bundle));
      assert.equal(r.status, 422);
      assert.deepEqual(
        r.body.issue.map((i) => [i.severity, i.diagnostics]),
        [
          ['information', '1 resource(s) applied, 1 kept in the error queue, 0 pending fetch'],
          [
            'error',
            "MAP_NO_ORDER: no order number: identifier.where(type.coding.code = 'PLAC').value, identifier.where(type.coding.code = 'FILL').value are empty and the ServiceRequest has no id; an order needs a placer or filler number to be reported, updated or cancelled",
          ],
        ],
      );
      const orders = (await (await s.fetch('/api/orders')).json()) as { orders: { orderNumbers: string[]; state: string; reason: string }[] };
      assert.deepEqual(
        orders.orders.map((o) => [o.orderNumbers, o.state, o.reason]),
        [[[], 'held', 'error']],
      );
    });
  });
});

describe('subscription event numbers', () => {
  it('records the numbers and shows the gaps to re-query', async () => {
    await withTestServer(async (s) => {
      const note = (n: number, since: number) =>
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'history',
          entry: [
            {
              resource: {
                resourceType: 'SubscriptionStatus',
                status: 'active',
                type: n === 0 ? 'heartbeat' : 'event-notification',
                eventsSinceSubscriptionStart: String(since),
                subscription: { reference: 'https://ehr.example.org/fhir/Subscription/cdsr' },
                ...(n === 0 ? {} : { notificationEvent: [{ eventNumber: String(n) }] }),
              },
            },
          ],
        });
      for (const [n, since] of [
        [1, 1],
        [2, 2],
        [4, 4],
        [0, 6],
      ] as const) {
        assert.equal((await post(s, '/fhir', note(n, since))).status, 200);
      }
      const subs = await s
        .fetch(`/api/subscriptions`)
        .then((r) => r.json() as Promise<{ subscriptions: { missing: number[]; received: number; reportedSince: number }[] }>);
      assert.deepEqual(
        subs.subscriptions.map((x) => [x.received, x.reportedSince, x.missing]),
        [[3, 6, [3, 5, 6]]],
      );
    });
  });
});

describe('a notification whose focus is given by identifier only (athenaOne style)', () => {
  /** The R4B notification of the samples with its focus as an identifier, no reference. */
  const byIdentifier = () => {
    const n = JSON.parse(sample('04-notification-r4b.json')) as { entry: { resource: Json }[] };
    const status = n.entry[0]!.resource as { notificationEvent: { focus: unknown }[] };
    status.notificationEvent[0]!.focus = { type: 'ServiceRequest', identifier: { value: 'ORD1001' } };
    return JSON.stringify({ ...n, entry: [n.entry[0]] });
  };

  it('is looked up on the FHIR server by ServiceRequest?identifier= and applied', async () => {
    const fhir = await stubFhirServer();
    const s = await startTestServer({ fhirFetcher: createFhirFetcher({ baseUrl: fhir.base }) });
    try {
      assert.equal((await post(s, '/fhir/Encounter/enc-0001', sample('02-encounter.json'), 'PUT')).status, 200);
      const n = await post(s, '/fhir', byIdentifier());
      assert.deepEqual([n.status, n.body.issue[0]?.diagnostics], [200, '1 resource(s) applied, 0 kept in the error queue, 0 pending fetch']);
      assert.ok(fhir.reads.includes('ServiceRequest?identifier=ORD1001'), fhir.reads.join(', '));
      const orders = (await s.store.orders({})).orders;
      assert.deepEqual(
        orders.map((o) => [o.orderNumbers, o.state, o.consultationKey]),
        [[['ACC2001', 'ORD1001'], 'reported', '11/02/2026 09:30:15']],
      );
    } finally {
      await s.close();
      await fhir.close();
    }
  });

  it('without a FHIR server it is answered 200, kept pending with the reason, and the order held pending_fetch', async () => {
    const s = await startTestServer();
    try {
      const n = await post(s, '/fhir', byIdentifier());
      assert.deepEqual([n.status, n.body.issue[0]?.diagnostics], [200, '0 resource(s) applied, 0 kept in the error queue, 1 pending fetch']);
      const [m] = await s.store.messages({ status: 'error' });
      assert.deepEqual(
        [m?.controlId, m?.problems.map((p) => `${p.code}: ${p.message}`)],
        [
          'pending:ServiceRequest?identifier=ORD1001',
          [
            'FHIR_FETCH: ServiceRequest?identifier=ORD1001 (a focus given by identifier only) could not be fetched from the FHIR server (FHIR_SERVER_URL is not set, so it cannot be fetched); kept for retry',
          ],
        ],
      );
      assert.deepEqual(
        (await s.store.orders({})).orders.map((o) => [o.facilityId, o.orderNumbers, o.state, o.reason]),
        [['', ['ORD1001'], 'held', 'pending_fetch']],
      );
      assert.deepEqual(await s.store.reconciliation({}), [
        { facilityId: '', day: '2026-11-23', seen: 1, reported: 0, held: { pending_fetch: 1 }, excluded: {} },
      ]);
    } finally {
      await s.close();
    }
  });

  it('a notification that changes nothing (a heartbeat) still leaves its message row', async () => {
    await withTestServer(async (s) => {
      const n = JSON.parse(sample('04-notification-r4b.json')) as { entry: { resource: Json }[] };
      const status = n.entry[0]!.resource;
      const heartbeat = JSON.stringify({ ...n, entry: [{ resource: { ...status, type: 'heartbeat', notificationEvent: [] } }] });
      assert.equal((await post(s, '/fhir', heartbeat)).status, 200);
      const rows = await s.store.messages({});
      assert.deepEqual(
        rows.map((m) => [m.status, m.controlId, m.problems.map((p) => `${p.code}: ${p.message}`)]),
        [['ignored', 'heartbeat:2026-11-23T06:00:00.000Z', ['FHIR_NO_CHANGE: SubscriptionStatus of type heartbeat: nothing to apply']]],
      );
    });
  });
});

const publicFixture = (n: string) => readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'public', n), 'utf8');
/** The SubscriptionStatus of an R5 spec notification Bundle, posted alone (as some servers send it). */
const statusAlone = (n: string) => JSON.stringify((JSON.parse(publicFixture(n)) as { entry: { resource: Json }[] }).entry[0]!.resource);

interface MessageRow {
  status: string;
  channel: string;
  sender: string;
  controlId: string;
  problems: { code: string; message: string; severity: string }[];
}

describe('FHIR notifications that carry nothing to apply: each leaves an ignored message row with why', () => {
  const cases: [string, string, string, string][] = [
    [
      'R5 heartbeat Bundle (spec example)',
      publicFixture('fhir-r5-notification-heartbeat.json'),
      'heartbeat:2026-11-23T06:00:00.000Z',
      'SubscriptionStatus of type heartbeat: nothing to apply',
    ],
    [
      'R5 heartbeat SubscriptionStatus posted alone',
      statusAlone('fhir-r5-notification-heartbeat.json'),
      'heartbeat:2026-11-23T06:00:00.000Z',
      'SubscriptionStatus of type heartbeat: nothing to apply',
    ],
    [
      'R5 "empty" event-notification Bundle, no focus (spec example)',
      publicFixture('fhir-r5-notification-empty.json'),
      'event-notification:2',
      'SubscriptionStatus of type event-notification, event 2: no focus and no resource: nothing to apply',
    ],
    [
      'R5 event-notification SubscriptionStatus posted alone, no focus',
      statusAlone('fhir-r5-notification-empty.json'),
      'event-notification:2',
      'SubscriptionStatus of type event-notification, event 2: no focus and no resource: nothing to apply',
    ],
    [
      'R4B handshake SubscriptionStatus posted alone',
      JSON.stringify({
        resourceType: 'SubscriptionStatus',
        status: 'requested',
        type: 'handshake',
        eventsSinceSubscriptionStart: '0',
        subscription: { reference: 'http://example.org/FHIR/R5/Subscription/123' },
      }),
      'handshake:2026-11-23T06:00:00.000Z',
      'SubscriptionStatus of type handshake: nothing to apply',
    ],
    [
      'a subscription-notification Bundle without its SubscriptionStatus, holding a Patient',
      JSON.stringify({ resourceType: 'Bundle', type: 'subscription-notification', entry: [{ resource: { resourceType: 'Patient', id: 'p1' } }] }),
      'subscription-notification:2026-11-23T06:00:00.000Z',
      'Bundle of type subscription-notification without a SubscriptionStatus carries no resource the tables map (Patient kept for references): nothing to apply',
    ],
    [
      'an empty history Bundle',
      JSON.stringify({ resourceType: 'Bundle', type: 'history', entry: [] }),
      'history:2026-11-23T06:00:00.000Z',
      'Bundle of type history has no entry: nothing to apply',
    ],
  ];
  for (const [name, body, controlId, why] of cases) {
    it(name, async () => {
      await withTestServer(async (s) => {
        const r = await s.fetch('/fhir', { method: 'POST', body, headers: { 'content-type': 'application/fhir+json' } });
        assert.equal(r.status, 200);
        assert.deepEqual(await r.json(), {
          resourceType: 'OperationOutcome',
          issue: [
            { severity: 'information', code: 'informational', diagnostics: '0 resource(s) applied, 0 kept in the error queue, 0 pending fetch' },
            { severity: 'warning', code: 'processing', diagnostics: `FHIR_NO_CHANGE: ${why}` },
          ],
        });
        // as the console and the messages API show it
        const listed = (await s.fetch('/api/messages?status=ignored').then((x) => x.json())) as { messages: MessageRow[] };
        const sender = name.includes('without its') || name.includes('history') ? 'fhir' : 'http://example.org/FHIR/R5/Subscription/123';
        assert.deepEqual(
          listed.messages.map((m) => [m.status, m.channel, m.sender, m.controlId, m.problems.map((p) => [p.code, p.severity, p.message])]),
          [['ignored', 'fhir', sender, controlId, [['FHIR_NO_CHANGE', 'warning', why]]]],
        );
        assert.equal((await s.store.messages({})).length, 1);
      });
    });
  }

  it("a heartbeat posted alone still counts the subscription's events (310 sent, none received)", async () => {
    await withTestServer(async (s) => {
      await s.fetch('/fhir', {
        method: 'POST',
        body: statusAlone('fhir-r5-notification-heartbeat.json'),
        headers: { 'content-type': 'application/fhir+json' },
      });
      const [sub] = await s.store.subscriptions();
      assert.deepEqual(
        [sub?.subscription, sub?.received, sub?.reportedSince, sub?.missing.length],
        ['http://example.org/FHIR/R5/Subscription/123', 0, 310, 310],
      );
    });
  });

  it('what is neither a notification nor anything mapped or kept is refused 400, naming why, and leaves nothing', async () => {
    await withTestServer(async (s) => {
      const refused = async (body: unknown) => {
        const r = await s.fetch('/fhir', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/fhir+json' } });
        return [r.status, ((await r.json()) as { issue: { code: string; diagnostics: string }[] }).issue.map((i) => `${i.code}: ${i.diagnostics}`)];
      };
      assert.deepEqual(await refused({ resourceType: 'Bundle', type: 'transaction', entry: [] }), [
        400,
        ['not-supported: nothing to apply or keep: a Bundle of type transaction with no entry; not a subscription notification either'],
      ]);
      assert.deepEqual(await refused({ resourceType: 'Basic', code: { text: 'x' } }), [
        400,
        ['not-supported: nothing to apply or keep: Basic without an id, which the tables do not map; not a subscription notification either'],
      ]);
      assert.deepEqual(await s.store.messages({}), []);
    });
  });
});
