// Retractions through the service: a cancellation (HL7 ORC-1 CA, FHIR DELETE) of a record NRDR
// already accepted becomes cancelled-after-submission with what the site must do at NRDR, in the
// record view and the order ledger, counted in /metrics, until an operator acknowledges it (the
// operate role; written to the access audit); then it stays listed, as acknowledged. A cancel of
// a record not yet sent is simply excluded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, SERVER_NOW, type TestServer, withTestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';

const hl7 = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const fhir = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'fhir', n), 'utf8');
const ORM = hl7('01-orm-new.hl7');
// the sample cancel, aimed at the order of 01-orm-new, without the CDS data
const CANCEL = hl7('03-orm-cancel.hl7')
  .split('\r')
  .filter((l) => !l.startsWith('OBX|'))
  .join('\r')
  .replaceAll('ORD1002', 'ORD1001')
  .replaceAll('ACC2002', 'ACC2001');
const KEYS = { send: 'k-send', operate: 'k-operate', view: 'k-view' };
const roles = { CDSR_SEND_API_KEYS: [KEYS.send], CDSR_OPERATE_API_KEYS: [KEYS.operate], CDSR_VIEW_API_KEYS: [KEYS.view] };
const as = (key: string) => ({ 'x-api-key': key });

/** Every ready record sent in one transaction, which NRDR accepted (the submitter's bookkeeping, without NRDR). */
async function sendAndAccept(s: TestServer, id: string): Promise<void> {
  const ready = await s.store.wireEncounters('ready', 10);
  assert.equal(ready.length, 1);
  const body = {
    Transaction_ID: id,
    Transaction_DateTime: '11/23/2026 01:00:00',
    Num_of_Encounters_Included: 1,
    Facility_ID: ready[0]!.facilityId,
    PartnerID: '10000',
    AppID: '10019',
    CDSR_File_Version_Num: '1.0' as const,
    Encounters: ready.map((r) => r.wire),
  };
  assert.equal((await s.store.createTransaction(body, ready, SERVER_NOW)).created, true);
  await s.store.recordResults(
    id,
    ready.map((r) => ({ ...r, result: 'accepted' as const, problems: [] })),
    SERVER_NOW,
  );
}

const metric = async (s: TestServer, name: string) =>
  (await (await s.fetch('/metrics', { headers: as(KEYS.view) })).text()).split('\n').find((l) => l.startsWith(`${name} `));

