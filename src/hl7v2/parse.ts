// ER7 parsing: the checks and repairs hl7-standard does not do (MLLP framing, BOM, mixed or
// missing segment ends, custom encoding characters, escape sequences, segments without fields,
// batches, limits), then the split into our model. The split is our own direct one (a tenth of
// the cost); `parseHl7Reference` does the same with hl7-standard splitting, and a differential
// test holds the two equal on every sample, the public corpus and fuzz cases (parse.test.ts).
import HL7, { type Hl7StdField, type Hl7StdSegment } from 'hl7-standard';
import { AdapterError, errorMessage } from '../cdsr/errors.js';
import { unescapeHl7 } from './escape.js';
import type { Hl7Field, Hl7Message, Hl7Repetition, Hl7Segment } from './message.js';
import { valueAt } from './message.js';

export type Hl7ParseErrorCode = 'HL7_NOT_HL7' | 'HL7_BATCH' | 'HL7_BAD_SEGMENT' | 'HL7_BAD_ENCODING' | 'HL7_PARSER' | 'HL7_LIMIT';

/**
 * Bounds on what one message may hold, far above any real message: past them a message is refused
 * naming the limit, before the parser spends seconds (or its stack) on it.
 */
export const HL7_LIMITS = { segments: 5_000, fieldsPerSegment: 500, repetitionsPerSegment: 5_000, componentsPerSegment: 20_000 } as const;

export class Hl7ParseError extends AdapterError {
  declare readonly code: Hl7ParseErrorCode;
  constructor(
    code: Hl7ParseErrorCode,
    message: string,
    /** 1-based line of the offending segment, when there is one. */
    readonly line?: number,
    options?: { cause?: unknown },
    /** The message's MSH alone, when it could be read: the ACK still names the message and its sender. */
    readonly header?: Hl7Message,
  ) {
    super(code, message, options);
  }
}

export type Hl7ParseResult = { ok: true; message: Hl7Message } | { ok: false; error: Hl7ParseError };

const STANDARD = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' } as const;
type Encoding = { -readonly [K in keyof typeof STANDARD]: string };

// eslint-disable-next-line no-control-regex -- MLLP end block (FS)
const TRAILING = /[\x1c\s]/;

/** Removes MLLP framing (VT … FS CR) and a UTF-8 BOM, wherever a sender left them. */
export function stripFraming(raw: string): string {
  let s = raw;
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  // eslint-disable-next-line no-control-regex -- MLLP start block (VT)
  s = s.replace(/^[\s\x0b]+/, '');
  // the MLLP end block (FS CR) and trailing space, read back from the end (a regex anchored at the
  // end would try every position of the text)
  let end = s.length;
  while (end > 0 && TRAILING.test(s[end - 1]!)) end--;
  return end < s.length ? s.slice(0, end) : s;
}

/** Parses one ER7 message; never throws. */
export function parseHl7(raw: string): Hl7ParseResult {
  return parseWith(raw, splitDirect);
}

/** The same parse with hl7-standard splitting the segments: the reference the direct split is tested against. */
export function parseHl7Reference(raw: string): Hl7ParseResult {
  return parseWith(raw, splitWithHl7Standard);
}

/** Splits segment lines in the standard encoding (each with its field separator) into our model. */
type Splitter = (lines: readonly string[]) => Hl7Segment[];

function parseWith(raw: string, split: Splitter): Hl7ParseResult {
  let error: Hl7ParseError;
  try {
    return { ok: true, message: parseOrThrow(raw, split) };
  } catch (e) {
    error = e instanceof Hl7ParseError ? e : new Hl7ParseError('HL7_PARSER', `the HL7 parser failed: ${errorMessage(e)}`, undefined, { cause: e });
  }
  // a message whose MSH reads but a later line does not: answered with its own MSH-10 and parties;
  // an MSH refused itself (odd MSH-2) still names them as far as a split on MSH-1 reads them
  const msh = stripFraming(raw).split(/\r\n|\n|\r/)[0] ?? '';
  if (error.code === 'HL7_NOT_HL7' || !msh.startsWith('MSH')) return { ok: false, error };
  let header: Hl7Message | undefined;
  if (error.line !== 1) {
    try {
      header = parseOrThrow(msh, split);
    } catch {
      header = undefined;
    }
  }
  header ??= looseHeader(msh);
  return header ? { ok: false, error: new Hl7ParseError(error.code, error.message, error.line, { cause: error.cause }, header) } : { ok: false, error };
}

