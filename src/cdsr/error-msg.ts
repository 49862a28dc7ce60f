// NRDR's Error_Msg strings ("CD2001:Missing Transaction_ID|CD2011:Missing ...") as lists.

export interface NrdrMessage {
  /** The code, e.g. "CD2001"; "" when a part carries no code. */
  readonly code: string;
  readonly message: string;
}

// The spec prints CD2062 with a Cyrillic "С"; fold look-alike letters so that codes compare.
const LOOKALIKES: Readonly<Record<string, string>> = { '\u0421': 'C', '\u0441': 'C', '\u0414': 'D' };

function foldCode(code: string): string {
  return code.replace(/[\u0421\u0441\u0414]/g, (ch) => LOOKALIKES[ch] ?? ch).toUpperCase();
}

const CODE = /^\s*([A-Za-z\u0421\u0441\u0414]{2}\d{4})\s*:\s*/;

/** Splits an Error_Msg at `|`; empty, null or blank parts give nothing. */
export function parseErrorMsg(errorMsg: string | null | undefined): NrdrMessage[] {
  if (errorMsg === null || errorMsg === undefined) return [];
  const out: NrdrMessage[] = [];
  for (const part of errorMsg.split('|')) {
    if (part.trim() === '') continue;
    const m = CODE.exec(part);
    out.push(m ? { code: foldCode(m[1]!), message: part.slice(m[0].length).trim() } : { code: '', message: part.trim() });
  }
  return out;
}

/** The inverse, as NRDR writes it. */
export function formatErrorMsg(messages: readonly NrdrMessage[]): string {
  return messages.map((m) => (m.code === '' ? m.message : `${m.code}:${m.message}`)).join('|');
}
