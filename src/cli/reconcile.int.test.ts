// Reconciliation in the facility's own days: /api/reconciliation by arrival and by ordered day,
// its CSV, `cdsr-adapter reconcile --url` asking a started service, and `reconcile` offline from
// a folder without the mapping tables. The facility is in America/Chicago: orders arriving at
// 2026-12-04 05:30Z and 06:30Z are on Dec 3 and Dec 4 there.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import type { MappingTables } from '../mapping/load.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { startTestServer, type TestServer } from '../../test/server.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
const FACILITIES = 'source,facility_id,partner_id,timezone\nGENHOSP,100000,,America/Chicago\n';

/** 01-orm-new as order n of encounter Vn (its consultation at `cds`), or 04-oru-final (a result whose order never came), arriving at `at`. */
async function orderAt(
  store: Store,
  tables: MappingTables,
  file: '01-orm-new.hl7' | '04-oru-final.hl7',
  n: number,
  at: string,
  cds = '20261102093015',
): Promise<void> {
  const raw = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', file), 'utf8')
    .replace(/\|MSG000\d\|/, `|MSG${n}|`)
    .replaceAll('ORD1001', `ORD${n}`)
    .replaceAll('ACC2001', `ACC${n}`)
    .replaceAll('V0001', `V${n}`)
    .replaceAll('20261102093015', cds);
  await store.ingest(
    { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `MSG${n}`, contentType: 'application/hl7-v2', raw, receivedAt: new Date(at) },
    mapHl7Text(raw, tables),
  );
}

/** Dec 3 23:30 and Dec 4 00:30 in Chicago, both ordered Nov 3; a result alone at Dec 4 00:45. */
async function threeOrders(store: Store, tables: MappingTables): Promise<void> {
  await orderAt(store, tables, '01-orm-new.hl7', 5001, '2026-12-04T05:30:00Z', '20261103223000');
  await orderAt(store, tables, '01-orm-new.hl7', 5002, '2026-12-04T06:30:00Z', '20261103231500');
  await orderAt(store, tables, '04-oru-final.hl7', 5003, '2026-12-04T06:45:00Z');
}

