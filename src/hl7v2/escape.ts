// HL7 v2 escape sequences (v2.5 §2.7), for text read with the standard encoding characters.

const NAMED: Readonly<Record<string, string>> = { F: '|', S: '^', T: '&', R: '~', E: '\\', '.br': '\n', H: '', N: '' };

/** Decodes \F\ \S\ \T\ \R\ \E\ \Xhh..\ \.br\ (and drops \H\ \N\); unknown sequences stay as sent. */
export function unescapeHl7(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\([^\\]*)\\/g, (whole, body: string) => {
    const named = NAMED[body];
    if (named !== undefined) return named;
    if (/^X([0-9A-Fa-f]{2})+$/.test(body)) {
      return Buffer.from(body.slice(1), 'hex').toString('latin1');
    }
    return whole;
  });
}

/** Escapes text for an ER7 field with the standard encoding characters. */
export function escapeHl7(text: string): string {
  return text.replace(/\r\n|[\\|^&~\r\n]/g, (ch) => {
    switch (ch) {
      case '\\':
        return '\\E\\';
      case '|':
        return '\\F\\';
      case '^':
        return '\\S\\';
      case '&':
        return '\\T\\';
      case '~':
        return '\\R\\';
      default:
        return '\\.br\\';
    }
  });
}
