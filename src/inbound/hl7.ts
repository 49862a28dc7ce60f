// What happens to one inbound ER7 message, independent of the transport (HTTP or MLLP): parse,
// map, store (one transaction), and the ACK with the HTTP status the sender's retry logic needs
// (the decisions themselves are in outcome.ts; docs/senders.md "Mirth Connect over HTTP").
import type { Problem } from '../cdsr/problem.js';
import { buildAck, type AckCode } from '../hl7v2/ack.js';
import { looseHeader } from '../hl7v2/parse.js';
import { StoreUnavailableError, type MessageStatus } from '../store/store.js';
import type { IngestDeps, Origin } from './context.js';
import { failedInWorker, firstLine, mapForIngest, type Hl7Mapped } from './hl7-map.js';
import { MapWorkerError } from './map-pool.js';
import { ACK_FOR, hl7HttpStatus, storeMessage, storeUnavailableProblem } from './outcome.js';

export interface Hl7Reply {
  readonly httpStatus: 200 | 429 | 503;
  readonly ack: string;
  readonly code: AckCode;
  readonly status: MessageStatus | 'unavailable' | 'not-stored' | 'refused';
  readonly messageId?: number;
  /** A refusal by rate or store ceiling: when to send again (the Retry-After header). */
  readonly retryAfterS?: number;
}

/** How much of a refused (not HL7) body is kept. */
export const REJECTED_KEPT = 1024;

export async function ingestHl7(deps: IngestDeps, raw: string, origin: Origin): Promise<Hl7Reply> {
  const now = deps.clock();
  const refused = await deps.admission?.admit(origin.auth, raw.length);
  if (refused) {
    // not read, not stored: the ACK names the message by its MSH alone, as Mirth matches it
    const message = looseHeader(firstLine(raw));
    const problem: Problem = { code: refused.code, message: refused.message, severity: 'error', scope: 'file', path: '' };
    return {
      httpStatus: refused.httpStatus,
      ack: buildAck({ code: 'AR', ...(message ? { message } : {}), problems: [problem], now, ackControlId: 'CDSR0' }),
      code: 'AR',
      status: 'refused',
      retryAfterS: refused.retryAfterS,
    };
  }
  const { parsed, header: message, outcome: mapped } = await mapText(deps, raw);
  const meta = {
    channel: 'hl7v2' as const,
    sender: message ? `${message.sendingApplication}^${message.sendingFacility}` : '',
    controlId: message?.controlId ?? '',
    contentType: origin.contentType,
    auth: origin.auth,
    // what is not HL7 cannot be replayed: it is counted and its start kept for the audit, not stored whole
    raw: parsed || raw.length <= REJECTED_KEPT ? raw : `${raw.slice(0, REJECTED_KEPT)}\n[${raw.length} characters; the first ${REJECTED_KEPT} kept]`,
    receivedAt: now,
    ...(origin.edit ? { editedFrom: { messageId: origin.edit.messageId, by: origin.edit.by } } : {}),
  };
  const ack = (code: AckCode, problems: readonly Problem[], id: number | undefined) =>
    buildAck({ code, ...(message ? { message } : {}), problems, now, ackControlId: id !== undefined ? `CDSR${id}` : 'CDSR0' });
  const httpStored = hl7HttpStatus('stored');
  try {
    const { result, outcome } = await storeMessage(deps.store, meta, mapped, 'this message');
    if (!result) return { httpStatus: httpStored, ack: ack('AE', outcome.problems, undefined), code: 'AE', status: 'not-stored' };
    let status: MessageStatus = result.status;
    let problems = result.problems;
    if (result.status === 'duplicate' && result.duplicateOf !== undefined) {
      // answer a resend as the first delivery was answered
      const first = await deps.store.message(result.duplicateOf);
      status = first?.status ?? 'applied';
      problems = first?.problems ?? [];
    }
    const code = ACK_FOR[status];
    return {
      httpStatus: httpStored,
      ack: ack(code, code === 'AA' ? [] : problems, result.messageId),
      code,
      status: result.status,
      messageId: result.messageId,
    };
  } catch (e) {
    if (!(e instanceof StoreUnavailableError)) throw e;
    // not kept, HL7 or not: sent again, it is kept then (as rejected when it is not HL7)
    return { httpStatus: hl7HttpStatus('unavailable'), ack: ack('AR', [storeUnavailableProblem()], undefined), code: 'AR', status: 'unavailable' };
  }
}

/**
 * Parsed and mapped: a large text in a mapping worker (the event loop stays free), the rest here.
 * Either way the same outcome; when only the MSH could be read, it still names the message for
 * the ACK and the audit.
 */
export async function mapText(deps: IngestDeps, raw: string): Promise<Hl7Mapped> {
  const workers = deps.mapPool;
  if (workers && raw.length >= workers.minBytes) {
    try {
      const mapped = await workers.map(raw);
      if (mapped) return mapped;
    } catch (e) {
      if (e instanceof MapWorkerError) return failedInWorker(raw, e);
      // the workers are closing (shutdown): mapped here; the store then says whether it can take it
      if (!(e instanceof StoreUnavailableError)) throw e;
    }
  }
  return mapForIngest(raw, deps.mappings.current, deps);
}
