// Every statement the ingest path runs finds its rows through an index: a full scan costs nothing
// on a test database and grows with every order stored (the merge's read of an encounter's orders
// scanned the whole order index until migration 16: 195 µs a message after 6,000 orders, more
// each day). Every shipped sample, HL7 and FHIR, goes through ingest on SQLite twice (the second
// time as a resend), then SQLite's plan of each prepared statement is read.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { MappingHolder } from '../mapping/holder.js';
import { SqliteExecutor } from '../store/sqlite-executor.js';
import { SqlStore } from '../store/sql-store.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { ingestFhir } from './fhir.js';
import { ingestHl7 } from './hl7.js';

const NOW = new Date('2026-11-23T06:00:00Z');

describe('query plans of the ingest path (SQLite)', () => {
  it('no statement of ingest scans a table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-plans-'));
    const executor = new SqliteExecutor({ file: join(dir, 'db.sqlite') });
    try {
      const mappings = MappingHolder.load(join(REPO_ROOT, 'mappings'), { info: () => undefined, warn: () => undefined }).holder!;
      const store = await SqlStore.open(executor, {
        validator: new CdsrValidator({ now: NOW, valueSets: mappings.current.valueSets, fieldLimits: mappings.current.fieldLimits }),
      });
      const deps = { store, mappings, clock: () => NOW };
      const origin = (contentType: string) => ({ contentType, auth: 'test' });
      const before = new Set(executor.scans().map((s) => s.sql));
      const read = (kind: string) => readdirSync(join(REPO_ROOT, 'samples', kind)).map((f) => readFileSync(join(REPO_ROOT, 'samples', kind, f), 'utf8'));
      let stored = 0;
      for (let round = 0; round < 2; round++) {
        for (const raw of read('hl7v2')) if ((await ingestHl7(deps, raw, origin('application/hl7-v2'))).code === 'AA') stored++;
        for (const body of read('fhir')) if ((await ingestFhir(deps, body, origin('application/fhir+json'))).status < 300) stored++;
      }
      const ingest = executor.scans().filter((s) => !before.has(s.sql));
      // the samples were taken and exercised the merge, the ledger and the resend check
      assert.ok(stored >= 20, `${stored} samples stored`);
      assert.ok(ingest.some((s) => s.sql.startsWith('SELECT encounter_key, order_key, consultation_key FROM order_index WHERE encounter_key IN (')));
      assert.ok(ingest.length >= 15, `${ingest.length} statements`);
      assert.deepEqual(
        ingest.filter((s) => s.scans.some((d) => !/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/.test(d))),
        [],
      );
    } finally {
      await executor.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
