// The sandbox's answer switches: the ways NRDR may answer that the spec allows but a plain
// run never shows (odd POST answers, unknown statuses, Exam_Errors: null, Exam_Unique_ID in other
// forms, transaction-level refusals, a POST whose answer never comes), and the readings the spec
// leaves open (Exam_Unique_ID's form, the zone of "today", Transaction_DateTime's form, a reused
// Transaction_ID; docs/sandbox-readings.md). Set through the constructor (`faults`), `POST
// /sandbox/faults` or `cdsr-adapter sandbox`'s flags; every switch off is the spec's plain answer.
import type { FastifyReply } from 'fastify';

export const POST_ANSWERS = ['status', 'empty', 'text', 'partial'] as const;
export const EXAM_ID_FORMS = ['spaced', 'encounter', 'compact', 'empty', 'internal'] as const;
export const REFUSALS = ['', 'CD1010', 'CD2062', 'CD1005'] as const;
/** Transaction_DateTime's forms: `us` "03/04/2022[ 15:08:33]" (the POST example), `iso` "2023-02-02T00:00:00" (the status example), `any` either. */
export const TRANSACTION_DATETIME_FORMS = ['any', 'us', 'iso'] as const;

export interface AnswerSwitches {
  /** What a 200 to a POST carries: the status JSON, nothing, plain text, or only `{Transaction_ID, Status}`. */
  postAnswer: (typeof POST_ANSWERS)[number];
  /** Each POST is processed and stored, but its answer is held until the switch goes off (a client that dies waiting). */
  holdPostAnswer: boolean;
  /** Each POST is processed and stored, then its connection is dropped without an answer. */
  dropPostAnswer: boolean;
  /** Each POST is processed and stored, then answered 502 with a gateway's HTML page (the gateway lost the registry's answer). */
  gatewayErrorAfterPost: boolean;
  /** Error_Msg carries the stage's message code: CD0001 pending, CD0002 loading, CD0000 / CD0003 / CD0004 at the end, CD0005 for a resubmission. */
  statusCodes: boolean;
  /** A status name the spec does not list, shown in place of every working stage ('' = the spec's names). */
  unknownStatus: string;
  /** The final status never comes: the last working stage is answered for ever. */
  neverFinal: boolean;
  /** `Exam_Errors: null` where there are none. */
  nullExamErrors: boolean;
  /**
   * How an Exam_Errors entry names its exam: `spaced` "V1 03/03/2022 15:08:33" (encounter, or
   * encounter + consultation date and time), `encounter` the encounter id alone, `compact`
   * "V103032022150833", `empty` "" (as the spec's own example), `internal` an NRDR number "NRDR-1".
   */
  examIdForm: (typeof EXAM_ID_FORMS)[number];
  /** Every transaction refused as a whole: ValidationFail with CD1010 or CD2062, Failed with CD1005 ('' = none). */
  refuseWith: (typeof REFUSALS)[number];
  /**
   * Unique_Encounter_IDs whose consultations NRDR rejects with CD3005 (a rule of ACR's workbook the
   * adapter cannot check), to rehearse partly and wholly rejected transactions.
   */
  rejectEncounters: string[];
  /**
   * ID reuse: the spec says a POST with the id of a transaction already submitted resubmits it
   * (off: replaced); on: refused with CD2014 even from its own facility, and that answer replaces
   * the first on GET.
   */
  refuseReusedId: boolean;
  /** Added to Num_of_Exam_Included in every answer (0: the exams received), as an answer about other content would count. */
  examCountOffBy: number;
  /** A Posted answer still carries the spec example's Exam_Errors entry (`""`, CD2070). */
  postedExamError: boolean;
  /**
   * The time zone "now" and "today" are read in for CD2013 and CD3130 (the spec names none):
   * `UTC+14` (a date is only future when it is future everywhere), `UTC`, `UTC-05:00`, or an IANA
   * zone such as `America/New_York`.
   */
  todayZone: string;
  /** Which forms of Transaction_DateTime are taken (CD2012). */
  transactionDateTime: (typeof TRANSACTION_DATETIME_FORMS)[number];
}

export const DEFAULT_ANSWERS: AnswerSwitches = {
  postAnswer: 'status',
  holdPostAnswer: false,
  dropPostAnswer: false,
  gatewayErrorAfterPost: false,
  statusCodes: false,
  unknownStatus: '',
  neverFinal: false,
  nullExamErrors: false,
  examIdForm: 'spaced',
  refuseWith: '',
  rejectEncounters: [],
  refuseReusedId: false,
  examCountOffBy: 0,
  postedExamError: false,
  todayZone: 'UTC+14',
  transactionDateTime: 'any',
};

/** POST answers held while `holdPostAnswer` is on; all let go when it goes off or the sandbox closes. */
export class HeldAnswers {
  private waiting: (() => void)[] = [];
  /** How many POST answers are held now. */
  get count(): number {
    return this.waiting.length;
  }
  hold(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const r of w) r();
  }
}

/** The 200 answer to a POST, in the shape the switch asks for. */
export function sendPostAnswer(reply: FastifyReply, status: { Transaction_ID: string; Status: string }, how: AnswerSwitches['postAnswer']): FastifyReply {
  switch (how) {
    case 'empty':
      return reply.code(200).header('content-type', 'application/json').send('');
    case 'text':
      return reply.code(200).type('text/plain').send(`Transaction ${status.Transaction_ID} received`);
    case 'partial':
      return reply.code(200).send({ Transaction_ID: status.Transaction_ID, Status: status.Status });
    default:
      return reply.code(200).send(status);
  }
}
