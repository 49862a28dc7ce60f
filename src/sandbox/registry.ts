// The NRDR CDSR registry as the sandbox keeps it: registered facilities, partner authorisations,
// received transactions with their statuses, and the encounters and consultations merged by
// composite key. Processing follows the seed spec: whole-transaction rules (ValidationFail),
// then encounter by encounter (Posted / PartiallySuccessful / Failed).
import { cdMessage } from '../cdsr/codes.js';
import { formatErrorMsg } from '../cdsr/error-msg.js';
import type { Problem } from '../cdsr/problem.js';
import type { TransactionStatus, TransactionStatusName } from '../cdsr/schema.js';
import { CdsrValidator } from '../cdsr/validate.js';
import type { ValueSetCatalog } from '../cdsr/valuesets.js';

export interface RegistryOptions {
  /** Facilities registered and accepted for CDSR. */
  readonly facilities: readonly string[];
  /** Registered but not (yet) accepted (CD2054). */
  readonly notAccepted?: readonly string[];
  /** PartnerID → AppIDs it may submit with (all registered facilities). */
  readonly partners: Readonly<Record<string, readonly string[]>>;
  /** Facilities the partners are not authorised for (CD1012). */
  readonly unauthorizedFacilities?: readonly string[];
  readonly valueSets?: ValueSetCatalog;
  readonly clock: () => Date;
}

export interface StoredTransaction {
  readonly id: string;
  readonly facilityId: string;
  readonly partnerId: string;
  readonly appId: string;
  readonly receivedAt: Date;
  /** What the status is after processing (earlier statuses are shown while it "runs"). */
  readonly final: TransactionStatusName;
  readonly validated: boolean;
  readonly errorMsg: string;
  readonly examErrors: { Exam_Unique_ID: string; Error_Msg: string }[];
  readonly exams: number;
  readonly examsInError: number;
  readonly submissions: number;
}

type Fields = Record<string, string>;
export interface RegistryEncounter {
  readonly fields: Fields;
  readonly consultations: Map<string, Fields>;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

function msgOf(problems: readonly Problem[]): string {
  return formatErrorMsg(problems.map((p) => ({ code: p.code, message: p.message })));
}

export class Registry {
  readonly transactions = new Map<string, StoredTransaction>();
  /** Facility_ID|Unique_Encounter_ID → encounter */
  readonly encounters = new Map<string, RegistryEncounter>();
  private readonly validator: CdsrValidator;

  constructor(private readonly opts: RegistryOptions) {
    this.validator = new CdsrValidator({ now: opts.clock, ...(opts.valueSets ? { valueSets: opts.valueSets } : {}) });
  }

