// POST /hl7v2 through the app (fastify inject): every reply kind of docs/senders.md's table with the exact ACK.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lines, postHl7, withTestServer } from '../../test/server.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { SqliteExecutor } from '../store/sqlite-executor.js';

const sample = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const ORM = sample('01-orm-new.hl7');
const ACK_HEAD = 'MSH|^~\\&|CDSR|ACR|EHR|GENHOSP|20261123060000+0000||ACK^O01^ACK|';
/** MSG0101: an order whose modality code ZZ has no crosswalk row. */
const UNMAPPED = ORM.replace('MSG0001', 'MSG0101').replace('|CT|SC', '|ZZ|SC').replace('^CPT|', '^L|');

// Each test has a server of its own (the ACK numbers CDSRn and the message ids count from 1 in it).
describe('POST /hl7v2', () => {
  it('AA after the message is stored and merged', () =>
    withTestServer(async (s) => {
      const r = await postHl7(s, ORM);
      assert.equal(r.status, 200);
      assert.equal(r.type, 'x-application/hl7-v2+er7');
      assert.deepEqual(lines(r.text), [`${ACK_HEAD}CDSR1|P|2.5.1`, 'MSA|AA|MSG0001']);
      const rec = await s.store.record('100000|V0001');
      assert.equal(rec?.consultations[0]?.state, 'ready');
      assert.equal(rec?.consultations[0]?.fields.Modality?.value, '1');
      assert.equal(rec?.consultations[0]?.fields.Modality?.source, 'MSG0001');
      // provenance: the rule and the crosswalk row that gave the value
      assert.match(rec?.consultations[0]?.fields.Modality?.rule ?? '', /(^|\/)hl7v2\.yaml:\d+$/);
      assert.match(rec?.consultations[0]?.fields.Modality?.crosswalk ?? '', /(^|\/)crosswalks\/modality\.csv:\d+$/);
    }));

  it('AA for a duplicate, which is not applied twice', () =>
    withTestServer(async (s) => {
      assert.deepEqual(lines((await postHl7(s, ORM)).text).slice(1), ['MSA|AA|MSG0001']);
      const r = await postHl7(s, ORM);
      assert.deepEqual(lines(r.text), [`${ACK_HEAD}CDSR2|P|2.5.1`, 'MSA|AA|MSG0001']);
      assert.deepEqual(
        (await s.store.messages({})).map((m) => [m.id, m.status]),
        [
          [1, 'applied'],
          [2, 'duplicate'],
        ],
      );
    }));

  it('AE with an ERR naming the crosswalk for an unmapped code; kept in the error queue', () =>
    withTestServer(async (s) => {
      const r = await postHl7(s, UNMAPPED);
      assert.equal(r.status, 200);
      assert.deepEqual(lines(r.text), [
        `${ACK_HEAD}CDSR1|P|2.5.1`,
        'MSA|AE|MSG0101',
        `ERR||OBR^1^24|103^Table value not found^HL70357|E||||MAP_UNMAPPED_CODE: Modality: no row for "ZZ" in ${join(s.mappingsDir, 'crosswalks', 'modality.csv')}; add a row: ZZ,<ACR code>`,
      ]);
      assert.equal((await s.store.message(1))?.status, 'error');
    }));

  it('AR for a message type the tables do not handle, kept for audit', () =>
    withTestServer(async (s) => {
      const r = await postHl7(s, ORM.replace('MSG0001', 'MSG0102').replace('ORM^O01^ORM_O01', 'ADT^A08^ADT_A01'));
      assert.equal(r.status, 200);
      assert.deepEqual(lines(r.text), [
        'MSH|^~\\&|CDSR|ACR|EHR|GENHOSP|20261123060000+0000||ACK^A08^ACK|CDSR1|P|2.5.1',
        'MSA|AR|MSG0102',
        // '^' inside the text is escaped as \S\
        'ERR||MSH^1^9|200^Unsupported message type^HL70357|E||||MAP_UNSUPPORTED: message type ADT\\S\\A08 is not handled by the mapping tables (handled: ORM\\S\\O01, OMI\\S\\O23, ORU\\S\\R01)',
      ]);
      assert.equal((await s.store.message(1))?.status, 'ignored');
    }));

  it("200 with AR and an empty MSA-2 for what is not HL7: kept as rejected (a resend would be refused alike; an HTTP error would hold the sender's queue)", () =>
    withTestServer(async (s) => {
      const r = await postHl7(s, 'hello, this is not HL7');
      assert.equal(r.status, 200);
      assert.deepEqual(lines(r.text), [
        'MSH|^~\\&|CDSR-ADAPTER||||20261123060000+0000||ACK|CDSR1|P|2.5.1',
        'MSA|AR|',
        'ERR|||100^Segment sequence error^HL70357|E||||HL7_INVALID: not an HL7 v2 message: it does not start with an MSH segment',
      ]);
      assert.equal((await s.store.message(1))?.status, 'rejected');
    }));

  it('tolerates MLLP framing, a BOM and LF segment ends', () =>
    withTestServer(async (s) => {
      const framed = `\x0b\uFEFF${ORM.replace('MSG0001', 'MSG0103').replace(/\r/g, '\n')}\x1c\r`;
      const r = await postHl7(s, framed, { 'content-type': 'x-application/hl7-v2+er7' });
      assert.deepEqual(lines(r.text).slice(1), ['MSA|AA|MSG0103']);
    }));

  it('replays an errored message after the crosswalk row is added (single and bulk)', () =>
    withTestServer(async (s) => {
      assert.deepEqual(lines((await postHl7(s, UNMAPPED)).text)[1], 'MSA|AE|MSG0101');
      // a second one for the bulk replay
      // (in an encounter of its own: a replay re-derives the whole encounter of the message, its other messages with it)
      await postHl7(
        s,
        ORM.replace('MSG0001', 'MSG0104')
          .replace('V0001^', 'V0104^')
          .replace('ORD1001', 'ORD1104')
          .replace('|CT|SC', '|ZZ|SC')
          .replace('^CPT|', '^L|')
          .replace('20261102093015||||||F', '20261102100000||||||F'),
      );
      const before = await s.fetch(`/api/messages?status=error`).then((r) => r.json() as Promise<{ messages: { id: number }[] }>);
      assert.deepEqual(before.messages.map((m) => m.id).sort(), [1, 2]);
      appendFileSync(join(s.mappingsDir, 'crosswalks', 'modality.csv'), 'ZZ,5,a local code\n');
      assert.equal(s.mappings.reload().ok, true);
      const one = await s.fetch(`/api/messages/1/replay`, { method: 'POST' }).then((r) => r.json() as Promise<{ status: string }>);
      assert.equal(one.status, 'applied');
      const bulk = await s.fetch(`/api/replay?status=error`, { method: 'POST' }).then((r) => r.json());
      assert.deepEqual(bulk, { replayed: 1, byStatus: { applied: 1 } });
      const after = await s.fetch(`/api/messages?status=error`).then((r) => r.json() as Promise<{ messages: unknown[] }>);
      assert.deepEqual(after.messages, []);
    }));

  it('GET /metrics counts messages, records and reloads', () =>
    withTestServer(async (s) => {
      await postHl7(s, ORM);
      await postHl7(s, 'hello, this is not HL7');
      appendFileSync(join(s.mappingsDir, 'crosswalks', 'modality.csv'), 'ZZ,5,a local code\n');
      assert.equal(s.mappings.reload().ok, true);
      const text = await s.fetch(`/metrics`).then((r) => r.text());
      assert.match(text, /^cdsr_inbound_messages\{status="applied"\} 1$/m);
      assert.match(text, /^cdsr_inbound_messages\{status="rejected"\} 1$/m);
      assert.match(text, /^cdsr_records\{state="ready"\} 1$/m);
      assert.match(text, /^cdsr_mappings_generation 2$/m);
    }));

  it('refuses a broken mapping edit and keeps the tables in force', () =>
    withTestServer(async (s) => {
      appendFileSync(join(s.mappingsDir, 'crosswalks', 'modality.csv'), 'ZZ,5,a local code\nZZ,6,contradiction\n');
      const r = s.mappings.reload();
      assert.equal(r.ok, false);
      assert.match(r.problems[0]!.message, /"ZZ" is already mapped to "5"/);
      assert.equal(s.mappings.generation, 1);
      const again = await postHl7(s, ORM.replace('MSG0001', 'MSG0105'));
      assert.deepEqual(lines(again.text).slice(1), ['MSA|AA|MSG0105']);
      // the refused row is not in force: ZZ is still unmapped
      assert.deepEqual(lines((await postHl7(s, UNMAPPED)).text)[1], 'MSA|AE|MSG0101');
    }));
});

