// Plain-text tables for the CLI: columns padded to their widest cell; long cells are cut, except
// in the last column (the message), which is never shortened.

const MAX_CELL = 80;

function cell(s: string, last: boolean): string {
  const flat = s.replace(/[\r\n\t]+/g, ' ');
  return !last && flat.length > MAX_CELL ? `${flat.slice(0, MAX_CELL - 1)}\u2026` : flat;
}

export function renderTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [head, ...rows].map((r) => r.map((c, i) => cell(c, i === r.length - 1)));
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return all.map(line).join('\n') + '\n';
}
