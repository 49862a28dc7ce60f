// Every public input of test/fixtures/public (README.md there says where each came from) fed to a
// running adapter, HL7 over MLLP (two over HTTP) and FHIR over HTTP, in one fixed order: the exact
// answer to each, then the order ledger and the reconciliation. Nothing on the project wrote these
// messages; several reuse each other's order numbers (FHIR-Converter's samples all say 1101/1201,
// 986), so later messages update earlier orders, as they would on a real feed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, SERVER_NOW, type TestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { startMllp } from './mllp.js';

const PUBLIC = join(REPO_ROOT, 'test', 'fixtures', 'public');
const FACILITY = '100000';

type Via = 'mllp' | 'http' | 'fhir';
/** The feed, in order: the transport and the file. */
const FEED: readonly (readonly [Via, string])[] = [
  ['mllp', 'cdc-ti-CA-002_ORU_R01.hl7'],
  ['mllp', 'cdc-ti-Epic-001_ORM_O01.hl7'],
  ['mllp', 'cdc-ti-MN-003_ORM_O01_NBS.hl7'],
  ['mllp', 'cdc-ti-TX-002_ORU_R01.hl7'],
  ['mllp', 'dcm4che-OMI-O23-ImagingOrder.hl7'],
  ['mllp', 'dcm4che-ORU-R01-SR.hl7'],
  ['mllp', 'fhir-converter-ADT-A01-01.hl7'],
  ['mllp', 'fhir-converter-LAB-ORM-1.hl7'],
  ['mllp', 'fhir-converter-LAB-ORU-1.hl7'],
  ['mllp', 'fhir-converter-ORM-O01-01.hl7'],
  ['mllp', 'fhir-converter-ORM-O01-02.hl7'],
  ['mllp', 'fhir-converter-ORM-O01-03.hl7'],
  ['mllp', 'fhir-converter-ORM-O01-04.hl7'],
  ['mllp', 'fhir-converter-ORM-O01-05.hl7'],
  ['mllp', 'fhir-converter-ORM-O01-06.hl7'],
  ['mllp', 'fhir-converter-ORU-R01-01.hl7'],
  ['mllp', 'fhir-converter-ORU-R01-RMGEAD.hl7'],
  ['mllp', 'lfh-ORU-multiline-short.hl7'],
  ['mllp', 'lfh-sample_unix.hl7'],
  ['http', 'node-hl7-client-batch.hl7'],
  // the same message again, over the other transport: a resend
  ['http', 'fhir-converter-ORM-O01-01.hl7'],
  ['fhir', 'fhir-converter-ORM-O01-01-expected.json'],
  ['fhir', 'fhir-converter-ORM-O01-03-expected.json'],
  ['fhir', 'fhir-r4-servicerequest-example-di.json'],
  ['fhir', 'fhir-stu3-encounter-example-home.json'],
  ['fhir', 'fhir-r4-encounter-example-f201.json'],
  ['fhir', 'fhir-r5-encounter-example-home.derived.json'],
  ['fhir', 'fhir-r4-servicerequest-example-di.no-id.derived.json'],
  ['fhir', 'fhir-r4-servicerequest-example-di.g9999.derived.json'],
  ['fhir', 'hl7-fhir-notification-full-resource.derived.json'],
  ['fhir', 'hl7-fhir-subscriptionstatus-example.derived.json'],
];

interface Answer {
  readonly file: string;
  readonly via: Via;
  readonly httpStatus: number;
  /** MSA-1 and MSA-2 of an ACK; the OperationOutcome's first diagnostics for FHIR. */
  readonly code: string;
  readonly ref: string;
  /** The error codes of the ACK's ERR segments (ERR-8 up to the colon), or the OperationOutcome's. */
  readonly problems: string[];
}

