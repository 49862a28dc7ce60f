// The ER7 grid: positions as analysts write them (MSH-9.1, PID-3, OBR-4.1, repetitions numbered),
// the message's own delimiters, and every value escaped in the HTML.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { er7Grid, er7GridHtml, type GridLine, type GridSegment } from './er7-grid.js';
import { esc, html } from './html.js';

/** A line the test knows to be a segment. */
function seg(l: GridLine | undefined): GridSegment {
  if (l?.kind !== 'segment') assert.fail(`expected a segment, got ${JSON.stringify(l)}`);
  return l;
}

describe('er7Grid', () => {
  it('labels fields and components by position; MSH counts its field separator as MSH-1', () => {
    const g = er7Grid(`MSH|^~\\&|EHR|GENHOSP|||||ORM^O01|M1|P|2.5.1\rPID|1||A1~B2^^^X||DOE^JO\nOBR|1${'|'.repeat(23)}CT\rOBR|2`);
    assert.deepEqual(seg(g[0]).fields.slice(0, 6), [
      { position: 'MSH-1', value: '|' },
      { position: 'MSH-2', value: '^~\\&' },
      { position: 'MSH-3', value: 'EHR' },
      { position: 'MSH-4', value: 'GENHOSP' },
      { position: 'MSH-9.1', value: 'ORM' },
      { position: 'MSH-9.2', value: 'O01' },
    ]);
    assert.deepEqual(g[1], {
      kind: 'segment',
      line: 2,
      name: 'PID',
      occurrence: 1,
      fields: [
        { position: 'PID-1', value: '1' },
        { position: 'PID-3[1]', value: 'A1' },
        { position: 'PID-3[2].1', value: 'B2' },
        { position: 'PID-3[2].4', value: 'X' },
        { position: 'PID-5.1', value: 'DOE' },
        { position: 'PID-5.2', value: 'JO' },
      ],
    });
    assert.deepEqual(seg(g[2]).fields.at(-1), { position: 'OBR-24', value: 'CT' });
    assert.equal(seg(g[3]).occurrence, 2);
  });

  it('reads the delimiters MSH declares', () => {
    assert.deepEqual(seg(er7Grid('MSH#*~\\&#A*B')[0]).fields, [
      { position: 'MSH-1', value: '#' },
      { position: 'MSH-2', value: '*~\\&' },
      { position: 'MSH-3.1', value: 'A' },
      { position: 'MSH-3.2', value: 'B' },
    ]);
  });

  it('never lets a value become markup (any text)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const out = er7GridHtml(`MSH|^~\\&|${s}\rPID|${s}`).text;
        assert.equal(/<(?!\/?(table|caption|tbody|tr|th|td|span|p|code)[ >])/.test(out), false);
        assert.equal(out.includes('<script'), false);
      }),
    );
    assert.equal(esc(`<a href="x">'&`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;');
    assert.equal(html`<p title="${'"><b>'}">${'<i>'}</p>`.text, '<p title="&quot;&gt;&lt;b&gt;">&lt;i&gt;</p>');
  });

  it('shows a line that is not a segment as a broken line with its text, not as a segment named by its first letters', () => {
    // a line break inside OBR-4's text: "RENAL…" starts a line of its own; so does a line in lower case
    const raw = 'MSH|^~\\&|EHR|GENHOSP|||||ORM^O01|M1|P|2.5.1\rPID|1\rOBR|1|ORD1||74176^CT ABD WO\nRENAL PROTOCOL^CPT|||x\n\nobx|1\rZDS\rOBR|2';
    const g = er7Grid(raw);
    assert.deepEqual(
      g.map((l) => (l.kind === 'broken' ? [l.line, 'broken', l.text] : [l.line, l.name, l.occurrence])),
      [
        [1, 'MSH', 1],
        [2, 'PID', 1],
        [3, 'OBR', 1],
        [4, 'broken', 'RENAL PROTOCOL^CPT|||x'],
        [5, 'broken', 'obx|1'],
        [6, 'ZDS', 1],
        [7, 'OBR', 2],
      ],
    );
    assert.deepEqual(seg(g[2]).fields, [
      { position: 'OBR-1', value: '1' },
      { position: 'OBR-2', value: 'ORD1' },
      { position: 'OBR-4.1', value: '74176' },
      { position: 'OBR-4.2', value: 'CT ABD WO' },
    ]);
    const rows = er7GridHtml(raw).text.split('\n');
    assert.equal(
      rows[3],
      '<tr class="broken"><th scope="row">Line 4: not a segment</th><td><p>This line does not start with a segment name and the field separator: most likely a line break inside the segment above it. The message is refused until it is mended (edit a copy).</p><code>RENAL PROTOCOL^CPT|||x</code></td></tr>',
    );
    assert.equal(rows.filter((r) => r.includes('>REN<') || r.includes('>REN #')).length, 0);
  });
});