describe('retractions through the service', () => {
  it('HL7 cancel of an accepted record: listed with the instruction until acknowledged by an operator, then kept as acknowledged', async () => {
    await withTestServer(
      async (s) => {
        assert.equal((await postHl7(s, ORM, { authorization: `Bearer ${KEYS.send}` })).status, 200);
        await sendAndAccept(s, 'T-ACCEPTED');
        assert.equal((await postHl7(s, CANCEL, { authorization: `Bearer ${KEYS.send}` })).status, 200);

        const instruction =
          "cancelled after it was sent to NRDR (Transaction_ID T-ACCEPTED), and NRDR's API cannot delete a record: ask the NRDR Help Desk to remove consultation " +
          '11/02/2026 09:30:15 of encounter V0001 at facility 100000 from the CDSR registry, then acknowledge it here (POST /api/orders/{order id}/acknowledge)';
        const listed = await (await s.fetch('/api/orders?reason=cancelled-after-submission&state=held', { headers: as(KEYS.view) })).json();
        assert.deepEqual(listed, {
          orders: [
            {
              id: 1,
              facilityId: '100000',
              encounterId: 'V0001',
              orderNumbers: ['ACC2001', 'ORD1001'],
              consultationKey: '11/02/2026 09:30:15',
              state: 'held',
              reason: 'cancelled-after-submission',
              problems: [],
              missing: [],
              messageIds: [1, 2],
              retraction: { transactionId: 'T-ACCEPTED', instruction, acknowledged: null },
              firstSeen: SERVER_NOW.toISOString(),
              lastSeen: SERVER_NOW.toISOString(),
            },
          ],
          next: null,
        });
        const records = (await (await s.fetch('/api/records?state=cancelled-after-submission', { headers: as(KEYS.view) })).json()) as {
          records: { consultationKey: string }[];
        };
        assert.deepEqual(
          records.records.map((r) => r.consultationKey),
          ['11/02/2026 09:30:15'],
        );
        const view = (await (await s.fetch('/api/records/100000/V0001', { headers: as(KEYS.operate) })).json()) as {
          consultations: { state: string; retraction?: unknown }[];
        };
        assert.deepEqual(
          view.consultations.map((c) => [c.state, c.retraction]),
          [['cancelled-after-submission', { transactionId: 'T-ACCEPTED', instruction, acknowledged: null }]],
        );
        assert.equal(await metric(s, 'cdsr_retractions_unacknowledged'), 'cdsr_retractions_unacknowledged 1');

        // a viewer may not acknowledge; an order that is not a retraction, or none at all, is refused
        const denied = await s.fetch('/api/orders/1/acknowledge', { method: 'POST', headers: as(KEYS.view) });
        assert.deepEqual(
          [denied.status, await denied.json()],
          [403, { code: 'FORBIDDEN', error: 'this key (view#1) may not do this: it needs the operate role', role: 'operate' }],
        );
        const none = await s.fetch('/api/orders/7/acknowledge', { method: 'POST', headers: as(KEYS.operate) });
        assert.deepEqual([none.status, await none.json()], [404, { code: 'NOT_FOUND', error: 'no such order' }]);
        const bad = await s.fetch('/api/orders/1x/acknowledge', { method: 'POST', headers: as(KEYS.operate) });
        assert.deepEqual([bad.status, await bad.json()], [404, { code: 'NOT_FOUND', error: 'no such order' }]);

        const ack = await s.fetch('/api/orders/1/acknowledge', { method: 'POST', headers: as(KEYS.operate) });
        assert.deepEqual([ack.status, await ack.json()], [200, { order: 1, acknowledged: { by: 'operate#1', at: SERVER_NOW.toISOString() }, already: false }]);
        const again = await s.fetch('/api/orders/1/acknowledge', { method: 'POST', headers: as(KEYS.operate) });
        assert.deepEqual(
          [again.status, await again.json()],
          [200, { order: 1, acknowledged: { by: 'operate#1', at: SERVER_NOW.toISOString() }, already: true }],
        );

        const after = (await (await s.fetch('/api/orders?reason=cancelled-after-submission', { headers: as(KEYS.view) })).json()) as {
          orders: { state: string; retraction: unknown }[];
        };
        assert.deepEqual(
          after.orders.map((o) => [o.state, o.retraction]),
          [['excluded', { transactionId: 'T-ACCEPTED', instruction, acknowledged: { by: 'operate#1', at: SERVER_NOW.toISOString() } }]],
        );
        assert.equal(await metric(s, 'cdsr_retractions_unacknowledged'), 'cdsr_retractions_unacknowledged 0');
        const audit = (await (await s.fetch('/api/audit', { headers: as(KEYS.operate) })).json()) as { entries: { who: string; what: string; at: string }[] };
        assert.deepEqual(
          audit.entries.filter((e) => e.what.startsWith('acknowledged')).map((e) => [e.who, e.what, e.at]),
          [['operate#1', 'acknowledged retraction of order 1 (100000|V0001 11/02/2026 09:30:15)', SERVER_NOW.toISOString()]],
        );
      },
      { roles },
    );
  });

  it('a cancel of a record not yet sent is simply excluded: nothing to retract, nothing to acknowledge', async () => {
    await withTestServer(async (s) => {
      assert.equal((await postHl7(s, ORM)).status, 200);
      assert.equal((await postHl7(s, CANCEL)).status, 200);
      assert.deepEqual(
        (await s.store.records({})).map((r) => r.state),
        ['cancelled'],
      );
      const listed = (await (await s.fetch('/api/orders')).json()) as { orders: { state: string; reason: string; retraction?: unknown }[] };
      assert.deepEqual(
        listed.orders.map((o) => [o.state, o.reason, o.retraction]),
        [['excluded', 'cancelled', undefined]],
      );
      const ack = await s.fetch('/api/orders/1/acknowledge', { method: 'POST' });
      assert.deepEqual(
        [ack.status, await ack.json()],
        [409, { code: 'NOTHING_TO_ACKNOWLEDGE', error: 'order 1 is not cancelled after submission (its record is cancelled): nothing to acknowledge' }],
      );
      assert.equal(await metric(s, 'cdsr_retractions_unacknowledged'), 'cdsr_retractions_unacknowledged 0');
    });
  });

  it('FHIR DELETE of a ServiceRequest NRDR accepted: cancelled-after-submission, held', async () => {
    await withTestServer(async (s) => {
      const r = await s.fetch('/fhir', { method: 'POST', body: fhir('03-bundle-transaction.json'), headers: { 'content-type': 'application/fhir+json' } });
      assert.equal(r.status, 200);
      await sendAndAccept(s, 'T-FHIR');
      assert.equal((await s.fetch('/fhir/ServiceRequest/sr-1001', { method: 'DELETE' })).status, 200);
      assert.deepEqual(
        (await s.store.records({})).map((x) => x.state),
        ['cancelled-after-submission'],
      );
      const listed = (await (await s.fetch('/api/orders?reason=cancelled-after-submission')).json()) as {
        orders: { state: string; retraction: { transactionId: string } }[];
      };
      assert.deepEqual(
        listed.orders.map((o) => [o.state, o.retraction.transactionId]),
        [['held', 'T-FHIR']],
      );
    });
  });
});
