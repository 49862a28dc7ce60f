// The sandbox's table of CDSR 1.0 data elements, taken from the spec's JSON schema (§3.1) and its
// POST example (§4.3.1), for the sandbox's own checks (check.ts). It is written apart from the
// adapter's field table on purpose: where the two read the spec differently, the differential
// test shows it. What a column rests on:
// - `type`, `required`: the schema's "type" and "required".
// - `form`: how the value is read. `date` and `time` are the forms the messages CD3060 / CD3061
//   name; `code` / `codes` are the coded elements (the spec: "most of the values ... are mapped to
//   numeric or alpha-numeric codes"), `codes` holding a comma list as the example's
//   Health_Insurance "1,2,3,4,5,6,7"; `text` is anything else.
// - `numeric`: coded elements whose example value and numbered codes are digits only (CD3111).
// - `list`: the name of the list of allowed codes (CD3120), given to the sandbox as data
//   (`valueLists`); the lists themselves are ACR's workbook, not the spec.
// - `otherOf` / `otherCode`: an *_Other_Spec element and the element it details (CD3002); the
//   "Other" code where the example shows one (88 with a filled *_Other_Spec).
// - `maxLength`: only where the spec gives one (CD2002: Transaction_ID, 50).

export type ElementForm = 'text' | 'date' | 'time' | 'code' | 'codes' | 'count' | 'version' | 'records';

export interface SpecElement {
  readonly name: string;
  readonly type: 'string' | 'number' | 'array';
  readonly required: boolean;
  readonly form: ElementForm;
  readonly numeric?: boolean;
  readonly list?: string;
  readonly otherOf?: string;
  readonly otherCode?: string;
  readonly maxLength?: number;
}

const text = (name: string, required = false): SpecElement => ({ name, type: 'string', required, form: 'text' });
const coded = (name: string, list: string, extra: Partial<SpecElement> = {}): SpecElement => ({
  name,
  type: 'string',
  required: false,
  form: 'code',
  list,
  ...extra,
});
const other = (name: string, of: string): SpecElement => ({ name, type: 'string', required: false, form: 'text', otherOf: of });

/** The transaction's own members, in the schema's order. */
export const TRANSACTION_ELEMENTS: readonly SpecElement[] = [
  { name: 'Transaction_ID', type: 'string', required: true, form: 'text', maxLength: 50 },
  { name: 'Transaction_DateTime', type: 'string', required: true, form: 'text' },
  { name: 'Num_of_Encounters_Included', type: 'number', required: true, form: 'count' },
  text('Facility_ID', true),
  text('PartnerID', true),
  text('AppID', true),
  { name: 'CDSR_File_Version_Num', type: 'string', required: true, form: 'version' },
  { name: 'Encounters', type: 'array', required: true, form: 'records' },
];

export const ENCOUNTER_ELEMENTS: readonly SpecElement[] = [
  text('Unique_Encounter_ID', true),
  coded('Patient_Sex', 'Patient_Sex'),
  { name: 'Health_Insurance', type: 'string', required: false, form: 'codes', numeric: true, list: 'Health_Insurance' },
  other('Health_Insurance_Other_Spec', 'Health_Insurance'),
  text('Clinical_Scenario_Codes'),
  text('Clinical_Scenario_Descriptions'),
  { name: 'Consultations', type: 'array', required: true, form: 'records' },
];

const clinician = (n: 1 | 2): SpecElement[] => [
  text(`Clinician${n}_Unique_ID`),
  coded(`Clinician${n}_Role`, 'Clinician_Role', { numeric: true, otherCode: '88' }),
  other(`Clinician${n}_Role_Other_Spec`, `Clinician${n}_Role`),
  text(`Clinician${n}_First_Name`),
  text(`Clinician${n}_Last_Name`),
  coded(`Clinician${n}_Training`, 'Clinician_Training', { numeric: true, otherCode: '88' }),
  other(`Clinician${n}_Training_Other_Spec`, `Clinician${n}_Training`),
  coded(`Clinician${n}_Medical_Specialty_Code`, 'Medical_Specialty'),
];

export const CONSULTATION_ELEMENTS: readonly SpecElement[] = [
  { name: 'CDS_Consultation_Date', type: 'string', required: true, form: 'date' },
  { name: 'CDS_Consultation_Time', type: 'string', required: true, form: 'time' },
  coded('Place_of_Service', 'Place_of_Service', { required: true, numeric: true }),
  coded('Guideline_Steward', 'Guideline_Steward', { numeric: true }),
  other('Guideline_Steward_Other_Spec', 'Guideline_Steward'),
  coded('Modality', 'Modality', { required: true, numeric: true, otherCode: '88' }),
  other('Modality_Other_Spec', 'Modality'),
  text('Name_of_Exam_Ordered', true),
  coded('Ordered_Exam_Completed', 'Ordered_Exam_Completed', { required: true, numeric: true }),
  { name: 'Exam_Completion_Date', type: 'string', required: false, form: 'date' },
  coded('Appropriateness_Category', 'Appropriateness_Category', { numeric: true }),
  other('Appropriateness_Category_Other_Spec', 'Appropriateness_Category'),
  coded('CDS_Vendor', 'CDS_Vendor', { required: true }),
  other('CDS_Vendor_Other_Spec', 'CDS_Vendor'),
  coded('Medicare_Modifier', 'Medicare_Modifier'),
  ...clinician(1),
  ...clinician(2),
];

/** The "missing" message of each of the transaction's own members (§5). */
export const MISSING_CODES = {
  Transaction_ID: 'CD2001',
  Transaction_DateTime: 'CD2011',
  Num_of_Encounters_Included: 'CD2023',
  Facility_ID: 'CD2051',
  PartnerID: 'CD2031',
  AppID: 'CD2041',
  CDSR_File_Version_Num: 'CD3042',
  Encounters: 'CD2070',
} as const;

/** The one file version this spec describes. */
export const SPEC_FILE_VERSION = '1.0';

/** The statuses of §3.3.1, and those after which nothing more happens. */
export const SPEC_STATUSES = ['Enqueued', 'Received', 'ValidationFail', 'ValidationSuccessful', 'Loading', 'Posted', 'PartiallySuccessful', 'Failed'] as const;
export type SpecStatus = (typeof SPEC_STATUSES)[number];
