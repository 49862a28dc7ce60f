// `map --summary` over one HL7 batch of 100 mixed messages (test/fixtures/mixed-100.hl7): the
// printed summary is the checked-in golden (`npm run golden:update` rewrites it), every message is
// counted once, and the unmapped values are the ones the fixture plants.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { loadMappings } from '../mapping/load.js';
import { mapFiles } from '../mapping/map-files.js';
import { summarize } from '../mapping/summary.js';
import { runMap } from './map.js';

const FIXTURE = join('test', 'fixtures', 'mixed-100.hl7');
const GOLDEN = join(REPO_ROOT, 'test', 'golden', 'mixed-100.summary.txt');
const NOW = new Date('2026-11-23T06:00:00Z');
const DEFAULTS = { partnerId: '10000', appId: '10019', maxEncounters: 100, timeZone: 'UTC' };

describe('map --summary over 100 mixed messages', () => {
  before(() => process.chdir(REPO_ROOT));

  it('prints the golden summary, exit 1 (there are errors)', () => {
    let out = '';
    const code = runMap([FIXTURE], { summary: true, now: NOW }, DEFAULTS, {
      out: (t) => (out += t),
      err: () => undefined,
      mappingsDir: 'mappings',
      progress: false,
    });
    assert.equal(code, 1);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, out);
    assert.equal(out, readFileSync(GOLDEN, 'utf8'));
  });

  it('every message counted once, in order, named by its index and line', () => {
    const r = mapFiles([FIXTURE], { tables: loadMappings('mappings').tables!, ...DEFAULTS, now: NOW });
    assert.equal(r.messages.length, 100);
    assert.deepEqual(
      r.messages.map((m) => Number(/#(\d+) \(line \d+\)$/.exec(m.input)?.[1])),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const s = summarize(r);
    assert.equal(
      Object.values(s.byOutcome).reduce((a, b) => a + (b ?? 0), 0),
      100,
    );
    // the site codes the fixture plants, with their counts
    const planted = s.unmapped.filter((u) => ['RAD-CT', 'IMG5', 'X', 'Q'].includes(u.value)).map((u) => [u.field, u.value, u.count]);
    assert.deepEqual(planted, [
      ['Modality', 'RAD-CT', 7],
      ['Modality', 'IMG5', 5],
      ['Place_of_Service', 'X', 3],
      ['Place_of_Service', 'Q', 2],
    ]);
    assert.equal(s.byType['ADT^A08']?.unsupported, 5);
    assert.equal(s.byType['ORM^O01']?.invalid, 2);
  });
});