/** The CLI in a child process (asynchronous: the service it asks runs in this one). */
function cli(args: string[], opts: { cwd: string; env: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { PATH: process.env.PATH ?? '', ...opts.env }, encoding: 'utf8' }, (e, stdout, stderr) => {
      done({ code: e ? Number((e as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const CSV_HEADER =
  'facility_id,day,time_zone,counted_by,seen,by_arrival,reported,held,excluded,held_incomplete,held_invalid,held_rejected,held_needs-review,held_cancelled-after-submission,held_orphan,held_collision,held_cancel_unmatched,held_pending_fetch,held_error,excluded_cancelled,excluded_not-advanced-imaging,excluded_cancelled-after-submission';

describe("reconciliation in the facility's days, through the service", () => {
  let s: TestServer;
  let elsewhere: string;
  before(async () => {
    // CDSR_TIMEZONE is UTC: the facility's own zone comes from facilities.csv
    s = await startTestServer({ listen: true, timeZone: 'UTC', facilities: FACILITIES });
    await threeOrders(s.store, s.mappings.current);
    elsewhere = mkdtempSync(join(tmpdir(), 'cdsr-elsewhere-'));
  });
  after(async () => {
    await s.close();
    rmSync(elsewhere, { recursive: true, force: true });
  });

  it('by arrival: Dec 3 and Dec 4 in Chicago; by ordered day: both orders on Nov 3, the lone result by its arrival', async () => {
    const get = async (q: string) => {
      const r = await s.fetch(`/api/reconciliation${q}`);
      return [r.status, await r.json()];
    };
    assert.deepEqual(await get('?from=2026-12-03&to=2026-12-04'), [
      200,
      {
        by: 'received',
        timeZones: { '100000': 'America/Chicago' },
        days: [
          { facilityId: '100000', day: '2026-12-03', seen: 1, reported: 1, held: {}, excluded: {} },
          { facilityId: '100000', day: '2026-12-04', seen: 2, reported: 1, held: { orphan: 1 }, excluded: {} },
        ],
      },
    ]);
    assert.deepEqual(await get('?by=ordered'), [
      200,
      {
        by: 'ordered',
        timeZones: { '100000': 'America/Chicago' },
        days: [
          { facilityId: '100000', day: '2026-11-03', seen: 2, byArrival: 0, reported: 2, held: {}, excluded: {} },
          { facilityId: '100000', day: '2026-12-04', seen: 1, byArrival: 1, reported: 0, held: { orphan: 1 }, excluded: {} },
        ],
      },
    ]);
    assert.deepEqual(await get('?by=arrival'), [400, { code: 'BAD_REQUEST', error: 'by must be one of received, ordered', field: 'by' }]);
    assert.deepEqual(await get('?format=xlsx'), [400, { code: 'BAD_REQUEST', error: 'format must be one of json, csv', field: 'format' }]);
  });

  it('format=csv: one line per facility and day, a column per reason, as a download', async () => {
    const r = await s.fetch('/api/reconciliation?from=2026-12-03&to=2026-12-04&format=csv');
    assert.deepEqual(
      [r.status, r.headers.get('content-type'), r.headers.get('content-disposition')],
      [200, 'text/csv; charset=utf-8', 'attachment; filename="reconciliation-received-2026-12-03-2026-12-04.csv"'],
    );
    assert.equal(
      await r.text(),
      `${CSV_HEADER}\n100000,2026-12-03,America/Chicago,received,1,,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n100000,2026-12-04,America/Chicago,received,2,,1,1,0,0,0,0,0,0,1,0,0,0,0,0,0,0\n`,
    );
    const ordered = await (await s.fetch('/api/reconciliation?by=ordered&format=csv')).text();
    assert.equal(
      ordered,
      `${CSV_HEADER}\n100000,2026-11-03,America/Chicago,ordered,2,0,2,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n100000,2026-12-04,America/Chicago,ordered,1,1,0,1,0,0,0,0,0,0,1,0,0,0,0,0,0,0\n`,
    );
  });

  it('reconcile --url asks the service, from a folder without any mapping tables', async () => {
    const env = { CDSR_MAPPINGS_DIR: join(elsewhere, 'no-mappings'), CDSR_DATA_DIR: join(elsewhere, 'no-data'), CDSR_TIMEZONE: 'UTC' };
    const table = await cli(['reconcile', '--url', s.url, '--from', '2026-12-03', '--to', '2026-12-03'], { cwd: elsewhere, env });
    assert.deepEqual(table, {
      code: 0,
      stdout: 'facility  zone             day         seen  reported  held  excluded\n100000    America/Chicago  2026-12-03  1     1         0     0\n',
      stderr: '',
    });
    const ordered = await cli(['reconcile', '--url', s.url, '--by', 'ordered'], { cwd: elsewhere, env });
    assert.deepEqual(ordered, {
      code: 0,
      stdout:
        'facility  zone             ordered day  seen  not in a record (by arrival)  reported  held      excluded\n' +
        '100000    America/Chicago  2026-11-03   2     0                             2         0         0\n' +
        '100000    America/Chicago  2026-12-04   1     1                             0         orphan 1  0\n',
      stderr: '',
    });
    const csv = await cli(['reconcile', '--url', s.url, '--from', '2026-12-04', '--csv'], { cwd: elsewhere, env });
    assert.deepEqual(csv, { code: 0, stdout: `${CSV_HEADER}\n100000,2026-12-04,America/Chicago,received,2,,1,1,0,0,0,0,0,0,1,0,0,0,0,0,0,0\n`, stderr: '' });
    assert.deepEqual(await cli(['reconcile', '--url', s.url, '--by', 'exam'], { cwd: elsewhere, env }), {
      code: 2,
      stdout: '',
      stderr: 'cdsr-adapter: --by must be received or ordered\n',
    });
  });
});

describe('reconcile offline, from another folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-reconcile-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('needs no mapping tables: facilities.csv if there is one (its zones), else CDSR_TIMEZONE; a bad zone is named by file and line', async () => {
    const data = join(dir, 'data');
    const server = await startTestServer({ facilities: FACILITIES });
    const tables = server.mappings.current;
    await server.close();
    const store = await openStore(
      { kind: 'sqlite', file: join(data, 'cdsr-adapter.sqlite') },
      new CdsrValidator({ now: new Date('2026-11-23T06:00:00Z'), valueSets: tables.valueSets }),
    );
    await threeOrders(store, tables);
    await store.close();
    const folder = join(dir, 'elsewhere');
    mkdirSync(folder);
    // no tables at all: the zone is CDSR_TIMEZONE's
    const noTables = await cli(['reconcile', '--from', '2026-12-03', '--to', '2026-12-03'], {
      cwd: folder,
      env: { CDSR_DATA_DIR: data, CDSR_MAPPINGS_DIR: join(folder, 'mappings'), CDSR_TIMEZONE: 'America/Chicago' },
    });
    assert.deepEqual(noTables, {
      code: 0,
      stdout: 'facility  zone             day         seen  reported  held  excluded\n100000    America/Chicago  2026-12-03  1     1         0     0\n',
      stderr: `no ${join(folder, 'mappings', 'facilities.csv')}: days are counted in CDSR_TIMEZONE (America/Chicago)\n`,
    });
    // facilities.csv alone (the other tables absent): its zone wins over CDSR_TIMEZONE
    mkdirSync(join(folder, 'mappings'));
    writeFileSync(join(folder, 'mappings', 'facilities.csv'), FACILITIES);
    const withFile = await cli(['reconcile', '--json', '--from', '2026-12-03', '--to', '2026-12-03'], {
      cwd: folder,
      env: { CDSR_DATA_DIR: data, CDSR_MAPPINGS_DIR: join(folder, 'mappings'), CDSR_TIMEZONE: 'UTC' },
    });
    assert.deepEqual(
      [withFile.code, JSON.parse(withFile.stdout), withFile.stderr],
      [
        0,
        {
          by: 'received',
          timeZones: { '100000': 'America/Chicago' },
          days: [{ facilityId: '100000', day: '2026-12-03', seen: 1, reported: 1, held: {}, excluded: {} }],
        },
        '',
      ],
    );
    writeFileSync(join(folder, 'mappings', 'facilities.csv'), 'source,facility_id,partner_id,timezone\nGENHOSP,100000,,Central\n');
    const bad = await cli(['reconcile'], { cwd: folder, env: { CDSR_DATA_DIR: data, CDSR_MAPPINGS_DIR: join(folder, 'mappings'), CDSR_TIMEZONE: 'UTC' } });
    const file = join(folder, 'mappings', 'facilities.csv');
    assert.deepEqual(bad, {
      code: 2,
      stdout: '',
      stderr: `cdsr-adapter: ${file} does not load (the facilities' time zones are read from it):\n  ${file}:2: timezone "Central" is not an IANA time zone such as America/Chicago\n`,
    });
  });
});
