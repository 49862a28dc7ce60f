// The NRDR CDSR registry as the sandbox keeps it: registered facilities, partner authorisations,
// received transactions with their statuses, and the encounters and consultations merged by
// composite key. Processing follows the spec (docs/cdsr-spec.md): whole-transaction rules (ValidationFail),
// then encounter by encounter (Posted / PartiallySuccessful; ValidationFail when nothing got
// loaded); statuses run Enqueued → Received → ValidationSuccessful → Loading → final. The answer
// switches (switches.ts) change how the answers look; POSTs are counted per Transaction_ID. The
// checks are the sandbox's own (check.ts), read from the spec apart from the adapter's validator.
import { checkTransaction, type Finding, type ValueLists } from './check.js';
import { errorMsg, specMessage, type SpecCode } from './rules/messages.js';
import type { SpecStatus } from './rules/elements.js';
import { DEFAULT_ANSWERS, type AnswerSwitches } from './switches.js';

export interface RegistryOptions {
  /** Facilities registered and accepted for CDSR. */
  readonly facilities: readonly string[];
  /** Registered but not (yet) accepted (CD2054). */
  readonly notAccepted?: readonly string[];
  /** PartnerID → AppIDs it may submit with (all registered facilities). */
  readonly partners: Readonly<Record<string, readonly string[]>>;
  /** Facilities the partners are not authorised for (CD1012). */
  readonly unauthorizedFacilities?: readonly string[];
  /** Allowed codes per list (rules/elements.ts names the list of each coded element); none: CD3120 is not checked. */
  readonly valueLists?: ValueLists;
  readonly clock: () => Date;
  /** The answer switches, read at each answer (the server shares its live object). */
  readonly answers?: AnswerSwitches;
}

/** An Exam_Errors entry as kept: which exam it is about; its Exam_Unique_ID is written per the switch. */
export interface ExamError {
  readonly encounterId: string;
  /** The consultation's date and time, when the error is about one consultation. */
  readonly consultationKey?: string;
  /** NRDR's own number for the exam (the `internal` form). */
  readonly internalId: number;
  readonly Error_Msg: string;
}

/** The status answer as NRDR writes it (Exam_Errors may be null, Status any name). */
export interface StatusAnswer {
  readonly Transaction_ID: string;
  readonly Transaction_DateTime: string;
  readonly Num_of_Exam_Included: number;
  readonly Num_of_Exam_In_Error: number;
  readonly PartnerID: string;
  readonly AppID: string;
  readonly Facility_ID: string;
  readonly Status: string;
  readonly Error_Msg: string;
  readonly Exam_Errors: { Exam_Unique_ID: string; Error_Msg: string }[] | null;
}

export interface StoredTransaction {
  readonly id: string;
  readonly facilityId: string;
  readonly partnerId: string;
  readonly appId: string;
  readonly receivedAt: Date;
  /** What the status is after processing (earlier statuses are shown while it "runs"). */
  readonly final: SpecStatus;
  readonly validated: boolean;
  readonly errorMsg: string;
  readonly examErrors: readonly ExamError[];
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

function msgOf(findings: readonly Pick<Finding, 'code' | 'message'>[]): string {
  return errorMsg(findings);
}

export class Registry {
  readonly transactions = new Map<string, StoredTransaction>();
  /** Refused reuses of another facility's or partner's Transaction_ID, by id|facility|partner: what GET shows them. */
  readonly refusedReuses = new Map<string, StoredTransaction>();
  /** POST requests per Transaction_ID (every one that arrived, answered or not). */
  readonly postsById = new Map<string, number>();
  private nextExamId = 1;
  /** Facility_ID|Unique_Encounter_ID → encounter */
  readonly encounters = new Map<string, RegistryEncounter>();

  constructor(private readonly opts: RegistryOptions) {}

  private get answers(): AnswerSwitches {
    return this.opts.answers ?? DEFAULT_ANSWERS;
  }

