// More public material (test/fixtures/public/README.md says where each file came from) through the
// shipped tables, one message at a time: the exact disposition, problem codes and the keys and
// values of what maps. src/server/public-feeds.int.test.ts feeds the same files to a running
// adapter.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResourcePool, type FhirResource } from '../fhir/intake.js';
import { loadMappings, type MappingTables } from './load.js';
import { mapFhirResource } from './map-fhir.js';
import { mapHl7Text } from './map-hl7.js';
import { splitMessages } from './split.js';
import type { MapOutcome } from './outcome.js';
import { REPO_ROOT } from '../../test/helpers.js';

const PUBLIC = join(REPO_ROOT, 'test', 'fixtures', 'public');
const text = (name: string) => readFileSync(join(PUBLIC, name), 'utf8');
const json = (name: string) => JSON.parse(text(name)) as FhirResource;
// a single-site install: CDSR_DEFAULT_FACILITY_ID, none of these senders is in facilities.csv
const opts = { defaultFacilityId: '100000' };
let tables: MappingTables;

/** Disposition, the distinct problem codes, and per record: encounter, order numbers, Modality, Place_of_Service. */
const summary = (o: MapOutcome) => [
  o.disposition,
  [...new Set(o.problems.map((p) => p.code))].join(','),
  (o.disposition === 'mapped' ? o.records : []).map((r) => [
    r.encounterId,
    (r.orderNumbers ?? []).join(' '),
    r.consultationFields.Modality ?? null,
    r.consultationFields.Place_of_Service ?? null,
  ]),
];

before(() => {
  tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
});