/**
 * The MSH read by splitting it on its field separator (MSH-1, the 4th character) alone: for the
 * ACK of a message refused for its header (Mirth matches ACKs by MSA-2 = MSH-10). Components are
 * split on MSH-2's first character when it can be one; nothing is unescaped (the escape character
 * is not known), the ACK escapes what it echoes. Undefined when MSH-1 cannot be a separator.
 */
export function looseHeader(mshLine: string): Hl7Message | undefined {
  const sep = mshLine[3];
  if (!mshLine.startsWith('MSH') || sep === undefined || /[A-Za-z0-9\s]/.test(sep)) return undefined;
  // MSH-12 is the last field read (one more when MSH-2 is missing)
  const parts = mshLine.split(sep, 14);
  // a letter, digit or space where MSH-2 goes is MSH-3 sent without MSH-2 (as readEncoding says): the fields are one place early
  if (/[A-Za-z0-9\s]/.test((parts[1] ?? '').slice(0, 4))) parts.splice(1, 0, '');
  const first = parts[1]?.[0];
  const comp = first !== undefined && !/[A-Za-z0-9\s]/.test(first) && first !== sep ? first : '^';
  const fields: Hl7Field[] = [[[[sep]]], [[[parts[1] ?? '']]], ...parts.slice(2).map((f): Hl7Field => [f.split(comp).map((c) => [c])])];
  const segment: Hl7Segment = { name: 'MSH', fields, line: 1 };
  return {
    segments: [segment],
    messageType: valueAt(segment, 9, 1),
    triggerEvent: valueAt(segment, 9, 2),
    structure: valueAt(segment, 9, 3),
    controlId: valueAt(segment, 10),
    sendingApplication: valueAt(segment, 3),
    sendingFacility: valueAt(segment, 4),
    dateTime: valueAt(segment, 7),
    version: valueAt(segment, 12),
  };
}

function parseOrThrow(raw: string, split: Splitter): Hl7Message {
  const text = stripFraming(raw);
  const lines = text.split(/\r\n|\n|\r/).filter((l) => l.trim() !== '');
  const first = lines[0];
  if (first === undefined || !first.startsWith('MSH') || first.length < 8) {
    throw new Hl7ParseError('HL7_NOT_HL7', 'not an HL7 v2 message: it does not start with an MSH segment');
  }
  const mshCount = lines.filter((l) => l.startsWith('MSH')).length;
  if (mshCount > 1) {
    throw new Hl7ParseError('HL7_BATCH', `${mshCount} messages in one request; send one message per request`);
  }
  const enc = readEncoding(first);
  checkLimits(lines, enc);
  lines.forEach((line, i) => {
    if (!/^[A-Z][A-Z0-9]{2}$/.test(line.slice(0, 3)) || (line.length > 3 && line[3] !== enc.field)) {
      throw new Hl7ParseError('HL7_BAD_SEGMENT', `line ${i + 1} is not a segment (it must start with a 3-character segment name)`, i + 1);
    }
  });
  const standard = isStandard(enc) ? lines : lines.map((l, i) => toStandardEncoding(l, enc, i === 0));
  // a segment without fields is given its field separator (hl7-standard drops lines without one)
  const segments = split(standard.map((l) => (l.length === 3 ? `${l}|` : l)));
  const msh = segments[0]!;
  return {
    segments,
    messageType: valueAt(msh, 9, 1),
    triggerEvent: valueAt(msh, 9, 2),
    structure: valueAt(msh, 9, 3),
    controlId: valueAt(msh, 10),
    sendingApplication: valueAt(msh, 3),
    sendingFacility: valueAt(msh, 4),
    dateTime: valueAt(msh, 7),
    version: valueAt(msh, 12),
  };
}

