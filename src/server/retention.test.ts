// A retention round as the six-hourly timer runs it: raw text past the days purged, then its
// space given back, so that the store size in /metrics drops; the round is logged with both sizes;
// each message keeps the outcome it maps to first, which stands for its text in a re-derivation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/helpers.js';
import { postHl7, SERVER_NOW, withTestServer } from '../../test/server.js';
import { purgeAndReclaim } from './main.js';
import { remapMessage } from '../inbound/reprocess.js';
import type { Store, UnitMessage } from '../store/store.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8')
  .replace(/\r?\n/g, '\r')
  .trimEnd();

describe('retention round', () => {
  it('purges, gives the space back, and /metrics shows the drop', async () => {
    await withTestServer(async (s) => {
      for (let i = 0; i < 60; i++) {
        const id = `M${i}`;
        const r = await postHl7(
          s,
          `${ORM.replace('MSG0001', id)}\rNTE|1||${Buffer.from(Array.from({ length: 30_000 }, (_, k) => (k * 7919 + i * 104_729) % 251)).toString('base64')}\r`,
        );
        assert.match(r.text, new RegExp(`\\rMSA\\|AA\\|${id}\\r`));
      }
      const bytes = async () => Number(/\ncdsr_store_bytes (\d+)\n/.exec(await (await s.fetch('/metrics')).text())?.[1]);
      const before = await bytes();
      const logged: object[] = [];
      const log = { info: (o: object) => void logged.push(o), warn: (o: object) => void logged.push(o) };
      // a moment short of 30 days: nothing purged, nothing logged
      await purgeAndReclaim(s.store, 30, new Date(SERVER_NOW.getTime() + 30 * 86_400_000 - 1), log);
      assert.deepEqual([logged, await bytes()], [[], before]);
      // 30 days after the messages arrived; each keeps the outcome it maps to, which stands for its text from then on
      const remap = (m: UnitMessage) => remapMessage({ store: s.store, mappings: s.mappings, clock: () => SERVER_NOW }, m);
      await purgeAndReclaim(s.store, 30, new Date(SERVER_NOW.getTime() + 30 * 86_400_000 + 1), log, remap);
      const after = await bytes();
      const purged = await s.store.unitMessages([], [1, 60]);
      assert.deepEqual(
        purged.map((m) => [m.rawPurged, m.raw, m.outcome?.disposition]),
        [
          [true, '', 'mapped'],
          [true, '', 'mapped'],
        ],
      );
      assert.ok(before - after > 2_000_000, `${before} → ${after}`);
      // the size the purge starts from: the one measured, with the outcomes kept (about 4 kB a message), give or take a page
      const [entry] = logged as { bytesBefore: number; reclaimMs: number }[];
      assert.ok(entry && entry.bytesBefore >= before - 4096 && entry.bytesBefore <= before + 60 * 6000, `${entry?.bytesBefore} vs ${before}`);
      // how, and how long it took (on PostgreSQL with a rewrite, about how long ingest was held)
      assert.ok(Number.isInteger(entry.reclaimMs) && entry.reclaimMs >= 0);
      assert.deepEqual(logged, [
        {
          event: 'retention',
          purged: 60,
          resources: 0,
          days: 30,
          bytesBefore: entry.bytesBefore,
          bytesAfter: after,
          reclaim: 'incremental',
          reclaimMs: entry.reclaimMs,
        },
      ]);
      // a round with nothing to purge does nothing and says nothing
      await purgeAndReclaim(s.store, 30, new Date(SERVER_NOW.getTime() + 30 * 86_400_000 + 1), log);
      assert.equal(logged.length, 1);
    });
  });

  it('a reclaim that could not reach every copy of the purged text says what stays (retention_leftover), after the round', async () => {
    const leftover = 'pg_statistic not rewritten (permission denied): …';
    const store = {
      purgeRaw: () => Promise.resolve({ messages: 3, resources: 0 }),
      sizeBytes: () => Promise.resolve(1000),
      reclaimSpace: () => Promise.resolve({ method: 'rewrite', leftover }),
    } as unknown as Store;
    const logged: object[] = [];
    const log = { info: (o: object) => void logged.push(o), warn: (o: object) => void logged.push(o) };
    await purgeAndReclaim(store, 30, SERVER_NOW, log);
    const reclaimMs = (logged[0] as { reclaimMs: number }).reclaimMs;
    assert.deepEqual(logged, [
      { event: 'retention', purged: 3, resources: 0, days: 30, bytesBefore: 1000, bytesAfter: 1000, reclaim: 'rewrite', reclaimMs },
      { event: 'retention_leftover', detail: leftover },
    ]);
  });

  it('a round that forgets only FHIR resources gives their space back too (their text must not stay in the files)', async () => {
    let reclaimed = 0;
    const store = {
      purgeRaw: () => Promise.resolve({ messages: 0, resources: 2 }),
      sizeBytes: () => Promise.resolve(1000),
      reclaimSpace: () => {
        reclaimed++;
        return Promise.resolve({ method: 'rewrite' });
      },
    } as unknown as Store;
    const logged: object[] = [];
    const log = { info: (o: object) => void logged.push(o), warn: (o: object) => void logged.push(o) };
    await purgeAndReclaim(store, 30, SERVER_NOW, log);
    const reclaimMs = (logged[0] as { reclaimMs: number }).reclaimMs;
    assert.equal(reclaimed, 1);
    assert.deepEqual(logged, [{ event: 'retention', purged: 0, resources: 2, days: 30, bytesBefore: 1000, bytesAfter: 1000, reclaim: 'rewrite', reclaimMs }]);
  });

  it('on SQLite, no byte of a purged message or of the FHIR resources it brought is left in the database files', async () => {
    await withTestServer(async (s) => {
      const marker = (i: number) => `ZQXMARK${String(i).padStart(4, '0')}`;
      for (let i = 0; i < 40; i++) {
        // the marker as the patient's name, address and MRN: what the text of a message gives away
        const raw = ORM.replace('MSG0001', `R${i}`)
          .replace('TESTPATIENT', marker(i))
          .replace('1 TEST ST', `${marker(i)} ST`)
          .replace('MRN0001', marker(i))
          .replace('V0001', `RV${i}`);
        assert.match((await postHl7(s, raw)).text, new RegExp(`\\rMSA\\|AA\\|R${i}\\r`));
      }
      const bundle = readFileSync(join(REPO_ROOT, 'samples', 'fhir', '03-bundle-transaction.json'), 'utf8').replaceAll('TESTPATIENT', marker(9999));
      const fhir = await s.fetch('/fhir', { method: 'POST', body: bundle, headers: { 'content-type': 'application/fhir+json' } });
      assert.equal(fhir.status, 200);
      assert.ok(await s.store.resource('Patient/pat-0001'));
      const file = join(s.dir, 'data', 'db.sqlite');
      const found = () =>
        [file, `${file}-wal`]
          .filter((f) => existsSync(f))
          .map((f) => readFileSync(f).toString('latin1'))
          .join('')
          .match(/ZQXMARK\d{4}/g) ?? [];
      assert.ok(found().length >= 41, `${found().length} markers before the purge`);
      const log = { info: () => undefined, warn: () => undefined };
      await purgeAndReclaim(s.store, 30, new Date(SERVER_NOW.getTime() + 30 * 86_400_000 + 1), log);
      assert.deepEqual(found(), []);
      assert.equal(await s.store.resource('Patient/pat-0001'), undefined);
    });
  });
});