describe('public HL7 v2 feeds through the shipped tables', () => {
  const cases: [string, ReturnType<typeof summary>][] = [
    // newborn screening ORU (CDC trusted-intermediary): one ORC, 20 OBRs, no order number, no visit number
    ['cdc-ti-CA-002_ORU_R01.hl7', ['error', 'MAP_NO_ENCOUNTER,MAP_NO_ORDER,MAP_UNMAPPED_CODE', []]],
    // ORC|CA of an Epic lab order never seen (local code, PID-8 "SEX"): a cancel needs only the order's
    // numbers, so the unmapped sex is a warning and the cancel is kept for its order
    ['cdc-ti-Epic-001_ORM_O01.hl7', ['mapped', 'MAP_UNMAPPED_CODE', [['CSN/VISIT', '968906415', null, null]]]],
    // two OBRs with the same OBR-1, sharing their ORC's numbers: each its own order, by its place
    ['cdc-ti-MN-003_ORM_O01_NBS.hl7', ['error', 'MAP_ORDER_DERIVED,MAP_NO_ENCOUNTER,MAP_UNMAPPED_CODE', []]],
    // OMI^O23 (dcm4che test data): Modality from IPC-5 CT, PV1-2 E → 23
    [
      'dcm4che-OMI-O23-ImagingOrder.hl7',
      ['mapped', '', [['AdmissionIDFromVisitNo', 'PlacerOrderNumberImagingServiceRequest FillerOrderNumberImagingServiceRequest', '1', '23']]],
    ],
    ['dcm4che-ORU-R01-SR.hl7', ['error', 'MAP_UNMAPPED_CODE', []]],
    // lab ORM v2.3 (BOM, LF): OBR-24 HM is a known, excluded section; PV1-2 I → 21
    ['fhir-converter-LAB-ORM-1.hl7', ['mapped', 'MAP_EXCLUDED', [['40007716', '88502218 82503246', null, '21']]]],
    // lab ORU, two OBRs and no ORC: LOINC panels are not in procedure_modality.csv
    ['fhir-converter-LAB-ORU-1.hl7', ['error', 'MAP_UNMAPPED_CODE', []]],
    // two ORCs (CT Head, MR Brain, both LOINC): the MR's 24590-2 has no row, so the whole message waits
    ['fhir-converter-ORM-O01-03.hl7', ['error', 'MAP_UNMAPPED_CODE', []]],
    // an ORC with no OBR (04), with RQD (05), with RXO (06): keyed by the ORC, nothing for Modality
    ['fhir-converter-ORM-O01-04.hl7', ['mapped', '', [['5001', '1101 1201', null, '22']]]],
    ['fhir-converter-ORM-O01-05.hl7', ['mapped', '', [['5001', 'RQ101 986', null, '22']]]],
    ['fhir-converter-ORM-O01-06.hl7', ['mapped', '', [['5001', '1163422591', null, '22']]]],
    ['fhir-converter-ORU-R01-RMGEAD.hl7', ['error', 'MAP_UNMAPPED_CODE', []]],
    // imaging ORU (LinuxForHealth): no ORC, Modality from OBR-24 CT, PV1-2 I → 21
    ['lfh-ORU-multiline-short.hl7', ['mapped', '', [['Visit_0d70c6c8', 'PON_0d70c6c8 FON_0d70c6c8', '1', '21']]]],
    // MSH-2 "^~\\&" (the backslash doubled): refused
    ['lfh-sample_unix.hl7', ['invalid', 'HL7_INVALID', []]],
    // a batch (FHS/BHS) is no single message
    ['node-hl7-client-batch.hl7', ['invalid', 'HL7_INVALID', []]],
  ];
  for (const [file, want] of cases) {
    it(`${file}: ${String(want[0])}${want[1] ? ` (${String(want[1])})` : ''}`, () => {
      assert.deepEqual(summary(mapHl7Text(text(file), tables, opts)), want);
    });
  }

  it('the exact problems of the Epic cancel and of the MR Brain order', () => {
    const epic = mapHl7Text(text('cdc-ti-Epic-001_ORM_O01.hl7'), tables, opts);
    assert.deepEqual(
      epic.problems.map((p) => [p.code, p.severity, p.field, p.source]),
      [['MAP_UNMAPPED_CODE', 'warning', 'Patient_Sex', 'PID-8']],
    );
    assert.match(epic.problems[0]!.message, / \(not needed: the order is cancelled\)$/);
    const mr = mapHl7Text(text('fhir-converter-ORM-O01-03.hl7'), tables, opts);
    assert.equal(mr.disposition, 'error');
    assert.deepEqual(
      mr.problems.map((p) => [p.code, p.field, p.source]),
      [['MAP_UNMAPPED_CODE', 'Modality', 'OBR-4.1']],
    );
    assert.match(
      mr.problems[0]!.message,
      /^Modality: no row for "24590-2" \(system "LN"\) in .*crosswalks\/procedure_modality\.csv; add a row: 24590-2,<ACR code>$/,
    );
    // both orders are named, so a replay after the fix brings both in
    assert.ok(mr.disposition === 'error');
    assert.deepEqual(
      mr.orders?.map((o) => o.numbers),
      [
        ['1101', '1201'],
        ['2203', '2301'],
      ],
    );
  });

  it('TX 002: 13 OBRs that all repeat the ORC numbers are 13 orders (ORC number + OBR-1), each excluded by OBR-24 LAB', () => {
    const o = mapHl7Text(text('cdc-ti-TX-002_ORU_R01.hl7'), tables, opts);
    assert.ok(o.disposition === 'mapped');
    assert.deepEqual(
      o.records.map((r) => (r.orderNumbers ?? []).join(' ')),
      Array.from({ length: 13 }, (_, i) => `123456:${i + 1} 20192024001:${i + 1}`),
    );
    assert.deepEqual(
      o.problems.filter((p) => p.code === 'MAP_ORDER_DERIVED').map((p) => p.value),
      ['123456', '20192024001'],
    );
    assert.deepEqual([...new Set(o.records.map((r) => r.excluded?.raw))], ['LAB']);
    assert.deepEqual(o.records[0]!.consultationFields.Name_of_Exam_Ordered, 'Newborn Screening report summary panel');
  });

  it('the batch splits into its two messages (ADT^A01, RSP^K11), neither an order', () => {
    const r = splitMessages(text('node-hl7-client-batch.hl7'));
    assert.deepEqual(
      [r.container, r.messages.map((m) => [m.index, m.line, m.kind]), r.problems],
      [
        'hl7-batch',
        [
          [1, 3, 'hl7'],
          [2, 13, 'hl7'],
        ],
        [],
      ],
    );
    assert.deepEqual(
      r.messages.map((m) => summary(mapHl7Text(m.text, tables, opts))),
      [
        ['unsupported', 'MAP_UNSUPPORTED', []],
        ['unsupported', 'MAP_UNSUPPORTED', []],
      ],
    );
  });
});

