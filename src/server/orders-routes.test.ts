// Every order accounted for, through the service (fastify inject) with messages written for these
// cases: one ORC with two OBRs, two orders at the same second, an order without any consultation
// time, an OMI timed only by TQ1-7, a result known only by its accession before and after its
// order, a cancel without the CDS data, a message broken after its MSH. Each case shows the
// order's state in /api/orders and the reconciliation's sums.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lines, postHl7, type TestServer, withTestServer } from '../../test/server.js';
import { mapFiles } from '../mapping/map-files.js';
import { bundleOfTwoServiceRequests } from '../../test/fhir-fixtures.js';

const CLINICIAN = '1234567893^ORDER^ANN^^^^^^NPI';
const head = (id: string, type = 'ORM^O01^ORM_O01', ts = '20261103120000') => [
  `MSH|^~\\&|EHR|GENHOSP|CDSR|ACR|${ts}||${type}|${id}|P|2.5.1`,
  'PID|1||MRN0002^^^GENHOSP^MR||DOE^JANE||19800101|F',
  'PV1|1|O|RAD^1^^GENHOSP||||||||||||||||V0002^^^GENHOSP^VN',
];
const orc = (control: string, placer: string, filler = '', at = '') =>
  `ORC|${control}|${placer}^EHR|${filler ? `${filler}^RIS` : ''}||SC||||${at}|||${CLINICIAN}`;
const obr = (n: number, placer: string, filler: string, exam: string, at = '') =>
  `OBR|${n}|${placer}^EHR|${filler ? `${filler}^RIS` : ''}|${exam}^CPT|||${at}|||||||||${CLINICIAN}||||||||CT|SC`;
const cds = (at: string) => ['OBX|1|ST|CDS-GCODE^qCDSM G-code||G1014||||||F', `OBX|2|TS|CDS-DTTM^AUC consultation date/time||${at}||||||F`];
const msg = (...segments: string[]) => segments.join('\r') + '\r';

type Order = { orderNumbers: string[]; state: string; reason: string; consultationKey: string | null; messageIds: number[] };
const json = async <T>(s: TestServer, path: string): Promise<T> => (await s.fetch(path)).json() as Promise<T>;
const orders = async (s: TestServer, query = '') =>
  (await json<{ orders: Order[]; next: string | null }>(s, `/api/orders${query}`)).orders.map((o) => [o.orderNumbers, o.state, o.reason, o.consultationKey]);

// The messages of each case, at module level: the reconciliation and paging tests send them all.
const TWO_OBR = msg(
  ...head('MSG5001'),
  orc('NW', 'ORD5001', '', '20261103080000'),
  obr(1, 'ORD5001-1', 'ACC5001', '71250^CT CHEST WO CONTRAST'),
  ...cds('20261103080000'),
  obr(2, 'ORD5001-2', 'ACC5002', '74177^CT ABD PELVIS W CONTRAST'),
  ...cds('20261103080100'),
);
const COLLISION_FIRST = msg(
  ...head('MSG6001'),
  orc('NW', 'ORD6001', 'ACC6001'),
  obr(1, 'ORD6001', 'ACC6001', '70450^CT HEAD WO CONTRAST'),
  ...cds('20261103090000'),
);
const COLLISION_SECOND = msg(
  ...head('MSG6002'),
  orc('NW', 'ORD6002', 'ACC6002'),
  obr(1, 'ORD6002', 'ACC6002', '70486^CT SINUS WO CONTRAST'),
  ...cds('20261103090000'),
);
const NO_TIME = msg(...head('MSG7001'), orc('NW', 'ORD7001', 'ACC7001'), obr(1, 'ORD7001', 'ACC7001', '70450^CT HEAD WO CONTRAST'));
const OMI = msg(
  ...head('MSG8001', 'OMI^O23^OMI_O23'),
  orc('NW', 'ORD8001', 'ACC8001'),
  'TQ1|1||||||20261103100000',
  obr(1, 'ORD8001', 'ACC8001', '71250^CT CHEST WO CONTRAST'),
  'OBX|1|ST|CDS-GCODE^qCDSM G-code||G1014||||||F',
);
const oru = (id: string, filler: string) =>
  msg(
    ...head(id, 'ORU^R01^ORU_R01', '20261103140000'),
    `OBR|1||${filler}^RIS|70450^CT HEAD WO CONTRAST^CPT|||20261103133000||||||||||||||||||F`,
    'OBX|1|TX|IMP^Impression||Normal.||||||F',
  );
