// The Store contract on PostgreSQL: runs when CDSR_TEST_PG_URL is set or a server answers on
// 127.0.0.1:5432 (database "test"), each run in a schema of its own; skipped with the reason
// otherwise.
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { REPO_ROOT } from '../../test/helpers.js';
import pg from 'pg';
import { PgStore } from './postgres.js';
import { storeSuite } from './store.suite.js';

const url = process.env.CDSR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `cdsr_test_${randomBytes(4).toString('hex')}`;

storeSuite('PgStore', async () => {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await probe.connect();
    await probe.end();
  } catch (e) {
    const why = `PostgreSQL tests skipped: no server at ${url.replace(/\/\/[^@]*@/, '//')} (${e instanceof Error ? e.message : String(e)}); set CDSR_TEST_PG_URL to run them`;
    console.log(why);
    return why;
  }
  const admin = new pg.Pool({ connectionString: url });
  return {
    open: (validator) => PgStore.open({ url, validator, schema }),
    versions: async () => (await admin.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`)).rows.map((r) => r.version),
    cleanup: async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
});

// Concurrency: several instances' worth of messages for the same encounters at once.

describe('PgStore under concurrency', () => {
  it('200 messages for 10 encounters, 20 at a time from two stores, all merged once', async (t) => {
    const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await probe.connect();
      await probe.end();
    } catch {
      return t.skip(`no PostgreSQL at ${url.replace(/\/\/[^@]*@/, '//')}`);
    }
    const own = `${schema}_c`;
    const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    const validator = new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z'), valueSets: tables.valueSets });
    const a = await PgStore.open({ url, validator, schema: own });
    const b = await PgStore.open({ url, validator, schema: own });
    const orm = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
    try {
      const jobs = Array.from({ length: 200 }, (_, i) => {
        const ts = new Date(Date.UTC(2026, 10, 2) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
        const raw = orm.replaceAll('MSG0001', `P${i}`).replaceAll('ORD1001', `PORD${i}`).replaceAll('V0001', `PV${i % 10}`).replaceAll('20261102093015', ts);
        return () => (i % 2 ? a : b).ingest({ channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `P${i}`, contentType: 'x', raw, receivedAt: new Date() }, mapHl7Text(raw, tables));
      });
      for (let i = 0; i < jobs.length; i += 20) await Promise.all(jobs.slice(i, i + 20).map((j) => j()));
      const recs = await a.records({ limit: 1000 });
      assert.equal(recs.length, 200);
      assert.equal(new Set(recs.map((r) => r.encounterId)).size, 10);
      assert.deepEqual((await a.counts()).messages, { applied: 200 });
    } finally {
      await a.close();
      await b.close();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS ${own} CASCADE`);
      await admin.end();
    }
  });
});
