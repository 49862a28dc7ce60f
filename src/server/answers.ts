// The schemas of the operations API's answers (the shapes of store rows as the API gives them),
// declared once for the routes and the OpenAPI document.
import { arr, bool, dict, int, nullable, obj, str, anyValue, type JsonSchema } from './schema.js';

export const PROBLEM: JsonSchema = obj(
  {
    code: str('CD code or local code (MAP_UNMAPPED_CODE…)'),
    message: str('NRDR message text, or ours'),
    severity: str('error or warning'),
    scope: str('transaction, encounter, consultation or file'),
    path: str('path in the transaction JSON'),
    field: str('the CDSR field'),
    source: str('HL7 path or FHIRPath of the source value'),
    value: str('the source value (an unmapped code)'),
    input: str('the message or file'),
    file: str('table file'),
    line: int('1-based line'),
    order: obj(
      { place: int('its place among the message’s orders, 1 = the first'), numbers: arr(str('placer or filler number')) },
      'in a message of several orders (OBRs): the order the problem belongs to',
    ),
  },
  'a problem',
  ['code', 'message', 'severity'],
);

const FIELDS = dict(obj({ value: str('the value'), source: str('message id, rule, path, crosswalk row') }), 'CDSR field → value with its provenance');

const EXCLUSION = obj(
  { rule: str('the table rule (mappings/hl7v2.yaml:73)'), crosswalk: str('the crosswalk row that says exclude'), raw: str('the source value it read') },
  'why an order is excluded: known, not advanced imaging',
);

export const RECORD_SUMMARY: JsonSchema = obj({
  encounterKey: str('facility|encounter'),
  facilityId: str('Facility_ID'),
  encounterId: str('Unique_Encounter_ID'),
  consultationKey: str('CDS_Consultation_Date CDS_Consultation_Time'),
  state: str('incomplete, invalid, ready, submitted, accepted, rejected, needs-review, cancelled'),
  missing: arr(str('a required CDSR field')),
});

export const CONSULTATION_ROW: JsonSchema = obj({
  consultationKey: str('date time'),
  keySource: str('where the key came from: cds (the CDS data), fallback (a later source of the key rules: the order start, its transaction time), unknown'),
  keyRank: nullable(int("its place among the key rules' sources, 0 = first; null = unknown")),
  state: str('record state'),
  missing: arr(str('field')),
  problems: arr(PROBLEM),
  nrdrProblems: arr(PROBLEM, 'what NRDR said about the record: its codes when rejected or needing review, warnings of a Posted answer when accepted'),
  fields: FIELDS,
  cancelled: bool('withheld: cancelled, or excluded by a crosswalk row'),
  exclusion: EXCLUSION,
  transactionId: str('the last transaction that carried it'),
  lastSent: obj(
    {
      transactionId: str('that transaction'),
      consultationKey: str('the key it was sent under (differs when re-keyed since)'),
      values: dict(str('value as sent')),
    },
    "what that transaction carried for it (the wire values, flat), to compare with today's; absent when never sent or the transaction is gone",
  ),
  history: arr(
    obj({ at: str('ISO time'), from: str('state before'), to: str('state after'), who: str('the key by role and position'), why: str('reason') }),
    'state changes made by hand (resubmit)',
  ),
});

export const RECORD_VIEW: JsonSchema = obj({
  encounterKey: str('facility|encounter'),
  facilityId: str('Facility_ID'),
  encounterId: str('Unique_Encounter_ID'),
  partnerId: str('Partner_ID'),
  fields: FIELDS,
  consultationDefaults: FIELDS,
  consultations: arr(CONSULTATION_ROW),
});

export const MESSAGE_ROW: JsonSchema = obj({
  id: int('message id'),
  receivedAt: str('ISO time'),
  channel: str('hl7v2 or fhir'),
  sender: str('MSH-3^MSH-4 or the subscription'),
  controlId: str('MSH-10 or resource type/id/version'),
  contentType: str('as received'),
  auth: str('the credential (send#N) or listener'),
  hash: str('content hash'),
  status: str('applied, error, ignored, rejected, duplicate, pending'),
  problems: arr(PROBLEM),
});

export const TX_SUMMARY_PROPS: Record<string, JsonSchema> = {
  transactionId: str('Transaction_ID'),
  profile: nullable(str('the connection profile it was sent under (test, production, sandbox); null: not yet named')),
  facilityId: str('Facility_ID'),
  status: str('created, posted, done, failed, review'),
  nrdrStatus: nullable(str("NRDR's status")),
  encounters: int('encounters'),
  consultations: int('consultations'),
  accepted: int('records accepted'),
  rejected: int('records rejected'),
  attempts: int('POST attempts'),
  lastError: nullable(str('the last error')),
  errorMsg: nullable(anyValue("NRDR's Error_Msg")),
  createdAt: str('ISO time'),
  updatedAt: str('ISO time'),
};
export const TX_SUMMARY: JsonSchema = obj(TX_SUMMARY_PROPS);

export const ORDER_ROW: JsonSchema = obj({
  id: int('order id'),
  facilityId: str('Facility_ID'),
  encounterId: str('Unique_Encounter_ID'),
  orderNumbers: arr(str('placer, filler/accession')),
  consultationKey: nullable(str('date time')),
  state: str('reported, held, excluded'),
  reason: str('why held or excluded (not-advanced-imaging: a crosswalk row excludes it, see exclusion)'),
  problems: arr(PROBLEM),
  missing: arr(obj({ field: str('CDSR field'), tried: arr(anyValue('a rule and its paths')) })),
  messageIds: arr(int('message id')),
  exclusion: EXCLUSION,
  firstSeen: str('ISO time'),
  lastSeen: str('ISO time'),
});

export const RECONCILIATION_ROW: JsonSchema = obj({
  facilityId: str('Facility_ID'),
  day: str("YYYY-MM-DD in the facility's time zone: the day the orders arrived, or (by=ordered) their CDS_Consultation_Date"),
  seen: int('orders of that day'),
  byArrival: int('by=ordered only: of seen, orders in no record yet (no consultation date), counted by the day they arrived'),
  reported: int('reported'),
  held: dict(int('count'), 'held, by reason'),
  excluded: dict(int('count'), 'excluded, by rule'),
});
