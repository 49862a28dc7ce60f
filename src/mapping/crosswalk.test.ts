// Crosswalk ranges and qualifiers: what a range covers (and what a code of another shape is not),
// overlapping ranges refused with both lines, exact rows over ranges, facility rows over both,
// code-system names that mean one system.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalSystem, codeShape, knowsSystem, lookup, parseCrosswalk, parseRange, type Crosswalk } from './crosswalk.js';
import { runs } from '../../test/runs.js';

const HEAD = 'source,acr_code,facility,system,comment\n';
const load = (rows: string): Crosswalk => {
  const r = parseCrosswalk('t', 't.csv', HEAD + rows);
  assert.deepEqual(r.problems, []);
  return r.crosswalk!;
};
const problems = (rows: string) => parseCrosswalk('t', 't.csv', HEAD + rows).problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
const hit = (cw: Crosswalk, code: string, ctx = {}) => {
  const r = lookup(cw, code, ctx);
  return r ? `${r.acrCode}@${r.line}` : undefined;
};

describe('crosswalk ranges', () => {
  it('reads numeric and alphanumeric ranges, and leaves LOINC codes single', () => {
    assert.deepEqual(parseRange('70450-70498'), { from: '70450', to: '70498', shape: '99999' });
    assert.deepEqual(parseRange(' 0042t-0045T '), { from: '0042T', to: '0045T', shape: '9999A' });
    assert.equal(parseRange('30746-2'), undefined);
    assert.equal(parseRange('0042T-70450'), undefined);
    assert.equal(parseRange('CT-MR'), undefined);
    assert.equal(codeShape('0042T'), '9999A');
  });

  it('a range covers codes of its shape between its ends, both included', () => {
    const cw = load('70450-70498,1,,,CT head\n0042T-0045T,5,,,cat III\n');
    assert.equal(hit(cw, '70450'), '1@2');
    assert.equal(hit(cw, '70498'), '1@2');
    assert.equal(hit(cw, '70470'), '1@2');
    assert.equal(hit(cw, '70449'), undefined);
    assert.equal(hit(cw, '70499'), undefined);
    // between 70450 and 70498 as text, but not a five-digit code
    assert.equal(hit(cw, '7045A'), undefined);
    assert.equal(hit(cw, '0043t'), '5@3');
    assert.equal(hit(cw, '00430'), undefined);
    assert.equal(hit(cw, '0046T'), undefined);
  });

  it('an exact row wins over a range; a facility row wins over both', () => {
    const cw = load('70010-70390,exclude,,,radiography\n70336,2,,,MR TMJ\n70300-70399,9,100042,,that site\n');
    assert.equal(hit(cw, '70336'), '2@3');
    assert.equal(hit(cw, '70100'), 'exclude@2');
    assert.equal(hit(cw, '70336', { facility: '100042' }), '9@4');
    assert.equal(hit(cw, '70100', { facility: '100042' }), 'exclude@2');
  });

  it('refuses overlapping ranges with both lines, and a range that runs backwards', () => {
    assert.deepEqual(problems('70450-70498,1,,,\n70490-70499,2,,,\n70498-70450,1,,,\n'), [
      't.csv:3: range "70490-70499" overlaps range "70450-70498" on line 2',
      't.csv:4: range "70498-70450" runs backwards (70498 comes after 70450)',
    ]);
  });

  it('ranges of other qualifiers or another shape may overlap', () => {
    assert.deepEqual(problems('70450-70498,1,,,\n70450-70498,7,100042,,\n70450-70498,1,,LN,\n0042T-0045T,1,,,\n'), []);
  });

  it('never throws, and a code in a parsed range is found by lookup (fuzz)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10000, max: 99990 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), (a, span, at) => {
        const cw = load(`${a}-${a + span},1,,,\n`);
        const code = String(a + Math.min(at, span));
        assert.equal(lookup(cw, code)?.acrCode, '1');
        assert.equal(lookup(cw, String(a + span + 1)), undefined);
      }),
      { numRuns: runs(200) },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => void parseRange(s)),
      { numRuns: runs(500) },
    );
  });
});

describe('crosswalk systems', () => {
  const cw = load('24627-2,1,,http://loinc.org,CT chest\n70450,1,,CPT,\n70450,8,,urn:oid:9.9,local code with the same number\n');

  it('HL7 mnemonics, FHIR URIs and OIDs of one system compare as one', () => {
    assert.equal(canonicalSystem('LN'), canonicalSystem('http://loinc.org'));
    assert.equal(canonicalSystem('C4'), canonicalSystem('urn:oid:2.16.840.1.113883.6.12'));
    assert.equal(hit(cw, '24627-2', { system: 'LN' }), '1@2');
    assert.equal(hit(cw, '70450', { system: 'http://www.ama-assn.org/go/cpt' }), '1@3');
    assert.equal(hit(cw, '70450', { system: 'urn:oid:9.9' }), '8@4');
    assert.equal(hit(cw, '24627-2', { system: 'http://snomed.info/sct' }), undefined);
  });

  it('a value without a system matches a row of any system; a row without a system is preferred', () => {
    assert.equal(hit(cw, '24627-2'), '1@2');
    const both = load('CT,1,,,\nCT,5,,DCM,\n');
    assert.equal(hit(both, 'CT'), '1@2');
    assert.equal(hit(both, 'CT', { system: 'DICOM' }), '5@3');
  });

  it('knows the systems its rows name (all of them when none does)', () => {
    assert.equal(knowsSystem(cw, 'LN'), true);
    assert.equal(knowsSystem(cw, 'urn:local:chargemaster'), false);
    assert.equal(knowsSystem(cw, undefined), true);
    assert.equal(knowsSystem(load('CT,1,,,\n'), 'urn:local:chargemaster'), true);
  });
});
