// Maps one ER7 message through hl7v2.yaml.
import type { Problem } from '../cdsr/problem.js';
import type { Hl7Message } from '../hl7v2/message.js';
import type { PartialRecord } from './record.js';
import { parseHl7, type Hl7ParseError } from '../hl7v2/parse.js';
import { runTable } from './engine.js';
import type { MappingTables } from './load.js';
import type { MapOutcome } from './outcome.js';

export interface MapOptions {
  readonly defaultFacilityId?: string;
}

/** The outcome for text that is not an HL7 message. */
export function invalidHl7(error: Hl7ParseError): MapOutcome {
  const p: Problem = {
    code: 'HL7_INVALID',
    message: error.message,
    severity: 'error',
    scope: 'file',
    path: '',
    ...(error.line !== undefined ? { line: error.line } : {}),
  };
  return { disposition: 'invalid', problems: [p] };
}

export function mapHl7Text(raw: string, tables: MappingTables, opts: MapOptions = {}): MapOutcome {
  const parsed = parseHl7(raw);
  return parsed.ok ? mapHl7Message(parsed.message, tables, opts) : invalidHl7(parsed.error);
}

export function mapHl7Message(message: Hl7Message, tables: MappingTables, opts: MapOptions = {}): MapOutcome {
  const type = `${message.messageType}^${message.triggerEvent}`;
  const role = tables.hl7?.messages.get(type);
  if (!tables.hl7 || role === undefined) {
    const handled = tables.hl7 ? [...tables.hl7.messages.keys()].join(', ') : 'none: there is no hl7v2.yaml';
    return {
      disposition: 'unsupported',
      problems: [
        {
          code: 'MAP_UNSUPPORTED',
          message: `message type ${type} is not handled by the mapping tables (handled: ${handled})`,
          severity: 'error',
          scope: 'file',
          path: '',
          source: 'MSH-9',
        },
      ],
    };
  }
  const records: PartialRecord[] = [];
  const problems: Problem[] = [];
  for (const part of splitOrders(message)) {
    const r = runTable({
      ctx: part,
      table: tables.hl7,
      facilities: tables.facilities,
      defaultFacilityId: opts.defaultFacilityId,
      source: { kind: 'hl7v2', type, role, id: message.controlId },
    });
    problems.push(...r.problems);
    if (r.record) records.push(r.record);
  }
  // one order that cannot be mapped keeps the whole message in the error queue: replaying it
  // after the fix brings every order in, none twice
  return records.length > 0 && problems.every((p) => p.severity !== 'error')
    ? { disposition: 'mapped', records, problems }
    : { disposition: 'error', problems };
}

/**
 * A message with several orders (ORC groups, or OBR groups where there is no ORC, as ORU^R01
 * allows) is mapped one order at a time: each part is the segments before the first order
 * (MSH, PID, PV1, IN1, DG1…) followed by that order's own segments.
 */
export function splitOrders(message: Hl7Message): Hl7Message[] {
  const orc = message.segments.filter((s) => s.name === 'ORC').length;
  const marker = orc > 0 ? 'ORC' : 'OBR';
  const starts = message.segments.flatMap((s, i) => (s.name === marker ? [i] : []));
  if (starts.length <= 1) return [message];
  const header = message.segments.slice(0, starts[0]);
  return starts.map((start, k) => ({ ...message, segments: [...header, ...message.segments.slice(start, starts[k + 1] ?? message.segments.length)] }));
}