const ACCESSION_RESULT_FIRST = oru('MSG9001', 'ACC9001');
const ACCESSION_ORDER_AFTER = msg(
  ...head('MSG9002'),
  orc('NW', 'ORD9001', 'ACC9001'),
  obr(1, 'ORD9001', 'ACC9001', '70450^CT HEAD WO CONTRAST'),
  ...cds('20261103110000'),
);
const ACCESSION_ORDER_FIRST = msg(
  ...head('MSG9003'),
  orc('NW', 'ORD9002', 'ACC9002'),
  obr(1, 'ORD9002', 'ACC9002', '70450^CT HEAD WO CONTRAST'),
  ...cds('20261103113000'),
);
const ACCESSION_RESULT_AFTER = oru('MSG9004', 'ACC9002');
const CANCELLED_ORDER = msg(
  ...head('MSG9101'),
  orc('NW', 'ORD9101', 'ACC9101'),
  obr(1, 'ORD9101', 'ACC9101', '70450^CT HEAD WO CONTRAST'),
  ...cds('20261103150000'),
);
// the cancel's own times (ORC-9, OBR-7) say 16:00, not the consultation's 15:00
const CANCEL = msg(
  ...head('MSG9102', 'ORM^O01^ORM_O01', '20261103160500'),
  orc('CA', 'ORD9101', 'ACC9101', '20261103160000'),
  obr(1, 'ORD9101', 'ACC9101', '70450^CT HEAD WO CONTRAST', '20261103160000'),
);
const BROKEN = msg(...head('MSG9201'), orc('NW', 'ORD9201', 'ACC9201'), 'OBR|1|ORD9201^EHR|ACC9201^RIS|70450^CT HEAD', 'WO CONTRAST^CPT|||20261103170000');
/** Every case's messages in the order the cases are listed. */
const ALL = [
  TWO_OBR,
  COLLISION_FIRST,
  COLLISION_SECOND,
  NO_TIME,
  OMI,
  ACCESSION_RESULT_FIRST,
  ACCESSION_ORDER_AFTER,
  ACCESSION_ORDER_FIRST,
  ACCESSION_RESULT_AFTER,
  CANCELLED_ORDER,
  CANCEL,
  BROKEN,
];
const sendAll = async (s: TestServer) => {
  for (const m of ALL) await postHl7(s, m);
};

