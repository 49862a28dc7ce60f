// Terser-style HL7 paths of the mapping tables, e.g. `PID-8`, `OBR-4.2`, `PID-3(2).1`,
// `OBX[3.1=CDS-GCODE]-5`, `DG1(1)-3.1`. A path without an occurrence or repetition index reads
// every segment of that name and every repetition of the field.
import type { Hl7Message, Hl7Segment } from '../hl7v2/message.js';
import { AdapterError } from '../cdsr/errors.js';

interface Position {
  readonly field: number;
  readonly repetition?: number;
  readonly component?: number;
  readonly subcomponent?: number;
}

interface Filter extends Position {
  readonly negate: boolean;
  readonly values: readonly string[];
}

export interface Hl7Path extends Position {
  readonly text: string;
  readonly segment: string;
  readonly occurrence?: number;
  readonly filter?: Filter;
}

export class PathSyntaxError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HL7_PATH_SYNTAX', message, options);
  }
}

const POSITION = /^(\d{1,3})(?:\((\d{1,3})\))?(?:\.(\d{1,3})(?:\.(\d{1,3}))?)?$/;
const PATH = /^([A-Z][A-Z0-9]{2})(?:\[([^\]]*)\])?(?:\((\d{1,3})\))?-(.+)$/;

function position(text: string, where: string): Position {
  const m = POSITION.exec(text);
  if (!m) throw new PathSyntaxError(`${where} "${text}" is not field(.component(.subcomponent)), e.g. 3 or 3.1 or 3(2).1`);
  const n = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  const p = { field: Number(m[1]), repetition: n(m[2]), component: n(m[3]), subcomponent: n(m[4]) };
  if ([p.field, p.repetition, p.component, p.subcomponent].some((x) => x === 0)) {
    throw new PathSyntaxError(`${where} "${text}": positions start at 1`);
  }
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as Position;
}

export function parseHl7Path(text: string): Hl7Path {
  const m = PATH.exec(text.trim());
  if (!m) throw new PathSyntaxError(`"${text}" is not an HL7 path such as PID-8, OBR-4.2 or OBX[3.1=CDS-GCODE]-5`);
  const [, segment, filterText, occurrence, pos] = m;
  let filter: Filter | undefined;
  if (filterText !== undefined) {
    const f = /^([0-9.()]+)\s*(!?=)\s*(.*)$/.exec(filterText);
    if (!f) throw new PathSyntaxError(`filter [${filterText}] in "${text}" is not [field=value] or [field!=value]`);
    filter = { ...position(f[1]!, 'filter field'), negate: f[2] === '!=', values: f[3]!.split('|').map((v) => v.trim()) };
  }
  return {
    text: text.trim(),
    segment: segment!,
    ...(occurrence !== undefined ? { occurrence: Number(occurrence) } : {}),
    ...(filter ? { filter } : {}),
    ...position(pos!, 'position'),
  };
}

function values(segment: Hl7Segment, p: Position): string[] {
  const field = segment.fields[p.field - 1];
  if (!field) return [];
  const reps = p.repetition !== undefined ? [field[p.repetition - 1]] : field;
  const out: string[] = [];
  for (const rep of reps) {
    if (!rep) continue;
    if (p.component === undefined) {
      // A whole field: its first component's first subcomponent is what a terser gives.
      out.push(rep[0]?.[0] ?? '');
    } else {
      out.push(rep[p.component - 1]?.[(p.subcomponent ?? 1) - 1] ?? '');
    }
  }
  return out;
}

function matches(segment: Hl7Segment, f: Filter): boolean {
  const found = values(segment, f).some((v) => f.values.includes(v));
  return f.negate ? !found : found;
}

/** Every non-empty value the path selects, in message order. */
export function evaluateHl7Path(message: Hl7Message, path: Hl7Path): string[] {
  let segments = message.segments.filter((s) => s.name === path.segment);
  if (path.filter) segments = segments.filter((s) => matches(s, path.filter!));
  if (path.occurrence !== undefined) {
    const one = segments[path.occurrence - 1];
    segments = one ? [one] : [];
  }
  const out: string[] = [];
  for (const s of segments) for (const v of values(s, path)) if (v.trim() !== '') out.push(v);
  return out;
}
