// The one problem type of the project: validator findings, mapping failures and load errors all
// travel as Problems, which ACK ERR segments, OperationOutcome issues, CLI tables and the
// operations API render.
import type { CdCode } from './codes.js';

/** Codes of our own, for what NRDR has no code for (file syntax, table loading, I/O). */
export type LocalCode =
  | 'JSON_SYNTAX'
  | 'FILE_READ'
  | 'TABLE_INVALID'
  | 'HL7_INVALID'
  | 'FHIR_INVALID'
  | 'MAP_UNSUPPORTED'
  | 'MAP_NO_FACILITY'
  | 'MAP_NO_ENCOUNTER'
  /** An order (or result) without any number to know it by, or a message with no order segment. */
  | 'MAP_NO_ORDER'
  /** A warning: orders of one message shared a number (OBRs under one ORC without their own): each is known by it plus its OBR. */
  | 'MAP_ORDER_DERIVED'
  | 'MAP_UNMAPPED_CODE'
  /**
   * A mapped value that ACR's value set for its field does not list (a warning under `# enforce:
   * no`, or for an order excluded or cancelled); `file` and `line` name the crosswalk row or rule to fix.
   */
  | 'MAP_NOT_IN_VALUESET'
  /** A warning: a crosswalk row says the order is known but not reported (not advanced imaging). */
  | 'MAP_EXCLUDED'
  | 'MAP_BAD_VALUE'
  /** A site rule (site-rules.csv `npi`): a clinician id that is not an NPI (a user mnemonic, say). */
  | 'SITE_NOT_NPI'
  | 'MAP_REFERENCE'
  | 'MERGE_ORPHAN'
  | 'MERGE_COLLISION'
  | 'MERGE_CANCEL_UNMATCHED'
  /** A warning: an order's better consultation date and time are another order's, so its record kept its fallback key. */
  | 'MERGE_KEY_HELD'
  /**
   * A message stored and answered whose records could not be written after its answer (SQLite
   * writes them after it): a record move the state table forbids in a hand-edited store, say.
   * Nothing of it is merged; it waits in the error queue for a reprocessing.
   */
  | 'DERIVE_REFUSED'
  | 'MAP_NO_CONSULTATION'
  | 'STORE_UNAVAILABLE'
  /** Refused before it was read: the credential sends faster than CDSR_SEND_RATE / CDSR_SEND_BYTES_RATE allow. */
  | 'RATE_LIMITED'
  /** Refused before it was read: the store has reached CDSR_MAX_STORE_BYTES. */
  | 'STORE_FULL'
  | 'INTERNAL_ERROR'
  | 'FHIR_FETCH'
  | 'FHIR_NO_CHANGE'
  /** NRDR's answer does not say whether the record was loaded (entries that name it only loosely, counts that disagree, no final answer). */
  | 'NRDR_UNCLEAR'
  /** NRDR answered Failed: the transaction could not be created (an error at NRDR, not a verdict on the data). */
  | 'NRDR_FAILED';

export type ProblemCode = CdCode | LocalCode;

export type Severity = 'error' | 'warning';

/** Where in the CDSR transaction a problem lies; NRDR rejects that much of it. */
export type ProblemScope = 'transaction' | 'encounter' | 'consultation' | 'file';

export interface Problem {
  readonly code: ProblemCode;
  /** NRDR's message text with its placeholders filled (or our own text for local codes). */
  readonly message: string;
  readonly severity: Severity;
  readonly scope: ProblemScope;
  /** Path in the transaction JSON, e.g. `Encounters[0].Consultations[1].Modality`; `` for the root. */
  readonly path: string;
  /** The CDSR field concerned, when one is. */
  readonly field?: string;
  readonly encounterId?: string;
  /** `CDS_Consultation_Date CDS_Consultation_Time` of the consultation concerned. */
  readonly consultationKey?: string;
  /** The inbound message or input file the problem is about. */
  readonly input?: string;
  /** The HL7 path or FHIRPath of the source value concerned. */
  readonly source?: string;
  /**
   * The source value concerned, as read (after transforms): for MAP_UNMAPPED_CODE the code no
   * crosswalk row maps, for MAP_NOT_IN_VALUESET the mapped value outside the value set, so the
   * worklist groups problems without parsing their message text.
   */
  readonly value?: string;
  /** The Facility_ID the value was read for (a crosswalk row may be limited to one facility). */
  readonly facilityId?: string;
  /** The code system the value was qualified with, when the rule names one. */
  readonly system?: string;
  /**
   * In a message of several orders (OBRs), or a FHIR delivery of several ServiceRequests, the order the
   * problem belongs to: its place among the orders (1 = the first ORC/OBR group, the first
   * ServiceRequest) and its numbers (placer, filler; none when it has none).
   */
  readonly order?: ProblemOrder;
  /** For problems in files (tables, JSON input): file name and 1-based line/column. */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

export interface ProblemOrder {
  readonly place: number;
  readonly numbers: readonly string[];
}

/** `order 2 of the message: ORD1006 / ACC2006`, as the ACK, the CLI and the console say it (FHIR: `of the Bundle`). */
export function formatOrder(o: ProblemOrder, of = 'the message'): string {
  return `order ${o.place} of ${of}${o.numbers.length > 0 ? `: ${o.numbers.join(' / ')}` : ' (no number)'}`;
}

export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}

/** `file:line:column: message` (or as much of it as is known). */
export function formatLocation(p: Pick<Problem, 'file' | 'line' | 'column'>): string {
  if (p.file === undefined) return '';
  return [p.file, p.line, p.column].filter((x) => x !== undefined).join(':');
}

/** `file:line: message`, the form in which table problems are listed everywhere. */
export function formatProblemLine(p: Pick<Problem, 'file' | 'line' | 'column' | 'input' | 'message'>): string {
  return `${formatLocation(p) || p.input || ''}: ${p.message}`;
}
