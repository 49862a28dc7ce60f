import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { readYamlTable, YAML_KEPT_CHARS } from './yaml-table.js';

const Schema = z.strictObject({ name: z.string(), notes: z.string() });

describe('readYamlTable', () => {
  it('the same text gives the same frozen reading, whatever the file; one with problems is read again, naming its file', () => {
    const text = 'name: CT\nnotes: short\n';
    const first = readYamlTable('a.yaml', text, Schema);
    assert.equal(readYamlTable('b.yaml', text, Schema), first);
    assert.deepEqual(first.value, { name: 'CT', notes: 'short' });
    assert.ok(Object.isFrozen(first.value));
    assert.equal(first.lineOf(['notes']), 2);
    const bad = readYamlTable('a.yaml', 'name: CT\n', Schema);
    const badAgain = readYamlTable('b.yaml', 'name: CT\n', Schema);
    assert.deepEqual([bad.problems.map((p) => p.file), badAgain.problems.map((p) => p.file)], [['a.yaml'], ['b.yaml']]);
  });

  it('keeps no text longer than YAML_KEPT_CHARS (a reading holds its parsed document, some 20 bytes a character)', () => {
    const long = `name: CT\nnotes: ${'x'.repeat(YAML_KEPT_CHARS)}\n`;
    const first = readYamlTable('a.yaml', long, Schema);
    assert.equal(first.problems.length, 0);
    assert.notEqual(readYamlTable('a.yaml', long, Schema), first);
    assert.ok(YAML_KEPT_CHARS <= 256 * 1024);
  });
});
