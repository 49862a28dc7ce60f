// How an ingest ends, decided in one place (medplum's outcomes.ts model): the stored status of a
// message → the ACK code, the HTTP status of the HL7 and FHIR answers, and OperationOutcome
// issues. The rule behind them: a 2xx means "stored here, do not resend"; only a
// transient failure of ours (the store cannot take it now) asks the sender to retry.
import { AdapterError } from '../cdsr/errors.js';
import { formatOrder, type Problem } from '../cdsr/problem.js';
import type { AckCode } from '../hl7v2/ack.js';
import type { MapOutcome } from '../mapping/outcome.js';
import { StoreUnavailableError, type InboundLog, type InboundMeta, type IngestResult, type MessageStatus } from '../store/store.js';

/** What the sender is told for a stored message of each status. */
export const ACK_FOR: Readonly<Record<MessageStatus, AckCode>> = {
  applied: 'AA',
  error: 'AE',
  ignored: 'AR',
  rejected: 'AR',
  pending: 'AA',
  duplicate: 'AA',
};

/**
 * HTTP status of an HL7 answer: 200 once the body is stored, whatever its ACK says (AE, or AR for a
 * body that is not HL7 at all: kept as rejected; a resend would be refused the same way, and an
 * HTTP error would keep it at the head of a sender's queue for ever, holding back every message
 * behind it); 503 only when nothing could be stored now (the sender sends it again).
 */
export function hl7HttpStatus(outcome: 'stored' | 'unavailable'): 200 | 503 {
  return outcome === 'stored' ? 200 : 503;
}

/** HTTP status of a FHIR answer: notifications are 200 once stored; direct resources 422 when one is kept in the error queue. */
export function fhirHttpStatus(o: { notification: boolean; failed: number }): 200 | 422 {
  return o.notification || o.failed === 0 ? 200 : 422;
}

export const storeUnavailableProblem = (): Problem => ({
  code: 'STORE_UNAVAILABLE',
  message: 'the message cannot be stored now; send it again',
  severity: 'error',
  scope: 'file',
  path: '',
});

export function internalErrorProblem(what: string, e: unknown, kept: boolean): Problem {
  const tail = kept ? 'it is kept for replay' : 'it could not be stored either; send it again once the adapter is fixed';
  return { code: 'INTERNAL_ERROR', message: `the adapter failed on ${what} (${safeReason(e)}); ${tail}`, severity: 'error', scope: 'file', path: '' };
}

/**
 * What a failure is called in an answer or a log: our own errors by their message (they name
 * tables, columns and codes, never values); anything else (a driver, the runtime) by its kind and
 * code only, since its text may quote a value of the message.
 */
export function safeReason(e: unknown): string {
  if (e instanceof AdapterError) return e.message;
  const code = (e as { code?: unknown } | null)?.code;
  const name = e instanceof Error ? e.name : typeof e;
  return typeof code === 'string' || typeof code === 'number' ? `${name} ${String(code)}` : name;
}

export type OperationOutcomeIssue = {
  readonly severity: 'information' | 'warning' | 'error';
  readonly code: string;
  readonly diagnostics: string;
  readonly expression?: readonly string[];
};

export function operationOutcome(issues: readonly OperationOutcomeIssue[]): { resourceType: 'OperationOutcome'; issue: readonly OperationOutcomeIssue[] } {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export function issuesOf(problems: readonly Problem[]): OperationOutcomeIssue[] {
  return problems.map((p) => ({
    severity: p.severity === 'warning' ? 'warning' : 'error',
    code: p.code.startsWith('MAP_') ? 'code-invalid' : 'processing',
    // a Bundle of several ServiceRequests: whose problem it is
    diagnostics: `${p.code}: ${p.message}${p.order ? ` (${formatOrder(p.order, 'the Bundle')})` : ''}`,
    ...(p.source ? { expression: [p.source] } : {}),
  }));
}

export const transientOutcome = () =>
  operationOutcome([{ severity: 'error', code: 'transient', diagnostics: 'the adapter cannot store this now; send it again' }]);

/**
 * Stores a message with its outcome. A failure of ours on this one message (not the store being
 * unavailable) keeps it in the error queue as INTERNAL_ERROR, replayable, rather than have the
 * sender retry it for ever in front of its queue; if even that cannot be stored, the outcome
 * says so and nothing is claimed stored.
 */
export async function storeMessage(
  log: Pick<InboundLog, 'ingest'>,
  meta: InboundMeta,
  outcome: MapOutcome,
  what: string,
): Promise<{ result?: IngestResult; outcome: MapOutcome }> {
  try {
    return { result: await log.ingest(meta, outcome), outcome };
  } catch (e) {
    if (e instanceof StoreUnavailableError) throw e;
    const kept: MapOutcome = { disposition: 'error', problems: [internalErrorProblem(what, e, true)] };
    try {
      return { result: await log.ingest(meta, kept), outcome: kept };
    } catch (again) {
      if (again instanceof StoreUnavailableError) throw again;
      return { outcome: { disposition: 'error', problems: [internalErrorProblem(what, e, false)] } };
    }
  }
}
