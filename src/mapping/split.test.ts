// The splitter: every message of a multi-message file found once, in order, with its index and
// line; nothing lost (whatever is no message is a problem naming its line); never throws.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeXml, splitMessages } from './split.js';
import { runs } from '../../test/runs.js';

const MSH = 'MSH|^~\\&|EHR|GENHOSP|CDSR|ACR|20261102093500||ORM^O01|M1|P|2.5.1';

describe('splitMessages', () => {
  it('one ER7 message is one message', () => {
    const r = splitMessages(`${MSH}\rPID|1\r`);
    assert.deepEqual(r, { container: 'hl7', messages: [{ index: 1, line: 1, kind: 'hl7', text: `${MSH}\rPID|1` }], problems: [] });
  });

  it('blank-line separated ER7 with LF ends: each message with its first line', () => {
    const r = splitMessages(`${MSH}\nPID|1\n\n\n${MSH.replace('M1', 'M2')}\nPID|2\n`);
    assert.deepEqual(
      r.messages.map((m) => [m.index, m.line, m.text]),
      [
        [1, 1, `${MSH}\rPID|1`],
        [2, 5, `${MSH.replace('M1', 'M2')}\rPID|2`],
      ],
    );
    assert.deepEqual(r.problems, []);
  });

  it('an HL7 batch: envelopes dropped, counts checked against BTS-1 and FTS-1', () => {
    const file = ['FHS|^~\\&|EHR', 'BHS|^~\\&|EHR', MSH, 'PID|1', MSH, 'PID|2', 'BTS|3', 'FTS|1'].join('\r');
    const r = splitMessages(file);
    assert.equal(r.container, 'hl7-batch');
    assert.deepEqual(
      r.messages.map((m) => [m.index, m.line]),
      [
        [1, 3],
        [2, 5],
      ],
    );
    assert.deepEqual(r.problems, [
      { code: 'HL7_INVALID', message: 'BTS-1 says 3 message(s) in its batch, the file holds 2', severity: 'warning', scope: 'file', path: '', line: 7 },
    ]);
  });

  it('lines before the first MSH are reported with their line, not dropped', () => {
    const r = splitMessages(`garbage\r\n${MSH}\r\nPID|1\r\n`);
    assert.equal(r.messages.length, 1);
    assert.deepEqual(r.problems, [
      {
        code: 'HL7_INVALID',
        message: 'line 1 is outside any message (no MSH before it); it is not mapped',
        severity: 'error',
        scope: 'file',
        path: '',
        line: 1,
      },
    ]);
  });

  it('MLLP frames one after another', () => {
    const r = splitMessages(`\x0b${MSH}\rPID|1\r\x1c\r\x0b${MSH}\rPID|2\r\x1c\r`);
    assert.deepEqual(
      r.messages.map((m) => m.text),
      [`${MSH}\rPID|1`, `${MSH}\rPID|2`],
    );
  });

  it('NDJSON: one resource per line; a broken line is named', () => {
    const r = splitMessages('{"resourceType":"Encounter","id":"e1"}\n\n{"resourceType":"ServiceRequest","id":"s1"}\n{broken\n');
    assert.equal(r.container, 'ndjson');
    assert.deepEqual(
      r.messages.map((m) => [m.index, m.line, m.kind]),
      [
        [1, 1, 'fhir'],
        [2, 3, 'fhir'],
      ],
    );
    assert.deepEqual(r.problems, [
      { code: 'JSON_SYNTAX', message: 'line 4 is not a JSON document; it is not mapped', severity: 'error', scope: 'file', path: '', line: 4 },
    ]);
  });

  it('a pretty-printed JSON document is one message', () => {
    const r = splitMessages('\n{\n  "resourceType": "Bundle"\n}\n');
    assert.deepEqual(r.messages, [{ index: 1, line: 2, kind: 'fhir', text: '\n{\n  "resourceType": "Bundle"\n}\n' }]);
  });

  it('a Mirth Connect export: the source connector raw content of each message, decoded', () => {
    const xml = [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<list>',
      '  <message>',
      '    <messageId>7</messageId>',
      '    <connectorMessages class="linked-hash-map">',
      '      <entry><int>0</int><connectorMessage><metaDataId>0</metaDataId>',
      '        <raw><encrypted>false</encrypted><contentType>RAW</contentType><content>MSH|^~\\&amp;|EHR|GENHOSP|||x||ORM^O01|M7|P|2.5.1&#xd;PID|1&#13;</content></raw>',
      '      </connectorMessage></entry>',
      '      <entry><int>1</int><connectorMessage><metaDataId>1</metaDataId>',
      '        <raw><contentType>RAW</contentType><content>not this one</content></raw>',
      '      </connectorMessage></entry>',
      '    </connectorMessages>',
      '  </message>',
      '  <message><messageId>8</messageId><connectorMessages><entry><int>0</int><connectorMessage><metaDataId>0</metaDataId></connectorMessage></entry></connectorMessages></message>',
      '  <message><rawData><![CDATA[MSH|^~\\&|OLD|X|||x||ORM^O01|M9|P|2.3]]></rawData></message>',
      '</list>',
    ].join('\n');
    const r = splitMessages(xml);
    assert.equal(r.container, 'mirth-xml');
    assert.deepEqual(r.messages, [
      { index: 1, line: 3, kind: 'hl7', text: 'MSH|^~\\&|EHR|GENHOSP|||x||ORM^O01|M7|P|2.5.1\rPID|1' },
      { index: 2, line: 15, kind: 'hl7', text: 'MSH|^~\\&|OLD|X|||x||ORM^O01|M9|P|2.3' },
    ]);
    assert.deepEqual(r.problems, [
      {
        code: 'HL7_INVALID',
        message: 'message 2 of the export (line 14) holds no raw content (stored as metadata only, or encrypted); it is not mapped',
        severity: 'error',
        scope: 'file',
        path: '',
        line: 14,
      },
    ]);
  });

  it('decodeXml: entities, numeric references, CDATA; unknown entities kept', () => {
    assert.equal(decodeXml('a&amp;b&lt;&gt;&quot;&apos;&#xd;&#10;<![CDATA[&amp;]]>&nbsp;'), 'a&b<>"\'\r\n&amp;&nbsp;');
  });
});