interface MessageRow {
  id: number;
  channel: string;
  controlId: string;
  status: string;
  problems: { code: string; field?: string }[];
}
interface OrderRow {
  id: number;
  facilityId: string;
  encounterId: string;
  orderNumbers: string[];
  consultationKey: string | null;
  state: string;
  reason: string;
  problems: { code: string }[];
  missing: { field: string }[];
  messageIds: number[];
}
interface ReconRow {
  facilityId: string;
  day: string;
  seen: number;
  reported: number;
  held: Record<string, number>;
  excluded: Record<string, number>;
}

function mllpAck(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    sock.on('error', reject);
    sock.on('data', (c: Buffer) => {
      got += c.toString('utf8');
      if (got.includes('\x1c\r')) {
        sock.end();
        resolve(got);
      }
    });
    sock.write(`\x0b${text}\x1c\r`);
  });
}

function readAck(file: string, via: Via, httpStatus: number, ack: string): Answer {
  // eslint-disable-next-line no-control-regex -- the MLLP frame bytes
  const lines = ack.replace(/[\x0b\x1c]/g, '').split('\r');
  const msa = (lines.find((l) => l.startsWith('MSA|')) ?? '').split('|');
  const problems = lines.filter((l) => l.startsWith('ERR|')).map((l) => (l.split('|')[8] ?? '').split(':')[0]!);
  return { file, via, httpStatus, code: msa[1] ?? '', ref: msa[2] ?? '', problems };
}

async function feed(s: TestServer, port: number): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (const [via, file] of FEED) {
    const body = readFileSync(join(PUBLIC, file), 'utf8');
    if (via === 'mllp') answers.push(readAck(file, via, 0, await mllpAck(port, body)));
    else if (via === 'http') {
      const r = await s.fetch('/hl7v2', { method: 'POST', body, headers: { 'content-type': 'application/hl7-v2' } });
      answers.push(readAck(file, via, r.status, await r.text()));
    } else {
      const r = await s.fetch('/fhir', { method: 'POST', body, headers: { 'content-type': 'application/fhir+json' } });
      const oo = (await r.json()) as { issue: { diagnostics?: string }[] };
      answers.push({
        file,
        via,
        httpStatus: r.status,
        code: oo.issue[0]?.diagnostics ?? '',
        ref: '',
        problems: oo.issue.slice(1).map((i) => (i.diagnostics ?? '').split(':')[0]!),
      });
    }
  }
  return answers;
}

