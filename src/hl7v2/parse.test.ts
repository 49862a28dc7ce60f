// The ER7 parser wrapper: every edge case of the issue, each with an exact expectation, and a
// fuzz test that it never throws.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseHl7, parseHl7Reference, stripFraming } from './parse.js';
import { escapeHl7, unescapeHl7 } from './escape.js';
import { valueAt, type Hl7Message } from './message.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { runs } from '../../test/runs.js';

const MSH = 'MSH|^~\\&|APP|FAC|CDSR|ACR|20261102093500||ORM^O01^ORM_O01|C1|P|2.5.1';

function ok(raw: string): Hl7Message {
  const r = parseHl7(raw);
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.message}`);
  return r.message;
}
const seg = (m: Hl7Message, name: string) => m.segments.find((s) => s.name === name)!;

describe('parseHl7', () => {
  it('reads the header fields', () => {
    const m = ok(`${MSH}\rPID|1`);
    assert.deepEqual(
      [m.messageType, m.triggerEvent, m.structure, m.controlId, m.sendingApplication, m.sendingFacility, m.dateTime, m.version],
      ['ORM', 'O01', 'ORM_O01', 'C1', 'APP', 'FAC', '20261102093500', '2.5.1'],
    );
    assert.equal(valueAt(m.segments[0]!, 1), '|');
    assert.equal(valueAt(m.segments[0]!, 2), '^~\\&');
  });

  it('splits fields, repetitions, components and subcomponents', () => {
    const m = ok(`${MSH}\rPID|1||123^^^H^MR~456^^^X&1.2&ISO||DOE^JOHN|||a&b`);
    const pid = seg(m, 'PID');
    assert.deepEqual(pid.fields[2], [
      [['123'], [''], [''], ['H'], ['MR']],
      [['456'], [''], [''], ['X', '1.2', 'ISO']],
    ]);
    assert.deepEqual(pid.fields[4], [[['DOE'], ['JOHN']]]);
    // hl7-standard gives a field with only '&' as a bare array: it is subcomponents, not repetitions
    assert.deepEqual(pid.fields[7], [[['a', 'b']]]);
    assert.deepEqual(pid.fields[1], [[['']]]);
  });

  it('decodes escape sequences after splitting', () => {
    const m = ok(`${MSH}\rOBX|1|ST|X||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X4142\\g\\.br\\h\\H\\i\\N\\j\\Z9\\`);
    assert.equal(valueAt(seg(m, 'OBX'), 5), 'a|b^c&d~e\\fABg\nhij\\Z9\\');
  });

  for (const [name, sep] of [
    ['\\r', '\r'],
    ['\\n', '\n'],
    ['\\r\\n', '\r\n'],
  ] as const) {
    it(`takes ${name} segment ends, with or without a final one`, () => {
      for (const raw of [`${MSH}${sep}PID|1|x${sep}PV1|1|E`, `${MSH}${sep}PID|1|x${sep}PV1|1|E${sep}`]) {
        assert.deepEqual(
          ok(raw).segments.map((s) => s.name),
          ['MSH', 'PID', 'PV1'],
        );
      }
    });
  }

  it('takes mixed segment ends and blank lines', () => {
    assert.deepEqual(
      ok(`${MSH}\r\nPID|1\n\nPV1|1|E\r\rOBR|1`).segments.map((s) => [s.name, s.line]),
      [
        ['MSH', 1],
        ['PID', 2],
        ['PV1', 3],
        ['OBR', 4],
      ],
    );
  });

  it('takes a message of one segment without a segment end (hl7-standard refuses it)', () => {
    assert.equal(ok(MSH).controlId, 'C1');
  });

  it('strips MLLP framing and a BOM', () => {
    assert.equal(ok(`\x0b${MSH}\rPID|1\r\x1c\r`).segments.length, 2);
    assert.equal(ok(`\uFEFF${MSH}\rPID|1`).segments.length, 2);
  });

  it('reads custom encoding characters from MSH-1 and MSH-2', () => {
    const m = ok('MSH#!*$@#APP#FAC\rPID#1##12!34*56!7@8#a|b^c~d&e\\f#x$S$y$T$z');
    const pid = seg(m, 'PID');
    assert.deepEqual(pid.fields[2], [
      [['12'], ['34']],
      [['56'], ['7', '8']],
    ]);
    // the standard characters are plain data there
    assert.equal(valueAt(pid, 4), 'a|b^c~d&e\\f');
    // escapes written with the custom escape character
    assert.equal(valueAt(pid, 5), 'x!y@z');
    assert.equal(m.sendingApplication, 'APP');
  });

  it('keeps segments without fields and Z-segments', () => {
    assert.deepEqual(
      ok(`${MSH}\rNTE\rZDS|1.2.3`).segments.map((s) => s.name),
      ['MSH', 'NTE', 'ZDS'],
    );
  });

  it('refuses what is not one HL7 message, saying why', () => {
    const err = (raw: string) => {
      const r = parseHl7(raw);
      assert.equal(r.ok, false);
      return r.ok ? undefined : [r.error.code, r.error.message, r.error.line];
    };
    assert.deepEqual(err(''), ['HL7_NOT_HL7', 'not an HL7 v2 message: it does not start with an MSH segment', undefined]);
    assert.deepEqual(err('{"resourceType":"Patient"}'), ['HL7_NOT_HL7', 'not an HL7 v2 message: it does not start with an MSH segment', undefined]);
    assert.deepEqual(err(`${MSH}\rPID|1\r${MSH}`), ['HL7_BATCH', '2 messages in one request; send one message per request', undefined]);
    assert.deepEqual(err(`${MSH}\rpid|1`), ['HL7_BAD_SEGMENT', 'line 2 is not a segment (it must start with a 3-character segment name)', 2]);
    assert.deepEqual(err(`${MSH}\rthis is free text`), ['HL7_BAD_SEGMENT', 'line 2 is not a segment (it must start with a 3-character segment name)', 2]);
    assert.deepEqual(err('MSHA^~\\&|X'), ['HL7_BAD_ENCODING', 'MSH-1 "A" is not a field separator', 1]);
    assert.deepEqual(err('MSH|^^\\&|X'), ['HL7_BAD_ENCODING', 'MSH-2 "^^\\&" does not hold distinct encoding characters', 1]);
    assert.deepEqual(err('MSH|EHR|GENHOSP|CDSR'), [
      'HL7_BAD_ENCODING',
      'MSH-2 "EHR" holds a letter, digit or space: the encoding characters (usually ^~\\&) are missing',
      1,
    ]);
  });

  it('still reads the header of a message refused for its MSH-2, by splitting it on MSH-1 (for the ACK)', () => {
    const header = (raw: string) => {
      const r = parseHl7(raw);
      if (r.ok) return assert.fail('taken');
      const h = r.error.header;
      return (
        h && [
          h.controlId,
          h.sendingApplication,
          h.sendingFacility,
          h.messageType,
          h.triggerEvent,
          h.version,
          valueAt(h.segments[0]!, 5),
          valueAt(h.segments[0]!, 6),
          valueAt(h.segments[0]!, 11),
        ]
      );
    };
    // the escape character doubled, as JSON escaping leaves it: refused, as HAPI refuses it
    const doubled = 'MSH|^~\\\\&|EHR|GENHOSP|CDSR|ACR|20261102093500||ORM^O01^ORM_O01|102|P|2.5.1\rPID|1';
    assert.equal(doubled.slice(4, 9), '^~\\\\&');
    assert.deepEqual(header(doubled), ['102', 'EHR', 'GENHOSP', 'ORM', 'O01', '2.5.1', 'CDSR', 'ACR', 'P']);
    assert.deepEqual(header('MSH|^^\\&|APP|FAC|||||ORM^O01|C2|P|2.3'), ['C2', 'APP', 'FAC', 'ORM', 'O01', '2.3', '', '', 'P']);
    // MSH-2 left out: the fields come one place early, and are read so
    assert.deepEqual(header('MSH|EHR|GENHOSP|CDSR|ACR|20261102093500||ORM^O01|C3|P|2.5.1'), [
      'C3',
      'EHR',
      'GENHOSP',
      'ORM',
      'O01',
      '2.5.1',
      'CDSR',
      'ACR',
      'P',
    ]);
    // no separator to split on: nothing is guessed
    assert.equal(header('MSHA^~\\&|X|Y'), undefined);
    // the same header whichever splitter parsed
    const ref = parseHl7Reference(doubled);
    assert.deepEqual(ref.ok ? undefined : ref.error.header, (parseHl7(doubled) as { error: { header: Hl7Message } }).error.header);
  });

  it('parses the public FHIR-Converter sample (LF ends, v2.6, many repetitions)', () => {
    const raw = readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'public', 'fhir-converter-ORM-O01-01.hl7'), 'utf8');
    const m = ok(raw);
    assert.deepEqual(
      m.segments.map((s) => s.name),
      ['MSH', 'PID', 'PV1', 'AL1', 'ORC', 'OBR', 'CTD', 'DG1'],
    );
    assert.deepEqual([m.messageType, m.triggerEvent, m.controlId, m.sendingFacility], ['ORM', 'O01', 'MSG00018', 'GHHSFacility']);
    assert.equal(valueAt(seg(m, 'PID'), 3, 4, 2), '2.16.1');
    assert.equal(valueAt(seg(m, 'PID'), 3, 1, 1, 2), '123456789');
  });

  it('parses every shipped sample', () => {
    const dir = join(REPO_ROOT, 'samples', 'hl7v2');
    for (const f of readdirSync(dir)) assert.equal(parseHl7(readFileSync(join(dir, f), 'utf8')).ok, true, f);
  });
});

describe('HL7 escaping', () => {
  it('escape then unescape gives the text back (property)', () => {
    fc.assert(fc.property(fc.string(), (s) => assert.equal(unescapeHl7(escapeHl7(s)), s.replace(/\r\n|\r/g, '\n'))));
  });
});

describe('parseHl7 fuzz', () => {
  const samples = readdirSync(join(REPO_ROOT, 'samples', 'hl7v2')).map((f) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', f), 'utf8'));
  const mutation = fc
    .tuple(
      fc.constantFrom(...samples),
      fc.nat(),
      fc.nat({ max: 30 }),
      fc.string({ maxLength: 8, unit: fc.constantFrom('|', '^', '~', '\\', '&', '\r', '\n', 'A', '1', 'M', 'S', 'H', '\x0b', '\x1c') }),
    )
    .map(([s, at, del, ins]) => s.slice(0, at % s.length) + ins + s.slice((at % s.length) + del));

  it('never throws on random text, random bytes or mutated samples', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
          fc.constant('MSH|').chain((p) => fc.string().map((s) => p + s)),
          mutation,
        ),
        (raw) => {
          const r = parseHl7(raw);
          if (r.ok) assert.equal(r.message.segments[0]?.name, 'MSH');
          else assert.match(r.error.code, /^HL7_/);
        },
      ),
      { numRuns: runs(2000) },
    );
  });
});

describe('stripFraming', () => {
  // what it did with two regexes before the end was read back char by char: the same on any text
  // eslint-disable-next-line no-control-regex -- MLLP framing (VT, FS)
  const byRegex = (raw: string) => (raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw).replace(/^[\s\x0b]+/, '').replace(/[\x1c\s]+$/, '');

  it('strips the framing, a BOM and the spaces around, nothing else', () => {
    assert.equal(stripFraming('\ufeff\x0bMSH|^~\\&|A\rPID|1\r\x1c\r'), 'MSH|^~\\&|A\rPID|1');
    assert.equal(stripFraming('MSH|x \u00a0\u2028\ufeff\x1c\r\n'), 'MSH|x');
    assert.equal(stripFraming('MSH|x\x1cy\r'), 'MSH|x\x1cy');
    assert.equal(stripFraming(' \x1c\r'), '');
    assert.equal(stripFraming(''), '');
  });

  it('is what the two regexes gave on any text', () => {
    const unit = fc.constantFrom('\x0b', '\x1c', '\r', '\n', ' ', '\t', '\u00a0', '\u3000', '\ufeff', '\ud800', '\udc00', 'M', '|', 'x');
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit }), (raw) => assert.equal(stripFraming(raw), byRegex(raw))),
      { numRuns: runs(2000) },
    );
  });
});

describe('parseHl7 limits', () => {
  const refused = (raw: string) => {
    const r = parseHl7(raw);
    if (r.ok) return assert.fail('taken');
    return { code: r.error.code, message: r.error.message, line: r.error.line, controlId: r.error.header?.controlId };
  };

  it('refuses a field of 150,000 repetitions naming the segment and the limit, and still reads the MSH', () => {
    const dg1 = `DG1|1||${Array.from({ length: 150_000 }, (_, i) => `R${i}^x`).join('~')}`;
    assert.deepEqual(refused(`${MSH}\rPID|1\r${dg1}\r`), {
      code: 'HL7_LIMIT',
      message: 'line 3 (DG1) has 149999 repetitions (limit 5000)',
      line: 3,
      controlId: 'C1',
    });
  });

  it('refuses 4 MB of field separators and too many segments', () => {
    assert.deepEqual(refused(`${MSH}\rOBR|${'|'.repeat(4 * 1024 * 1024)}\r`), {
      code: 'HL7_LIMIT',
      message: 'line 2 (OBR) has 4194305 fields (limit 500)',
      line: 2,
      controlId: 'C1',
    });
    assert.deepEqual(refused(`${MSH}\r${'NTE|1\r'.repeat(5000)}`), {
      code: 'HL7_LIMIT',
      message: '5001 segments: more than the limit of 5000',
      line: undefined,
      controlId: 'C1',
    });
  });

  it('takes what is at the limits', () => {
    const dg1 = `DG1|1||${Array.from({ length: 5_001 }, (_, i) => `R${i}`).join('~')}`;
    assert.equal(parseHl7(`${MSH}\r${dg1}\r`).ok, true);
  });
});

// The direct split against hl7-standard's (parseHl7Reference): the same result, value for value
// and error for error, on every shipped sample, every message of the public corpus and the mixed
// batch, and generated messages full of separators, escapes, empty parts and custom encodings.
describe('parseHl7 = parseHl7Reference (differential)', () => {
  const same = (raw: string) => assert.deepEqual(parseHl7(raw), parseHl7Reference(raw), JSON.stringify(raw.slice(0, 200)));
  const messagesOf = (text: string): string[] => {
    // an HL7 batch: one message from each MSH to the next, the batch envelope left out
    const out: string[] = [];
    for (const line of text.split(/\r\n|\n|\r/)) {
      if (/^(FHS|BHS|BTS|FTS)/.test(line)) continue;
      if (line.startsWith('MSH') || out.length === 0) out.push(line);
      else out[out.length - 1] += `\r${line}`;
    }
    return out;
  };

  it('agrees on every shipped sample, public message and message of the mixed batch', () => {
    const files = [
      ...readdirSync(join(REPO_ROOT, 'samples', 'hl7v2')).map((f) => join(REPO_ROOT, 'samples', 'hl7v2', f)),
      ...readdirSync(join(REPO_ROOT, 'test', 'fixtures', 'public'))
        .filter((f) => f.endsWith('.hl7'))
        .map((f) => join(REPO_ROOT, 'test', 'fixtures', 'public', f)),
    ];
    let n = 0;
    for (const f of files) {
      same(readFileSync(f, 'utf8'));
      n++;
    }
    const batch = messagesOf(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'mixed-100.hl7'), 'utf8'));
    assert.equal(batch.length, 100);
    for (const m of batch) {
      same(m);
      n++;
    }
    // 10 samples, 20 public messages (lfh-sample_unix and the batch are refused by both alike), 100 of the batch
    assert.equal(n, 130);
  });

  // a value: letters, digits, separators of both encodings, escape sequences (known and not)
  const value = fc.string({
    maxLength: 12,
    unit: fc.constantFrom(
      'A',
      'b',
      '1',
      ' ',
      '|',
      '^',
      '~',
      '&',
      '\\',
      '#',
      '!',
      '*',
      '$',
      '@',
      '\\F\\',
      '\\S\\',
      '\\T\\',
      '\\R\\',
      '\\E\\',
      '\\X41\\',
      '\\.br\\',
      '\\H\\',
      '\\Z\\',
    ),
  });
  const segment = fc
    .tuple(fc.constantFrom('PID', 'PV1', 'ORC', 'OBR', 'OBX', 'NTE', 'ZDS', 'DG1'), fc.array(value, { maxLength: 8 }))
    .map(([name, fields]) => (fields.length === 0 ? name : `${name}|${fields.join('|')}`));
  const end = fc.constantFrom('\r', '\n', '\r\n', '\r\r', '\n\n');
  const standardMsh = fc.array(value, { maxLength: 10 }).map((f) => `MSH|^~\\&|${f.join('|')}`);
  const generated = fc
    .tuple(
      standardMsh,
      fc.array(fc.tuple(segment, end), { maxLength: 8 }),
      fc.boolean(),
      fc.constantFrom('', '\x0b', '\uFEFF'),
      fc.constantFrom('', '\r', '\x1c\r', '\n'),
    )
    .map(([msh, segs, custom, start, tail]) => {
      const body = msh + segs.map(([s, e]) => e + s).join('') + tail;
      // the same message sent with custom encoding characters: # field, ! component, * repetition, $ escape, @ subcomponent
      const text = custom ? body.replace(/[|^~\\&]/g, (c) => ({ '|': '#', '^': '!', '~': '*', '\\': '$', '&': '@' })[c] ?? c) : body;
      return start + text;
    });
  const samples = readdirSync(join(REPO_ROOT, 'samples', 'hl7v2')).map((f) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', f), 'utf8'));
  const mutated = fc
    .tuple(
      fc.constantFrom(...samples),
      fc.nat(),
      fc.nat({ max: 30 }),
      fc.string({ maxLength: 8, unit: fc.constantFrom('|', '^', '~', '\\', '&', '\r', '\n', 'A', '1', 'M', 'S', 'H', '\x0b', '\x1c') }),
    )
    .map(([s, at, del, ins]) => s.slice(0, at % s.length) + ins + s.slice((at % s.length) + del));

  it('agrees on generated and mutated messages (property, 5,000 cases at full depth)', () => {
    const cases = runs(5000);
    let parsed = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          generated,
          mutated,
          fc.constant('MSH|').chain((p) => fc.string().map((s) => p + s)),
        ),
        (raw) => {
          same(raw);
          if (parseHl7(raw).ok) parsed++;
        },
      ),
      { numRuns: cases },
    );
    // many cases are messages, not refusals: the property compares values, not only errors (about
    // 51 % parse; the bound is well below, so that a run's chance draw never fails it)
    assert.ok(parsed > cases * 0.4, `${parsed} of ${cases} parsed`);
  });
});
