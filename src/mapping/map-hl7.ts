// Maps one ER7 message through hl7v2.yaml.
import type { Problem } from '../cdsr/problem.js';
import type { Hl7Message, Hl7Segment } from '../hl7v2/message.js';
import type { PartialRecord } from './record.js';
import { parseHl7, type Hl7ParseError } from '../hl7v2/parse.js';
import { runTable } from './engine.js';
import { orderIdentity } from './merge.js';
import type { MappingTables } from './load.js';
import type { MapOutcome, OrderIdentity } from './outcome.js';

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
  const orders: OrderIdentity[] = [];
  for (const part of splitOrders(message)) {
    const r = runTable({
      ctx: part,
      table: tables.hl7,
      facilities: tables.facilities,
      defaultFacilityId: opts.defaultFacilityId,
      source: { kind: 'hl7v2', type, role, id: message.controlId },
      valueSets: tables.valueSets,
    });
    problems.push(...r.problems);
    if (r.record) {
      records.push(r.record);
      orders.push(orderIdentity(r.record));
    } else orders.push(r.identity);
  }
  // one order that cannot be mapped keeps the whole message in the error queue: replaying it
  // after the fix brings every order in, none twice
  return records.length > 0 && problems.every((p) => p.severity !== 'error')
    ? { disposition: 'mapped', records, problems }
    : { disposition: 'error', problems, orders };
}

/**
 * Every OBR is an order of its own, mapped one at a time: each part is the segments before the
 * first order (MSH, PID, PV1, IN1, DG1…), then the ORC that governs the OBR with the segments that
 * follow that ORC before its first OBR (TQ1 and the like), then the OBR with its own segments
 * (OBX, NTE, IPC…) up to the next OBR or ORC. One ORC with two OBRs gives two orders; an ORC
 * without an OBR (a cancel, a status change) is an order of its own; ORU groups without ORC too.
 */
export function splitOrders(message: Hl7Message): Hl7Message[] {
  const segs = message.segments;
  const firstOrder = segs.findIndex((s) => s.name === 'ORC' || s.name === 'OBR');
  if (firstOrder === -1) return [message];
  const header = segs.slice(0, firstOrder);
  const parts: Hl7Segment[][] = [];
  let orcGroup: Hl7Segment[] = [];
  let current: Hl7Segment[] | undefined;
  let orcUsed = false;
  const close = () => {
    if (current) parts.push(current);
    current = undefined;
  };
  for (const seg of segs.slice(firstOrder)) {
    if (seg.name === 'ORC') {
      close();
      if (orcGroup.length > 0 && !orcUsed) parts.push(orcGroup);
      orcGroup = [seg];
      orcUsed = false;
    } else if (seg.name === 'OBR') {
      close();
      current = [...orcGroup, seg];
      orcUsed = true;
    } else if (current) current.push(seg);
    else orcGroup.push(seg);
  }
  close();
  if (orcGroup.length > 0 && !orcUsed) parts.push(orcGroup);
  if (parts.length <= 1) return [message];
  return parts.map((p) => ({ ...message, segments: [...header, ...p] }));
}
