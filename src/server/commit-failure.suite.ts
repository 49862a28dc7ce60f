// A message is acknowledged (AA / 2xx) only once its transaction is committed. The COMMIT itself is
// made to fail (test/commit-fault.ts: a check the database defers to COMMIT, so every statement
// before it succeeds) under the HL7 HTTP route, the MLLP listener and the FHIR route: the answer is
// never AA/2xx, nothing is stored, and once commits succeed again the same message is taken as new
// (not as a duplicate of something claimed stored). Run on SQLite by commit-failure.test.ts and on
// PostgreSQL by commit-failure-pg.int.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { lines, postHl7, startTestServer, type TestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { failCommitsOfInboundMessages, type CommitFault, type FaultTarget } from '../../test/commit-fault.js';
import { freshPgDatabase } from '../../test/pg.js';
import { startMllp } from './mllp.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const BUNDLE = readFileSync(join(REPO_ROOT, 'samples', 'fhir', '03-bundle-transaction.json'), 'utf8');
const ACK_HEAD = 'MSH|^~\\&|CDSR|ACR|EHR|GENHOSP|20261123060000+0000||ACK^O01^ACK|';
const UNAVAILABLE = 'ERR|||207^Application internal error^HL70357|E||||STORE_UNAVAILABLE: the message cannot be stored now; send it again';

/** A test server on SQLite or on a fresh PostgreSQL database, with commits failing; `undefined` and the reason when there is no PostgreSQL. */
async function faultyServer(
  kind: 'sqlite' | 'postgres',
  sqlstate?: string,
): Promise<{ s: TestServer; fault: CommitFault; done: () => Promise<void> } | string> {
  if (kind === 'sqlite') {
    const s = await startTestServer();
    const target: FaultTarget = { kind: 'sqlite', file: join(s.dir, 'data', 'db.sqlite') };
    return { s, fault: await failCommitsOfInboundMessages(target), done: () => s.close() };
  }
  const db = await freshPgDatabase('cdsr_commit', { migrated: true });
  if (typeof db === 'string') return db;
  try {
    const s = await startTestServer({ postgresUrl: db.url });
    const fault = await failCommitsOfInboundMessages({ kind: 'postgres', url: db.url }, sqlstate);
    return {
      s,
      fault,
      done: async () => {
        await s.close();
        await db.drop();
      },
    };
  } catch (e) {
    await db.drop();
    throw e;
  }
}

/** Sends one MLLP frame and reads the framed ACK. */
function mllpExchange(server: Server, message: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
    let got = '';
    sock.on('error', reject);
    sock.on('data', (c: Buffer) => {
      got += c.toString('utf8');
      if (got.includes('\x1c\r')) {
        sock.end();
        resolve(got.slice(1, got.indexOf('\x1c\r')));
      }
    });
    sock.write(`\x0b${message}\x1c\r`);
  });
}

const msa = (ack: string) => lines(ack).find((l) => l.startsWith('MSA|'));

export function commitFailureTests(kind: 'sqlite' | 'postgres'): void {
  describe(`a failing COMMIT never yields AA (${kind})`, () => {
    it('POST /hl7v2: 503 AR, the message not stored; taken as new once commits succeed', async (t) => {
      const f = await faultyServer(kind);
      if (typeof f === 'string') return t.skip(f);
      try {
        const r = await postHl7(f.s, ORM);
        assert.deepEqual([r.status, lines(r.text)], [503, [`${ACK_HEAD}CDSR0|P|2.5.1`, 'MSA|AR|MSG0001', UNAVAILABLE]]);
        assert.deepEqual(await f.s.store.messages({}), []);
        assert.equal(await f.s.store.record('100000|V0001'), undefined);
        await f.fault.clear();
        const again = await postHl7(f.s, ORM);
        assert.deepEqual([again.status, msa(again.text)], [200, 'MSA|AA|MSG0001']);
        assert.deepEqual(
          (await f.s.store.messages({})).map((m) => [m.controlId, m.status]),
          [['MSG0001', 'applied']],
        );
      } finally {
        await f.done();
      }
    });

    it('MLLP: AR, the message not stored; taken as new once commits succeed', async (t) => {
      const f = await faultyServer(kind);
      if (typeof f === 'string') return t.skip(f);
      const quiet = { info: () => undefined, warn: () => undefined };
      const mllp = await startMllp(
        { store: f.s.store, mappings: f.s.mappings, clock: () => new Date('2026-11-23T06:00:00Z') },
        {
          port: 0,
          host: '127.0.0.1',
          allow: [],
          maxFrameBytes: 1024 * 1024,
          idleMs: 60_000,
          maxConnections: 10,
        },
        quiet,
      );
      try {
        const ack = await mllpExchange(mllp, ORM);
        assert.deepEqual(lines(ack).slice(1), ['MSA|AR|MSG0001', UNAVAILABLE]);
        assert.deepEqual(await f.s.store.messages({}), []);
        await f.fault.clear();
        assert.equal(msa(await mllpExchange(mllp, ORM)), 'MSA|AA|MSG0001');
        assert.deepEqual(
          (await f.s.store.messages({})).map((m) => [m.controlId, m.status]),
          [['MSG0001', 'applied']],
        );
      } finally {
        await new Promise<void>((ok) => mllp.close(() => ok()));
        await f.done();
      }
    });

    it('POST /fhir: 503, the bundle not stored; taken once commits succeed', async (t) => {
      const f = await faultyServer(kind);
      if (typeof f === 'string') return t.skip(f);
      try {
        const post = () => f.s.fetch('/fhir', { method: 'POST', body: BUNDLE, headers: { 'content-type': 'application/fhir+json' } });
        const r = await post();
        const body = (await r.json()) as { issue: { diagnostics: string }[] };
        assert.deepEqual([r.status, body.issue[0]?.diagnostics], [503, 'the adapter cannot store this now; send it again']);
        assert.deepEqual(await f.s.store.messages({}), []);
        assert.deepEqual(await f.s.store.records({}), []);
        await f.fault.clear();
        assert.equal((await post()).status, 200);
        assert.equal((await f.s.store.records({})).length, 1);
      } finally {
        await f.done();
      }
    });
  });
}

export function nonTransientCommitFailureTests(): void {
  describe('a COMMIT failing for a reason of the database, not of availability (postgres)', () => {
    it('POST /hl7v2: AE that says it could not be stored, never AA; nothing stored', async (t) => {
      // 23514 (a check deferred to COMMIT): not a transient failure, so the adapter tries to keep the
      // message in its error queue instead; that commit fails too, and the answer says so
      const f = await faultyServer('postgres', '23514');
      if (typeof f === 'string') return t.skip(f);
      try {
        const r = await postHl7(f.s, ORM);
        assert.equal(r.status, 200);
        assert.deepEqual(lines(r.text).slice(1), [
          'MSA|AE|MSG0001',
          'ERR|||207^Application internal error^HL70357|E||||INTERNAL_ERROR: the adapter failed on this message (error 23514); it could not be stored either; send it again once the adapter is fixed',
        ]);
        assert.deepEqual(await f.s.store.messages({}), []);
      } finally {
        await f.done();
      }
    });
  });
}
