// HL7 v2 acknowledgements (MSA + one ERR per problem) for the inbound service. AA: stored and
// applied; AE: stored, not applied (fix the tables, then replay); AR: not taken (not HL7, a type
// the tables do not handle, or the store cannot take it now).
import { formatOrder, type Problem } from '../cdsr/problem.js';
import { escapeHl7 } from './escape.js';
import type { Hl7Message } from './message.js';

export type AckCode = 'AA' | 'AE' | 'AR';

export type AckProblem = Omit<Problem, 'code'> & { readonly code: string };

export interface AckInput {
  readonly code: AckCode;
  /** The message acknowledged; undefined when it could not be read as HL7. */
  readonly message?: Hl7Message;
  /** The problems, one ERR each; the code may be an error code of the HTTP edge (cdsr/errors.ts) as well as a problem code. */
  readonly problems: readonly AckProblem[];
  readonly now: Date;
  /** MSH-10 of the ACK itself. */
  readonly ackControlId: string;
  /** MSH-3 of the ACK when the message did not name a receiving application. */
  readonly application?: string;
}

// HL7 table 0357 (message error condition codes)
const HL7_ERROR: Readonly<Record<string, readonly [string, string]>> = {
  MAP_UNMAPPED_CODE: ['103', 'Table value not found'],
  MAP_NO_FACILITY: ['103', 'Table value not found'],
  MAP_NOT_IN_VALUESET: ['103', 'Table value not found'],
  MAP_NO_ENCOUNTER: ['101', 'Required field missing'],
  MAP_NO_ORDER: ['101', 'Required field missing'],
  MAP_BAD_VALUE: ['102', 'Data type error'],
  MAP_UNSUPPORTED: ['200', 'Unsupported message type'],
  HL7_INVALID: ['100', 'Segment sequence error'],
  MERGE_COLLISION: ['205', 'Duplicate key identifier'],
  MAP_NO_CONSULTATION: ['101', 'Required field missing'],
  STORE_UNAVAILABLE: ['207', 'Application internal error'],
  RATE_LIMITED: ['207', 'Application internal error'],
  STORE_FULL: ['207', 'Application internal error'],
  INTERNAL_ERROR: ['207', 'Application internal error'],
};

/** YYYYMMDDHHMMSS in UTC with its offset, as HL7 DTM. */
export function hl7Timestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}

function location(source: string | undefined): string {
  const m = source ? /^([A-Z][A-Z0-9]{2})(?:\[[^\]]*\])?(?:\((\d+)\))?-(\d+)/.exec(source) : null;
  return m ? `${m[1]}^${m[2] ?? '1'}^${m[3]}` : '';
}

function field(segment: { fields: readonly (readonly (readonly (readonly string[])[])[])[] }, n: number): string {
  return segment.fields[n - 1]?.[0]?.[0]?.[0] ?? '';
}

export function buildAck(input: AckInput): string {
  const m = input.message;
  const msh = m?.segments[0];
  const [receivingApp, receivingFacility, processing] = msh ? [field(msh, 5), field(msh, 6), field(msh, 11)] : ['', '', ''];
  const header = [
    'MSH',
    '^~\\&',
    escapeHl7(receivingApp || input.application || 'CDSR-ADAPTER'),
    escapeHl7(receivingFacility),
    escapeHl7(m?.sendingApplication ?? ''),
    escapeHl7(m?.sendingFacility ?? ''),
    hl7Timestamp(input.now),
    '',
    m ? `ACK^${escapeHl7(m.triggerEvent)}^ACK` : 'ACK',
    escapeHl7(input.ackControlId),
    processing || 'P',
    escapeHl7(m?.version || '2.5.1'),
  ].join('|');
  const segments = [header, `MSA|${input.code}|${escapeHl7(m?.controlId ?? '')}`];
  for (const p of input.problems) {
    const [code, text] = HL7_ERROR[p.code] ?? ['207', 'Application internal error'];
    // in a message of several orders, the text names the order (ERR-2 cannot: its paths are the table's, OBR-24 of any OBR)
    const whose = p.order ? ` (${formatOrder(p.order)})` : '';
    segments.push(
      `ERR||${location(p.source)}|${code}^${text}^HL70357|${p.severity === 'warning' ? 'W' : 'E'}||||${escapeHl7(`${p.code}: ${p.message}${whose}`)}`,
    );
  }
  return segments.join('\r') + '\r';
}
