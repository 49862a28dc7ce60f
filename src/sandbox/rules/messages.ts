// The sandbox's copy of the spec's list of validation messages (§5), typed from the spec for the
// sandbox alone: it shares nothing with the adapter's catalogue, so a slip in either one shows as
// a difference (messages.test.ts compares them). The texts are the wire protocol and are kept
// letter for letter, double spaces and quote marks included; `{0}`, `{1}` and `<...>` are filled
// in order. The spec prints CD2062 with a Cyrillic first letter: the sandbox sends the Latin one.

export const SPEC_MESSAGES = {
  CD0000: 'Transaction is loaded successfully',
  CD0001: 'Transaction has been received and is pending for validation',
  CD0002: 'Validation has been completed, pending for loading to database',
  CD0003: 'Transaction was partially loaded.  Some elements did not pass validation and were rejected.',
  CD0004: 'The entire transaction was rejected due to failure in validation',
  CD0005: 'This transaction has been replaced with another transaction',
  CD1003: 'Unable to import data submitted.  Data does not match schema',
  CD1004: 'Unable to import data submitted.  Data is empty or null',
  CD1005: 'Error importing data <exception message>',
  CD1010: 'User account is not authorized to submit data to CDSR for the facility ID',
  CD1012: 'Partner <Partner ID> is not authorized to submit data for facility <facility ID> and/or application <application>',
  CD2001: 'Missing Transaction_ID',
  CD2002: 'Invalid Transaction_ID. Maximum length is 50 characters',
  CD2011: 'Missing Transaction_DateTime',
  CD2012: 'Transaction_DateTime is not a valid date time format',
  CD2013: 'Transaction_DateTime is a future date',
  CD2014: 'Transaction_ID must be unique. <transaction_id> has been submitted in a previous transaction',
  CD2023: 'Missing Num_of_Encounters_Included',
  CD2024: 'Num_of_Encounters_Included is not an integer',
  CD2031: 'Missing PartnerID',
  CD2032: 'Invalid PartnerID',
  CD2041: 'Missing AppID',
  CD2042: 'Invalid AppID',
  CD2051: 'Missing Facility_ID',
  CD2052: 'Invalid Facility_ID',
  CD2053: 'Facility has not registered for CDSR.  Submission aborted',
  CD2054: 'Facility has not been accepted to CDSR.  Submission aborted',
  CD2062: 'Invalid FacilityID. User has no access permission to the registry of the facility.',
  CD2070: 'Missing encounter object information',
  CD2074: 'Num_of_Encounters_Included {0} does not match with encounters records received {1}',
  CD2075: 'Missing consultations object information',
  CD2080: 'Some of the encounters did not pass validation and were rejected',
  CD2090: 'Transaction has unknown element(s): <unknown_elements_list>',
  CD2091: 'Forbidden symbol \u2018|\u2019 in field(s): <fields_names>',
  CD3000: 'Invalid record. {0} entries expected. {1} read.',
  CD3001: 'Invalid. Required field is missing {0}',
  CD3002: 'Invalid. {0} is only applicable, if {1} is {2}. Otherwise, should be blank',
  CD3004: 'Invalid. {0} is only applicable, if {1} is reported. Otherwise, should be blank',
  CD3005: 'Invalid. {0} is required, if {1} is {2}',
  CD3006: 'Invalid. {0} is required, if {1} is not reported',
  CD3007: 'Invalid. {0} is required, if {1} is reported',
  CD3020: 'Invalid {0} format',
  CD3030: 'Invalid {0}. Values should be unique within array',
  CD3031: 'Invalid {0}. Maximum array length is {1} elements',
  CD2102: 'Invalid file version number',
  CD3041: 'Version number is not supported',
  CD3042: 'Invalid. Missing version number',
  CD3060: 'Invalid {0} format. Valid format is mm/dd/yyyy or m/d/yyyy',
  CD3061: 'Invalid {0} format. Valid format is hh:mi:ss in military format',
  CD3110: 'Invalid {0}. Maximum character length is {1} character(s)',
  CD3111: 'Invalid {0}. Field must contain only the characters 0-9',
  CD3120: 'Invalid {0}. Values {1} expected',
  CD3130: 'Invalid {0}. Date must be greater than 1/1/2000 and less than or equal to the current date',
  CD3240: "Invalid. For {0} invalid options selected. If 'Unknown' option selected, then no other options can be selected",
  CD3300: 'Invalid. "Clinical scenario codes" and "Clinical scenario descriptions\u201d fields must have the same number of separators (i.e. commas)',
} as const;

export type SpecCode = keyof typeof SPEC_MESSAGES;

/** The message of `code` with its places filled by `args`, in order. */
export function specMessage(code: SpecCode, ...args: readonly string[]): string {
  let i = 0;
  return SPEC_MESSAGES[code].replace(/\{\d+\}|<[^>]+>/g, (place) => args[i++] ?? place);
}

/** Error_Msg as the spec writes it: `code:message` pairs joined by `|`. */
export function errorMsg(items: readonly { readonly code: string; readonly message: string }[]): string {
  return items.map((m) => `${m.code}:${m.message}`).join('|');
}
