// Splitting a file that holds many messages into the messages, each with its place in the file
// (1-based index and line): HL7 batches (FHS/BHS … BTS/FTS), ER7 messages one after another
// (with or without blank lines or MLLP framing), Mirth Connect message exports (XML), and NDJSON
// of FHIR resources. Whatever is neither a message nor an envelope is reported, never dropped.
import type { Problem } from '../cdsr/problem.js';

export type SplitKind = 'hl7' | 'fhir';
export type Container = 'hl7' | 'hl7-batch' | 'mirth-xml' | 'ndjson' | 'json';

export interface SplitMessage {
  /** 1-based position among the file's messages. */
  readonly index: number;
  /** 1-based line of the file where the message starts. */
  readonly line: number;
  readonly kind: SplitKind;
  readonly text: string;
}

export interface SplitResult {
  readonly container: Container;
  readonly messages: SplitMessage[];
  /** Text that is no message (stray lines, an export entry without content), batch counts that disagree. */
  readonly problems: Problem[];
}

const problem = (code: Problem['code'], message: string, line: number, severity: Problem['severity'] = 'error'): Problem => ({
  code,
  message,
  severity,
  scope: 'file',
  path: '',
  line,
});

/** The messages of one file's text. */
export function splitMessages(text: string): SplitResult {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  // eslint-disable-next-line no-control-regex -- an MLLP start byte before the content
  const first = /\S/.exec(body.replace(/\x0b/g, ' '));
  const start = first ? body[first.index] : undefined;
  if (start === '<') return splitMirthXml(body);
  if (start === '{' || start === '[') return splitJson(body);
  return splitEr7(body);
}

// ---------------------------------------------------------------- ER7

const ENVELOPE = new Set(['FHS', 'BHS', 'BTS', 'FTS']);

/** Lines as the file has them (CR, LF or CRLF ends), with their 1-based numbers. */
function lines(text: string): { n: number; text: string }[] {
  return text.split(/\r\n|\n|\r/).map((t, i) => ({ n: i + 1, text: t }));
}

function splitEr7(text: string): SplitResult {
  const messages: SplitMessage[] = [];
  const problems: Problem[] = [];
  let current: { line: number; segs: string[] } | undefined;
  const close = () => {
    if (current) messages.push({ index: messages.length + 1, line: current.line, kind: 'hl7', text: current.segs.join('\r') });
    current = undefined;
  };
  let batches = 0;
  let inBatch = 0;
  const counts: { seg: string; declared: number; actual: number; line: number }[] = [];
  let batched = false;
  for (const { n, text: raw } of lines(text)) {
    // MLLP framing and blanks around a message belong to no segment
    // eslint-disable-next-line no-control-regex -- MLLP start (VT) and end (FS) bytes
    const seg = raw.replace(/^\x0b+/, '').replace(/\x1c+$/, '');
    if (seg.trim() === '') continue;
    const name = seg.slice(0, 3);
    if (name === 'MSH') {
      close();
      current = { line: n, segs: [seg] };
      inBatch++;
      continue;
    }
    if (ENVELOPE.has(name) && (seg.length === 3 || !/[A-Za-z0-9]/.test(seg[3]!))) {
      close();
      batched = true;
      if (name === 'BHS') {
        inBatch = 0;
        batches++;
      } else if (name === 'BTS') {
        const declared = envelopeCount(seg);
        if (declared !== undefined) counts.push({ seg: 'BTS-1', declared, actual: inBatch, line: n });
        inBatch = 0;
      } else if (name === 'FTS') {
        const declared = envelopeCount(seg);
        if (declared !== undefined) counts.push({ seg: 'FTS-1', declared, actual: batches, line: n });
      }
      continue;
    }
    if (current) current.segs.push(seg);
    else problems.push(problem('HL7_INVALID', `line ${n} is outside any message (no MSH before it); it is not mapped`, n));
  }
  close();
  // no message at all: the text goes to the HL7 reader whole, which says what it is not
  if (messages.length === 0 && !batched && text.trim() !== '') return { container: 'hl7', messages: [{ index: 1, line: 1, kind: 'hl7', text }], problems: [] };
  for (const c of counts) {
    if (c.declared !== c.actual) {
      const what = c.seg === 'BTS-1' ? 'message(s) in its batch' : 'batch(es) in the file';
      problems.push(problem('HL7_INVALID', `${c.seg} says ${c.declared} ${what}, the file holds ${c.actual}`, c.line, 'warning'));
    }
  }
  return { container: batched ? 'hl7-batch' : 'hl7', messages, problems };
}

function envelopeCount(seg: string): number | undefined {
  const v = seg.slice(4).split(seg[3] ?? '|')[0] ?? '';
  return /^\d+$/.test(v) ? Number(v) : undefined;
}

