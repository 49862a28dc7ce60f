// Orders the tables know but do not report (a crosswalk row with acr_code "exclude": plain
// radiography, ultrasound): AA, the message's problems carrying a warning that names the row, kept, shown by the ledger as
// excluded, never in a transaction. An update to CT reports it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lines, postHl7, withTestServer } from '../../test/server.js';

const CLINICIAN = '1234567893^ORDER^ANN^^^^^^NPI';
const orm = (id: string, ts: string, obr24: string, cpt: string) =>
  [
    `MSH|^~\\&|EHR|GENHOSP|CDSR|ACR|${ts}||ORM^O01^ORM_O01|${id}|P|2.5.1`,
    'PID|1||MRN0003^^^GENHOSP^MR||DOE^JO||19800101|F',
    'PV1|1|O|RAD^1^^GENHOSP||||||||||||||||V0003^^^GENHOSP^VN',
    `ORC|NW|ORD7001^EHR|ACC7001^RIS||SC||||20261104080000|||${CLINICIAN}`,
    `OBR|1|ORD7001^EHR|ACC7001^RIS|${cpt}^CPT|||20261104080000|||||||||${CLINICIAN}||||||||${obr24}|SC`,
    'OBX|1|ST|CDS-GCODE^qCDSM G-code||G1014||||||F',
    'OBX|2|TS|CDS-DTTM^AUC consultation date/time||20261104080000||||||F',
  ].join('\r') + '\r';

type Order = { orderNumbers: string[]; state: string; reason: string };

describe('excluded orders through the service', () => {
  it('an XR order: AA, a warning naming the row on the message, ledger excluded, record withheld; an update to CT makes it reported', async () => {
    await withTestServer(async (s) => {
      assert.deepEqual(lines((await postHl7(s, orm('MSG7001', '20261104080100', 'XR', '71046^XR CHEST 2 VIEWS'))).text).slice(1), ['MSA|AA|MSG7001']);
      const stored = await s.store.message(1);
      assert.deepEqual(
        [stored?.status, stored?.problems.map((p) => [p.code, p.severity, p.source])],
        ['applied', [['MAP_EXCLUDED', 'warning', 'OBR-24']]],
      );
      assert.match(stored?.problems[0]?.message ?? '', /^Modality: "XR" is known and not reported \(.*crosswalks\/modality\.csv:\d+ says exclude\): the order is kept as excluded$/);
      const ledger = async () => ((await (await s.fetch('/api/orders?encounter=V0003')).json()) as { orders: Order[] }).orders.map((o) => [o.orderNumbers, o.state, o.reason]);
      assert.deepEqual(await ledger(), [[['ACC7001', 'ORD7001'], 'excluded', 'cancelled']]);
      const rec = await s.store.record('100000|V0003');
      assert.equal(rec?.consultations[0]?.state, 'cancelled');
      assert.equal(rec?.consultations[0]?.cancelled, true);

      assert.deepEqual(lines((await postHl7(s, orm('MSG7002', '20261104090000', 'CT', '71250^CT CHEST WO CONTRAST'))).text).slice(1), ['MSA|AA|MSG7002']);
      assert.deepEqual(await ledger(), [[['ACC7001', 'ORD7001'], 'reported', '']]);
    });
  });
});
