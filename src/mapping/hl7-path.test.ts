import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateHl7Path, parseHl7Path, PathSyntaxError } from './hl7-path.js';
import { parseHl7 } from '../hl7v2/parse.js';
import type { Hl7Message } from '../hl7v2/message.js';

const r = parseHl7(
  [
    'MSH|^~\\&|APP|FAC|||20261102||ORM^O01|C1|P|2.5.1',
    'PID|1||A1^^^H^MR~B2^^^X^PI||DOE^JANE',
    'DG1|1||R51.9^Headache^I10',
    'DG1|2||G44.1^Vascular^I10',
    'OBX|1|ST|CDS-GCODE||G1014',
    'OBX|2|ST|CDS-MODIFIER||ME',
    'OBX|3|ST|CDS-GCODE^second||G1001',
  ].join('\r'),
);
const msg = (r as { message: Hl7Message }).message;
const ev = (p: string) => evaluateHl7Path(msg, parseHl7Path(p));

describe('HL7 paths', () => {
  it('select fields, components, repetitions, occurrences', () => {
    assert.deepEqual(ev('PID-5.2'), ['JANE']);
    assert.deepEqual(ev('PID-5'), ['DOE']);
    assert.deepEqual(ev('PID-3.1'), ['A1', 'B2']);
    assert.deepEqual(ev('PID-3(2).1'), ['B2']);
    assert.deepEqual(ev('PID-3.4.1'), ['H', 'X']);
    assert.deepEqual(ev('DG1-3.1'), ['R51.9', 'G44.1']);
    assert.deepEqual(ev('DG1(2)-3.2'), ['Vascular']);
    assert.deepEqual(ev('DG1(3)-3.2'), []);
    assert.deepEqual(ev('MSH-9.2'), ['O01']);
    assert.deepEqual(ev('PID-99'), []);
  });

  it('filter segments by a field value', () => {
    assert.deepEqual(ev('OBX[3.1=CDS-GCODE]-5'), ['G1014', 'G1001']);
    assert.deepEqual(ev('OBX[3.1=CDS-GCODE](1)-5'), ['G1014']);
    assert.deepEqual(ev('OBX[3=CDS-MODIFIER|CDS-X]-5'), ['ME']);
    assert.deepEqual(ev('OBX[3.1!=CDS-GCODE]-5'), ['ME']);
    assert.deepEqual(ev('OBX[3.2=second]-5'), ['G1001']);
  });

  it('refuse bad syntax with a message that shows the form', () => {
    const bad: [string, RegExp][] = [
      ['PID8', /is not an HL7 path such as PID-8/],
      ['pid-8', /is not an HL7 path/],
      ['PID-0', /positions start at 1/],
      ['PID-8.x', /is not field\(\.component\(\.subcomponent\)\)/],
      ['OBX[3.1~X]-5', /filter \[3.1~X\] in "OBX\[3.1~X\]-5" is not \[field=value\]/],
    ];
    for (const [p, re] of bad)
      assert.throws(
        () => parseHl7Path(p),
        (e: unknown) => e instanceof PathSyntaxError && re.test(e.message),
        p,
      );
  });
});