function checkLimits(lines: readonly string[], enc: Encoding): void {
  if (lines.length > HL7_LIMITS.segments) throw new Hl7ParseError('HL7_LIMIT', `${lines.length} segments: more than the limit of ${HL7_LIMITS.segments}`);
  // the encoding characters are single UTF-16 units (readEncoding), compared as codes
  const field = enc.field.charCodeAt(0);
  const repetition = enc.repetition.charCodeAt(0);
  const component = enc.component.charCodeAt(0);
  lines.forEach((line, i) => {
    let fields = 0;
    let reps = 0;
    let comps = 0;
    for (let k = 0; k < line.length; k++) {
      const c = line.charCodeAt(k);
      if (c === field) fields++;
      else if (c === repetition) reps++;
      else if (c === component) comps++;
    }
    const over =
      fields > HL7_LIMITS.fieldsPerSegment
        ? `${fields} fields (limit ${HL7_LIMITS.fieldsPerSegment})`
        : reps > HL7_LIMITS.repetitionsPerSegment
          ? `${reps} repetitions (limit ${HL7_LIMITS.repetitionsPerSegment})`
          : comps > HL7_LIMITS.componentsPerSegment
            ? `${comps} components (limit ${HL7_LIMITS.componentsPerSegment})`
            : undefined;
    if (over !== undefined) throw new Hl7ParseError('HL7_LIMIT', `line ${i + 1} (${line.slice(0, 3)}) has ${over}`, i + 1);
  });
}

function readEncoding(msh: string): Encoding {
  const field = msh[3]!;
  if (/[A-Za-z0-9\s]/.test(field)) throw new Hl7ParseError('HL7_BAD_ENCODING', `MSH-1 "${field}" is not a field separator`, 1);
  const end = msh.indexOf(field, 4);
  const chars = msh.slice(4, end === -1 ? undefined : end);
  if (chars.length < 3 || new Set([field, ...chars.slice(0, 4)]).size !== Math.min(chars.length, 4) + 1) {
    throw new Hl7ParseError('HL7_BAD_ENCODING', `MSH-2 "${chars}" does not hold distinct encoding characters`, 1);
  }
  // a letter, digit or space there is the start of MSH-3 sent without MSH-2, not a separator
  if (/[A-Za-z0-9\s]/.test(chars.slice(0, 4))) {
    throw new Hl7ParseError('HL7_BAD_ENCODING', `MSH-2 "${chars}" holds a letter, digit or space: the encoding characters (usually ^~\\&) are missing`, 1);
  }
  return { field, component: chars[0]!, repetition: chars[1]!, escape: chars[2]!, subcomponent: chars[3] ?? '&' };
}

function isStandard(e: Encoding): boolean {
  return (Object.keys(STANDARD) as (keyof Encoding)[]).every((k) => e[k] === STANDARD[k]);
}

// Re-encodes a line sent with custom encoding characters into the standard ones: separators
// are swapped, and standard characters that were plain data there are escaped here.
function toStandardEncoding(line: string, enc: Encoding, isMsh: boolean): string {
  const map = new Map<string, string>([
    [enc.field, '|'],
    [enc.component, '^'],
    [enc.repetition, '~'],
    [enc.escape, '\\'],
    [enc.subcomponent, '&'],
  ]);
  const literal: Readonly<Record<string, string>> = { '|': '\\F\\', '^': '\\S\\', '~': '\\R\\', '\\': '\\E\\', '&': '\\T\\' };
  let start = 0;
  let out = '';
  if (isMsh) {
    const mshEnd = line.indexOf(enc.field, 4);
    out = 'MSH|^~\\&';
    start = mshEnd === -1 ? line.length : mshEnd;
  }
  const named: Readonly<Record<string, string>> = { F: enc.field, S: enc.component, T: enc.subcomponent, R: enc.repetition, E: enc.escape };
  for (let i = start; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === enc.escape) {
      const end = line.indexOf(enc.escape, i + 1);
      if (end !== -1) {
        // \S\ and its kin stand for this message's own separators: plain data once re-encoded
        const body = line.slice(i + 1, end);
        const plain = named[body];
        out += plain !== undefined ? (literal[plain] ?? plain) : `\\${body}\\`;
        i = end;
        continue;
      }
    }
    const mapped = map.get(ch);
    out += mapped ?? literal[ch] ?? ch;
  }
  return out;
}