describe('POST /hl7v2: a header refused for its MSH-2', () => {
  it('is answered 200 AR with MSA-2 = MSH-10 and the parties read by splitting the MSH on MSH-1', async () => {
    await withTestServer(async (s) => {
      // MSH-2 with the escape character doubled (a JSON-escaping accident): five characters
      const odd = ORM.replace('MSH|^~\\&|', 'MSH|^~\\\\&|').replace('MSG0001', '102');
      assert.equal(odd.slice(0, 10), 'MSH|^~\\\\&|');
      const r = await postHl7(s, odd);
      assert.equal(r.status, 200);
      assert.deepEqual(lines(r.text), [
        'MSH|^~\\&|CDSR|ACR|EHR|GENHOSP|20261123060000+0000||ACK^O01^ACK|CDSR1|P|2.5.1',
        'MSA|AR|102',
        'ERR|||100^Segment sequence error^HL70357|E||||HL7_INVALID: MSH-2 "\\S\\\\R\\\\E\\\\E\\\\T\\" does not hold distinct encoding characters',
      ]);
      const m = await s.store.message(1);
      assert.deepEqual([m?.status, m?.controlId, m?.sender], ['rejected', '102', 'EHR^GENHOSP']);
    });
  });
});

describe('POST /hl7v2: credentials, size, store down', () => {
  const opts = { apiKeys: ['k-123', 'k-456'], bodyLimit: 4096 };

  it('401 without or with a wrong key; accepted with Bearer or X-API-Key', () =>
    withTestServer(async (s) => {
      // refused before the message is read: an AR that names no message, with the error code
      const refused = await postHl7(s, ORM);
      assert.deepEqual(
        [refused.status, refused.type, lines(refused.text)],
        [
          401,
          'x-application/hl7-v2+er7',
          [
            'MSH|^~\\&|CDSR-ADAPTER||||20261123060000+0000||ACK|CDSR0|P|2.5.1',
            'MSA|AR|',
            'ERR|||207^Application internal error^HL70357|E||||UNAUTHENTICATED: missing or wrong credentials (Authorization: Bearer <key> or X-API-Key)',
          ],
        ],
      );
      assert.equal((await postHl7(s, ORM, { authorization: 'Bearer nope' })).status, 401);
      assert.equal((await postHl7(s, ORM, { authorization: 'Bearer k-456' })).status, 200);
      assert.equal((await postHl7(s, ORM.replace('MSG0001', 'MSG0002'), { 'x-api-key': 'k-123' })).status, 200);
      assert.equal((await s.fetch(`/healthz`)).status, 200);
      // the audit names the credential by its place, never the key
      const stored = await s.store.messages({});
      assert.deepEqual(
        stored.map((m) => [m.controlId, m.auth]),
        [
          ['MSG0001', 'key#2'],
          ['MSG0002', 'key#1'],
        ],
      );
    }, opts));

  it('413 names the limit', () =>
    withTestServer(async (s) => {
      const r = await postHl7(s, ORM + `NTE|1||${'x'.repeat(5000)}\r`, { 'x-api-key': 'k-123' });
      assert.equal(r.status, 413);
      assert.deepEqual(lines(r.text), [
        'MSH|^~\\&|CDSR-ADAPTER||||20261123060000+0000||ACK|CDSR0|P|2.5.1',
        'MSA|AR|',
        'ERR|||207^Application internal error^HL70357|E||||BODY_TOO_LARGE: request body larger than the limit of 4096 bytes (CDSR_BODY_LIMIT_BYTES)',
      ]);
    }, opts));

  it('503 with AR when the store cannot take the message (the sender retries); readyz says so', () =>
    withTestServer(async (s) => {
      await s.store.close();
      const r = await postHl7(s, ORM.replace('MSG0001', 'MSG0003'), { 'x-api-key': 'k-123' });
      assert.equal(r.status, 503);
      assert.deepEqual(lines(r.text), [
        `${ACK_HEAD}CDSR0|P|2.5.1`,
        'MSA|AR|MSG0003',
        'ERR|||207^Application internal error^HL70357|E||||STORE_UNAVAILABLE: the message cannot be stored now; send it again',
      ]);
      const ready = await s.fetch(`/readyz`);
      assert.deepEqual(
        [ready.status, await ready.json()],
        [503, { status: 'unavailable', code: 'STORE_UNAVAILABLE', error: 'the adapter cannot take this request now; send it again' }],
      );
      // what is not HL7 is not kept either: 503 too, so that it comes back and is kept as rejected
      const junk = await postHl7(s, 'hello, this is not HL7', { 'x-api-key': 'k-123' });
      assert.deepEqual(
        [junk.status, lines(junk.text).slice(1)],
        [503, ['MSA|AR|', 'ERR|||207^Application internal error^HL70357|E||||STORE_UNAVAILABLE: the message cannot be stored now; send it again']],
      );
    }, opts));
});