// Each test has a server of its own with the messages of its case (all of them for the sums).
describe('the order ledger through the service', () => {
  it('one ORC with two OBRs: two orders, two consultations (map shows both too)', () =>
    withTestServer(async (s) => {
      const raw = TWO_OBR;
      assert.deepEqual(lines((await postHl7(s, raw)).text).slice(1), ['MSA|AA|MSG5001']);
      assert.deepEqual(await orders(s, '?encounter=V0002'), [
        [['ACC5001', 'ORD5001-1'], 'reported', '', '11/03/2026 08:00:00'],
        [['ACC5002', 'ORD5001-2'], 'reported', '', '11/03/2026 08:01:00'],
      ]);
      const rec = await s.store.record('100000|V0002');
      assert.deepEqual(
        rec?.consultations.map((c) => c.fields.Name_of_Exam_Ordered?.value),
        ['CT CHEST WO CONTRAST', 'CT ABD PELVIS W CONTRAST'],
      );
      const dir = mkdtempSync(join(tmpdir(), 'cdsr-two-obr-'));
      try {
        writeFileSync(join(dir, 'two.hl7'), raw);
        const out = mapFiles([join(dir, 'two.hl7')], {
          tables: s.mappings.current,
          partnerId: '10000',
          appId: '10019',
          maxEncounters: 100,
          now: new Date('2026-11-23T06:00:00Z'),
        });
        assert.deepEqual(
          out.transactions[0]?.Encounters[0]?.Consultations.map((c) => c.Name_of_Exam_Ordered),
          ['CT CHEST WO CONTRAST', 'CT ABD PELVIS W CONTRAST'],
        );
        assert.deepEqual(out.problems, []);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }));

  it('a second order at the same second is AE (duplicate key) and held as a collision; the first stays', () =>
    withTestServer(async (s) => {
      const [first, second] = [COLLISION_FIRST, COLLISION_SECOND];
      assert.deepEqual(lines((await postHl7(s, first)).text).slice(1), ['MSA|AA|MSG6001']);
      const r = await postHl7(s, second);
      assert.equal(r.status, 200);
      assert.deepEqual(lines(r.text).slice(1), [
        'MSA|AE|MSG6002',
        'ERR|||205^Duplicate key identifier^HL70357|E||||MERGE_COLLISION: order ORD6002 / ACC6002 has the consultation date and time 11/03/2026 09:00:00 of order ORD6001 / ACC6001 in encounter V0002: two orders cannot share one CDSR consultation, so it is held and nothing of it merged',
      ]);
      assert.deepEqual(await orders(s, '?order=ACC6002'), [[['ACC6002', 'ORD6002'], 'held', 'collision', null]]);
      assert.deepEqual(await orders(s, '?order=ORD6001'), [[['ACC6001', 'ORD6001'], 'reported', '', '11/03/2026 09:00:00']]);
      const rec = await s.store.record('100000|V0002');
      assert.equal(rec?.consultations.find((c) => c.consultationKey === '11/03/2026 09:00:00')?.fields.Name_of_Exam_Ordered?.value, 'CT HEAD WO CONTRAST');
    }));

  it('an order with no consultation time anywhere is AE naming every path tried, never AA and invisible', () =>
    withTestServer(async (s) => {
      const r = await postHl7(s, NO_TIME);
      const ack = lines(r.text)
        .slice(1)
        .map((l) => l.replace(/\(\/[^)]*\/(hl7v2\.yaml:\d+)\)/g, '($1)'));
      assert.deepEqual(ack, [
        'MSA|AE|MSG7001',
        'ERR|||101^Required field missing^HL70357|E||||MAP_NO_CONSULTATION: order ORD7001 / ACC7001 has no consultation date and time and matches no order seen before: CDS_Consultation_Date (hl7v2.yaml:46) from OBX[3.1=CDS-DTTM]-5, TQ1-7.1, OBR-6, OBR-7, ORC-9; CDS_Consultation_Time (hl7v2.yaml:55) from OBX[3.1=CDS-DTTM]-5, TQ1-7.1, OBR-6, OBR-7, ORC-9: none has a value',
      ]);
      assert.deepEqual(await orders(s, '?order=ORD7001'), [[['ACC7001', 'ORD7001'], 'held', 'error', null]]);
    }));

  it('an OMI timed only by TQ1-7 (v2.5.1, ORC-9 empty) makes its consultation at that time', () =>
    withTestServer(async (s) => {
      assert.deepEqual(lines((await postHl7(s, OMI)).text).slice(1), ['MSA|AA|MSG8001']);
      assert.deepEqual(await orders(s, '?order=ORD8001'), [[['ACC8001', 'ORD8001'], 'reported', '', '11/03/2026 10:00:00']]);
    }));

  it('a result known only by its accession: held before its order, joined after; and one after its order lands at once', () =>
    withTestServer(async (s) => {
      assert.deepEqual(lines((await postHl7(s, ACCESSION_RESULT_FIRST)).text).slice(1), ['MSA|AA|MSG9001']);
      assert.deepEqual(await orders(s, '?order=ACC9001'), [[['ACC9001'], 'held', 'orphan', null]]);
      await postHl7(s, ACCESSION_ORDER_AFTER);
      assert.deepEqual(await orders(s, '?order=ACC9001'), [[['ACC9001', 'ORD9001'], 'reported', '', '11/03/2026 11:00:00']]);
      // the order first, then a result naming only its accession
      await postHl7(s, ACCESSION_ORDER_FIRST);
      await postHl7(s, ACCESSION_RESULT_AFTER);
      const [o] = (await json<{ orders: Order[] }>(s, '/api/orders?order=ORD9002')).orders;
      assert.deepEqual([o?.state, o?.messageIds.length], ['reported', 2]);
      const rec = await s.store.record('100000|V0002');
      assert.deepEqual(
        rec?.consultations
          .filter((c) => ['11/03/2026 11:00:00', '11/03/2026 11:30:00'].includes(c.consultationKey))
          .map((c) => c.fields.Ordered_Exam_Completed?.value),
        ['1', '1'],
      );
    }));

  it('a cancel without the CDS data finds its order by number: the order is excluded, its consultation cancelled', () =>
    withTestServer(async (s) => {
      await postHl7(s, CANCELLED_ORDER);
      await postHl7(s, CANCEL);
      assert.deepEqual(await orders(s, '?order=ORD9101'), [[['ACC9101', 'ORD9101'], 'excluded', 'cancelled', '11/03/2026 15:00:00']]);
      assert.deepEqual(
        (await s.store.records({})).map((r) => [r.consultationKey, r.state]),
        [['11/03/2026 15:00:00', 'cancelled']],
      );
    }));

  it('a message broken after a good MSH is answered 200 AR (kept as rejected) with its own MSA-2, the parties swapped and the line named', () =>
    withTestServer(async (s) => {
      const r = await postHl7(s, BROKEN);
      assert.equal(r.status, 200);
      const [msh, ...rest] = lines(r.text);
      assert.match(msh ?? '', /^MSH\|\^~\\&\|CDSR\|ACR\|EHR\|GENHOSP\|20261123060000\+0000\|\|ACK\^O01\^ACK\|CDSR\d+\|P\|2\.5\.1$/);
      assert.deepEqual(rest, [
        'MSA|AR|MSG9201',
        'ERR|||100^Segment sequence error^HL70357|E||||HL7_INVALID: line 6 is not a segment (it must start with a 3-character segment name)',
      ]);
      const [stored] = await s.store.messages({ status: 'rejected' });
      assert.deepEqual([stored?.sender, stored?.controlId], ['EHR^GENHOSP', 'MSG9201']);
    }));

  it('the reconciliation adds up: seen = reported + held + excluded, per facility and day; /metrics shows the states', () =>
    withTestServer(async (s) => {
      await sendAll(s);
      const { days } = await json<{ days: unknown[] }>(s, '/api/reconciliation?from=2026-11-23&to=2026-11-23');
      // orders: 2 (two OBRs) + 2 (collision) + 1 (no time) + 1 (OMI) + 2 (accession cases) + 1 (cancel)
      assert.deepEqual(days, [{ facilityId: '100000', day: '2026-11-23', seen: 9, reported: 6, held: { collision: 1, error: 1 }, excluded: { cancelled: 1 } }]);
      const metrics = await (await s.fetch('/metrics')).text();
      for (const line of [
        'cdsr_orders{state="excluded"} 1',
        'cdsr_orders{state="held"} 2',
        'cdsr_orders{state="reported"} 6',
        'cdsr_oldest_orphan_age_seconds 0',
      ])
        assert.ok(metrics.includes(`${line}\n`), line);
      assert.deepEqual(await json(s, '/api/reconciliation?from=2026-11-24'), { by: 'received', timeZones: {}, days: [] });
    }));

  it('pages with a cursor, and refuses what it cannot read with the parameter named', () =>
    withTestServer(async (s) => {
      await sendAll(s);
      const first = await json<{ orders: { id: number }[]; next: string }>(s, '/api/orders?limit=4');
      const second = await json<{ orders: { id: number }[]; next: string | null }>(s, `/api/orders?limit=4&after=${first.next}`);
      const third = await json<{ orders: { id: number }[]; next: string | null }>(s, `/api/orders?limit=4&after=${second.next ?? ''}`);
      assert.deepEqual([first.orders.length, second.orders.length, third.orders.length, third.next], [4, 4, 1, null]);
      assert.equal(new Set([...first.orders, ...second.orders, ...third.orders].map((o) => o.id)).size, 9);
      for (const [query, error] of [
        ['state=lost', 'state must be one of reported, held, excluded'],
        ['limit=0', 'limit must be a whole number from 1 to 1000'],
        ['after=-1', 'after must be a whole number from 0 to 9007199254740991'],
        ['from=yesterday', 'from must be a day as YYYY-MM-DD'],
      ]) {
        const r = await s.fetch(`/api/orders?${query}`);
        assert.deepEqual([r.status, await r.json()], [400, { code: 'BAD_REQUEST', error, field: query?.split('=')[0] }], query);
      }
      const recs = await json<{ records: unknown[]; next: string }>(s, '/api/records?limit=2');
      const more = await json<{ records: unknown[] }>(s, `/api/records?limit=2&after=${recs.next}`);
      assert.equal(more.records.length, 2);
      assert.notDeepEqual(more.records, recs.records);
      assert.equal((await s.fetch('/api/records?after=nonsense')).status, 400);
    }));

  it("finds a patient's orders by MRN (PID-3.1 of the messages that touched them), paged; the audit says a search by MRN was made, not the MRN", () =>
    withTestServer(async (s) => {
      await sendAll(s);
      const all = await json<{ orders: { id: number }[] }>(s, '/api/orders');
      const first = await json<{ orders: { id: number }[]; next: string }>(s, '/api/orders?mrn=MRN0002&limit=5');
      const second = await json<{ orders: { id: number }[]; next: string | null }>(s, `/api/orders?mrn=MRN0002&limit=5&after=${first.next}`);
      assert.deepEqual(
        [...first.orders, ...second.orders].map((o) => o.id),
        all.orders.map((o) => o.id),
      );
      assert.equal(second.next, null);
      assert.deepEqual(await json(s, '/api/orders?mrn=MRN0001'), { orders: [], next: null });
      assert.deepEqual(await orders(s, '?mrn=MRN0002&state=excluded'), [[['ACC9101', 'ORD9101'], 'excluded', 'cancelled', '11/03/2026 15:00:00']]);
      const audit = await s.store.accessLog({ limit: 1000 });
      assert.equal(audit.filter((a) => a.what === 'orders searched by MRN').length, 4);
      assert.ok(!JSON.stringify(audit).includes('MRN0002'));
    }));
});

