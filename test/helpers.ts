// Shared test fixtures: paths, a fixed clock, the fixture value sets and valid CDSR records to
// corrupt one field at a time.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Consultation, Encounter, Transaction } from '../src/cdsr/schema.js';
import { loadValueSets, type ValueSetCatalog } from '../src/cdsr/valuesets.js';
import { PACKAGE_ROOT } from '../src/paths.js';

export const REPO_ROOT = PACKAGE_ROOT;
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
export const FIXTURE_VALUESETS = join(FIXTURES, 'valuesets');
/** The clock of every test that needs one. */
export const NOW = new Date('2026-06-15T12:00:00Z');

export function fixtureValueSets(): ValueSetCatalog {
  const { catalog, problems } = loadValueSets(FIXTURE_VALUESETS);
  if (problems.length > 0) throw new Error(`fixture value sets are broken: ${JSON.stringify(problems)}`);
  return catalog;
}

export function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8')) as unknown;
}

export function validConsultation(overrides: Partial<Record<keyof Consultation, unknown>> = {}): Record<string, unknown> {
  const c: Consultation = {
    CDS_Consultation_Date: '03/03/2022',
    CDS_Consultation_Time: '15:08:33',
    Place_of_Service: '22',
    Guideline_Steward: '1',
    Modality: '1',
    Name_of_Exam_Ordered: 'CT head without contrast',
    Ordered_Exam_Completed: '4',
    Exam_Completion_Date: '03/04/2022',
    Appropriateness_Category: '1',
    CDS_Vendor: 'G1014',
    Medicare_Modifier: 'ME',
    Clinician1_Unique_ID: '1234567893',
    Clinician1_Role: '1',
    Clinician1_First_Name: 'Ann',
    Clinician1_Last_Name: 'Order',
    Clinician1_Training: '1',
    Clinician1_Medical_Specialty_Code: '30',
  };
  return { ...c, ...overrides };
}

export function validEncounter(
  overrides: Partial<Record<keyof Encounter, unknown>> = {},
  consultations: Record<string, unknown>[] = [validConsultation()],
): Record<string, unknown> {
  return {
    Unique_Encounter_ID: 'V1001',
    Patient_Sex: 'F',
    Health_Insurance: '1,2',
    Clinical_Scenario_Codes: 'R51.9,G44.1',
    Clinical_Scenario_Descriptions: 'Headache; unspecified,Vascular headache',
    Consultations: consultations,
    ...overrides,
  };
}

export function validTransaction(
  overrides: Partial<Record<keyof Transaction, unknown>> = {},
  encounters: Record<string, unknown>[] = [validEncounter()],
): Record<string, unknown> {
  return {
    Transaction_ID: 'tx-0001',
    Transaction_DateTime: '2026-06-15T08:00:00',
    Num_of_Encounters_Included: encounters.length,
    Facility_ID: '100000',
    PartnerID: '10000',
    AppID: '10019',
    CDSR_File_Version_Num: '1.0',
    Encounters: encounters,
    ...overrides,
  };
}

/** Resolves once `url` answers at all (a process just started); throws after `tries` × 50 ms. */
export async function waitForUrl(url: string, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${url} did not come up`);
}

/** A transaction of facility 100000 (partner 10000, app 10019) carrying `encounters`, as the store tests create them. */
export function transactionFor(id: string, encounters: Transaction['Encounters'], dateTime = '2026-11-23T06:00:00'): Transaction {
  return {
    Transaction_ID: id,
    Transaction_DateTime: dateTime,
    Num_of_Encounters_Included: encounters.length,
    Facility_ID: '100000',
    PartnerID: '10000',
    AppID: '10019',
    CDSR_File_Version_Num: '1.0',
    Encounters: encounters,
  };
}
