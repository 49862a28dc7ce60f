import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatErrorMsg, parseErrorMsg } from './error-msg.js';

describe('Error_Msg parsing', () => {
  it('splits the spec example', () => {
    assert.deepEqual(parseErrorMsg('CD2001:Missing Transaction_ID|CD2011:Missing Transaction_DateTime'), [
      { code: 'CD2001', message: 'Missing Transaction_ID' },
      { code: 'CD2011', message: 'Missing Transaction_DateTime' },
    ]);
  });

  it('keeps colons inside a message and folds the Cyrillic C of the spec', () => {
    assert.deepEqual(parseErrorMsg('CD2070:Invalid. Missing encounter object information'), [
      { code: 'CD2070', message: 'Invalid. Missing encounter object information' },
    ]);
    assert.deepEqual(parseErrorMsg('\u0421D2062:Invalid FacilityID: no access'), [{ code: 'CD2062', message: 'Invalid FacilityID: no access' }]);
  });

  it('gives nothing for empty, null and blank parts, and a codeless part as message only', () => {
    assert.deepEqual(parseErrorMsg(''), []);
    assert.deepEqual(parseErrorMsg(null), []);
    assert.deepEqual(parseErrorMsg(' | |'), []);
    assert.deepEqual(parseErrorMsg('Object reference not set'), [{ code: '', message: 'Object reference not set' }]);
  });

  it('round-trips and never throws (property)', () => {
    const msg = fc.string().filter((s) => !s.includes('|') && s.trim() === s && s !== '' && !/^[A-Za-z]{2}\d{4}\s*:/.test(s));
    const item = fc.record({ code: fc.stringMatching(/^CD\d{4}$/), message: msg }).map((r) => ({ ...r }));
    fc.assert(fc.property(fc.array(item), (items) => assert.deepEqual(parseErrorMsg(formatErrorMsg(items)), items)));
    fc.assert(fc.property(fc.string(), (s) => void parseErrorMsg(s)));
  });
});