// ---------------------------------------------------------------- properties

// eslint-disable-next-line no-control-regex -- MLLP framing bytes, as the splitter drops them
const unframe = (l: string) => l.replace(/^\x0b+/, '').replace(/\x1c+$/, '');

const fieldText = fc.string({ unit: fc.constantFrom('A', 'b', '1', ' ', '^', '~', '&', '<', '>', '"', "'", '.', '-', 'é'), maxLength: 12 });
const segment = fc.tuple(fc.constantFrom('PID', 'PV1', 'ORC', 'OBR', 'OBX', 'ZDS'), fc.array(fieldText, { maxLength: 5 })).map(([n, f]) => [n, ...f].join('|'));
const message = fc
  .tuple(fc.integer({ min: 1, max: 99999 }), fc.array(segment, { maxLength: 6 }))
  .map(([id, segs]) => [MSH.replace('M1', `M${id}`), ...segs].join('\r'));
const eol = fc.constantFrom('\r', '\n', '\r\n');

type Layout = { file: string; lines: number[] };

function er7(msgs: readonly string[], end: string, blanks: readonly number[], mllp: boolean, batch: boolean): Layout {
  const out: string[] = [];
  const lines: number[] = [];
  if (batch) out.push('FHS|^~\\&|X', 'BHS|^~\\&|X');
  msgs.forEach((m, i) => {
    for (let b = 0; b < (blanks[i] ?? 0); b++) out.push('');
    lines.push(out.length + 1);
    const segs = m.split('\r');
    if (mllp) segs[0] = `\x0b${segs[0]}`;
    if (mllp) segs[segs.length - 1] = `${segs[segs.length - 1]}\x1c`;
    out.push(...segs);
  });
  if (batch) out.push(`BTS|${msgs.length}`, 'FTS|1');
  return { file: out.join(end) + end, lines };
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xd;');

function mirth(msgs: readonly string[]): Layout {
  const out = ['<list>'];
  const lines: number[] = [];
  for (const m of msgs) {
    lines.push(out.length + 1);
    out.push(
      '<message>',
      `<connectorMessages><entry><int>0</int><connectorMessage><metaDataId>0</metaDataId><raw><content>${escapeXml(m)}</content></raw></connectorMessage></entry></connectorMessages>`,
      '</message>',
    );
  }
  out.push('</list>');
  return { file: out.join('\n'), lines };
}

describe('splitMessages properties', () => {
  it('ER7 (any segment ends, blank lines, MLLP frames, batch envelopes): every message once, in order, at its line', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 12 }),
        eol,
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 12 }),
        fc.boolean(),
        fc.boolean(),
        (msgs, end, blanks, mllp, batch) => {
          const { file, lines } = er7(msgs, end, blanks, mllp, batch);
          const r = splitMessages(file);
          assert.deepEqual(
            r.messages.map((m) => m.text),
            msgs,
          );
          assert.deepEqual(
            r.messages.map((m) => m.index),
            msgs.map((_, i) => i + 1),
          );
          assert.deepEqual(
            r.messages.map((m) => m.line),
            lines,
          );
          assert.deepEqual(r.problems, []);
        },
      ),
      { numRuns: runs(300) },
    );
  });

  it('a Mirth export: every message once, in order, decoded exactly', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 10 }), (msgs) => {
        const { file, lines } = mirth(msgs);
        const r = splitMessages(file);
        assert.deepEqual(
          r.messages.map((m) => [m.index, m.line, m.text]),
          msgs.map((m, i) => [i + 1, lines[i], m]),
        );
        assert.deepEqual(r.problems, []);
      }),
      { numRuns: runs(200) },
    );
  });

  it('NDJSON: every resource once, at its line', () => {
    const resource = fc.record(
      { resourceType: fc.constantFrom('ServiceRequest', 'Encounter', 'Patient'), id: fc.string({ minLength: 1, maxLength: 8 }) },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(fc.array(resource, { minLength: 2, maxLength: 10 }), (rs) => {
        const r = splitMessages(rs.map((x) => JSON.stringify(x)).join('\n'));
        assert.deepEqual(
          r.messages.map((m) => JSON.parse(m.text) as unknown),
          rs,
        );
        assert.deepEqual(
          r.messages.map((m) => m.line),
          rs.map((_, i) => i + 1),
        );
      }),
    );
  });

  it('any text: never throws, and every non-blank ER7 line is in a message, an envelope or a problem', () => {
    const line = fc.oneof(fc.constant(MSH), segment, fc.constantFrom('BHS|', 'BTS|1', 'FHS|', 'FTS|1', '\x0b', '\x1c'), fc.string({ maxLength: 10 }));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), eol, (ls, end) => {
        const text = ls.join(end);
        const r = splitMessages(text);
        if (r.container !== 'hl7' && r.container !== 'hl7-batch') return;
        const kept = r.messages.flatMap((m) => m.text.split('\r')).length;
        const envelopes = text
          .split(/\r\n|\n|\r/)
          .map(unframe)
          .filter((l) => /^(FHS|BHS|BTS|FTS)([^A-Za-z0-9]|$)/.test(l)).length;
        const stray = r.problems.filter((p) => p.severity === 'error').length;
        if (r.messages.length === 1 && r.messages[0]!.text === text) return; // no MSH: handed whole to the HL7 reader
        const nonBlank = text.split(/\r\n|\n|\r/).filter((l) => unframe(l).trim() !== '').length;
        assert.equal(kept + envelopes + stray, nonBlank);
      }),
      { numRuns: runs(500) },
    );
  });

  it('any text: never throws whatever the container', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200, unit: fc.constantFrom('<', '>', 'message', '/', '{', '}', '"', '\n', 'MSH|', '&amp;', 'raw', 'content', 'x') }),
        (s) => {
          splitMessages(s);
        },
      ),
      { numRuns: runs(500) },
    );
  });
});
