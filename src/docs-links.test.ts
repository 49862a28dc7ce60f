// The docs hold together: every relative link of README.md and docs/*.md points to a file that
// exists and, when it names one, to a heading of that file (as GitHub makes its anchors); and the
// README stays short (under 250 lines: the rest belongs in docs/). Read from the files, so a moved
// section or a renamed heading fails here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { PACKAGE_ROOT } from './paths.js';

export const README_MAX_LINES = 250;

/** The lines of a Markdown text outside fenced code blocks (the others are blanked, so line numbers hold). */
function proseLines(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const m = /^\s*(```|~~~)/.exec(line);
    if (m) {
      if (fence === undefined) fence = m[1];
      else if (fence === m[1]) fence = undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/** GitHub's anchor of a heading: lower case, punctuation and symbols dropped, spaces made hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown file offers (a repeated heading gets -1, -2…). */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of proseLines(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every relative link of a Markdown file that leads nowhere, as `file:line: target: why`. */
export function brokenLinks(root: string, file: string): string[] {
  const path = join(root, file);
  const out: string[] = [];
  proseLines(readFileSync(path, 'utf8')).forEach((line, i) => {
    // inline code may show link syntax without being a link
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [ref = '', anchor] = target.split('#', 2);
      const dest = ref === '' ? path : resolve(dirname(path), decodeURIComponent(ref));
      const where = `${file}:${i + 1}: ${target}`;
      if (relative(root, dest).startsWith('..')) out.push(`${where}: outside the repository`);
      else if (!existsSync(dest)) out.push(`${where}: no such file`);
      else if (anchor !== undefined) {
        if (statSync(dest).isDirectory() || !dest.endsWith('.md')) out.push(`${where}: an anchor into a file that is not Markdown`);
        else if (!anchorsOf(readFileSync(dest, 'utf8')).has(anchor)) out.push(`${where}: no heading "${anchor}" in ${relative(root, dest)}`);
      }
    }
  });
  return out;
}

/** README.md and every .md under docs/ (docs/mirth/README.md too), relative to the root. */
export function docFiles(root: string): string[] {
  const docs = existsSync(join(root, 'docs'))
    ? readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
        .filter((n) => n.endsWith('.md'))
        .map((n) => n.split(sep).join('/'))
    : [];
  return ['README.md', ...docs.sort().map((n) => `docs/${n}`)];
}

function lineCount(text: string): number {
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

describe('docs links', () => {
  it('every relative link of README.md and docs/**/*.md leads to a file and heading that exist', () => {
    assert.deepEqual(
      docFiles(PACKAGE_ROOT).flatMap((f) => brokenLinks(PACKAGE_ROOT, f)),
      [],
    );
  });

  it(`README.md is under ${README_MAX_LINES} lines`, () => {
    const n = lineCount(readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8'));
    assert.ok(n < README_MAX_LINES, `README.md has ${n} lines; move detail to docs/ and link to it`);
  });

  it('names each broken link: a missing file, a missing heading, a link out of the tree; code is not read', () => {
    const root = mkdtempSync(join(tmpdir(), 'cdsr-docs-'));
    try {
      mkdirSync(join(root, 'docs'));
      writeFileSync(
        join(root, 'README.md'),
        [
          '# Title',
          'See [ops](docs/ops.md#a-transactions-life) and [gone](docs/gone.md).',
          'Also [bad](docs/ops.md#no-such-heading), [self](#title), [web](https://example.org/x#y).',
          '`[not a link](nowhere.md)`',
          '```',
          '[in code](nowhere.md)',
          '```',
          '[out](../outside.md) [dir anchor](docs#x)',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(root, 'docs', 'ops.md'),
        "# Ops\n\n## A transaction's life\n\n## `cdsr-adapter submit`\n\n## Ops\n\n[back](../README.md#title) [dup](#ops-1)\n",
      );
      assert.deepEqual(docFiles(root), ['README.md', 'docs/ops.md']);
      assert.deepEqual(
        docFiles(root).flatMap((f) => brokenLinks(root, f)),
        [
          'README.md:2: docs/gone.md: no such file',
          'README.md:3: docs/ops.md#no-such-heading: no heading "no-such-heading" in docs/ops.md',
          'README.md:8: ../outside.md: outside the repository',
          'README.md:8: docs#x: an anchor into a file that is not Markdown',
        ],
      );
      assert.deepEqual([...anchorsOf(readFileSync(join(root, 'docs', 'ops.md'), 'utf8'))], ['ops', 'a-transactions-life', 'cdsr-adapter-submit', 'ops-1']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('makes anchors as GitHub does', () => {
    assert.equal(slug('§5 Validation and error codes'), '5-validation-and-error-codes');
    assert.equal(slug('Failed: sending again under a new Transaction_ID'), 'failed-sending-again-under-a-new-transaction_id');
    assert.equal(slug("Importing value sets from ACR's workbook: `import-valuesets`"), 'importing-value-sets-from-acrs-workbook-import-valuesets');
    assert.equal(slug('Finding an order (Orders page)'), 'finding-an-order-orders-page');
    assert.equal(slug('See [the spec](x.md) now'), 'see-the-spec-now');
  });
});