describe('public FHIR material through the shipped tables', () => {
  /** The Bundle's resources in a pool, as intake puts them. */
  const pooled = (file: string) => {
    const b = json(file) as unknown as { entry: { resource: FhirResource }[] };
    const pool = new ResourcePool();
    for (const e of b.entry) pool.add(e.resource);
    return { pool, resources: b.entry.map((e) => e.resource) };
  };

  it('FHIR-Converter ORM-O01-01 bundle (R4 batch): the ServiceRequest maps as the HL7 it came from: 1101 in visit 5001, CT Head → 1, AMB → 22', () => {
    const { pool, resources } = pooled('fhir-converter-ORM-O01-01-expected.json');
    const sr = resources.find((r) => r.resourceType === 'ServiceRequest')!;
    const o = mapFhirResource(sr, pool, tables, opts);
    assert.ok(o.disposition === 'mapped', JSON.stringify(o.problems));
    const r = o.records[0]!;
    assert.deepEqual(
      [
        r.facilityId,
        r.encounterId,
        r.orderNumbers,
        r.consultationFields.Modality,
        r.consultationFields.Place_of_Service,
        r.consultationFields.CDS_Consultation_Date,
      ],
      ['100000', '5001', ['1101', '1201'], '1', '22', '10/20/2021'],
    );
  });

  it('FHIR-Converter ORM-O01-03 bundle: the MR Brain ServiceRequest is held for LOINC 24590-2', () => {
    const { pool, resources } = pooled('fhir-converter-ORM-O01-03-expected.json');
    const outcomes = resources.filter((r) => r.resourceType === 'ServiceRequest').map((sr) => summary(mapFhirResource(sr, pool, tables, opts)));
    assert.deepEqual(outcomes, [
      ['mapped', '', [['5001', '1101 1201', '1', '22']]],
      ['error', 'MAP_UNMAPPED_CODE', []],
    ]);
  });

  it('the R5 notification (derived JSON of the spec example): its Encounter, class VR → 02, keyed by its id', () => {
    const { pool, resources } = pooled('hl7-fhir-notification-full-resource.derived.json');
    const enc = resources.find((r) => r.resourceType === 'Encounter')!;
    assert.deepEqual(summary(mapFhirResource(enc, pool, tables, opts)), ['mapped', '', [['Encounter/2', '', null, '02']]]);
  });

  it('an R5 Encounter: Place_of_Service 12 from class[0].coding HH', () => {
    assert.deepEqual(summary(mapFhirResource(json('fhir-r5-encounter-example-home.derived.json'), new ResourcePool(), tables, opts)), [
      'mapped',
      '',
      [['Encounter/home-r5', '', null, '12']],
    ]);
  });

  it('a ServiceRequest with neither identifier nor id: an error naming the missing order key, never keyed "ServiceRequest/"', () => {
    const pool = new ResourcePool();
    pool.add(json('fhir-stu3-encounter-example-home.json'));
    const o = mapFhirResource(json('fhir-r4-servicerequest-example-di.no-id.derived.json'), pool, tables, opts);
    assert.ok(o.disposition === 'error');
    assert.deepEqual(
      o.problems.map((p) => p.code),
      ['MAP_NO_ORDER'],
    );
    assert.deepEqual(
      o.orders?.map((x) => x.numbers),
      [[]],
    );
  });

  it('CDS_Vendor G9999: an error on CDS_Vendor', () => {
    const pool = new ResourcePool();
    pool.add(json('fhir-stu3-encounter-example-home.json'));
    const o = mapFhirResource(json('fhir-r4-servicerequest-example-di.g9999.derived.json'), pool, tables, opts);
    assert.ok(o.disposition === 'error');
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.severity, p.field, p.value]),
      [['MAP_NOT_IN_VALUESET', 'error', 'CDS_Vendor', 'G9999']],
    );
    assert.deepEqual(
      o.orders?.map((x) => x.numbers),
      [['ServiceRequest/di-g9999']],
    );
  });
});
