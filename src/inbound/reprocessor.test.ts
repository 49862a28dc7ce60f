// The reprocessing lane: after a reload of the tables the held records are re-derived by
// themselves, without any new message; an encounter where that would change what NRDR was sent
// is left as it is and listed as skipped, for a person to preview.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MappingHolder } from '../mapping/holder.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { LiveValidator } from '../mapping/validator.js';
import { openStore } from '../store/open.js';
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';
import { Reprocessor } from './reprocessor.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const quiet = { info: () => undefined, warn: () => undefined };

describe('Reprocessor.followReloads', () => {
  it('after a reload a held record the fix completes becomes ready with no new message; an encounter whose accepted record it would change is skipped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-reload-'));
    try {
      const mappingsDir = join(dir, 'mappings');
      cpSync(join(REPO_ROOT, 'mappings'), mappingsDir, { recursive: true });
      // the shipped site tests expect the shipped exam names: without them the edit below loads
      rmSync(join(mappingsDir, 'tests'), { recursive: true, force: true });
      const holder = MappingHolder.load(mappingsDir, quiet).holder!;
      const store = await openStore({ kind: 'sqlite', file: join(dir, 'db.sqlite') }, new LiveValidator(() => holder.current, { now: NOW }));
      try {
        const send = (raw: string, id: string) =>
          store.ingest(
            { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: id, contentType: 'application/hl7-v2', raw, receivedAt: NOW },
            mapHl7Text(raw, holder.current),
          );
        // the G-code in a Z segment no shipped rule reads: held incomplete
        const zds = (raw: string) => raw.replace(/OBX\|1\|ST\|CDS-GCODE[^\r]*/, 'ZDS|1|G1014');
        const inV2 = (raw: string, n: string) => raw.replaceAll('V0001', 'V0002').replaceAll('ORD1001', `ORD${n}`).replaceAll('ACC2001', `ACC${n}`);
        // V0002: one order sent to NRDR and accepted, a second one held
        await send(inV2(ORM, '2001').replace('MSG0001', 'MSG0002'), 'MSG0002');
        const [ready] = await store.wireEncounters('ready', 10);
        assert.equal(ready?.encounterKey, '100000|V0002');
        await store.createTransaction(transactionFor('T-1', [ready.wire]), [ready], NOW);
        await store.recordResults('T-1', [{ ...ready, result: 'accepted', problems: [] }], NOW);
        await send(zds(inV2(ORM, '2002').replace('MSG0001', 'MSG0003').replaceAll('20261102093015', '20261102101500')), 'MSG0003');
        // V0001: one order, held
        await send(zds(ORM), 'MSG0001');
        const states = async (key: string) => (await store.record(key))?.consultations.map((c) => c.state);
        assert.deepEqual([await states('100000|V0001'), await states('100000|V0002')], [['incomplete'], ['accepted', 'incomplete']]);

        const reprocessor = new Reprocessor({ store, mappings: holder, clock: () => NOW }, quiet);
        reprocessor.followReloads(holder);
        // the fix: the G-code read from ZDS-2 too; and the exam's name from its code (a change to what NRDR has)
        const yaml = join(mappingsDir, 'hl7v2.yaml');
        writeFileSync(
          yaml,
          readFileSync(yaml, 'utf8')
            .replace('  CDS_Vendor:\n    from: OBX[3.1=CDS-GCODE]-5', '  CDS_Vendor:\n    from: ["OBX[3.1=CDS-GCODE]-5", ZDS-2]')
            .replace('from: [OBR-4.2, OBR-4.1]', 'from: [OBR-4.1, OBR-4.2]'),
        );
        assert.equal(holder.reload().ok, true);
        await reprocessor.idle();
        const runs = await store.reprocessRuns({});
        assert.deepEqual(
          runs.map((r) => [r.who, r.apply, r.status, r.selection, r.total, r.summary.byChange]),
          [['reload', true, 'done', { held: true, keepSent: true }, 2, { changed: 1 }]],
        );
        assert.deepEqual(await states('100000|V0001'), ['ready']);
        // V0002 holds an accepted record the re-derivation would send again: left for a preview
        assert.deepEqual(runs[0]!.summary.skipped, ['e:100000|V0002: it would change 1 consultation(s) already sent to NRDR: preview it and apply it by hand']);
        assert.deepEqual(await states('100000|V0002'), ['accepted', 'incomplete']);
        await reprocessor.close();
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
