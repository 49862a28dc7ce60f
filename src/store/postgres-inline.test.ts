// Values written into a statement as literals (the PostgreSQL executor's batches of deferred
// statements, sent without parameters): each value a quoted literal, nothing of it read as SQL.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { inlined } from './postgres-executor.js';
import { runs } from '../../test/runs.js';

describe('PostgreSQL statements with their values written in', () => {
  it('quotes every value as a literal of unknown type; NULL bare; a NUL stored as U+FFFD', () => {
    assert.equal(
      inlined('INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)', ["O'Brien", 42, null, 'a\u0000b']),
      "INSERT INTO t (a, b, c, d) VALUES ('O''Brien', '42', NULL, 'a\uFFFDb')",
    );
    // a backslash in an escape-string literal, whatever standard_conforming_strings says
    assert.equal(inlined('SELECT ?', ['C:\\x']), "SELECT  E'C:\\\\x'");
  });

  it('other scripts and a quote after a backslash stay inside the one literal', () => {
    assert.equal(inlined('SELECT ?', ["é😀\u2028'"]), "SELECT 'é😀\u2028'''");
    assert.equal(inlined('SELECT ?', ["\\'; DROP TABLE t; --"]), "SELECT  E'\\\\''; DROP TABLE t; --'");
  });

  it('a question mark inside a value is not taken for a placeholder', () => {
    assert.equal(inlined('SELECT ?, ?', ['why?', 'x']), "SELECT 'why?', 'x'");
  });

  it('refuses a statement whose placeholders and values do not match', () => {
    assert.throws(() => inlined('SELECT ?, ?', ['x']), /more placeholders than values \(1\)/);
    assert.throws(() => inlined('SELECT ?', ['x', 'y']), /has 1 placeholders for 2 values/);
  });

  it('any text gives one literal that opens and closes once (property)', () => {
    // any code point, lone surrogates included (fast-check's unit 'binary' draws none, its first
    // use costs a second of CPU and it hardly ever draws a quote or a backslash), with the
    // characters that matter here drawn often
    const codePoint = (max: number) => fc.integer({ min: 0, max }).map((c) => String.fromCodePoint(c));
    const char = fc.oneof(fc.constantFrom("'", '\\', '?', '\u0000'), codePoint(0x7f), codePoint(0x10ffff));
    fc.assert(
      fc.property(fc.string({ unit: char }), (v) => {
        const text = inlined('SELECT ?', [v]).slice('SELECT '.length).replace(/^ E/, '');
        assert.ok(text.startsWith("'") && text.endsWith("'"));
        // inside, every quote is doubled: no quote ends the literal early
        assert.equal(text.slice(1, -1).replace(/''/g, '').includes("'"), false);
      }),
      { numRuns: runs(500) },
    );
  });
});
