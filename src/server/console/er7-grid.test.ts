// The ER7 grid: positions as analysts write them (MSH-9.1, PID-3, OBR-4.1, repetitions numbered),
// the message's own delimiters, and every value escaped in the HTML.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { er7Grid, er7GridHtml } from './er7-grid.js';
import { esc, html } from './html.js';

describe('er7Grid', () => {
  it('labels fields and components by position; MSH counts its field separator as MSH-1', () => {
    const g = er7Grid(`MSH|^~\\&|EHR|GENHOSP|||||ORM^O01|M1|P|2.5.1\rPID|1||A1~B2^^^X||DOE^JO\nOBR|1${'|'.repeat(23)}CT\rOBR|2`);
    assert.deepEqual(g[0]!.fields.slice(0, 6), [
      { position: 'MSH-1', value: '|' },
      { position: 'MSH-2', value: '^~\\&' },
      { position: 'MSH-3', value: 'EHR' },
      { position: 'MSH-4', value: 'GENHOSP' },
      { position: 'MSH-9.1', value: 'ORM' },
      { position: 'MSH-9.2', value: 'O01' },
    ]);
    assert.deepEqual(g[1], {
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
    assert.deepEqual(g[2]!.fields.at(-1), { position: 'OBR-24', value: 'CT' });
    assert.equal(g[3]!.occurrence, 2);
  });

  it('reads the delimiters MSH declares', () => {
    assert.deepEqual(er7Grid('MSH#*~\\&#A*B')[0]!.fields, [
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
        assert.equal(/<(?!\/?(table|caption|tbody|tr|th|td|span)[ >])/.test(out), false);
        assert.equal(out.includes('<script'), false);
      }),
    );
    assert.equal(esc(`<a href="x">'&`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;');
    assert.equal(html`<p title="${'"><b>'}">${'<i>'}</p>`.text, '<p title="&quot;&gt;&lt;b&gt;">&lt;i&gt;</p>');
  });
});