describe('POST /hl7v2: a failure of the adapter on one message', () => {
  it('is kept in the error queue with AE, not answered 503 forever', async () => {
    await withTestServer(async (s) => {
      // the first attempt to store the mapped message fails as a bug would
      const real = s.store.ingest.bind(s.store);
      let calls = 0;
      s.store.ingest = (meta, outcome) => (++calls === 1 ? Promise.reject(new TypeError('boom')) : real(meta, outcome));
      const r = await postHl7(s, ORM);
      assert.equal(r.status, 200);
      assert.deepEqual(lines(r.text).slice(1), [
        'MSA|AE|MSG0001',
        'ERR|||207^Application internal error^HL70357|E||||INTERNAL_ERROR: the adapter failed on this message (TypeError); it is kept for replay',
      ]);
      s.store.ingest = real;
      const replayed = await s.fetch(`/api/messages/1/replay`, { method: 'POST' }).then((x) => x.json() as Promise<{ status: string }>);
      assert.equal(replayed.status, 'applied');
    });
  });
});

describe('POST /hl7v2: a stored row the store cannot read', () => {
  it('is a failure of ours: the message is kept as AE with the table and column named, not answered 503', async () => {
    await withTestServer(async (s) => {
      assert.equal((await postHl7(s, ORM)).status, 200);
      // read through the store first: its records are written (after the answer, on SQLite) before
      // they are spoiled behind its back
      await s.store.messages({});
      const raw = new SqliteExecutor({ file: join(s.dir, 'data', 'db.sqlite') });
      await raw.run("UPDATE encounters SET fields = 'not json'");
      await raw.close();
      const r = await postHl7(s, ORM.replace('MSG0001', 'MSG0201').replace('20261102093500', '20261102100000'));
      assert.equal(r.status, 200);
      assert.deepEqual(lines(r.text).slice(1), [
        'MSA|AE|MSG0201',
        'ERR|||207^Application internal error^HL70357|E||||INTERNAL_ERROR: the adapter failed on this message (encounters.fields: expected JSON, found string); it is kept for replay',
      ]);
      assert.deepEqual(
        (await s.store.messages({ status: 'error' })).map((m) => m.controlId),
        ['MSG0201'],
      );
    });
  });
});

