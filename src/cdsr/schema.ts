// CDSR 1.0 wire model (docs/cdsr-spec.md §3.1, §3.3, §3.4) as zod schemas: the single source of the
// TypeScript types of a transaction, its encounters and consultations, NRDR's transaction
// status and its web-service error body. Field names keep the spec's spelling.
import { z } from 'zod';

const req = z.string();
const opt = z.string().optional();

export const ConsultationSchema = z.strictObject({
  CDS_Consultation_Date: req,
  CDS_Consultation_Time: req,
  Place_of_Service: req,
  Guideline_Steward: opt,
  Guideline_Steward_Other_Spec: opt,
  Modality: req,
  Modality_Other_Spec: opt,
  Name_of_Exam_Ordered: req,
  Ordered_Exam_Completed: req,
  Exam_Completion_Date: opt,
  Appropriateness_Category: opt,
  Appropriateness_Category_Other_Spec: opt,
  CDS_Vendor: req,
  CDS_Vendor_Other_Spec: opt,
  Medicare_Modifier: opt,
  Clinician1_Unique_ID: opt,
  Clinician1_Role: opt,
  Clinician1_Role_Other_Spec: opt,
  Clinician1_First_Name: opt,
  Clinician1_Last_Name: opt,
  Clinician1_Training: opt,
  Clinician1_Training_Other_Spec: opt,
  Clinician1_Medical_Specialty_Code: opt,
  Clinician2_Unique_ID: opt,
  Clinician2_Role: opt,
  Clinician2_Role_Other_Spec: opt,
  Clinician2_First_Name: opt,
  Clinician2_Last_Name: opt,
  Clinician2_Training: opt,
  Clinician2_Training_Other_Spec: opt,
  Clinician2_Medical_Specialty_Code: opt,
});
export type Consultation = z.infer<typeof ConsultationSchema>;

export const EncounterSchema = z.strictObject({
  Unique_Encounter_ID: req,
  Patient_Sex: opt,
  Health_Insurance: opt,
  Health_Insurance_Other_Spec: opt,
  Clinical_Scenario_Codes: opt,
  Clinical_Scenario_Descriptions: opt,
  Consultations: z.array(ConsultationSchema).min(1),
});
export type Encounter = z.infer<typeof EncounterSchema>;

export const TransactionSchema = z.strictObject({
  Transaction_ID: req.max(50),
  Transaction_DateTime: req,
  Num_of_Encounters_Included: z.number().int().nonnegative(),
  Facility_ID: req,
  PartnerID: req,
  AppID: req,
  CDSR_File_Version_Num: z.literal('1.0'),
  Encounters: z.array(EncounterSchema).min(1),
});
export type Transaction = z.infer<typeof TransactionSchema>;

/** Field names per level, in the spec's order (derived from the schemas, never retyped). */
export const TRANSACTION_FIELDS = Object.keys(TransactionSchema.shape) as (keyof Transaction)[];
export const ENCOUNTER_FIELDS = Object.keys(EncounterSchema.shape) as (keyof Encounter)[];
export const CONSULTATION_FIELDS = Object.keys(ConsultationSchema.shape) as (keyof Consultation)[];

/** Transaction statuses of docs/cdsr-spec.md §3.3.1. */
export const TRANSACTION_STATUSES = [
  'Enqueued',
  'Received',
  'ValidationFail',
  'ValidationSuccessful',
  'Loading',
  'Posted',
  'PartiallySuccessful',
  'Failed',
] as const;
export type TransactionStatusName = (typeof TRANSACTION_STATUSES)[number];

/** Statuses after which NRDR does nothing more with a transaction. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set<TransactionStatusName>(['ValidationFail', 'Posted', 'PartiallySuccessful', 'Failed']);

// NRDR's own example answers numbers for PartnerID/AppID although the schema says string, so the
// status schema takes either and hands strings on.
const idString = z.union([z.string(), z.number()]).transform((v) => String(v));

export const ExamErrorSchema = z.object({
  Exam_Unique_ID: z.string().nullish(),
  Error_Msg: z.string(),
});

export const TransactionStatusSchema = z.object({
  Transaction_ID: idString,
  Transaction_DateTime: z.string(),
  Num_of_Exam_Included: z.number(),
  Num_of_Exam_In_Error: z.number(),
  PartnerID: idString,
  AppID: idString,
  Facility_ID: idString,
  // a status NRDR may add later is kept as sent (it is not final: polling goes on, bounded)
  Status: z.string(),
  Error_Msg: z.string().nullish(),
  // NRDR may send null for "no errors"
  Exam_Errors: z
    .array(ExamErrorSchema)
    .nullish()
    .transform((v) => v ?? []),
});
export type TransactionStatus = z.infer<typeof TransactionStatusSchema>;

/** Error codes of non-200 answers (docs/cdsr-spec.md §4.2–§4.4). */
export const WEB_SERVICE_ERROR_CODES = ['invalid_token', 'missing_token', 'data_error', 'no_permission', 'missing_param', 'invalid_param'] as const;

export const WebServiceErrorSchema = z.object({
  error_code: z.string(),
  error_description: z.string(),
});
export type WebServiceError = z.infer<typeof WebServiceErrorSchema>;
