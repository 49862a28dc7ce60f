// The analyst's API through the app: the worklist of the error queue, the dry run against the
// tables on disk, the replay that then empties the queue; one message with its raw text
// (operate role, audited); the message search honoured or refused with 400.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postHl7, withTestServer, type TestServer } from '../../test/server.js';
import { codeFor, SEVEN, tableOf, unmappedMessages } from '../../test/unmapped.js';
import type { WorklistRow } from '../inbound/worklist.js';

const json = async (s: TestServer, path: string, init: { method?: string; headers?: Record<string, string> } = {}) => {
  const r = await s.fetch(path, init);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

describe('worklist', () => {
  it('50 messages with 7 distinct unmapped values: exactly 7 rows with their counts; after adding the rows and a dry run, the replay resolves all 50', () =>
    withTestServer(async (s) => {
      const msgs = unmappedMessages(SEVEN);
      assert.equal(msgs.length, 50);
      for (const m of msgs) assert.match((await postHl7(s, m.raw)).text, /MSA\|AE\|/);

      const w = await json(s, '/api/worklist');
      assert.equal(w.status, 200);
      assert.equal(w.body.messages, 50);
      assert.deepEqual(w.body.otherProblems, {});
      const rows = w.body.rows as WorklistRow[];
      const idsOf = (value: string) => msgs.flatMap((m, i) => (m.c.value === value ? [i + 1] : []));
      assert.deepEqual(
        rows,
        SEVEN.map((c) => ({
          field: c.field,
          table: tableOf(c.field),
          value: c.value,
          facilityId: '100000',
          system: null,
          count: c.count,
          firstSeen: '2026-11-23T06:00:00.000Z',
          lastSeen: '2026-11-23T06:00:00.000Z',
          examples: idsOf(c.value).slice(0, 5),
          stub: `${c.value},<ACR code>,seen in ${c.count} message(s)`,
        })),
      );

      // before the tables change, the dry run resolves none and leaves the same seven
      const before = await json(s, '/api/worklist/dry-run', { method: 'POST' });
      assert.deepEqual(
        { ...before.body, remaining: (before.body.remaining as { rows: unknown[] }).rows.length },
        { tablesLoad: true, messages: 50, wouldResolve: 0, stillError: 50, waitingForFetch: 0, remaining: 7 },
      );

      // the analyst pastes the stubs with the ACR codes filled in (not yet in force: no reload)
      for (const r of rows) appendFileSync(join(s.mappingsDir, r.table), `${r.stub.replace('<ACR code>', codeFor(r.field))}\n`);
      const dry = await json(s, '/api/worklist/dry-run', { method: 'POST' });
      assert.deepEqual(dry.body, {
        tablesLoad: true,
        messages: 50,
        wouldResolve: 50,
        stillError: 0,
        waitingForFetch: 0,
        remaining: { rows: [], messages: 0, otherProblems: {} },
      });
      // a dry run stores nothing
      assert.equal(((await json(s, '/api/messages?status=error&limit=1000')).body.messages as unknown[]).length, 50);

      assert.equal(s.mappings.reload().ok, true);
      const replay = await json(s, '/api/replay', { method: 'POST' });
      assert.deepEqual(replay.body, { replayed: 50, byStatus: { applied: 50 } });
      assert.deepEqual((await json(s, '/api/worklist')).body, { rows: [], messages: 0, otherProblems: {}, guesses: [] });
    }));

  it('a dry run against tables on disk that do not load answers their file:line problems', () =>
    withTestServer(async (s) => {
      const file = join(s.mappingsDir, 'crosswalks', 'modality.csv');
      writeFileSync(file, `${readFileSync(file, 'utf8')}"unclosed\n`);
      const dry = await json(s, '/api/worklist/dry-run', { method: 'POST' });
      assert.equal(dry.body.tablesLoad, false);
      assert.match((dry.body.problems as string[])[0]!, /crosswalks\/modality\.csv:\d+: not a valid CSV file/);
    }));

  it('a message waiting for another reason is counted apart, by its problem code', () =>
    withTestServer(async (s) => {
      const raw = unmappedMessages([{ field: 'Modality', value: 'CT', count: 1 }])[0]!.raw.replace('|EHR|GENHOSP|', '|EHR|NOWHERE|');
      assert.match((await postHl7(s, raw)).text, /MSA\|AE\|/);
      const w = await json(s, '/api/worklist');
      assert.equal((w.body.rows as WorklistRow[]).length, 1);
      assert.deepEqual((w.body.rows as WorklistRow[])[0]!.stub, 'NOWHERE,<Facility_ID>,,seen in 1 message(s)');
    }));
});

describe('GET /api/messages/:id', () => {
  it('answers the stored message with its raw text to an operator and writes the read to the access audit', () =>
    withTestServer(
      async (s) => {
        const raw = unmappedMessages([{ field: 'Modality', value: 'ZA', count: 1 }])[0]!.raw;
        await postHl7(s, raw, { authorization: 'Bearer k-send' });
        const op = { authorization: 'Bearer k-op' };
        const m = await json(s, '/api/messages/1', { headers: op });
        assert.equal(m.status, 200);
        assert.equal(m.body.raw, raw);
        assert.equal(m.body.status, 'error');
        assert.equal(m.body.controlId, 'WL0001');
        assert.equal((await s.fetch('/api/messages/1', { headers: { authorization: 'Bearer k-view' } })).status, 403);
        assert.deepEqual((await json(s, '/api/messages/2', { headers: op })).body, { code: 'NOT_FOUND', error: 'no such message' });
        assert.equal((await s.fetch('/api/messages/x1', { headers: op })).status, 404);
        assert.equal((await s.fetch('/api/messages/1?raw=no', { headers: op })).status, 400);
        const audit = (await json(s, '/api/audit', { headers: op })).body.entries as { who: string; what: string }[];
        assert.deepEqual(
          audit.map((e) => [e.who, e.what]),
          [['operate#1', 'message 1']],
        );
      },
      { roles: { CDSR_SEND_API_KEYS: ['k-send'], CDSR_OPERATE_API_KEYS: ['k-op'], CDSR_VIEW_API_KEYS: ['k-view'] } },
    ));
});

describe('GET /api/messages search', () => {
  const ids = async (s: TestServer, q: string) => {
    const r = await json(s, `/api/messages${q}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.messages as { id: number }[]).map((m) => m.id);
  };
  it('honours control id, sender, status, channel, the date range and order; refuses what it cannot honour with 400', () =>
    withTestServer(async (s) => {
      const [a, b] = unmappedMessages([{ field: 'Modality', value: 'ZA', count: 2 }]);
      await postHl7(s, a!.raw);
      await postHl7(s, b!.raw.replace('|EHR|GENHOSP|', '|RIS|GENHOSP|'));
      await postHl7(s, a!.raw.replace('|ZA|SC', '|CT|SC').replace('WL0001', 'WL0003'));
      assert.deepEqual(await ids(s, '?controlId=WL0002'), [2]);
      assert.deepEqual(await ids(s, '?sender=RIS%5EGENHOSP'), [2]);
      assert.deepEqual(await ids(s, '?status=applied'), [3]);
      assert.deepEqual(await ids(s, '?status=error&sender=EHR%5EGENHOSP'), [1]);
      assert.deepEqual(await ids(s, '?channel=fhir'), []);
      assert.deepEqual(await ids(s, '?from=2026-11-23&to=2026-11-23'), [1, 2, 3]);
      assert.deepEqual(await ids(s, '?to=2026-11-22'), []);
      assert.deepEqual(await ids(s, '?from=2026-11-23T06:00:00.001Z'), []);
      assert.deepEqual(await ids(s, '?order=newest&limit=2'), [3, 2]);
      assert.deepEqual((await json(s, '/api/messages?order=newest&limit=2')).body.next, '2');
      assert.deepEqual(await ids(s, '?order=newest&after=2'), [1]);
      const refused: [string, string, string][] = [
        [
          '?controlid=WL0001',
          'unknown query parameter: controlid (this route takes status, channel, controlId, sender, from, to, q, order, limit, after)',
          'controlid',
        ],
        ['?status=lost', 'status must be one of applied, error, ignored, rejected, duplicate, pending', 'status'],
        ['?channel=mllp', 'channel must be one of hl7v2, fhir', 'channel'],
        ['?from=yesterday', 'from must be a day (YYYY-MM-DD) or an ISO 8601 date-time', 'from'],
        ['?from=2026-11-24&to=2026-11-23', 'from must be before to', 'from'],
        ['?order=up', 'order must be one of oldest, newest', 'order'],
        ['?sender=A&sender=B', 'sender may be given once', 'sender'],
      ];
      for (const [q, error, field] of refused)
        assert.deepEqual(await json(s, `/api/messages${q}`), { status: 400, body: { code: 'BAD_REQUEST', error, field } }, q);
    }));
});