// ---------------------------------------------------------------- JSON and NDJSON

function splitJson(text: string): SplitResult {
  try {
    JSON.parse(text);
    return { container: 'json', messages: [{ index: 1, line: 1 + leadingLines(text), kind: 'fhir', text }], problems: [] };
  } catch {
    // not one document: one per line, if the first line is one
  }
  const all = lines(text).filter((l) => l.text.trim() !== '');
  const head = all[0];
  if (!head || !parses(head.text)) {
    // one broken document: its own reader names the line and column
    return { container: 'json', messages: [{ index: 1, line: 1, kind: 'fhir', text }], problems: [] };
  }
  const messages: SplitMessage[] = [];
  const problems: Problem[] = [];
  for (const l of all) {
    if (parses(l.text)) messages.push({ index: messages.length + 1, line: l.n, kind: 'fhir', text: l.text });
    else problems.push(problem('JSON_SYNTAX', `line ${l.n} is not a JSON document; it is not mapped`, l.n));
  }
  return { container: 'ndjson', messages, problems };
}

function parses(t: string): boolean {
  try {
    const v = JSON.parse(t) as unknown;
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

function leadingLines(text: string): number {
  const m = /^\s*/.exec(text)![0];
  return m.split(/\r\n|\n|\r/).length - 1;
}

// ---------------------------------------------------------------- Mirth Connect exports

/*
 * Mirth Connect ("Export Results" of the message browser, and its API) writes each message as
 * <message> … <connectorMessages> <entry> <int>0</int> <connectorMessage> … <raw> … <content>ER7,
 * XML-escaped</content> …; metadata id 0 is the source connector, whose raw content is what the
 * sender sent. Older exports (Mirth 2) hold it in <rawData>. Only those elements are read.
 */
function splitMirthXml(text: string): SplitResult {
  const messages: SplitMessage[] = [];
  const problems: Problem[] = [];
  const lineAt = lineCounter(text);
  const open = /<message(?:\s[^>]*)?>/g;
  let m: RegExpExecArray | null;
  let seen = 0;
  while ((m = open.exec(text)) !== null) {
    seen++;
    const end = text.indexOf('</message>', m.index);
    const line = lineAt(m.index);
    if (end < 0) {
      problems.push(problem('HL7_INVALID', `message ${seen} of the export (line ${line}) has no </message>; it is not mapped`, line));
      break;
    }
    const inner = text.slice(m.index + m[0].length, end);
    const content = sourceContent(inner);
    if (content === undefined) {
      problems.push(
        problem(
          'HL7_INVALID',
          `message ${seen} of the export (line ${line}) holds no raw content (stored as metadata only, or encrypted); it is not mapped`,
          line,
        ),
      );
    } else {
      const decoded = decodeXml(content)
        .replace(/^\s+/, '')
        .replace(/[\r\n]+$/, '');
      const kind: SplitKind = decoded.startsWith('{') ? 'fhir' : 'hl7';
      messages.push({ index: messages.length + 1, line, kind, text: decoded });
    }
    open.lastIndex = end + '</message>'.length;
  }
  if (seen === 0) problems.push(problem('HL7_INVALID', 'an XML file without <message> elements (expected a Mirth Connect message export)', 1));
  return { container: 'mirth-xml', messages, problems };
}

function sourceContent(inner: string): string | undefined {
  const legacy = element(inner, 'rawData');
  if (legacy !== undefined) return legacy;
  // the source connector's entry (metadata id 0), else the first with raw content
  const entries = [...inner.matchAll(/<connectorMessage(?:\s[^>]*)?>([\s\S]*?)<\/connectorMessage>/g)].map((e) => e[1]!);
  const source = entries.find((e) => element(e, 'metaDataId')?.trim() === '0') ?? entries[0] ?? inner;
  const raw = element(source, 'raw');
  if (raw === undefined || element(raw, 'encrypted')?.trim() === 'true') return undefined;
  const content = element(raw, 'content');
  return content === undefined || content.trim() === '' ? undefined : content;
}

function element(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? m[1] : undefined;
}

const NAMED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML text to characters: CDATA sections, the five named entities, numeric references. */
export function decodeXml(s: string): string {
  return s.replace(/<!\[CDATA\[([\s\S]*?)\]\]>|&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (all, cdata: string | undefined, ent: string | undefined) => {
    if (cdata !== undefined) return cdata;
    if (ent === undefined) return all;
    if (ent.startsWith('#')) {
      const code = ent[1] === 'x' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return NAMED[ent] ?? all;
  });
}

/** 1-based line of an offset, counting CR, LF and CRLF as one end each. */
function lineCounter(text: string): (offset: number) => number {
  const starts: number[] = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1);
  }
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}