describe('explaining a field nothing filled', () => {
  it('an incomplete order names each missing field and where the tables look for it; so do the record view and the trace', async () => {
    await withTestServer(async (s) => {
      // no patient class in PV1-2: Place_of_Service stays empty
      const raw = msg(
        ...head('MSG9301').map((l) => l.replace('PV1|1|O|', 'PV1|1||')),
        orc('NW', 'ORD9301', 'ACC9301'),
        obr(1, 'ORD9301', 'ACC9301', '70450^CT HEAD WO CONTRAST'),
        ...cds('20261103180000'),
      );
      assert.deepEqual(lines((await postHl7(s, raw)).text).slice(1), ['MSA|AA|MSG9301']);
      const { orders: held } = await json<{ orders: { state: string; reason: string; missing: { field: string; tried: string[] }[] }[] }>(
        s,
        '/api/orders?reason=incomplete',
      );
      const where = (t: string) => t.replace(/^\/\S*\/((hl7v2|fhir)\.yaml:\d+)/, '$1');
      assert.deepEqual(
        held.map((o) => [o.state, o.reason, o.missing.map((m) => [m.field, m.tried.map(where)])]),
        [['held', 'incomplete', [['Place_of_Service', ['hl7v2.yaml:64 (PV1-2)', 'fhir.yaml:57 (%encounter.class.code | %encounter.class.coding.code)']]]]],
      );
      const rec = await json<{ consultations: { problems: { code: string; source?: string }[] }[] }>(s, '/api/records/100000/V0002');
      assert.deepEqual(
        rec.consultations[0]?.problems.map((p) => [p.code, (p.source ?? '').replace(/\/\S*\/((hl7v2|fhir)\.yaml)/g, '$1')]),
        [['CD3001', 'tried: hl7v2.yaml:64 (PV1-2); fhir.yaml:57 (%encounter.class.code | %encounter.class.coding.code)']],
      );
      const dir = mkdtempSync(join(tmpdir(), 'cdsr-miss-'));
      try {
        writeFileSync(join(dir, 'm.hl7'), raw);
        const out = mapFiles([join(dir, 'm.hl7')], {
          tables: s.mappings.current,
          partnerId: '10000',
          appId: '10019',
          maxEncounters: 100,
          now: new Date('2026-11-23T06:00:00Z'),
        });
        const miss = out.inputs[0]?.misses.find((m) => m.field === 'Place_of_Service');
        assert.deepEqual([where(miss?.rule ?? ''), miss?.tried], ['hl7v2.yaml:64', ['PV1-2']]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
describe("/api/orders by the facility's days", () => {
  it('counts from and to in the facility time zone (CDSR_TIMEZONE America/Chicago), across a UTC midnight, as the reconciliation does', () =>
    withTestServer(
      async (s) => {
        // 05:59:59Z is still the 22nd in Chicago, 06:00Z the 23rd
        for (const [n, t] of [
          [1, '2026-11-23T05:59:59Z'],
          [2, '2026-11-23T06:00:00Z'],
        ] as const)
          await s.store.ingest(
            { channel: 'fhir', sender: 'fhir', controlId: `SR-${n}`, contentType: 'application/fhir+json', raw: '{}', receivedAt: new Date(t) },
            {
              disposition: 'error',
              problems: [{ code: 'MAP_UNMAPPED_CODE', message: 'unmapped', severity: 'error', scope: 'consultation', path: '' }],
              orders: [{ facilityId: '100000', encounterId: 'V0009', numbers: [`SR-${n}`] }],
            },
          );
        const numbers = async (query: string) =>
          (await json<{ orders: { orderNumbers: string[] }[] }>(s, `/api/orders?${query}`)).orders.map((o) => o.orderNumbers[0]);
        assert.deepEqual(await numbers('from=2026-11-23&to=2026-11-23'), ['SR-2']);
        assert.deepEqual(await numbers('from=2026-11-22&to=2026-11-22'), ['SR-1']);
        assert.deepEqual(await numbers('to=2026-11-21'), []);
        const days = await json<{ days: { day: string; seen: number }[] }>(s, '/api/reconciliation?from=2026-11-22&to=2026-11-23');
        assert.deepEqual(
          days.days.map((d) => [d.day, d.seen]),
          [
            ['2026-11-22', 1],
            ['2026-11-23', 1],
          ],
        );
      },
      { timeZone: 'America/Chicago' },
    ));
});

describe('/api/orders by MRN, FHIR', () => {
  it("finds the orders of a transaction Bundle whose ServiceRequests name the patient by urn:uuid, by the Patient's identifier", () =>
    withTestServer(async (s) => {
      const r = await s.fetch('/fhir', { method: 'POST', body: bundleOfTwoServiceRequests(), headers: { 'content-type': 'application/fhir+json' } });
      assert.equal(r.status, 422);
      assert.deepEqual(await orders(s, '?mrn=MRN0001'), [
        [['ACC2001', 'ORD1001'], 'reported', '', '11/02/2026 09:30:15'],
        [['ACC2002', 'ORD1002'], 'held', 'error', null],
      ]);
      assert.deepEqual(await orders(s, '?mrn=MRN0002'), []);
    }));
});
