// Maps one ER7 message through hl7v2.yaml.
import type { Problem } from '../cdsr/problem.js';
import type { Hl7Message, Hl7Segment } from '../hl7v2/message.js';
import type { PartialRecord } from './record.js';
import { parseHl7, type Hl7ParseError } from '../hl7v2/parse.js';
import { runTable, type EngineResult } from './engine.js';
import { orderIdentity, orderNumbersOf } from './merge.js';
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
  if (!message.segments.some((seg) => seg.name === 'ORC' || seg.name === 'OBR')) {
    return {
      disposition: 'error',
      problems: [
        {
          code: 'MAP_NO_ORDER',
          message: `no order in the message: ${type} has no ORC or OBR segment, so there is nothing to report`,
          severity: 'error',
          scope: 'file',
          path: '',
          source: 'ORC',
        },
      ],
      orders: [],
    };
  }
  const parts = splitOrders(message);
  const results = parts.map((part) =>
    runTable({
      ctx: part,
      table: tables.hl7!,
      facilities: tables.facilities,
      defaultFacilityId: opts.defaultFacilityId,
      source: { kind: 'hl7v2', type, role, id: message.controlId },
      valueSets: tables.valueSets,
    }),
  );
  const shared = ownNumbers(parts, results);
  const records: PartialRecord[] = [];
  const problems: Problem[] = [...shared.problems];
  const orders: OrderIdentity[] = [];
  for (const [i, r] of results.entries()) {
    const rename = shared.renames[i]!;
    let identity: OrderIdentity;
    if (r.record) {
      const numbers = rename.size > 0 ? orderNumbersOf(r.record).map((n) => rename.get(n) ?? n) : undefined;
      const record = numbers ? { ...r.record, orderKey: numbers[0]!, orderNumbers: numbers } : r.record;
      records.push(record);
      identity = orderIdentity(record);
    } else identity = rename.size > 0 ? { ...r.identity, numbers: r.identity.numbers.map((n) => rename.get(n) ?? n) } : r.identity;
    orders.push(identity);
    // with two orders or more, each problem says whose it is (the ACK, the worklist, the console)
    problems.push(...(parts.length > 1 ? r.problems.map((p) => ({ ...p, order: { place: i + 1, numbers: [...identity.numbers] } })) : r.problems));
  }
  // one order that cannot be mapped keeps the whole message in the error queue: replaying it
  // after the fix brings every order in, none twice
  return records.length > 0 && problems.every((p) => p.severity !== 'error')
    ? { disposition: 'mapped', records, problems }
    : { disposition: 'error', problems, orders };
}

/**
 * One order per OBR, always. OBRs under one ORC that carry no number of their own read the ORC's
 * (ORC-2, ORC-3) and would be one order: a number two orders of the message share is made each
 * order's own by adding its OBR-1 (set id), or its place among them when OBR-1 does not tell them
 * apart, as `<number>:<set id>`. A warning says so, naming the numbers given.
 */
function ownNumbers(parts: readonly Hl7Message[], results: readonly EngineResult[]): { renames: Map<string, string>[]; problems: Problem[] } {
  const numbersOf = (r: EngineResult) => (r.record ? orderNumbersOf(r.record) : r.identity.numbers);
  const holders = new Map<string, number[]>();
  results.forEach((r, i) => {
    for (const n of numbersOf(r)) holders.set(n, [...(holders.get(n) ?? []), i]);
  });
  // per order: a shared number → the number made its own
  const renames: Map<string, string>[] = results.map(() => new Map<string, string>());
  const problems: Problem[] = [];
  for (const [n, at] of holders) {
    if (at.length < 2) continue;
    const setIds = at.map((i) => obrSetId(parts[i]!));
    const distinct = setIds.every((v) => v !== '') && new Set(setIds).size === setIds.length;
    const given = at.map((i, k) => `${n}:${distinct ? setIds[k] : k + 1}`);
    at.forEach((i, k) => {
      renames[i]!.set(n, given[k]!);
    });
    problems.push({
      code: 'MAP_ORDER_DERIVED',
      message: `${at.length} orders of the message share the order number ${n} (OBRs without a number of their own read their ORC's): each is an order of its own, known as ${given.join(', ')} (the number and ${distinct ? 'its OBR-1' : 'its place in the message, OBR-1 not telling them apart'})`,
      severity: 'warning',
      scope: 'file',
      path: '',
      source: 'OBR-1',
      value: n,
    });
  }
  return { renames, problems };
}

/** OBR-1 (set id) of an order's part, '' without one. */
function obrSetId(part: Hl7Message): string {
  const obr = part.segments.find((seg) => seg.name === 'OBR');
  return obr?.fields[0]?.[0]?.[0]?.[0]?.trim() ?? '';
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
