// The messages of a patient by MRN (SQLite here; the store suite runs the search on both
// dialects through /orders): more than the search takes is refused, naming no MRN.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { patientMessageIds, SearchTooWideError } from './patient-search.js';
import { SqliteExecutor } from './sqlite-executor.js';
import { SqlStore } from './sql-store.js';

describe('patientMessageIds', () => {
  it('finds the messages of an MRN, and refuses more than the cap without naming the MRN', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-patient-'));
    const db = new SqliteExecutor({ file: join(dir, 'db.sqlite') });
    const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    const store = await SqlStore.open(db, { validator: new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z') }) });
    try {
      const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
      for (const n of [1, 2, 3]) {
        const text = raw.replaceAll('MSG0001', `MSG000${n}`).replaceAll('ORD1001', `ORD100${n}`).replaceAll('ACC2001', `ACC200${n}`);
        const meta = {
          channel: 'hl7v2' as const,
          sender: 'EHR^GENHOSP',
          controlId: `MSG000${n}`,
          contentType: 'application/hl7-v2',
          raw: text,
          receivedAt: new Date(),
        };
        await store.ingest(meta, mapHl7Text(text, tables));
      }
      assert.deepEqual(await patientMessageIds(store, db, 'sqlite', 'MRN0001', 3), [1, 2, 3]);
      assert.deepEqual(await patientMessageIds(store, db, 'sqlite', 'MRN0002', 3), []);
      await assert.rejects(
        patientMessageIds(store, db, 'sqlite', 'MRN0001', 2),
        (e: unknown) => e instanceof SearchTooWideError && e.message === 'mrn: the patient has more than 2 messages; the search takes at most that many',
      );
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