const MSH_1: Hl7Field = [[['|']]];
const MSH_2: Hl7Field = [[['^~\\&']]];

/** The direct split: fields by |, repetitions by ~, components by ^, subcomponents by &, each value unescaped. */
function splitDirect(lines: readonly string[]): Hl7Segment[] {
  return lines.map((line, i) => {
    const name = line.slice(0, 3);
    const parts = line.slice(4).split('|');
    const fields: Hl7Field[] = [];
    // MSH-1 is the separator itself and MSH-2 the encoding characters (always the standard ones here)
    if (name === 'MSH') fields.push(MSH_1, MSH_2);
    for (let k = name === 'MSH' ? 1 : 0; k < parts.length; k++) fields.push(splitField(parts[k]!));
    return { name, fields, line: i + 1 };
  });
}

function splitField(v: string): Hl7Field {
  if (v === '') return EMPTY;
  // most fields hold one value, and most repetitions no subcomponent: nothing there is split
  if (v.indexOf('^') === -1 && v.indexOf('~') === -1 && v.indexOf('&') === -1) return [[[unescapeHl7(v)]]];
  if (v.indexOf('~') === -1) return [splitRepetition(v)];
  const out: Hl7Repetition[] = [];
  for (const r of v.split('~')) out.push(splitRepetition(r));
  return out;
}

function splitRepetition(r: string): Hl7Repetition {
  const out: string[][] = [];
  for (const c of r.split('^')) out.push(c.indexOf('&') === -1 ? [unescapeHl7(c)] : c.split('&').map((sub) => unescapeHl7(sub)));
  return out;
}

function splitWithHl7Standard(lines: readonly string[]): Hl7Segment[] {
  const lib = new HL7(lines.join('\r') + '\r');
  lib.transform();
  return Object.values(lib.transformed)
    .flat()
    .sort((a, b) => a.index - b.index)
    .map((s) => convertSegment(s));
}

function convertSegment(s: Hl7StdSegment): Hl7Segment {
  const fields: Hl7Field[] = [];
  const isMsh = s.type === 'MSH';
  if (isMsh) fields.push([[['|']]]);
  const first = isMsh ? 2 : 1;
  let last = first - 1;
  for (const key of Object.keys(s.data)) {
    const n = Number(key.slice(4));
    if (n > last) last = n;
  }
  for (let n = first; n <= last; n++) {
    const v = s.data[`${s.type}.${n}`];
    fields.push(isMsh && n === 2 ? [[['^~\\&']]] : convertField(v));
  }
  return { name: s.type, fields, line: s.index + 1 };
}

const EMPTY: Hl7Field = [[['']]];

function convertField(v: Hl7StdField | undefined): Hl7Field {
  if (v === undefined || v === '') return EMPTY;
  if (typeof v === 'string') return [[[unescapeHl7(v)]]];
  if (Array.isArray(v)) {
    // An array of strings is hl7-standard's form for subcomponents of component 1 (field with
    // '&' but no '^' or '~'); an array of objects is its form for repetitions.
    if (v.every((x): x is string => typeof x === 'string')) return [[v.map(unescapeHl7)]];
    return (v as Record<string, string | string[]>[]).map(convertRepetition);
  }
  return [convertRepetition(v)];
}

function convertRepetition(r: Record<string, string | string[]>): Hl7Repetition {
  const comps: string[][] = [];
  for (const [key, value] of Object.entries(r)) {
    const n = Number(key.slice(key.lastIndexOf('.') + 1));
    comps[n - 1] = Array.isArray(value) ? value.map(unescapeHl7) : [unescapeHl7(value)];
  }
  for (let i = 0; i < comps.length; i++) comps[i] ??= [''];
  return comps;
}
