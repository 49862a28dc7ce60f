// The NRDR CDSR error-code catalogue (docs/cdsr-spec.md §5) as data, and the filling of its message
// templates. Texts are kept exactly as NRDR words them (double spaces and quote marks included)
// so that a local problem reads the same as the registry's Error_Msg.

export interface CdCodeEntry {
  /** The code as NRDR sends it, e.g. "CD3060". */
  readonly code: string;
  /** NRDR's internal name for it, e.g. "DateInvalidFormat". */
  readonly name: string;
  /** The message template: `{0}`, `{1}` or `<name>` mark the places that are filled. */
  readonly template: string;
}

// The spec prints CD2062 with a Cyrillic "С" (U+0421); NRDR's real code is surely the Latin one,
// and Error_Msg parsing folds the Cyrillic letter back (see error-msg.ts).
const CATALOGUE = [
  ['CD0000', 'TransactionReceived', 'Transaction is loaded successfully'],
  ['CD0001', 'TransactionPending', 'Transaction has been received and is pending for validation'],
  ['CD0002', 'TransactionLoading', 'Validation has been completed, pending for loading to database'],
  ['CD0003', 'TransactionLoadedPartially', 'Transaction was partially loaded.  Some elements did not pass validation and were rejected.'],
  ['CD0004', 'TransactionRejected', 'The entire transaction was rejected due to failure in validation'],
  ['CD0005', 'TransactionReplaced', 'This transaction has been replaced with another transaction'],
  ['CD1003', 'DataDoesNotMatchSchema', 'Unable to import data submitted.  Data does not match schema'],
  ['CD1004', 'DataIsEmpty', 'Unable to import data submitted.  Data is empty or null'],
  ['CD1005', 'OtherDataError', 'Error importing data <exception message>'],
  ['CD1010', 'UserNotAuthorized', 'User account is not authorized to submit data to CDSR for the facility ID'],
  [
    'CD1012',
    'PartnerNotAuthorizedForFacilityApplication',
    'Partner <Partner ID> is not authorized to submit data for facility <facility ID> and/or application <application>',
  ],
  ['CD2001', 'TransactionIdMissing', 'Missing Transaction_ID'],
  ['CD2002', 'TransactionIdInvalid', 'Invalid Transaction_ID. Maximum length is 50 characters'],
  ['CD2011', 'TransactionDateTimeMissing', 'Missing Transaction_DateTime'],
  ['CD2012', 'TransactionDateTimeInvalidFormat', 'Transaction_DateTime is not a valid date time format'],
  ['CD2013', 'TransactionDateTimeFuture', 'Transaction_DateTime is a future date'],
  ['CD2014', 'TransactionIdMustBeUnique', 'Transaction_ID must be unique. <transaction_id> has been submitted in a previous transaction'],
  ['CD2023', 'NumOfEncountersIncludedMissing', 'Missing Num_of_Encounters_Included'],
  ['CD2024', 'NumOfEncountersIncludedInvalidFormat', 'Num_of_Encounters_Included is not an integer'],
  ['CD2031', 'PartnerIdMissing', 'Missing PartnerID'],
  ['CD2032', 'PartnerIdInvalid', 'Invalid PartnerID'],
  ['CD2041', 'AppIdMissing', 'Missing AppID'],
  ['CD2042', 'AppIdInvalid', 'Invalid AppID'],
  ['CD2051', 'FacilityIdMissing', 'Missing Facility_ID'],
  ['CD2052', 'FacilityIdInvalid', 'Invalid Facility_ID'],
  ['CD2053', 'FacilityNotRegistered', 'Facility has not registered for CDSR.  Submission aborted'],
  ['CD2054', 'FacilityNotAccepted', 'Facility has not been accepted to CDSR.  Submission aborted'],
  ['CD2062', 'FacilityNotAccessible', 'Invalid FacilityID. User has no access permission to the registry of the facility.'],
  ['CD2070', 'EncountersMissing', 'Missing encounter object information'],
  ['CD2074', 'EncountersIncludedNumberIncorrect', 'Num_of_Encounters_Included {0} does not match with encounters records received {1}'],
  ['CD2075', 'ConsultationsMissing', 'Missing consultations object information'],
  ['CD2080', 'EncountersPartiallyRejected', 'Some of the encounters did not pass validation and were rejected'],
  ['CD2090', 'HasUnknownFieldsInvalid', 'Transaction has unknown element(s): <unknown_elements_list>'],
  ['CD2091', 'HasForbiddenSymbolInFieldsInvalid', 'Forbidden symbol \u2018|\u2019 in field(s): <fields_names>'],
  ['CD3000', 'FieldsCountInvalid', 'Invalid record. {0} entries expected. {1} read.'],
  ['CD3001', 'FieldMissing', 'Invalid. Required field is missing {0}'],
  ['CD3002', 'FieldNotApplicableInvalid', 'Invalid. {0} is only applicable, if {1} is {2}. Otherwise, should be blank'],
  ['CD3004', 'FieldNotApplicableReportedInvalid', 'Invalid. {0} is only applicable, if {1} is reported. Otherwise, should be blank'],
  ['CD3005', 'FieldRequiredInvalid', 'Invalid. {0} is required, if {1} is {2}'],
  ['CD3006', 'FieldRequiredNotReportedInvalid', 'Invalid. {0} is required, if {1} is not reported'],
  ['CD3007', 'FieldRequiredReportedInvalid', 'Invalid. {0} is required, if {1} is reported'],
  ['CD3020', 'FieldFormatInvalid', 'Invalid {0} format'],
  ['CD3030', 'UniqueWithinArrayInvalid', 'Invalid {0}. Values should be unique within array'],
  ['CD3031', 'MaximumArrayLengthInvalid', 'Invalid {0}. Maximum array length is {1} elements'],
  ['CD2102', 'VersionNumberInvalid', 'Invalid file version number'],
  ['CD3041', 'VersionNumberNotSupported', 'Version number is not supported'],
  ['CD3042', 'VersionNumberMissing', 'Invalid. Missing version number'],
  ['CD3060', 'DateInvalidFormat', 'Invalid {0} format. Valid format is mm/dd/yyyy or m/d/yyyy'],
  ['CD3061', 'TimeInvalidFormat', 'Invalid {0} format. Valid format is hh:mi:ss in military format'],
  ['CD3110', 'CharacterLengthInvalid', 'Invalid {0}. Maximum character length is {1} character(s)'],
  ['CD3111', 'NumericFieldInvalid', 'Invalid {0}. Field must contain only the characters 0-9'],
  ['CD3120', 'SelectionFieldInvalid', 'Invalid {0}. Values {1} expected'],
  ['CD3130', 'DateInvalid', 'Invalid {0}. Date must be greater than 1/1/2000 and less than or equal to the current date'],
  [
    'CD3240',
    'OptionsCannotBeSelectedInvalid',
    "Invalid. For {0} invalid options selected. If 'Unknown' option selected, then no other options can be selected",
  ],
  [
    'CD3300',
    'SeparatorsCountInvalid',
    'Invalid. "Clinical scenario codes" and "Clinical scenario descriptions\u201d fields must have the same number of separators (i.e. commas)',
  ],
] as const;

/** Every code of the catalogue, as a union type. */
export type CdCode = (typeof CATALOGUE)[number][0];

export const CD_CODES: ReadonlyMap<CdCode, CdCodeEntry> = new Map(CATALOGUE.map(([code, name, template]) => [code, { code, name, template }]));

export function isCdCode(code: string): code is CdCode {
  return CD_CODES.has(code as CdCode);
}

const PLACEHOLDER = /\{(\d+)\}|<[^>]+>/g;

/**
 * Fills a catalogue template: `{n}` takes args[n]; each `<name>` takes the next argument in
 * order of appearance (the catalogue never mixes the two styles in one message).
 */
export function fillTemplate(template: string, args: readonly string[]): string {
  let next = 0;
  return template.replace(PLACEHOLDER, (whole, index: string | undefined) => {
    const arg = index !== undefined ? args[Number(index)] : args[next++];
    return arg ?? whole;
  });
}

/** The message NRDR gives for `code` with its placeholders filled. */
export function cdMessage(code: CdCode, ...args: string[]): string {
  const entry = CD_CODES.get(code);
  if (!entry) throw new Error(`unknown CD code ${code}`);
  return fillTemplate(entry.template, args);
}
