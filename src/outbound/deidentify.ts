// De-identification for the test profile: ACR's test environment takes only test data or data
// made anonymous, so under `test` every transaction leaves through this step. Each field of the
// CDSR record has one treatment (the tables below, exhaustive over the schema: a field added to
// the schema does not compile until it is given one); docs/operations.md "De-identification under
// `test`" gives the same table with the reasons.
//
// Identifiers become pseudonyms: an HMAC-SHA256 under a per-install key of the field and the value
// (the encounter's with its facility), written in the field's form (digits), so the same encounter
// gets the same pseudonym in every transaction and its updates merge at the registry. Names become
// letters drawn the same way. Free text becomes a fixed value. The facility is the profile's test
// facility. Dates and times are kept (see the docs).
//
// Only this step makes a DeidentifiedTransaction, and it seals what it made (an HMAC of the whole
// body under the same key); `check` at the POST boundary reads a stored body again and refuses one
// whose fields are not of the step's forms or whose seal does not match, naming the field.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AdapterError } from '../cdsr/errors.js';
import { isCdsrTime, parseCdsrDate } from '../cdsr/formats.js';
import type { Consultation, Encounter, Transaction } from '../cdsr/schema.js';

/** What the step does to a field. */
export type Treatment =
  /** sent as it is (a code, a date, a time) */
  | 'keep'
  /** a pseudonym of 20 digits (of the facility and the value) */
  | 'encounter-pseudonym'
  /** a pseudonym in the form of an NPI (10 digits, the NPI check digit) */
  | 'clinician-pseudonym'
  /** a pseudonym of 8 letters */
  | 'name-pseudonym'
  /** FREE_TEXT when filled, empty stays empty */
  | 'fixed-text'
  /** EXAM_NAME */
  | 'fixed-exam-name'
  /** FREE_TEXT once per code of Clinical_Scenario_Codes (the counts must agree, CD3300) */
  | 'fixed-descriptions';

export const FREE_TEXT = 'TEST';
export const EXAM_NAME = 'TEST EXAM';

export const ENCOUNTER_TREATMENT: Readonly<Record<Exclude<keyof Encounter, 'Consultations'>, Treatment>> = {
  Unique_Encounter_ID: 'encounter-pseudonym',
  Patient_Sex: 'keep',
  Health_Insurance: 'keep',
  Health_Insurance_Other_Spec: 'fixed-text',
  Clinical_Scenario_Codes: 'keep',
  Clinical_Scenario_Descriptions: 'fixed-descriptions',
};

type ClinicianField = 'Unique_ID' | 'Role' | 'Role_Other_Spec' | 'First_Name' | 'Last_Name' | 'Training' | 'Training_Other_Spec' | 'Medical_Specialty_Code';
const clinician = <N extends 1 | 2>(n: N): Record<`Clinician${N}_${ClinicianField}`, Treatment> =>
  ({
    [`Clinician${n}_Unique_ID`]: 'clinician-pseudonym',
    [`Clinician${n}_Role`]: 'keep',
    [`Clinician${n}_Role_Other_Spec`]: 'fixed-text',
    [`Clinician${n}_First_Name`]: 'name-pseudonym',
    [`Clinician${n}_Last_Name`]: 'name-pseudonym',
    [`Clinician${n}_Training`]: 'keep',
    [`Clinician${n}_Training_Other_Spec`]: 'fixed-text',
    [`Clinician${n}_Medical_Specialty_Code`]: 'keep',
  }) as Record<`Clinician${N}_${ClinicianField}`, Treatment>;

