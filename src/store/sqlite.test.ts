// The SQLite store on its own: migrations, one transaction per message, dedupe, merge and record
// states, replay, reopening.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { SqliteStore } from './sqlite.js';
import { REPO_ROOT } from '../../test/helpers.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const hl7 = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const meta = (raw: string, controlId: string) => ({ channel: 'hl7v2' as const, sender: 'EHR^GENHOSP', controlId, contentType: 'application/hl7-v2', raw, receivedAt: NOW });

describe('SqliteStore', () => {
  let dir = '';
  let tables: MappingTables;
  let validator: CdsrValidator;
  const open = () => new SqliteStore({ file: join(dir, 'db.sqlite'), validator });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdsr-store-'));
    tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    validator = new CdsrValidator({ now: NOW, valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates once, and again on reopen without harm', async () => {
    const s = open();
    await s.close();
    const s2 = open();
    await s2.close();
    const db = new Database(join(dir, 'db.sqlite'), { readonly: true });
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('an ORU alone is stored and waits; its ORM completes the record, which becomes ready', async () => {
    const s = open();
    try {
      const oru = hl7('04-oru-final.hl7');
      assert.deepEqual(await s.ingest(meta(oru, 'MSG0004'), mapHl7Text(oru, tables)), { messageId: 1, status: 'applied' });
      assert.deepEqual(await s.records({}), []);
      const orm = hl7('01-orm-new.hl7');
      await s.ingest(meta(orm, 'MSG0001'), mapHl7Text(orm, tables));
      const recs = await s.records({});
      assert.deepEqual(recs, [{ encounterKey: '100000|V0001', facilityId: '100000', encounterId: 'V0001', consultationKey: '11/02/2026 09:30:15', state: 'ready', missing: [] }]);
      const rec = await s.record('100000|V0001');
      assert.equal(rec?.consultations[0]?.fields.Ordered_Exam_Completed?.value, '1');
      assert.equal(rec?.consultations[0]?.fields.Ordered_Exam_Completed?.source, 'MSG0004');
      // the same content again is a duplicate of the first, and changes nothing
      assert.deepEqual(await s.ingest(meta(orm, 'MSG0001'), mapHl7Text(orm, tables)), { messageId: 3, status: 'duplicate', duplicateOf: 2 });
    } finally {
      await s.close();
    }
  });

  it('a record missing a required field is incomplete and lists it', async () => {
    const s = open();
    try {
      const raw = hl7('05-omi-new.hl7').replace('|E|ED^BAY3', '||ED^BAY3');
      await s.ingest(meta(raw, 'MSG0005'), mapHl7Text(raw, tables));
      const recs = await s.records({ state: 'incomplete' });
      assert.deepEqual(recs.map((r) => [r.consultationKey, r.missing]), [['11/02/2026 13:55:12', ['Place_of_Service']]]);
    } finally {
      await s.close();
    }
  });

  it('keeps what it stored across a reopen', async () => {
    const s = open();
    try {
      assert.equal((await s.messages({})).length, 4);
      assert.equal((await s.record('100000|V0001'))?.consultations.length, 2);
    } finally {
      await s.close();
    }
  });
});
