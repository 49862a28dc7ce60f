// Resubmission through the service: an encounter rejected by NRDR (a facility not registered yet,
// CD2053) goes back to ready with its history kept, visible on the record; operator role only,
// access-audited; the ledger shows the order reported again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';
import { postHl7, SERVER_NOW, type TestServer, withTestServer } from '../../test/server.js';
import type { Transaction } from '../cdsr/schema.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const OPERATE = { authorization: 'Bearer op-key' };
const VIEW = { authorization: 'Bearer view-key' };
const CD2053 = { code: 'CD2053', message: 'Facility ID 100000 is not registered', severity: 'error', scope: 'transaction', path: '' } as const;

/** Two encounters sent in one transaction and rejected by NRDR. */
async function rejected(s: TestServer): Promise<void> {
  for (const v of ['V0001', 'V0002'])
    assert.equal(
      (
        await postHl7(
          s,
          ORM.replace(/V0001/g, v)
            .replace(/ORD1001/g, `ORD-${v}`)
            .replace(/ACC2001/g, `ACC-${v}`)
            .replace('MSG0001', `MSG-${v}`),
          { authorization: 'Bearer send-key' },
        )
      ).status,
      200,
    );
  const ready = await s.store.wireEncounters('ready', 100);
  assert.equal(ready.length, 2);
  const body: Transaction = transactionFor(
    'T-REJ',
    ready.map((r) => r.wire),
    '11/23/2026 06:00:00',
  );
  assert.equal((await s.store.createTransaction(body, ready, SERVER_NOW)).created, true);
  await s.store.recordResults(
    'T-REJ',
    ready.map((r) => ({ ...r, result: 'rejected' as const, problems: [CD2053] })),
    SERVER_NOW,
  );
}

const roles = { CDSR_OPERATE_API_KEYS: ['op-key'], CDSR_VIEW_API_KEYS: ['view-key'], CDSR_SEND_API_KEYS: ['send-key'] };

describe('resubmit through the service', () => {
  it('one encounter: back to ready, the rejection kept in its history, audited; the other stays rejected', async () => {
    await withTestServer(
      async (s) => {
        await rejected(s);
        const r = await s.fetch('/api/records/100000/V0001/resubmit?reason=facility%20registered%20at%20ACR', { method: 'POST', headers: OPERATE });
        assert.equal(r.status, 200);
        assert.deepEqual(await r.json(), {
          resubmitted: 1,
          records: [{ encounterKey: '100000|V0001', consultationKey: '11/02/2026 09:30:15', transactionId: 'T-REJ' }],
        });
        const rec = (await (await s.fetch('/api/records/100000/V0001', { headers: OPERATE })).json()) as {
          consultations: { state: string; history: unknown[] }[];
        };
        assert.equal(rec.consultations[0]!.state, 'ready');
        assert.deepEqual(rec.consultations[0]!.history, [
          {
            at: SERVER_NOW.toISOString(),
            from: 'rejected',
            to: 'ready',
            who: 'operate#1',
            why: 'resubmit: facility registered at ACR',
            transactionId: 'T-REJ',
            problems: [CD2053],
          },
        ]);
        const states = (await (await s.fetch('/api/records', { headers: OPERATE })).json()) as { records: { encounterId: string; state: string }[] };
        assert.deepEqual(
          states.records.map((x) => [x.encounterId, x.state]),
          [
            ['V0001', 'ready'],
            ['V0002', 'rejected'],
          ],
        );
        const audit = (await (await s.fetch('/api/audit', { headers: OPERATE })).json()) as { entries: { who: string; what: string }[] };
        assert.deepEqual(
          audit.entries.map((e) => [e.who, e.what]).filter(([, w]) => w!.startsWith('resubmit')),
          [['operate#1', 'resubmit record 100000|V0001: 1 consultation(s)']],
        );
        // the order is reported again in the ledger
        const orders = (await (await s.fetch('/api/orders', { headers: OPERATE })).json()) as {
          orders: { encounterId: string; state: string; reason: string }[];
        };
        assert.deepEqual(
          orders.orders.map((o) => [o.encounterId, o.state, o.reason]),
          [
            ['V0001', 'reported', ''],
            ['V0002', 'held', 'rejected'],
          ],
        );
        // the ready record goes in the next round
        assert.deepEqual(
          (await s.store.wireEncounters('ready', 10)).map((w) => w.encounterKey),
          ['100000|V0001'],
        );
      },
      { roles },
    );
  });

  it("a facility's rejected records; again: nothing left to resubmit", async () => {
    await withTestServer(
      async (s) => {
        await rejected(s);
        const r = await s.fetch('/api/resubmit?state=rejected&facility=100000', { method: 'POST', headers: OPERATE });
        assert.deepEqual(await r.json(), {
          resubmitted: 2,
          records: [
            { encounterKey: '100000|V0001', consultationKey: '11/02/2026 09:30:15', transactionId: 'T-REJ' },
            { encounterKey: '100000|V0002', consultationKey: '11/02/2026 09:30:15', transactionId: 'T-REJ' },
          ],
        });
        const again = await s.fetch('/api/resubmit?state=rejected&facility=100000', { method: 'POST', headers: OPERATE });
        assert.deepEqual(await again.json(), { resubmitted: 0, records: [] });
        const other = await s.fetch('/api/resubmit?state=rejected&facility=999999', { method: 'POST', headers: OPERATE });
        assert.deepEqual(await other.json(), { resubmitted: 0, records: [] });
      },
      { roles },
    );
  });

  it('refused: without state=rejected (400), an unknown encounter (404), a view key (403)', async () => {
    await withTestServer(
      async (s) => {
        const noState = await s.fetch('/api/resubmit?facility=100000', { method: 'POST', headers: OPERATE });
        assert.deepEqual(
          [noState.status, await noState.json()],
          [400, { code: 'BAD_REQUEST', error: 'state must be rejected (only rejected records are sent again)', field: 'state' }],
        );
        const missing = await s.fetch('/api/records/100000/NOPE/resubmit', { method: 'POST', headers: OPERATE });
        assert.deepEqual([missing.status, await missing.json()], [404, { code: 'NOT_FOUND', error: 'no such encounter' }]);
        const viewer = await s.fetch('/api/resubmit?state=rejected', { method: 'POST', headers: VIEW });
        assert.deepEqual(
          [viewer.status, await viewer.json()],
          [403, { code: 'FORBIDDEN', error: 'this key (view#1) may not do this: it needs the operate role', role: 'operate' }],
        );
      },
      { roles },
    );
  });
});
