// The `when` condition language: each form parses to its operator, path and values (paths with
// their own brackets and FHIRPath with its own comparisons stay whole); each malformed condition
// gets its reason; and each operator's verdict over the values a path read, with the words the
// trace shows when it does not hold.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { conditionText, isConstantPath, parseCondition, whyNot, type ParsedCondition } from './condition.js';
import { runs } from '../../test/runs.js';

const parsed = (text: string): ParsedCondition => {
  const c = parseCondition(text);
  assert.ok(typeof c !== 'string', c as string);
  return c;
};

describe('parseCondition', () => {
  it('reads every form', () => {
    assert.deepEqual(parsed('ORC-1 = NW'), { path: 'ORC-1', op: '=', values: ['NW'] });
    assert.deepEqual(parsed('ORC-1 != CA'), { path: 'ORC-1', op: '!=', values: ['CA'] });
    assert.deepEqual(parsed('ORC-1 in [NW, XO]'), { path: 'ORC-1', op: 'in', values: ['NW', 'XO'] });
    assert.deepEqual(parsed('ORC-1 not in [CA,DC]'), { path: 'ORC-1', op: 'not in', values: ['CA', 'DC'] });
    assert.deepEqual(parsed('ORC-1 NOT IN [CA]'), { path: 'ORC-1', op: 'not in', values: ['CA'] });
    assert.deepEqual(parsed('PV1-2 exists'), { path: 'PV1-2', op: 'exists', values: [] });
    assert.deepEqual(parsed('  PV1-2   empty '), { path: 'PV1-2', op: 'empty', values: [] });
    assert.deepEqual(parsed('ORC-1=NW'), { path: 'ORC-1', op: '=', values: ['NW'] });
  });

  it("keeps a path's own brackets and comparisons: HL7 filters, FHIRPath where(), quoted values", () => {
    assert.deepEqual(parsed('OBX[3.1=CDS-DTTM]-5 exists'), { path: 'OBX[3.1=CDS-DTTM]-5', op: 'exists', values: [] });
    assert.deepEqual(parsed('OBX[3.1!=X|Y]-5 != A'), { path: 'OBX[3.1!=X|Y]-5', op: '!=', values: ['A'] });
    assert.deepEqual(parsed("identifier.where(system = 'urn:x').value in [A1, 'B, 2']"), {
      path: "identifier.where(system = 'urn:x').value",
      op: 'in',
      values: ['A1', 'B, 2'],
    });
    assert.deepEqual(parsed('status in [active, completed]'), { path: 'status', op: 'in', values: ['active', 'completed'] });
    assert.deepEqual(parsed('%encounter.class.code = "EMER "'), { path: '%encounter.class.code', op: '=', values: ['EMER '] });
    assert.deepEqual(parsed('OBX-5 = a=b'), { path: 'OBX-5', op: '=', values: ['a=b'] });
  });

  it('names what is wrong with a malformed condition', () => {
    const cases: [string, string][] = [
      [
        'ORC-1 is NW',
        'when "ORC-1 is NW" is not a condition: write <path> = <value>, <path> != <value>, <path> in [<value>, …], <path> not in [<value>, …], <path> exists or <path> empty',
      ],
      ['ORC-1 in NW, XO', 'when "ORC-1 in NW, XO": the values after in go in brackets, e.g. ORC-1 in [NW, XO]'],
      ['= NW', 'when "= NW": no path before ='],
      ['ORC-1 =', 'when "ORC-1 =": no value after = (for no value at all write "ORC-1 empty")'],
      ["ORC-1 = ''", `when "ORC-1 = ''": an empty value never matches (write "ORC-1 empty")`],
      ['ORC-1 = [NW, XO]', 'when "ORC-1 = [NW, XO]": a list takes in or not in, not ='],
      ['ORC-1 in []', 'when "ORC-1 in []": the list after in is empty'],
      ['ORC-1 not in [ ]', 'when "ORC-1 not in [ ]": the list after not in is empty'],
      ['ORC-1 in [NW, ]', 'when "ORC-1 in [NW, ]": the list after in has an empty value'],
      ['ORC-1 in [NW, XO', 'when "ORC-1 in [NW, XO": the list after in needs its closing ] and nothing after it'],
      ['ORC-1 in [NW] or PV1-2 exists', 'when "ORC-1 in [NW] or PV1-2 exists": the list after in needs its closing ] and nothing after it'],
    ];
    for (const [text, why] of cases) assert.equal(parseCondition(text), why, text);
  });

  it('writes a condition back in one spelling', () => {
    assert.equal(conditionText(parsed('ORC-1   not  in [CA,DC]')), 'ORC-1 not in [CA, DC]');
    assert.equal(conditionText(parsed('PV1-2 EXISTS')), 'PV1-2 exists');
    assert.equal(conditionText(parsed('ORC-1!=CA')), 'ORC-1 != CA');
  });

  it('never throws (fuzz)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60, unit: fc.constantFrom(...'ORC-1 =!in[],\'"()not exists empty.'.split('')) }), (s) => void parseCondition(s)),
      { numRuns: runs(2000) },
    );
  });
});

describe('isConstantPath', () => {
  it('a literal is a constant; paths and %variables are not', () => {
    for (const c of ["'NW'", '"NW"', '1', '-1', '@2026-01-01', 'true', 'false', '{}']) assert.equal(isConstantPath(c), true, c);
    for (const p of ['ORC-1', 'status', '%encounter.class.code', 'trueValue', "identifier.where(system = 'x')"]) assert.equal(isConstantPath(p), false, p);
  });
});

describe('whyNot: each operator over the values a path read', () => {
  const verdicts = (text: string, reads: string[][]) => reads.map((r) => whyNot(parsed(text), r) ?? 'holds');

  it('=: one of the values, without regard to case or blanks', () => {
    assert.deepEqual(verdicts('ORC-1 = NW', [['NW'], [' nw '], ['XO'], [], ['XO', 'NW']]), [
      'holds',
      'holds',
      'ORC-1 = XO is not NW',
      'ORC-1 is empty, not NW',
      'holds',
    ]);
  });

  it('!=: none of the values; an empty path holds', () => {
    assert.deepEqual(verdicts('ORC-1 != CA', [['NW'], ['ca'], [], ['NW', 'CA']]), [
      'holds',
      'ORC-1 = ca, excluded by != CA',
      'holds',
      'ORC-1 = NW|CA, excluded by != CA',
    ]);
  });

  it('in', () => {
    assert.deepEqual(verdicts('ORC-1 in [NW, XO]', [['xo'], ['SC'], [], ['SC', 'RE']]), [
      'holds',
      'ORC-1 = SC is not in [NW, XO]',
      'ORC-1 is empty, not in [NW, XO]',
      'ORC-1 = SC|RE is not in [NW, XO]',
    ]);
  });

  it('not in', () => {
    assert.deepEqual(verdicts('ORC-1 not in [CA, DC]', [['NW'], ['Dc'], []]), ['holds', 'ORC-1 = Dc is in [CA, DC]', 'holds']);
  });

  it('exists and empty', () => {
    assert.deepEqual(verdicts('PV1-2 exists', [['E'], []]), ['holds', 'PV1-2 is empty']);
    assert.deepEqual(verdicts('PV1-2 empty', [['E'], []]), ['PV1-2 = E is not empty', 'holds']);
  });

  it('a long value is cut in the trace', () => {
    assert.equal(whyNot(parsed('OBX-5 = A'), ['x'.repeat(50)]), `OBX-5 = ${'x'.repeat(39)}… is not A`);
  });
});