export const CONSULTATION_TREATMENT: Readonly<Record<keyof Consultation, Treatment>> = {
  CDS_Consultation_Date: 'keep',
  CDS_Consultation_Time: 'keep',
  Place_of_Service: 'keep',
  Guideline_Steward: 'keep',
  Guideline_Steward_Other_Spec: 'fixed-text',
  Modality: 'keep',
  Modality_Other_Spec: 'fixed-text',
  Name_of_Exam_Ordered: 'fixed-exam-name',
  Ordered_Exam_Completed: 'keep',
  Exam_Completion_Date: 'keep',
  Appropriateness_Category: 'keep',
  Appropriateness_Category_Other_Spec: 'fixed-text',
  CDS_Vendor: 'keep',
  CDS_Vendor_Other_Spec: 'fixed-text',
  Medicare_Modifier: 'keep',
  ...clinician(1),
  ...clinician(2),
};

declare const DEIDENTIFIED: unique symbol;
/** A transaction body made by the de-identification step (or read back and checked): the only body the test profile sends. */
export type DeidentifiedTransaction = Transaction & { readonly [DEIDENTIFIED]: true };

/** Bodies made or checked by this module in this process: the run-time side of the brand. */
const passed = new WeakSet<object>();

/** Whether this very body object came out of the step (or its check at the POST boundary). */
export function isDeidentified(body: Transaction): body is DeidentifiedTransaction {
  return passed.has(body);
}

/** A transaction the test profile refuses to send: names the Transaction_ID and the field. */
export class DeidentificationError extends AdapterError {
  constructor(
    readonly transactionId: string,
    readonly fieldPath: string,
    why: string,
  ) {
    super('NOT_DEIDENTIFIED', `transaction ${transactionId}: ${fieldPath} ${why}: not de-identified, not sent to the test environment`, {
      details: { field: fieldPath, transactionId },
    });
  }
}

/** The test profile's part in the step: the facility and ids every transaction is sent as. */
export interface DeidentifyTarget {
  readonly facilityId: string;
  readonly partnerId: string;
  readonly appId: string;
}

const ENCOUNTER_ID = /^\d{20}$/;
/** A code of a value set (no space: a name or a phrase is not one), and a list of them. */
const CODE = /^[A-Za-z0-9._-]{1,20}$/;
const CODES = /^[A-Za-z0-9._-]{1,40}(,[A-Za-z0-9._-]{1,40})*$/;
const DATE_FIELDS: ReadonlySet<string> = new Set(['CDS_Consultation_Date', 'Exam_Completion_Date']);

/**
 * What a kept field may hold: a date, a time, a list of codes or a code. A kept value of another
 * shape (a mapping that put a name or a note there) is not sent as it is: FREE_TEXT stands for it
 * (the test environment then refuses the record, which is what a wrong mapping deserves).
 */
