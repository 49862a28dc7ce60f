// A FHIR Bundle of several ServiceRequests: each problem names the ServiceRequest it belongs to
// (its place among the Bundle's orders and its numbers), in the OperationOutcome, the stored
// problems and the console's message page, as a message of several OBRs does; one ServiceRequest
// alone names none.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleOfTwoServiceRequests } from '../../test/fhir-fixtures.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { withTestServer, type TestServer } from '../../test/server.js';

const post = async (s: TestServer, body: string) => {
  const r = await s.fetch('/fhir', { method: 'POST', body, headers: { 'content-type': 'application/fhir+json' } });
  return { status: r.status, outcome: (await r.json()) as { issue: { severity: string; diagnostics: string }[] } };
};

describe('POST /fhir: a Bundle of two ServiceRequests, one with a code no row maps', () => {
  it('the problem names its ServiceRequest (order 2 of the Bundle, its numbers) in the answer, the stored problems and the message page', () =>
    withTestServer(async (s) => {
      const { status, outcome } = await post(s, bundleOfTwoServiceRequests());
      assert.equal(status, 422);
      const unmapped = `Modality: no row for "99999" (system "http://www.ama-assn.org/go/cpt") in ${join(s.mappingsDir, 'crosswalks', 'procedure_modality.csv')}; add a row: 99999,<ACR code>`;
      assert.deepEqual(
        outcome.issue.map((i) => [i.severity, i.diagnostics]),
        [
          ['information', '2 resource(s) applied, 1 kept in the error queue, 0 pending fetch'],
          ['error', `MAP_UNMAPPED_CODE: ${unmapped} (order 2 of the Bundle: ORD1002 / ACC2002)`],
        ],
      );
      const m = await s.store.message(3);
      assert.equal(m?.controlId, 'ServiceRequest/sr-1002/_history/2026-11-02T09:35:00-05:00');
      assert.deepEqual(
        m?.problems.map((p) => [p.code, p.value, p.order]),
        [['MAP_UNMAPPED_CODE', '99999', { place: 2, numbers: ['ORD1002', 'ACC2002'] }]],
      );
      const page = await (await s.fetch('/ui/messages/3')).text();
      assert.match(page, /<th scope="col">Where<\/th><th scope="col">Order<\/th><th scope="col">Message<\/th>/);
      assert.match(page, /<td>crosswalks\/procedure_modality\.csv<\/td><td>2: ORD1002 \/ ACC2002<\/td><td>Modality: no row for &quot;99999&quot;/);
      // the order's page says why it is held, and whose problem it is
      const orders = (await (await s.fetch('/api/orders?order=ORD1002')).json()) as { orders: { id: number }[] };
      const order = await (await s.fetch(`/ui/orders/${orders.orders[0]!.id}`)).text();
      assert.match(order, /<h2>Why it is held<\/h2><table>.*<td>2: ORD1002 \/ ACC2002<\/td>/s);
      // its message, with the status the whole request was answered with
      assert.match(
        order,
        /<table id="order-messages">.*<td><a href="\/ui\/messages\/3">#3<\/a><\/td>.*<td>ServiceRequest<\/td>.*<span class="st st-error">error<\/span><\/td><td>422<\/td><\/tr>/s,
      );
    }));

  it('one ServiceRequest alone: its problems name no order', () =>
    withTestServer(async (s) => {
      const one = readFileSync(join(REPO_ROOT, 'samples', 'fhir', '01-servicerequest.json'), 'utf8').replace('"70450"', '"99999"');
      const { status, outcome } = await post(s, one);
      assert.equal(status, 422);
      assert.equal(outcome.issue[1]?.diagnostics.endsWith('add a row: 99999,<ACR code>'), true);
      assert.deepEqual(
        (await s.store.message(1))?.problems.map((p) => [p.code, p.order]),
        [['MAP_UNMAPPED_CODE', undefined]],
      );
      assert.doesNotMatch(await (await s.fetch('/ui/messages/1')).text(), /<th scope="col">Order<\/th>/);
    }));
});
