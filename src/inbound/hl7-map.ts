// What the inbound service needs from one ER7 text, computed the same way in this thread and in a
// mapping worker (map-pool.ts): whether it parsed, its MSH (for the ACK and the audit) and the
// mapping outcome. Plain data only: it crosses the thread boundary by structured clone.
import type { Hl7Message } from '../hl7v2/message.js';
import { parseHl7, stripFraming } from '../hl7v2/parse.js';
import type { MappingTables } from '../mapping/load.js';
import { invalidHl7, mapHl7Message, type MapOptions } from '../mapping/map-hl7.js';
import type { MapOutcome } from '../mapping/outcome.js';
import { internalErrorProblem } from './outcome.js';

export interface Hl7Mapped {
  /** The text is an HL7 message (false: refused, kept by its start only). */
  readonly parsed: boolean;
  /** The message with its MSH segment only, when the MSH could be read. */
  readonly header?: Hl7Message;
  readonly outcome: MapOutcome;
}

/** The message as the ACK needs it: its MSH alone (cheap to send back from a worker). */
export function headerOf(message: Hl7Message): Hl7Message {
  return { ...message, segments: message.segments.slice(0, 1) };
}

/** The outcome of a failure of ours while mapping: kept in the error queue, replayable. */
export function failedMapping(e: unknown): MapOutcome {
  return { disposition: 'error', problems: [internalErrorProblem('this message', e, true)] };
}

/** Parses and maps; never throws (a failure of the mapping is an INTERNAL_ERROR outcome). */
export function mapForIngest(raw: string, tables: MappingTables, opts: MapOptions): Hl7Mapped {
  const parsed = parseHl7(raw);
  if (!parsed.ok) return { parsed: false, ...(parsed.error.header ? { header: parsed.error.header } : {}), outcome: invalidHl7(parsed.error) };
  const header = headerOf(parsed.message);
  try {
    return { parsed: true, header, outcome: mapHl7Message(parsed.message, tables, opts) };
  } catch (e) {
    return { parsed: true, header, outcome: failedMapping(e) };
  }
}

/** The first line of a text (the MSH of an HL7 message), its MLLP framing stripped. */
export function firstLine(raw: string): string {
  return /^[^\r\n]*/.exec(stripFraming(raw))?.[0] ?? '';
}

/** When a worker could not map it: the MSH read here (one line), the failure as the outcome. */
export function failedInWorker(raw: string, e: unknown): Hl7Mapped {
  const msh = parseHl7(firstLine(raw));
  return { parsed: true, ...(msh.ok ? { header: msh.message } : {}), outcome: failedMapping(e) };
}
