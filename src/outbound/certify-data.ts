// The transactions `cdsr-adapter certify` sends to ACR's test environment: generated here, never
// read from the store, so no patient's data can reach the test environment. Two must be accepted
// (Posted); three are crafted so that the registry itself refuses them with a known CD code, each
// on a condition a synthetic record can meet whatever ACR's value lists hold.
import { formatTransactionDateTime } from '../cdsr/batch.js';
import type { Consultation, Transaction } from '../cdsr/schema.js';

/** The CD codes certify draws from the registry, each with the condition that draws it. */
export const CERTIFY_ERROR_CODES = {
  CD2013: 'Transaction_DateTime 30 days in the future',
  CD3130: 'CDS_Consultation_Date 30 days in the future',
  CD3120: 'Modality 987, a code outside the Modality list',
} as const;
export type CertifyErrorCode = keyof typeof CERTIFY_ERROR_CODES;

/** One generated transaction and what NRDR must answer to it. */
export interface CertifyTransaction {
  /** `accepted`: must be Posted; `error`: must be refused with `expectedCode`. */
  readonly purpose: 'accepted' | 'error';
  readonly expectedCode?: CertifyErrorCode;
  /** What was crafted, in words (the report shows it). */
  readonly condition: string;
  readonly body: Transaction;
}

export interface CertifyDataOptions {
  readonly runId: string;
  readonly now: Date;
  readonly facilityId: string;
  readonly partnerId: string;
  readonly appId: string;
  /** The zone Transaction_DateTime is written in (the site's, as the adapter writes it). */
  readonly timeZone: string;
}

const DAY_MS = 86_400_000;

/** `mm/dd/yyyy` of the UTC calendar day of `d`. */
function cdsDate(d: Date): string {
  return `${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/${d.getUTCFullYear()}`;
}

/**
 * A consultation with the values of the spec's own example (Place_of_Service 99, Modality 88 with
 * its _Other_Spec, Ordered_Exam_Completed 4, CDS_Vendor G1014) and nothing about a person: no
 * sex, insurance, clinician or clinical scenario.
 */
function consultation(date: Date, overrides: Partial<Consultation> = {}): Consultation {
  return {
    CDS_Consultation_Date: cdsDate(date),
    CDS_Consultation_Time: '09:30:00',
    Place_of_Service: '99',
    Modality: '88',
    Modality_Other_Spec: 'certification test',
    Name_of_Exam_Ordered: 'CERTIFICATION TEST EXAM (SYNTHETIC)',
    Ordered_Exam_Completed: '4',
    Exam_Completion_Date: cdsDate(date),
    CDS_Vendor: 'G1014',
    ...overrides,
  };
}

/** The five transactions of a certification run: ids `<runId>-A1`, `-A2`, `-CD2013`, `-CD3130`, `-CD3120`. */
export function certifyTransactions(o: CertifyDataOptions): CertifyTransaction[] {
  // two days back: a past day in every zone, so never "future" however NRDR reads "today"
  const past = new Date(o.now.getTime() - 2 * DAY_MS);
  const future = new Date(o.now.getTime() + 30 * DAY_MS);
  const tx = (suffix: string, consultations: Consultation[], at: Date = o.now): Transaction => ({
    Transaction_ID: `${o.runId}-${suffix}`,
    Transaction_DateTime: formatTransactionDateTime(at, o.timeZone),
    Num_of_Encounters_Included: 1,
    Facility_ID: o.facilityId,
    PartnerID: o.partnerId,
    AppID: o.appId,
    CDSR_File_Version_Num: '1.0',
    Encounters: [{ Unique_Encounter_ID: `${o.runId}-${suffix}-ENC`, Consultations: consultations }],
  });
  const { Modality_Other_Spec: _omitted, ...withoutOtherSpec } = consultation(past, { Modality: '987' });
  return [
    { purpose: 'accepted', condition: 'a complete synthetic order, one consultation', body: tx('A1', [consultation(past)]) },
    {
      purpose: 'accepted',
      condition: 'a complete synthetic order, two consultations',
      body: tx('A2', [consultation(past), consultation(past, { CDS_Consultation_Time: '10:45:00' })]),
    },
    { purpose: 'error', expectedCode: 'CD2013', condition: CERTIFY_ERROR_CODES.CD2013, body: tx('CD2013', [consultation(past)], future) },
    {
      purpose: 'error',
      expectedCode: 'CD3130',
      condition: CERTIFY_ERROR_CODES.CD3130,
      body: tx('CD3130', [consultation(future, { Exam_Completion_Date: cdsDate(past) })]),
    },
    { purpose: 'error', expectedCode: 'CD3120', condition: CERTIFY_ERROR_CODES.CD3120, body: tx('CD3120', [withoutOtherSpec]) },
  ];
}