describe('POST /hl7v2: a message past the limits', () => {
  it('is refused (200 AR) naming the limit, with its own MSA-2, kept as rejected; the service goes on', async () => {
    await withTestServer(
      async (s) => {
        const huge = ORM.replace(/DG1\|1\|\|[^\r]*/, `DG1|1||${Array.from({ length: 150_000 }, (_, i) => `R${i}`).join('~')}`);
        const r = await postHl7(s, huge);
        assert.equal(r.status, 200);
        assert.deepEqual(lines(r.text).slice(1), [
          'MSA|AR|MSG0001',
          'ERR|||100^Segment sequence error^HL70357|E||||HL7_INVALID: line 5 (DG1) has 149999 repetitions (limit 5000)',
        ]);
        assert.equal((await s.store.message(1))?.status, 'rejected');
        assert.equal((await postHl7(s, ORM)).status, 200);
      },
      { bodyLimit: 4 * 1024 * 1024 },
    );
  });
});

describe('POST /hl7v2: a message of two orders', () => {
  it('each ERR and each stored problem names the order (OBR) it belongs to', () =>
    withTestServer(async (s) => {
      const two = sample('07-orm-two-orders.hl7');
      // the second OBR's modality has no row; the first order is fine
      const at = two.lastIndexOf('|CT|SC');
      const r = await postHl7(s, `${two.slice(0, at)}|ZZ|SC${two.slice(at + '|CT|SC'.length)}`.replaceAll('^CPT|', '^L|'));
      const unmapped = `Modality: no row for "ZZ" in ${join(s.mappingsDir, 'crosswalks', 'modality.csv')}; add a row: ZZ,<ACR code>`;
      assert.deepEqual(lines(r.text), [
        `${ACK_HEAD}CDSR1|P|2.5.1`,
        'MSA|AE|MSG0007',
        `ERR||OBR^1^24|103^Table value not found^HL70357|E||||MAP_UNMAPPED_CODE: ${unmapped} (order 2 of the message: ORD1006 / ACC2006)`,
      ]);
      const m = await s.store.message(1);
      assert.deepEqual(
        m?.problems.map((p) => [p.code, p.value, p.order]),
        [['MAP_UNMAPPED_CODE', 'ZZ', { place: 2, numbers: ['ORD1006', 'ACC2006'] }]],
      );
    }));
});