describe('public feeds through a running adapter', () => {
  let s: TestServer;
  let mllp: Server;
  let answers: Answer[];
  let messages: MessageRow[];
  let orders: OrderRow[];
  let days: ReconRow[];
  const answer = (file: string, via?: Via) => answers.find((a) => a.file === file && (via === undefined || a.via === via))!;
  const ordersWith = (n: string) => orders.filter((o) => o.orderNumbers.includes(n));

  before(async () => {
    // one facility, as a single-site install sets CDSR_DEFAULT_FACILITY_ID: none of these senders is in facilities.csv
    s = await startTestServer({ defaultFacilityId: FACILITY });
    mllp = await startMllp(
      { store: s.store, mappings: s.mappings, clock: () => SERVER_NOW, defaultFacilityId: FACILITY },
      { port: 0, host: '127.0.0.1', allow: [], maxFrameBytes: 1024 * 1024, idleMs: 60_000, maxConnections: 10 },
      { info: () => undefined, warn: () => undefined },
    );
    answers = await feed(s, (mllp.address() as AddressInfo).port);
    messages = ((await (await s.fetch('/api/messages?limit=500')).json()) as { messages: MessageRow[] }).messages.sort((a, b) => a.id - b.id);
    orders = ((await (await s.fetch('/api/orders?limit=500')).json()) as { orders: OrderRow[] }).orders.sort((a, b) => a.id - b.id);
    days = ((await (await s.fetch('/api/reconciliation')).json()) as { days: ReconRow[] }).days;
    if (process.env.DUMP) {
      for (const a of answers) console.log('A', JSON.stringify([a.file, a.via, a.httpStatus, a.code, a.ref, [...new Set(a.problems)].join(',')]));
      for (const m of messages)
        console.log('M', JSON.stringify([m.id, m.channel, m.controlId, m.status, [...new Set(m.problems.map((p) => p.code))].join(',')]));
      for (const o of orders)
        console.log(
          'O',
          JSON.stringify([
            o.encounterId,
            [...o.orderNumbers].sort().join(' '),
            o.consultationKey,
            o.state,
            o.reason,
            o.missing.map((m) => m.field).join(','),
            o.messageIds.join(','),
          ]),
        );
    }
  });
  after(async () => {
    await new Promise<void>((ok) => mllp.close(() => ok()));
    await s.close();
  });

  it('each input gets its exact answer: the ACK (MSA-1, MSA-2, ERR codes) or the HTTP status and FHIR summary; no 5xx', () => {
    assert.ok(answers.every((a) => a.httpStatus < 500));
    const hl7 = answers
      .filter((a) => a.via !== 'fhir')
      .map((a) => [a.file, a.via === 'http' ? a.httpStatus : 'mllp', a.code, a.ref, [...new Set(a.problems)].join(',')]);
    assert.deepEqual(hl7, [
      ['cdc-ti-CA-002_ORU_R01.hl7', 'mllp', 'AE', '220220550', 'MAP_NO_ENCOUNTER,MAP_NO_ORDER,MAP_UNMAPPED_CODE'],
      // a cancel of an order never seen needs only its numbers: its unmapped sex does not refuse it
      ['cdc-ti-Epic-001_ORM_O01.hl7', 'mllp', 'AA', '550162', ''],
      ['cdc-ti-MN-003_ORM_O01_NBS.hl7', 'mllp', 'AE', '31808297', 'MAP_ORDER_DERIVED,MAP_NO_ENCOUNTER,MAP_UNMAPPED_CODE'],
      ['cdc-ti-TX-002_ORU_R01.hl7', 'mllp', 'AA', 'DSHS123456789012345', ''],
      ['dcm4che-OMI-O23-ImagingOrder.hl7', 'mllp', 'AA', '1001125', ''],
      ['dcm4che-ORU-R01-SR.hl7', 'mllp', 'AE', '1001129', 'MAP_UNMAPPED_CODE'],
      ['fhir-converter-ADT-A01-01.hl7', 'mllp', 'AR', 'MSG00001', 'MAP_UNSUPPORTED'],
      ['fhir-converter-LAB-ORM-1.hl7', 'mllp', 'AA', 'MSGID20060307110114', ''],
      ['fhir-converter-LAB-ORU-1.hl7', 'mllp', 'AE', '182', 'MAP_UNMAPPED_CODE'],
      ['fhir-converter-ORM-O01-01.hl7', 'mllp', 'AA', 'MSG00018', ''],
      ['fhir-converter-ORM-O01-02.hl7', 'mllp', 'AE', 'MSG00019', 'MAP_UNMAPPED_CODE'],
      ['fhir-converter-ORM-O01-03.hl7', 'mllp', 'AE', 'MSG00018', 'MAP_UNMAPPED_CODE'],
      ['fhir-converter-ORM-O01-04.hl7', 'mllp', 'AA', 'MSG00018', ''],
      ['fhir-converter-ORM-O01-05.hl7', 'mllp', 'AA', 'MSG00018', ''],
      ['fhir-converter-ORM-O01-06.hl7', 'mllp', 'AA', 'MSG00018', ''],
      ['fhir-converter-ORU-R01-01.hl7', 'mllp', 'AA', '2.16.840.1.114222.4.3.3.5.1.2-20120314235954.325', ''],
      ['fhir-converter-ORU-R01-RMGEAD.hl7', 'mllp', 'AE', 'CNTRL-3456', 'MAP_UNMAPPED_CODE'],
      ['lfh-ORU-multiline-short.hl7', 'mllp', 'AA', 'MSGID00231', ''],
      // MSH-2 refused, MSH-10 read by splitting the header: Mirth can match the AR
      ['lfh-sample_unix.hl7', 'mllp', 'AR', '102', 'HL7_INVALID'],
      ['node-hl7-client-batch.hl7', 200, 'AR', '', 'HL7_INVALID'],
      ['fhir-converter-ORM-O01-01.hl7', 200, 'AA', 'MSG00018', ''],
    ]);
    const fhir = answers.filter((a) => a.via === 'fhir').map((a) => [a.file, a.httpStatus, a.code, a.problems.join(',')]);
    assert.deepEqual(fhir, [
      ['fhir-converter-ORM-O01-01-expected.json', 200, '2 resource(s) applied, 0 kept in the error queue, 0 pending fetch', ''],
      ['fhir-converter-ORM-O01-03-expected.json', 422, '2 resource(s) applied, 1 kept in the error queue, 0 pending fetch', 'MAP_UNMAPPED_CODE'],
      ['fhir-r4-servicerequest-example-di.json', 422, '0 resource(s) applied, 1 kept in the error queue, 0 pending fetch', 'MAP_NO_ENCOUNTER'],
      ['fhir-stu3-encounter-example-home.json', 200, '1 resource(s) applied, 0 kept in the error queue, 0 pending fetch', ''],
      ['fhir-r4-encounter-example-f201.json', 200, '1 resource(s) applied, 0 kept in the error queue, 0 pending fetch', ''],
      ['fhir-r5-encounter-example-home.derived.json', 200, '1 resource(s) applied, 0 kept in the error queue, 0 pending fetch', ''],
      ['fhir-r4-servicerequest-example-di.no-id.derived.json', 422, '0 resource(s) applied, 1 kept in the error queue, 0 pending fetch', 'MAP_NO_ORDER'],
      ['fhir-r4-servicerequest-example-di.g9999.derived.json', 422, '0 resource(s) applied, 1 kept in the error queue, 0 pending fetch', 'MAP_NOT_IN_VALUESET'],
      ['hl7-fhir-notification-full-resource.derived.json', 200, '1 resource(s) applied, 0 kept in the error queue, 0 pending fetch', ''],
      ['hl7-fhir-subscriptionstatus-example.derived.json', 200, '0 resource(s) applied, 0 kept in the error queue, 0 pending fetch', 'FHIR_NO_CHANGE'],
    ]);
  });

  it('each message is kept once with its one status and problem codes', () => {
    assert.deepEqual(
      messages.map((m) => [m.id, m.channel, m.controlId, m.status, [...new Set(m.problems.map((p) => p.code))].join(',')]),
      [
        [1, 'hl7v2', '220220550', 'error', 'MAP_NO_ENCOUNTER,MAP_NO_ORDER,MAP_UNMAPPED_CODE'],
        [2, 'hl7v2', '550162', 'applied', 'MAP_UNMAPPED_CODE'],
        [3, 'hl7v2', '31808297', 'error', 'MAP_ORDER_DERIVED,MAP_NO_ENCOUNTER,MAP_UNMAPPED_CODE'],
        [4, 'hl7v2', 'DSHS123456789012345', 'applied', 'MAP_ORDER_DERIVED,MAP_EXCLUDED'],
        [5, 'hl7v2', '1001125', 'applied', ''],
        [6, 'hl7v2', '1001129', 'error', 'MAP_UNMAPPED_CODE'],
        [7, 'hl7v2', 'MSG00001', 'ignored', 'MAP_UNSUPPORTED'],
        [8, 'hl7v2', 'MSGID20060307110114', 'applied', 'MAP_EXCLUDED'],
        [9, 'hl7v2', '182', 'error', 'MAP_UNMAPPED_CODE'],
        [10, 'hl7v2', 'MSG00018', 'applied', ''],
        [11, 'hl7v2', 'MSG00019', 'error', 'MAP_UNMAPPED_CODE'],
        [12, 'hl7v2', 'MSG00018', 'error', 'MAP_UNMAPPED_CODE'],
        [13, 'hl7v2', 'MSG00018', 'applied', ''],
        [14, 'hl7v2', 'MSG00018', 'applied', ''],
        [15, 'hl7v2', 'MSG00018', 'applied', ''],
        [16, 'hl7v2', '2.16.840.1.114222.4.3.3.5.1.2-20120314235954.325', 'applied', 'MAP_EXCLUDED'],
        [17, 'hl7v2', 'CNTRL-3456', 'error', 'MAP_UNMAPPED_CODE'],
        [18, 'hl7v2', 'MSGID00231', 'applied', ''],
        [19, 'hl7v2', '102', 'rejected', 'HL7_INVALID'],
        [20, 'hl7v2', '', 'rejected', 'HL7_INVALID'],
        [21, 'hl7v2', 'MSG00018', 'duplicate', ''],
        [22, 'fhir', 'Encounter/da6f322f-ef5e-4f2c-c1f8-6e38dffbf995/_history/', 'applied', ''],
        [23, 'fhir', 'ServiceRequest/593d8946-c0ad-b912-332a-2993c02ccae5/_history/', 'applied', ''],
        // FHIR-Converter made both bundles from messages with the same visit: the same Encounter again
        [24, 'fhir', 'Encounter/da6f322f-ef5e-4f2c-c1f8-6e38dffbf995/_history/', 'duplicate', ''],
        [25, 'fhir', 'ServiceRequest/593d8946-c0ad-b912-332a-2993c02ccae5/_history/', 'applied', ''],
        [26, 'fhir', 'ServiceRequest/2a774e77-46ab-f8d2-779a-6dd77c938ed7/_history/', 'error', 'MAP_UNMAPPED_CODE'],
        [27, 'fhir', 'ServiceRequest/di/_history/', 'error', 'MAP_NO_ENCOUNTER'],
        [28, 'fhir', 'Encounter/home/_history/', 'applied', ''],
        [29, 'fhir', 'Encounter/f201/_history/', 'applied', ''],
        [30, 'fhir', 'Encounter/home-r5/_history/', 'applied', ''],
        [31, 'fhir', 'ServiceRequest//_history/', 'error', 'MAP_NO_ORDER'],
        [32, 'fhir', 'ServiceRequest/di-g9999/_history/', 'error', 'MAP_NOT_IN_VALUESET'],
        [33, 'fhir', 'Encounter/2/_history/2019-08-07T10:49:22Z', 'applied', ''],
        // the bare SubscriptionStatus: nothing to apply, and a row that says so
        [34, 'fhir', 'event-notification:2026-11-23T06:00:00.000Z', 'ignored', 'FHIR_NO_CHANGE'],
      ],
    );
  });

  it('the order ledger: every order with its numbers, state, reason and what is missing', () => {
    const rows = orders.map((o) => [
      o.encounterId,
      [...o.orderNumbers].sort().join(' '),
      o.consultationKey,
      o.state,
      o.reason,
      o.missing.map((m) => m.field).join(','),
      o.messageIds.join(','),
    ]);
    // the newborn-screening ORU: one ORC and 20 OBRs, no order number anywhere and no visit: 20 orders kept with the message's problems
    assert.deepEqual(
      rows.slice(0, 20),
      Array.from({ length: 20 }, () => ['', '', null, 'held', 'error', '', '1']),
    );
    assert.deepEqual(
      orders.slice(0, 20).map((o) => [...new Set(o.problems.map((p) => p.code))].join(',')),
      Array.from({ length: 20 }, () => 'MAP_NO_ENCOUNTER,MAP_NO_ORDER,MAP_UNMAPPED_CODE'),
    );
    assert.deepEqual(rows.slice(20), [
      // the cancel of an order never seen: kept for the order, should it come
      ['CSN/VISIT', '968906415', null, 'held', 'cancel_unmatched', '', '2'],
      // two OBRs with one OBR-1 under one ORC: two orders, by their place
      ['', '421832901:1', null, 'held', 'error', '', '3'],
      ['', '421832901:2', null, 'held', 'error', '', '3'],
      // 13 OBRs that all repeat the ORC's numbers: 13 orders (number and OBR-1), results with no order before them
      ...Array.from({ length: 13 }, (_, i) => ['ABCD1234', `123456:${i + 1} 20192024001:${i + 1}`, null, 'held', 'orphan', '', '4']),
      // the OMI and the ORU of the same request; no AUC data in public messages: incomplete, CDS_Vendor missing
      [
        'AdmissionIDFromVisitNo',
        'FillerOrderNumberImagingServiceRequest PlacerOrderNumberImagingServiceRequest',
        '08/16/2000 15:10:00',
        'held',
        'incomplete',
        'CDS_Vendor',
        '5,6',
      ],
      ['40007716', '82503246 88502218', '10/06/2014 06:44:00', 'excluded', 'not-advanced-imaging', '', '8,9'],
      ['40007716', '855238581 890775544', null, 'held', 'error', '', '9'],
      // FHIR-Converter's samples reuse 1101/1201 and 986: later messages (and the FHIR bundles made from them) land on the same orders
      ['5001', '1101 1201', '10/20/2021 14:41:00', 'held', 'incomplete', 'CDS_Vendor', '10,11,12,13,23,25'],
      ['5001', '2203 2301', null, 'held', 'error', '', '12,26'],
      ['5001', '1045813 845439 986 RQ101', '10/10/2120 17:00:00', 'held', 'incomplete', 'Modality,Name_of_Exam_Ordered,CDS_Vendor', '14,16,17'],
      ['5001', '1163422591', '11/04/2019 06:27:26', 'held', 'incomplete', 'Modality,Name_of_Exam_Ordered,Ordered_Exam_Completed,CDS_Vendor', '15'],
      ['Visit_0d70c6c8', 'FON_0d70c6c8 PON_0d70c6c8', null, 'held', 'orphan', '', '18'],
      ['', 'ServiceRequest/di', null, 'held', 'error', '', '27'],
      // a ServiceRequest with neither identifier nor id: held without a number, never keyed "ServiceRequest/"
      ['Encounter/home', '', null, 'held', 'error', '', '31'],
      // G9999 is outside ACR's CDS_Vendor set: held in the error queue, never reported
      ['Encounter/home', 'ServiceRequest/di-g9999', null, 'held', 'error', '', '32'],
    ]);
  });

  it('the reconciliation adds up: every order once in one state, seen = reported + held + excluded', () => {
    assert.deepEqual(days, [
      {
        facilityId: FACILITY,
        day: '2026-11-23',
        seen: 47,
        reported: 0,
        held: { cancel_unmatched: 1, error: 27, incomplete: 4, orphan: 14 },
        excluded: { 'not-advanced-imaging': 1 },
      },
    ]);
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    for (const d of days) assert.equal(d.seen, d.reported + sum(d.held) + sum(d.excluded), `${d.facilityId} ${d.day}`);
    assert.equal(
      days.reduce((a, d) => a + d.seen, 0),
      orders.length,
    );
    const states = new Map<string, number>([
      ['reported', 0],
      ['held', 0],
      ['excluded', 0],
    ]);
    for (const o of orders) states.set(o.state, (states.get(o.state) ?? 0) + 1);
    const d = days[0]!;
    assert.deepEqual(Object.fromEntries(states), { reported: d.reported, held: sum(d.held), excluded: sum(d.excluded) });
  });

  it('every AA and every 2xx left a trace: a ledger order naming the message, or a problem on the message', async () => {
    const accepted = messages.filter((m) => m.status === 'applied' || m.status === 'duplicate');
    const silent = accepted.filter((m) => m.problems.length === 0 && !orders.some((o) => o.messageIds.includes(m.id)));
    // no order, no problem: a resend (answered as the first delivery) and Encounters, which leave an encounter record
    assert.deepEqual(
      silent.map((m) => [m.id, m.status, m.controlId]),
      [
        [21, 'duplicate', 'MSG00018'],
        [22, 'applied', 'Encounter/da6f322f-ef5e-4f2c-c1f8-6e38dffbf995/_history/'],
        [24, 'duplicate', 'Encounter/da6f322f-ef5e-4f2c-c1f8-6e38dffbf995/_history/'],
        [28, 'applied', 'Encounter/home/_history/'],
        [29, 'applied', 'Encounter/f201/_history/'],
        [30, 'applied', 'Encounter/home-r5/_history/'],
        [33, 'applied', 'Encounter/2/_history/2019-08-07T10:49:22Z'],
      ],
    );
    assert.equal(messages.find((m) => m.controlId === 'MSG00018' && m.status === 'applied')?.id, 10);
    for (const key of ['5001', 'Encounter/home', 'Encounter_Roel_20130404', 'Encounter/home-r5', 'Encounter/2']) {
      const r = await s.store.record(`${FACILITY}|${key}`);
      assert.equal(r?.encounterId, key, key);
    }
  });

  it('the values that map: Modality 1 from IPC-5 CT (OMI^O23), Place_of_Service 23 from PV1-2 E, 12 from v3 HH, 02 from v3 VR (R5 notification)', async () => {
    const omi = await s.store.record(`${FACILITY}|AdmissionIDFromVisitNo`);
    const c = omi!.consultations[0]!;
    assert.deepEqual(
      [
        c.consultationKey,
        ...['Modality', 'Place_of_Service', 'Name_of_Exam_Ordered', 'Ordered_Exam_Completed'].map((f) => (c.fields[f] ?? omi!.consultationDefaults[f])?.value),
      ],
      ['08/16/2000 15:10:00', '1', '23', 'Microscopic Observation', '2'],
    );
    const home = await s.store.record(`${FACILITY}|Encounter/home`);
    assert.equal(home!.consultationDefaults.Place_of_Service?.value, '12');
    const virtual = await s.store.record(`${FACILITY}|Encounter/2`);
    assert.equal(virtual!.consultationDefaults.Place_of_Service?.value, '02');
  });

  // ---- issue 20: each case of the issue, on public material

  it('an ORC|CA of an order never seen, with an unmapped code (Epic 001): AA, kept as cancel_unmatched', () => {
    assert.deepEqual([answer('cdc-ti-Epic-001_ORM_O01.hl7').code, answer('cdc-ti-Epic-001_ORM_O01.hl7').ref], ['AA', '550162']);
    assert.deepEqual(
      ordersWith('968906415').map((o) => o.reason),
      ['cancel_unmatched'],
    );
  });

  it('13 OBRs under one ORC that only repeat its placer number (TX 002): 13 orders, not one', () => {
    assert.equal(orders.filter((o) => o.encounterId === 'ABCD1234').length, 13);
  });

  it('a ServiceRequest with no identifier and no id: held with a named problem, never keyed "ServiceRequest/"', () => {
    const a = answer('fhir-r4-servicerequest-example-di.no-id.derived.json');
    assert.equal(a.httpStatus, 422);
    assert.equal(ordersWith('ServiceRequest/').length, 0);
    assert.equal(messages[30]!.status, 'error');
  });

  it('G9999 as CDS_Vendor: refused (422), not reported', () => {
    assert.equal(answer('fhir-r4-servicerequest-example-di.g9999.derived.json').httpStatus, 422);
    assert.notEqual(ordersWith('ServiceRequest/di-g9999')[0]?.state, 'reported');
  });

  it('an R5 Encounter (class is a list of CodeableConcepts): Place_of_Service 12 from HH', async () => {
    const r = await s.store.record(`${FACILITY}|Encounter/home-r5`);
    assert.equal(r?.consultationDefaults.Place_of_Service?.value, '12');
  });

  it('a bare SubscriptionStatus leaves a message row', () => {
    const row = messages.find((m) => m.id === 34);
    assert.deepEqual([row?.channel, row?.status, row?.problems.map((p) => p.code)], ['fhir', 'ignored', ['FHIR_NO_CHANGE']]);
  });

  it('an HL7 message whose MSH-2 is refused (LinuxForHealth sample_unix, MSH-2 ^~\\\\&): the AR echoes MSH-10', () => {
    assert.deepEqual([answer('lfh-sample_unix.hl7').code, answer('lfh-sample_unix.hl7').ref], ['AR', '102']);
  });
});
