// What happens to one inbound ER7 message, independent of the transport (HTTP or MLLP): parse,
// map, store (one transaction), and the ACK with the HTTP status the sender's retry logic needs
// (DESIGN §6).
import type { Problem } from '../cdsr/problem.js';
import { buildAck, type AckCode } from '../hl7v2/ack.js';
import { parseHl7 } from '../hl7v2/parse.js';
import { invalidHl7, mapHl7Message } from '../mapping/map-hl7.js';
import type { MapOutcome } from '../mapping/outcome.js';
import type { MappingHolder } from './mappings.js';
import { StoreUnavailableError, type MessageStatus, type Store } from '../store/store.js';

export interface IngestDeps {
  readonly store: Store;
  readonly mappings: MappingHolder;
  readonly clock: () => Date;
  readonly defaultFacilityId?: string;
}

export interface Hl7Reply {
  readonly httpStatus: 200 | 400 | 503;
  readonly ack: string;
  readonly code: AckCode;
  readonly status: MessageStatus | 'unavailable';
  readonly messageId?: number;
}

const ACK_FOR: Readonly<Record<MessageStatus, AckCode>> = {
  applied: 'AA',
  error: 'AE',
  ignored: 'AR',
  rejected: 'AR',
  pending: 'AA',
  duplicate: 'AA',
};

/** How a message arrived: its content type and the credential or listener (for the audit). */
export interface Origin {
  readonly contentType: string;
  readonly auth: string;
}

export async function ingestHl7(deps: IngestDeps, raw: string, origin: Origin): Promise<Hl7Reply> {
  const now = deps.clock();
  const parsed = parseHl7(raw);
  const message = parsed.ok ? parsed.message : undefined;
  let outcome: MapOutcome = parsed.ok
    ? mapHl7Message(parsed.message, deps.mappings.current, deps)
    : invalidHl7(parsed.error);
  const meta = {
    channel: 'hl7v2' as const,
    sender: message ? `${message.sendingApplication}^${message.sendingFacility}` : '',
    controlId: message?.controlId ?? '',
    contentType: origin.contentType,
    auth: origin.auth,
    raw,
    receivedAt: now,
  };
  const ack = (code: AckCode, problems: readonly Problem[], id: number | undefined) =>
    buildAck({ code, ...(message ? { message } : {}), problems, now, ackControlId: id !== undefined ? `CDSR${id}` : 'CDSR0' });
  try {
    const r = await deps.store.ingest(meta, outcome).catch(async (e: unknown) => {
      if (e instanceof StoreUnavailableError) throw e;
      // A failure of ours on this one message: keep it in the error queue (AE, replayable)
      // rather than answer 503 and have the sender retry it forever in front of its queue.
      const internal: Problem = {
        code: 'INTERNAL_ERROR',
        message: `the adapter failed on this message (${e instanceof Error ? e.message : String(e)}); it is kept for replay`,
        severity: 'error',
        scope: 'file',
        path: '',
      };
      outcome = { disposition: 'error', problems: [internal] };
      return deps.store.ingest(meta, outcome);
    });
    let status: MessageStatus = r.status;
    let problems = outcome.problems;
    if (r.status === 'duplicate' && r.duplicateOf !== undefined) {
      // answer a resend as the first delivery was answered
      const first = await deps.store.message(r.duplicateOf);
      status = first?.status ?? 'applied';
      problems = first?.problems ?? [];
    }
    const code = ACK_FOR[status];
    return { httpStatus: parsed.ok ? 200 : 400, ack: ack(code, code === 'AA' ? [] : problems, r.messageId), code, status: r.status, messageId: r.messageId };
  } catch (e) {
    if (!(e instanceof StoreUnavailableError)) throw e;
    // not HL7: a resend will not help, whether or not it could be kept for audit
    if (!parsed.ok) return { httpStatus: 400, ack: ack('AR', outcome.problems, undefined), code: 'AR', status: 'rejected' };
    const p: Problem = { code: 'STORE_UNAVAILABLE', message: 'the message cannot be stored now; send it again', severity: 'error', scope: 'file', path: '' };
    return { httpStatus: 503, ack: ack('AR', [p], undefined), code: 'AR', status: 'unavailable' };
  }
}
