// Maps one ER7 message through hl7v2.yaml.
import type { Problem } from '../cdsr/problem.js';
import type { Hl7Message } from '../hl7v2/message.js';
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
  const r = runTable({
    ctx: message,
    table: tables.hl7,
    facilities: tables.facilities,
    ...(opts.defaultFacilityId !== undefined ? { defaultFacilityId: opts.defaultFacilityId } : {}),
    source: { kind: 'hl7v2', type, role, id: message.controlId },
  });
  return r.record ? { disposition: 'mapped', record: r.record, problems: r.problems } : { disposition: 'error', problems: r.problems };
}