  /** Processes a POSTed transaction (already known to be JSON); returns what is stored. */
  submit(body: unknown): StoredTransaction {
    const now = this.opts.clock();
    const tx = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
    const id = str(tx.Transaction_ID);
    const facilityId = str(tx.Facility_ID);
    const partnerId = str(tx.PartnerID);
    const appId = str(tx.AppID);
    const previous = this.transactions.get(id);
    const encounters = Array.isArray(tx.Encounters) ? (tx.Encounters as unknown[]) : [];
    const exams = encounters.reduce<number>((n, e) => n + (Array.isArray((e as { Consultations?: unknown })?.Consultations) ? ((e as { Consultations: unknown[] }).Consultations.length) : 0), 0);
    const base = { id, facilityId, partnerId, appId, receivedAt: now, exams, submissions: (previous?.submissions ?? 0) + 1 };

    const all = this.validator.validateTransaction(body);
    const txProblems: Problem[] = all.filter((p) => p.scope === 'transaction');
    // registry rules: an id used by another facility or partner, registration, authorisation
    if (previous && (previous.facilityId !== facilityId || previous.partnerId !== partnerId)) {
      txProblems.push(this.problem('CD2014', [id]));
    }
    if (facilityId !== '' && !this.opts.facilities.includes(facilityId)) {
      txProblems.push(this.problem(this.opts.notAccepted?.includes(facilityId) ? 'CD2054' : 'CD2053', []));
    }
    const apps = this.opts.partners[partnerId];
    if (partnerId !== '' && (!apps || !apps.includes(appId) || this.opts.unauthorizedFacilities?.includes(facilityId))) {
      txProblems.push(this.problem('CD1012', [partnerId, facilityId, appId]));
    }
    if (txProblems.length > 0) {
      const t: StoredTransaction = { ...base, final: 'ValidationFail', validated: false, errorMsg: msgOf(txProblems), examErrors: [], examsInError: exams };
      // an id another facility or partner owns stays theirs: the refusal is answered, not stored
      if (!txProblems.some((p) => p.code === 'CD2014')) this.transactions.set(id, t);
      return t;
    }
    const examErrors: { Exam_Unique_ID: string; Error_Msg: string }[] = [];
    let inError = 0;
    let loaded = 0;
    encounters.forEach((enc, i) => {
      const problems = all.filter((p) => p.path === `Encounters[${i}]` || p.path.startsWith(`Encounters[${i}].`) || p.path.startsWith(`Encounters[${i}][`));
      const e = enc as Record<string, unknown>;
      const consultations = Array.isArray(e.Consultations) ? (e.Consultations as Record<string, unknown>[]) : [];
      if (problems.length > 0) {
        // NRDR rejects an encounter with any error, with its consultations
        const encounterId = str(e.Unique_Encounter_ID);
        const byExam = new Map<string, Problem[]>();
        for (const p of problems) {
          const key = p.consultationKey !== undefined ? `${encounterId} ${p.consultationKey}` : encounterId;
          byExam.set(key, [...(byExam.get(key) ?? []), p]);
        }
        for (const [key, ps] of byExam) examErrors.push({ Exam_Unique_ID: key, Error_Msg: msgOf(ps) });
        inError += consultations.length;
        return;
      }
      this.merge(facilityId, e, consultations);
      loaded++;
    });
    const final: TransactionStatusName = inError === 0 ? 'Posted' : loaded > 0 ? 'PartiallySuccessful' : 'Failed';
    const errorMsg = final === 'PartiallySuccessful' ? msgOf([this.problem('CD2080', [])]) : '';
    const t: StoredTransaction = { ...base, final, validated: true, errorMsg, examErrors, examsInError: inError };
    this.transactions.set(id, t);
    return t;
  }

  private merge(facilityId: string, e: Record<string, unknown>, consultations: Record<string, unknown>[]): void {
    const key = `${facilityId}|${str(e.Unique_Encounter_ID)}`;
    const enc = this.encounters.get(key) ?? { fields: {}, consultations: new Map<string, Fields>() };
    for (const [k, v] of Object.entries(e)) if (k !== 'Consultations' && str(v) !== '') enc.fields[k] = str(v);
    for (const c of consultations) {
      const cKey = `${str(c.CDS_Consultation_Date)} ${str(c.CDS_Consultation_Time)}`;
      const current = enc.consultations.get(cKey) ?? {};
      for (const [k, v] of Object.entries(c)) if (str(v) !== '') current[k] = str(v);
      enc.consultations.set(cKey, current);
    }
    this.encounters.set(key, enc);
  }

  private problem(code: 'CD2014' | 'CD2053' | 'CD2054' | 'CD1012' | 'CD2080', args: string[]): Problem {
    return { code, message: cdMessage(code, ...args), severity: 'error', scope: 'transaction', path: '' };
  }

  /** The status answer of seed spec §3.3, as it stands `stepMs` after each stage. */
  status(t: StoredTransaction, stepMs: number): TransactionStatus {
    const elapsed = this.opts.clock().getTime() - t.receivedAt.getTime();
    const stage = stepMs <= 0 ? 3 : Math.floor(elapsed / stepMs);
    const status: TransactionStatusName =
      stage <= 0 ? 'Received' : stage === 1 ? (t.validated ? 'ValidationSuccessful' : t.final) : stage === 2 && t.validated ? 'Loading' : t.final;
    const done = status === t.final;
    return {
      Transaction_ID: t.id,
      Transaction_DateTime: t.receivedAt.toISOString().slice(0, 19),
      Num_of_Exam_Included: t.exams,
      Num_of_Exam_In_Error: done ? t.examsInError : 0,
      PartnerID: t.partnerId,
      AppID: t.appId,
      Facility_ID: t.facilityId,
      Status: status,
      Error_Msg: done ? t.errorMsg : '',
      Exam_Errors: done ? t.examErrors : [],
    };
  }
}