export function keptShape(field: string, v: string): boolean {
  const name = field.replace(/^.*\./, '');
  if (DATE_FIELDS.has(name)) return parseCdsrDate(v) !== undefined;
  if (name === 'CDS_Consultation_Time') return isCdsrTime(v);
  // the multi-select fields are comma lists
  if (name === 'Clinical_Scenario_Codes' || name === 'Health_Insurance') return CODES.test(v);
  return CODE.test(v);
}
const NAME = /^[A-Z][a-z]{7}$/;
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** The NPI check digit of nine digits (Luhn over the prefix 80840 and the nine). */
export function npiCheckDigit(nine: string): number {
  const digits = `80840${nine}`;
  let sum = 0;
  for (let i = digits.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = Number(digits[i]);
    if (double) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

const isNpiShaped = (v: string): boolean => /^1\d{9}$/.test(v) && npiCheckDigit(v.slice(0, 9)) === Number(v[9]);

export class Deidentifier {
  constructor(
    private readonly key: Buffer,
    readonly target: DeidentifyTarget,
  ) {
    if (key.length < 32) throw new RangeError('the de-identification key must be at least 32 bytes');
  }

  private mac(purpose: string, ...parts: string[]): Buffer {
    const h = createHmac('sha256', this.key).update(purpose);
    for (const p of parts) h.update('\u0000').update(p);
    return h.digest();
  }

  private digits(n: number, purpose: string, ...parts: string[]): string {
    // 128 bits of the HMAC, written in decimal: n ≤ 38 digits are near uniform
    const v =
      BigInt(
        `0x${this.mac(purpose, ...parts)
          .subarray(0, 16)
          .toString('hex')}`,
      ) %
      10n ** BigInt(n);
    return v.toString().padStart(n, '0');
  }

  /** The pseudonym of an encounter: of its facility and Unique_Encounter_ID (two facilities' equal ids stay apart). */
  encounterId(facilityId: string, encounterId: string): string {
    return this.digits(20, 'encounter', facilityId, encounterId);
  }

  /**
   * The pseudonym of a clinician id: ten digits starting with 1, with the NPI check digit (an NPI
   * check at the registry passes). Eight free digits: two ids share one with a chance of about
   * n² / 2·10⁸ among n clinicians (under 10⁻³ for the few hundred of a test environment).
   */
  clinicianId(id: string): string {
    const nine = `1${this.digits(8, 'clinician', id)}`;
    return `${nine}${npiCheckDigit(nine)}`;
  }

  /** A name's pseudonym: a capital and seven small letters (first and last names drawn apart). */
  name(kind: 'first' | 'last', value: string): string {
    const m = this.mac(`name-${kind}`, value);
    const letters = [...m.subarray(0, 8)].map((b) => LETTERS[b % 26]!).join('');
    return letters[0]!.toUpperCase() + letters.slice(1);
  }

  /** The Transaction_ID sent: the test facility and a pseudonym of the adapter's own id (which names the real facility). */
  transactionId(id: string): string {
    return `CDSR-${this.target.facilityId.slice(0, 20)}-${this.digits(20, 'transaction', id)}`;
  }

  /** Over the body with its keys in sorted order: the same however the store hands it back. */
  private seal(body: Transaction): string {
    return this.mac('seal', canonical(body)).toString('base64url');
  }

  /** The step: the body sent under the test profile, and its seal (kept with it, checked before each POST). */
  transaction(tx: Transaction): { body: DeidentifiedTransaction; seal: string } {
    const sourceFacility = tx.Facility_ID;
    const encounters = tx.Encounters.map((e) => this.encounter(sourceFacility, e));
    const body: Transaction = {
      Transaction_ID: this.transactionId(tx.Transaction_ID),
      Transaction_DateTime: tx.Transaction_DateTime,
      Num_of_Encounters_Included: tx.Num_of_Encounters_Included,
      Facility_ID: this.target.facilityId,
      PartnerID: this.target.partnerId,
      AppID: this.target.appId,
      CDSR_File_Version_Num: tx.CDSR_File_Version_Num,
      Encounters: encounters,
    };
    passed.add(body);
    return { body: body as DeidentifiedTransaction, seal: this.seal(body) };
  }

  private value(treatment: Treatment, field: string, v: string, facilityId: string, codes: string | undefined): string {
    if (v === '') return v;
    switch (treatment) {
      case 'keep':
        return keptShape(field, v) ? v : FREE_TEXT;
      case 'encounter-pseudonym':
        return this.encounterId(facilityId, v);
      case 'clinician-pseudonym':
        return this.clinicianId(v);
      case 'name-pseudonym':
        return this.name(field.endsWith('First_Name') ? 'first' : 'last', v);
      case 'fixed-text':
        return FREE_TEXT;
      case 'fixed-exam-name':
        return EXAM_NAME;
      case 'fixed-descriptions':
        return Array.from({ length: codes !== undefined && codes !== '' ? codes.split(',').length : 1 }, () => FREE_TEXT).join(',');
    }
  }

  private encounter(facilityId: string, e: Encounter): Encounter {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) {
      if (k === 'Consultations') continue;
      const t = ENCOUNTER_TREATMENT[k as keyof typeof ENCOUNTER_TREATMENT];
      // a field the schema does not know, or not a string: not sent
      if (t === undefined || typeof v !== 'string') continue;
      out[k] = this.value(t, k, v, facilityId, e.Clinical_Scenario_Codes);
    }
    out.Consultations = e.Consultations.map((c) => {
      const co: Record<string, string> = {};
      for (const [k, v] of Object.entries(c)) {
        const t = CONSULTATION_TREATMENT[k as keyof Consultation];
        if (t === undefined || typeof v !== 'string') continue;
        co[k] = this.value(t, k, v, facilityId, undefined);
      }
      return co as Consultation;
    });
    return out as Encounter;
  }

  /**
   * The check at the POST boundary: a stored body is sent under the test profile only if every
   * field is of the step's forms and the seal the step wrote matches; otherwise a
   * DeidentificationError naming the Transaction_ID and the (first) field.
   */
  check(body: Transaction, seal: string | undefined): DeidentifiedTransaction {
    const id = typeof body.Transaction_ID === 'string' ? body.Transaction_ID : '(no Transaction_ID)';
    const refuse = (field: string, why: string): never => {
      throw new DeidentificationError(id, field, why);
    };
    const fixed = (field: string, v: unknown, allowed: (s: string) => boolean) => {
      if (v === undefined || v === null) return;
      if (typeof v !== 'string' || (v !== '' && !allowed(v))) refuse(field, 'is not of the form the step writes');
    };
    if (body.Facility_ID !== this.target.facilityId) refuse('Facility_ID', `is not the test facility (CDSR_TEST_FACILITY_ID)`);
    if (body.PartnerID !== this.target.partnerId) refuse('PartnerID', 'is not the test profile’s (CDSR_TEST_NRDR_PARTNER_ID)');
    if (body.AppID !== this.target.appId) refuse('AppID', 'is not the test profile’s (CDSR_TEST_NRDR_APP_ID)');
    if (!new RegExp(`^CDSR-${escape(this.target.facilityId.slice(0, 20))}-\\d{20}$`).test(id)) refuse('Transaction_ID', 'is not a pseudonym');
    const known = new Set(['Consultations', ...Object.keys(ENCOUNTER_TREATMENT)]);
    (Array.isArray(body.Encounters) ? body.Encounters : []).forEach((e, i) => {
      const at = `Encounters[${i}]`;
      for (const k of Object.keys(e)) if (!known.has(k)) refuse(`${at}.${k}`, 'is not a field of CDSR 1.0');
      for (const [k, t] of Object.entries(ENCOUNTER_TREATMENT)) checkField(`${at}.${k}`, t, (e as Record<string, unknown>)[k]);
      (Array.isArray(e.Consultations) ? e.Consultations : []).forEach((c, j) => {
        const cat = `${at}.Consultations[${j}]`;
        for (const k of Object.keys(c)) if (!(k in CONSULTATION_TREATMENT)) refuse(`${cat}.${k}`, 'is not a field of CDSR 1.0');
        for (const [k, t] of Object.entries(CONSULTATION_TREATMENT)) checkField(`${cat}.${k}`, t, (c as Record<string, unknown>)[k]);
      });
    });
    function checkField(field: string, t: Treatment, v: unknown): void {
      switch (t) {
        case 'keep':
          return fixed(field, v, (s) => s === FREE_TEXT || keptShape(field, s));
        case 'encounter-pseudonym':
          return fixed(field, v, (s) => ENCOUNTER_ID.test(s));
        case 'clinician-pseudonym':
          return fixed(field, v, isNpiShaped);
        case 'name-pseudonym':
          return fixed(field, v, (s) => NAME.test(s));
        case 'fixed-text':
          return fixed(field, v, (s) => s === FREE_TEXT);
        case 'fixed-exam-name':
          return fixed(field, v, (s) => s === EXAM_NAME);
        case 'fixed-descriptions':
          return fixed(field, v, (s) => s.split(',').every((x) => x === FREE_TEXT));
      }
    }
    const expected = Buffer.from(this.seal(body));
    const given = Buffer.from(seal ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      refuse(
        '(the whole body)',
        seal === undefined ? 'carries no seal of the step' : 'does not match the seal the step wrote (changed since, or made elsewhere)',
      );
    passed.add(body);
    return body as DeidentifiedTransaction;
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** JSON with every object's keys sorted. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}
