// The store contract on PostgreSQL: runs when CDSR_TEST_PG_URL is set or a server answers on
// 127.0.0.1:5432 (database "test"), each case in a schema of its own; skipped with the reason
// otherwise. Plus concurrency across two store instances.
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { CdsrValidator } from '../cdsr/validate.js';
import { errorMessage } from '../cdsr/errors.js';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { openStore } from './open.js';
import { storeSuite } from './store.suite.js';

const url = process.env.CDSR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const shown = url.replace(/\/\/[^@]*@/, '//');
const newSchema = () => `cdsr_test_${randomBytes(5).toString('hex')}`;

/** Why PostgreSQL tests cannot run here, or undefined when a server answers. */
async function unreachable(): Promise<string | undefined> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await probe.connect();
    await probe.end();
    return undefined;
  } catch (e) {
    return `PostgreSQL tests skipped: no server at ${shown} (${errorMessage(e)}); set CDSR_TEST_PG_URL to run them`;
  }
}

async function dropSchema(schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}

storeSuite('PostgreSQL', async () => {
  const why = await unreachable();
  if (why) {
    console.log(why);
    return why;
  }
  return () => {
    const schema = newSchema();
    return Promise.resolve({
      open: (validator) => openStore({ kind: 'postgres', url, schema }, validator),
      query: async (sql) => {
        const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
        await c.connect();
        try {
          return (await c.query(sql)).rows as Record<string, unknown>[];
        } finally {
          await c.end();
        }
      },
      drop: () => dropSchema(schema),
    });
  };
});

describe('PostgreSQL under concurrency', () => {
  it('200 messages for 10 encounters, 20 at a time from two stores, all merged once', async (t) => {
    const why = await unreachable();
    if (why) return t.skip(why);
    const schema = newSchema();
    const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    const validator = new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z'), valueSets: tables.valueSets });
    const a = await openStore({ kind: 'postgres', url, schema }, validator);
    const b = await openStore({ kind: 'postgres', url, schema }, validator);
    const orm = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
    try {
      const jobs = Array.from({ length: 200 }, (_, i) => {
        const ts = new Date(Date.UTC(2026, 10, 2) + i * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
        const raw = orm.replaceAll('MSG0001', `P${i}`).replaceAll('ORD1001', `PORD${i}`).replaceAll('ACC2001', `PACC${i}`).replaceAll('V0001', `PV${i % 10}`).replaceAll('20261102093015', ts);
        return () => (i % 2 ? a : b).ingest({ channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `P${i}`, contentType: 'x', raw, receivedAt: new Date() }, mapHl7Text(raw, tables));
      });
      for (let i = 0; i < jobs.length; i += 20) await Promise.all(jobs.slice(i, i + 20).map((j) => j()));
      const recs = await a.records({ limit: 1000 });
      assert.equal(recs.length, 200);
      assert.equal(new Set(recs.map((r) => r.encounterId)).size, 10);
      assert.deepEqual((await a.counts()).messages, { applied: 200 });
      assert.deepEqual((await a.ledgerGauges()).byState, { reported: 200 });
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  });
});
