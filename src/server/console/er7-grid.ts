// The raw HL7 v2 message as a grid an analyst can read: one row per segment, each field labelled
// with its position (PID-3), components with theirs (OBR-4.1), repetitions numbered. Read with
// the message's own delimiters; text that is not ER7 is shown as it is. A line that is not a
// segment (a line break inside a field leaves "RENAL…" on a line of its own) is shown as a broken
// line with its text, never as a segment "REN": the parser refuses it the same way.
import { html, type Html } from './html.js';

export interface GridField {
  /** `PID-3`, `OBR-4.1`, `PID-3[2].1` for the second repetition. */
  readonly position: string;
  readonly value: string;
}

export interface GridSegment {
  readonly kind: 'segment';
  /** Its line in the message (blank lines not counted, as the parser's errors count them). */
  readonly line: number;
  readonly name: string;
  /** 1-based occurrence of this segment name in the message (OBR #2). */
  readonly occurrence: number;
  readonly fields: GridField[];
}

/** A line that does not start with a segment name and the field separator. */
export interface GridBrokenLine {
  readonly kind: 'broken';
  readonly line: number;
  readonly text: string;
}

export type GridLine = GridSegment | GridBrokenLine;

/** The segments of an ER7 message with every non-empty field/component at its position, and its broken lines. */
export function er7Grid(raw: string): GridLine[] {
  const segments = raw.split(/\r\n|\r|\n/).filter((s) => s.trim() !== '');
  const msh = segments.find((s) => s.startsWith('MSH'));
  const fs = msh?.[3] ?? '|';
  const enc = msh?.slice(4, 8) ?? '^~\\&';
  const cs = enc[0] ?? '^';
  const rs = enc[1] ?? '~';
  const seen = new Map<string, number>();
  return segments.map((seg, i): GridLine => {
    const name = seg.slice(0, 3);
    // the parser's own test (hl7v2/parse.ts): a name of three capitals or digits, then the field separator or nothing
    if (!/^[A-Z][A-Z0-9]{2}$/.test(name) || (seg.length > 3 && seg[3] !== fs)) return { kind: 'broken', line: i + 1, text: seg };
    const occurrence = (seen.get(name) ?? 0) + 1;
    seen.set(name, occurrence);
    const parts = seg.split(fs);
    const fields: GridField[] = [];
    // MSH-1 is the field separator itself, so MSH's fields are numbered one further
    const offset = name === 'MSH' ? 1 : 0;
    if (name === 'MSH') fields.push({ position: 'MSH-1', value: fs }, { position: 'MSH-2', value: parts[1] ?? '' });
    parts.forEach((value, i) => {
      if (i === 0 || value === '' || (name === 'MSH' && i === 1)) return;
      const pos = `${name}-${i + offset}`;
      const reps = value.split(rs);
      reps.forEach((rep, r) => {
        const at = reps.length > 1 ? `${pos}[${r + 1}]` : pos;
        const comps = rep.split(cs);
        if (comps.length === 1) {
          if (rep !== '') fields.push({ position: at, value: rep });
          return;
        }
        comps.forEach((c, k) => {
          if (c !== '') fields.push({ position: `${at}.${k + 1}`, value: c });
        });
      });
    });
    return { kind: 'segment', line: i + 1, name, occurrence, fields };
  });
}

export function er7GridHtml(raw: string): Html {
  const grid = er7Grid(raw);
  return html`<table class="er7"><caption>Segments and fields by position</caption><tbody>${grid.map((s) =>
    s.kind === 'broken'
      ? html`<tr class="broken"><th scope="row">Line ${s.line}: not a segment</th><td><p>This line does not start with a segment name and the field separator: most likely a line break inside the segment above it. The message is refused until it is mended (edit a copy).</p><code>${s.text}</code></td></tr>\n`
      : html`<tr><th scope="row">${s.name}${s.occurrence > 1 ? ` #${s.occurrence}` : ''}</th><td>${s.fields.map(
          (f) => html`<span class="f"><span class="pos">${f.position}</span> <span class="v">${f.value}</span></span> `,
        )}</td></tr>\n`,
  )}</tbody></table>`;
}