  /** Counts a POST by the Transaction_ID its body names ('' when it names none). */
  countPost(body: unknown): void {
    let id = '';
    try {
      const tx = JSON.parse(typeof body === 'string' ? body : '') as { Transaction_ID?: unknown } | null;
      id = str(tx?.Transaction_ID);
    } catch {
      // not JSON: counted under ''
    }
    this.postsById.set(id, (this.postsById.get(id) ?? 0) + 1);
  }

  /** The transaction a GET asks about, only when every id given (facility, partner, app) is its own. */
  lookup(id: string, q: { facilityid?: string | undefined; partnerid?: string | undefined; appid?: string | undefined }): StoredTransaction | undefined {
    const own = this.transactions.get(id);
    const matches = (t: StoredTransaction) =>
      (q.facilityid === undefined || q.facilityid === t.facilityId) &&
      (q.partnerid === undefined || q.partnerid === t.partnerId) &&
      (q.appid === undefined || q.appid === t.appId);
    if (own && matches(own)) return own;
    const refused = [...this.refusedReuses.values()].find((t) => t.id === id && matches(t));
    return refused;
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
    const exams = encounters.reduce<number>(
      (n, e) => n + (Array.isArray((e as { Consultations?: unknown })?.Consultations) ? (e as { Consultations: unknown[] }).Consultations.length : 0),
      0,
    );
    const base = { id, facilityId, partnerId, appId, receivedAt: now, exams, submissions: (previous?.submissions ?? 0) + 1 };

    const all = checkTransaction(body, { now, readings: this.answers, ...(this.opts.valueLists ? { valueLists: this.opts.valueLists } : {}) });
    const txProblems: Pick<Finding, 'code' | 'message'>[] = all.filter((p) => p.encounter === undefined);
    // registry rules: an id used by another facility or partner, registration, authorisation
    const otherOwner = previous !== undefined && (previous.facilityId !== facilityId || previous.partnerId !== partnerId);
    if (previous && (otherOwner || this.answers.refuseReusedId)) txProblems.push(this.problem('CD2014', [id]));
    if (this.answers.refuseWith === 'CD1010') txProblems.push(this.problem('CD1010', []));
    if (this.answers.refuseWith === 'CD2062') txProblems.push(this.problem('CD2062', []));
    if (this.answers.refuseWith === 'CD1005') {
      // the transaction could not be created at all
      const t: StoredTransaction = {
        ...base,
        final: 'Failed',
        validated: false,
        errorMsg: msgOf([this.problem('CD1005', ['simulated import failure'])]),
        examErrors: [],
        examsInError: exams,
      };
      this.transactions.set(id, t);
      return t;
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
      // an id another facility or partner owns stays theirs: the refusal is kept apart, for their GET
      if (otherOwner) this.refusedReuses.set(`${id}|${facilityId}|${partnerId}`, t);
      else this.transactions.set(id, t);
      return t;
    }
    const examErrors: ExamError[] = [];
    let inError = 0;
    let loaded = 0;
    encounters.forEach((enc, i) => {
      const problems = all.filter((p) => p.encounter === i);
      const e = enc as Record<string, unknown>;
      const consultations = Array.isArray(e.Consultations) ? (e.Consultations as Record<string, unknown>[]) : [];
      if (this.answers.rejectEncounters.includes(str(e.Unique_Encounter_ID))) {
        consultations.forEach((c, j) =>
          problems.push({
            code: 'CD3005',
            message: specMessage('CD3005', 'Exam_Completion_Date', 'Ordered_Exam_Completed', '1'),
            path: `Encounters[${i}].Consultations[${j}]`,
            encounter: i,
            consultationKey: `${str(c.CDS_Consultation_Date)} ${str(c.CDS_Consultation_Time)}`,
          }),
        );
      }
      if (problems.length > 0) {
        // NRDR rejects an encounter with any error, with its consultations
        const encounterId = str(e.Unique_Encounter_ID);
        const byExam = new Map<string, Finding[]>();
        for (const p of problems) {
          const key = p.consultationKey ?? '';
          byExam.set(key, [...(byExam.get(key) ?? []), p]);
        }
        for (const [key, ps] of byExam)
          examErrors.push({ encounterId, ...(key !== '' ? { consultationKey: key } : {}), internalId: this.nextExamId++, Error_Msg: msgOf(ps) });
        inError += consultations.length;
        return;
      }
      this.merge(facilityId, e, consultations);
      loaded++;
    });
    // "ValidationFail – Nothing got loaded. Failed at exam processing" (docs/cdsr-spec.md §3.3.1)
    const final: SpecStatus = inError === 0 ? 'Posted' : loaded > 0 ? 'PartiallySuccessful' : 'ValidationFail';
    const errorMsg =
      final === 'PartiallySuccessful' ? msgOf([this.problem('CD2080', [])]) : final === 'ValidationFail' ? msgOf([this.problem('CD0004', [])]) : '';
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

  private problem(code: SpecCode, args: string[]): Pick<Finding, 'code' | 'message'> {
    return { code, message: specMessage(code, ...args) };
  }

  /** Exam_Unique_ID of an entry in the form the switch asks for. */
  private examId(e: ExamError): string {
    const spaced = e.consultationKey !== undefined ? `${e.encounterId} ${e.consultationKey}` : e.encounterId;
    switch (this.answers.examIdForm) {
      case 'encounter':
        return e.encounterId;
      case 'compact':
        return spaced.replace(/[^A-Za-z0-9]/g, '');
      case 'empty':
        return '';
      case 'internal':
        return `NRDR-${e.internalId}`;
      default:
        return spaced;
    }
  }

  /** The status answer of docs/cdsr-spec.md §3.3, as it stands `stepMs` after each stage. */
  status(t: StoredTransaction, stepMs: number): StatusAnswer {
    const a = this.answers;
    const elapsed = this.opts.clock().getTime() - t.receivedAt.getTime();
    const working: SpecStatus[] = t.validated ? ['Enqueued', 'Received', 'ValidationSuccessful', 'Loading'] : ['Enqueued', 'Received'];
    let stage = stepMs <= 0 ? working.length : Math.floor(elapsed / stepMs);
    if (a.neverFinal) stage = Math.min(stage, working.length - 1);
    const done = stage >= working.length;
    const name = done ? t.final : working[Math.max(0, stage)]!;
    const status = !done && a.unknownStatus !== '' ? a.unknownStatus : name;
    const codes: Pick<Finding, 'code' | 'message'>[] = [];
    if (a.statusCodes) {
      if (!done) codes.push(this.code(name === 'Enqueued' || name === 'Received' ? 'CD0001' : 'CD0002'));
      else if (t.final === 'Posted') codes.push(this.code('CD0000'));
      else if (t.final === 'PartiallySuccessful') codes.push(this.code('CD0003'));
      else if (t.final === 'ValidationFail' && !t.errorMsg.includes('CD0004')) codes.push(this.code('CD0004'));
      if (done && t.submissions > 1) codes.push(this.code('CD0005'));
    }
    const errorMsg = [...(done && t.errorMsg !== '' ? [t.errorMsg] : []), ...(codes.length > 0 ? [msgOf(codes)] : [])].join('|');
    const examErrors = done ? t.examErrors.map((e) => ({ Exam_Unique_ID: this.examId(e), Error_Msg: e.Error_Msg })) : [];
    // the spec's own example: Posted, with an entry naming no exam
    if (done && t.final === 'Posted' && a.postedExamError)
      examErrors.push({ Exam_Unique_ID: '', Error_Msg: 'CD2070:Invalid. Missing encounter object information' });
    return {
      Transaction_ID: t.id,
      Transaction_DateTime: t.receivedAt.toISOString().slice(0, 19),
      Num_of_Exam_Included: t.exams + a.examCountOffBy,
      Num_of_Exam_In_Error: done ? t.examsInError : 0,
      PartnerID: t.partnerId,
      AppID: t.appId,
      Facility_ID: t.facilityId,
      Status: status,
      Error_Msg: errorMsg,
      Exam_Errors: examErrors.length === 0 && a.nullExamErrors ? null : examErrors,
    };
  }

  private code(code: 'CD0000' | 'CD0001' | 'CD0002' | 'CD0003' | 'CD0004' | 'CD0005'): Pick<Finding, 'code' | 'message'> {
    return { code, message: specMessage(code) };
  }
}
