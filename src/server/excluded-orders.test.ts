// Orders the tables know but do not report (a crosswalk row with acr_code "exclude": plain
// radiography, ultrasound): AA, the message's problems carrying a warning that names the row, kept,
// shown by the ledger as excluded for the reason not-advanced-imaging with the rule and the row
// that excluded it (never as cancelled), never in a transaction. An update to CT reports it; a
// cancel of it is a cancel.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lines, postHl7, SERVER_NOW, withTestServer, type TestServer } from '../../test/server.js';

const CLINICIAN = '1234567893^ORDER^ANN^^^^^^NPI';
const orm = (id: string, ts: string, obr24: string, cpt: string, control = 'NW') =>
  [
    `MSH|^~\\&|EHR|GENHOSP|CDSR|ACR|${ts}||ORM^O01^ORM_O01|${id}|P|2.5.1`,
    'PID|1||MRN0003^^^GENHOSP^MR||DOE^JO||19800101|F',
    'PV1|1|O|RAD^1^^GENHOSP||||||||||||||||V0003^^^GENHOSP^VN',
    `ORC|${control}|ORD7001^EHR|ACC7001^RIS||SC||||20261104080000|||${CLINICIAN}`,
    `OBR|1|ORD7001^EHR|ACC7001^RIS|${cpt}^CPT|||20261104080000|||||||||${CLINICIAN}||||||||${obr24}|SC`,
    'OBX|1|ST|CDS-GCODE^qCDSM G-code||G1014||||||F',
    'OBX|2|TS|CDS-DTTM^AUC consultation date/time||20261104080000||||||F',
  ].join('\r') + '\r';

type Order = { orderNumbers: string[]; state: string; reason: string; exclusion?: { rule: string; crosswalk: string; raw: string } };
type Consultation = { consultationKey: string; state: string; cancelled: boolean; exclusion?: Order['exclusion'] };

/** The ledger's rows of encounter V0003 as /api/orders gives them, the tables' copy named `mappings/`. */
const orders = async (s: TestServer): Promise<unknown> => {
  const text = await (await s.fetch('/api/orders?encounter=V0003')).text();
  return (JSON.parse(text.replaceAll(s.mappingsDir, 'mappings')) as { orders: Order[] }).orders;
};
const consultations = async (s: TestServer): Promise<unknown> => {
  const text = await (await s.fetch('/api/records/100000/V0003')).text();
  return (JSON.parse(text.replaceAll(s.mappingsDir, 'mappings')) as { consultations: Consultation[] }).consultations.map((c) => [
    c.consultationKey,
    c.state,
    c.cancelled,
    c.exclusion,
  ]);
};
const reconciliation = async (s: TestServer): Promise<unknown> => ((await (await s.fetch('/api/reconciliation')).json()) as { days: unknown[] }).days;

const AT = SERVER_NOW.toISOString();
const XR = { rule: 'mappings/hl7v2.yaml:73', crosswalk: 'mappings/crosswalks/modality.csv:22', raw: 'XR' };
const row = (over: Record<string, unknown>) => ({
  id: 1,
  facilityId: '100000',
  encounterId: 'V0003',
  orderNumbers: ['ACC7001', 'ORD7001'],
  consultationKey: '11/04/2026 08:00:00',
  problems: [],
  missing: [],
  firstSeen: AT,
  lastSeen: AT,
  ...over,
});

describe('excluded orders through the service', () => {
  it('an XR order: AA, a warning naming the row on the message, excluded as not-advanced-imaging naming rule and row; an update to CT makes it reported', async () => {
    await withTestServer(async (s) => {
      assert.deepEqual(lines((await postHl7(s, orm('MSG7001', '20261104080100', 'XR', '71046^XR CHEST 2 VIEWS'))).text).slice(1), ['MSA|AA|MSG7001']);
      const stored = await s.store.message(1);
      assert.deepEqual([stored?.status, stored?.problems.map((p) => [p.code, p.severity, p.source])], ['applied', [['MAP_EXCLUDED', 'warning', 'OBR-24']]]);
      assert.match(
        stored?.problems[0]?.message ?? '',
        /^Modality: "XR" is known and not reported \(.*crosswalks\/modality\.csv:\d+ says exclude\): the order is kept as excluded$/,
      );
      assert.deepEqual(await orders(s), [row({ state: 'excluded', reason: 'not-advanced-imaging', messageIds: [1], exclusion: XR })]);
      assert.deepEqual(await consultations(s), [['11/04/2026 08:00:00', 'cancelled', true, XR]]);
      assert.deepEqual(await reconciliation(s), [
        { facilityId: '100000', day: '2026-11-23', seen: 1, reported: 0, held: {}, excluded: { 'not-advanced-imaging': 1 } },
      ]);
      assert.deepEqual(((await (await s.fetch('/api/orders?reason=cancelled')).json()) as { orders: Order[] }).orders, []);

      assert.deepEqual(lines((await postHl7(s, orm('MSG7002', '20261104090000', 'CT', '71250^CT CHEST WO CONTRAST'))).text).slice(1), ['MSA|AA|MSG7002']);
      assert.deepEqual(await orders(s), [row({ state: 'reported', reason: '', messageIds: [1, 2] })]);
      assert.deepEqual(await consultations(s), [['11/04/2026 08:00:00', 'ready', false, undefined]]);
    });
  });

  it('a cancel of an excluded order: it is cancelled, the exclusion no longer named', async () => {
    await withTestServer(async (s) => {
      assert.deepEqual(lines((await postHl7(s, orm('MSG7001', '20261104080100', 'XR', '71046^XR CHEST 2 VIEWS'))).text).slice(1), ['MSA|AA|MSG7001']);
      assert.deepEqual(lines((await postHl7(s, orm('MSG7003', '20261104100000', 'XR', '71046^XR CHEST 2 VIEWS', 'CA'))).text).slice(1), ['MSA|AA|MSG7003']);
      assert.deepEqual(await orders(s), [row({ state: 'excluded', reason: 'cancelled', messageIds: [1, 2] })]);
      assert.deepEqual(await consultations(s), [['11/04/2026 08:00:00', 'cancelled', true, undefined]]);
      assert.deepEqual(await reconciliation(s), [{ facilityId: '100000', day: '2026-11-23', seen: 1, reported: 0, held: {}, excluded: { cancelled: 1 } }]);
    });
  });
});
