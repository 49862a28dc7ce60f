// `cdsr-adapter worklist` against a running service: the table of values with the rows to paste,
// the dry run, exit codes; a service that cannot be reached is named.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, postHl7, withTestServer } from '../../test/server.js';
import { unmappedMessages } from '../../test/unmapped.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { runWorklist } from './worklist.js';

const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), mappingsDir: '', progress: false }, out, err };
};

describe('cdsr-adapter worklist', () => {
  it('lists the values with the rows to paste, then dry-runs the tables on disk', () =>
    withTestServer(
      async (s) => {
        for (const m of unmappedMessages([
          { field: 'Modality', value: 'ZA', count: 2 },
          { field: 'Patient_Sex', value: 'Q', count: 1 },
        ]))
          await postHl7(s, m.raw, { authorization: 'Bearer k-send' });
        const config = { HOST: '127.0.0.1', PORT: 1, CDSR_OPERATE_API_KEYS: ['k-op'], CDSR_INBOUND_API_KEYS: [] };
        const a = capture();
        assert.equal(await runWorklist(config, { url: s.url }, a.io), 1);
        assert.equal(
          a.out.join(''),
          [
            '3 message(s) in the error queue; 2 value(s) to add to the tables',
            'FIELD        TABLE                       VALUE  FACILITY  MESSAGES  FIRST SEEN                LAST SEEN                 EXAMPLES',
            'Modality     crosswalks/modality.csv     ZA     100000    2         2026-11-23T06:00:00.000Z  2026-11-23T06:00:00.000Z  #1 #3',
            'Patient_Sex  crosswalks/patient_sex.csv  Q      100000    1         2026-11-23T06:00:00.000Z  2026-11-23T06:00:00.000Z  #2',
            '',
            '# rows to add to crosswalks/modality.csv (fill in the code):',
            'ZA,<ACR code>,seen in 2 message(s)',
            '',
            '# rows to add to crosswalks/patient_sex.csv (fill in the code):',
            'Q,<ACR code>,seen in 1 message(s)',
            '',
          ].join('\n'),
        );
        appendFileSync(join(s.mappingsDir, 'crosswalks', 'modality.csv'), 'ZA,1,\n');
        const d = capture();
        assert.equal(await runWorklist(config, { url: s.url, dryRun: true }, d.io), 1);
        assert.match(
          d.out.join(''),
          /^dry run against the tables on disk: 2 of 3 message\(s\) would resolve, 1 would stay in the error queue; nothing stored\n1 message\(s\) in the error queue; 1 value\(s\) to add/,
        );
        appendFileSync(join(s.mappingsDir, 'crosswalks', 'patient_sex.csv'), 'Q,U,\n');
        const j = capture();
        assert.equal(await runWorklist(config, { url: s.url, dryRun: true, json: true }, j.io), 0);
        assert.deepEqual(JSON.parse(j.out.join('')), {
          tablesLoad: true,
          messages: 3,
          wouldResolve: 3,
          stillError: 0,
          waitingForFetch: 0,
          remaining: { rows: [], messages: 0, otherProblems: {} },
        });
        const noKey = capture();
        assert.equal(await runWorklist({ ...config, CDSR_OPERATE_API_KEYS: [] }, { url: s.url }, noKey.io), 2);
        assert.match(noKey.err.join(''), /answered 401/);
      },
      { listen: true, roles: { CDSR_SEND_API_KEYS: ['k-send'], CDSR_OPERATE_API_KEYS: ['k-op'] } },
    ));

  it('a mapped value outside an enforced value set: listed with the rule to fix, no row to paste', () =>
    withTestServer(
      async (s) => {
        const set = join(s.mappingsDir, 'valuesets', 'CDS_Vendor.csv');
        writeFileSync(set, readFileSync(set, 'utf8').replace('# enforce: no', '# enforce: yes'));
        assert.equal(s.mappings.reload().ok, true);
        const rule = readFileSync(join(s.mappingsDir, 'hl7v2.yaml'), 'utf8').split('\n').indexOf('  CDS_Vendor:') + 1;
        const orm = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
        await postHl7(s, orm.replace('||G1014||', '||G9999||'));
        const a = capture();
        assert.equal(await runWorklist({ HOST: '127.0.0.1', PORT: 1, CDSR_OPERATE_API_KEYS: [], CDSR_INBOUND_API_KEYS: [] }, { url: s.url }, a.io), 1);
        const table = `hl7v2.yaml:${rule}`;
        assert.equal(
          a.out.join(''),
          [
            "1 message(s) in the error queue; 0 value(s) to add to the tables, 1 mapped value(s) outside ACR's value sets to fix",
            `FIELD       TABLE${' '.repeat(table.length - 5)}  VALUE  FACILITY  MESSAGES  FIRST SEEN                LAST SEEN                 EXAMPLES`,
            `CDS_Vendor  ${table}  G9999  100000    1         2026-11-23T06:00:00.000Z  2026-11-23T06:00:00.000Z  #1`,
            '',
            "# values outside ACR's value sets (change the row or rule named):",
            `${table}: "G9999" is not an ACR code of CDS_Vendor: fix the rule at ${table}, or add a crosswalk to it with a row G9999,<ACR code> (the codes of valuesets/CDS_Vendor.csv)`,
            '',
          ].join('\n'),
        );
      },
      { listen: true },
    ));

  it('exit 0 on an empty error queue; exit 1 while a message waits with a collision, though no row is to add', () =>
    withTestServer(
      async (s) => {
        const config = { HOST: '127.0.0.1', PORT: 1, CDSR_OPERATE_API_KEYS: [], CDSR_INBOUND_API_KEYS: [] };
        const empty = capture();
        assert.equal(await runWorklist(config, { url: s.url }, empty.io), 0);
        assert.equal(empty.out.join(''), '0 message(s) in the error queue; 0 value(s) to add to the tables\n');
        const orm = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
        await postHl7(s, orm);
        // another order at the same consultation date and time of the same encounter
        await postHl7(s, orm.replace('MSG0001', 'MSG0002').replaceAll('ORD1001', 'ORD3001').replaceAll('ACC2001', 'ACC4001'));
        const c = capture();
        assert.equal(await runWorklist(config, { url: s.url }, c.io), 1);
        assert.equal(
          c.out.join(''),
          '1 message(s) in the error queue; 0 value(s) to add to the tables\n\nwaiting for other reasons (no table row fixes them): MERGE_COLLISION 1\n',
        );
      },
      { listen: true },
    ));

  it('a value first seen while its facility was unknown is one row once facilities.csv has the facility, saying so', () =>
    withTestServer(
      async (s) => {
        const config = { HOST: '127.0.0.1', PORT: 1, CDSR_OPERATE_API_KEYS: [], CDSR_INBOUND_API_KEYS: [] };
        const orm = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8')
          .replace('|CT|SC', '|ZA|SC')
          .replace('^CPT|', '^L|')
          .replace('|EHR|GENHOSP|', '|EHR|NEWHOSP|');
        await postHl7(s, orm);
        appendFileSync(join(s.mappingsDir, 'facilities.csv'), 'NEWHOSP,200000,,\n');
        assert.equal(s.mappings.reload().ok, true);
        await postHl7(s, orm.replace('MSG0001', 'MSG0002'));
        const c = capture();
        assert.equal(await runWorklist(config, { url: s.url }, c.io), 1);
        const at = '2026-11-23T06:00:00.000Z';
        assert.equal(
          c.out.join(''),
          [
            '2 message(s) in the error queue; 1 value(s) to add to the tables, 1 sending facility(ies) in facilities.csv now (replay)',
            'FIELD        TABLE                    VALUE    FACILITY  MESSAGES  FIRST SEEN                LAST SEEN                 EXAMPLES',
            `Modality     crosswalks/modality.csv  ZA       200000    2         ${at}  ${at}  #1 #2`,
            `Facility_ID  facilities.csv           NEWHOSP  200000    1         ${at}  ${at}  #1`,
            '',
            '# rows to add to crosswalks/modality.csv (fill in the code):',
            'ZA,<ACR code>,seen in 2 message(s)',
            '',
            '# sending facilities facilities.csv has now (nothing to add):',
            'facilities.csv: "NEWHOSP" has its row now (facilities.csv:7, Facility_ID 200000): nothing to add; replay the error queue to map these messages',
            '',
            '# messages read while their facility was unknown, counted in the rows of the facility they have now:',
            'Modality ZA (200000): 1 of these message(s) were read before their sending facility "NEWHOSP" (facilities.csv:7) was in facilities.csv and are counted under 200000; replay the error queue after adding the row',
            '',
          ].join('\n'),
        );
        const j = capture();
        await runWorklist(config, { url: s.url, json: true }, j.io);
        assert.deepEqual((JSON.parse(j.out.join('')) as { rows: unknown[] }).rows[0], {
          field: 'Modality',
          table: 'crosswalks/modality.csv',
          value: 'ZA',
          facilityId: '200000',
          system: null,
          count: 2,
          firstSeen: at,
          lastSeen: at,
          examples: [1, 2],
          stub: 'ZA,<ACR code>,seen in 2 message(s)',
          folded:
            '1 of these message(s) were read before their sending facility "NEWHOSP" (facilities.csv:7) was in facilities.csv and are counted under 200000; replay the error queue after adding the row',
        });
      },
      { listen: true },
    ));

  it('names the service it cannot reach', async () => {
    const c = capture();
    const port = await freePort();
    assert.equal(await runWorklist({ HOST: '127.0.0.1', PORT: port, CDSR_OPERATE_API_KEYS: [], CDSR_INBOUND_API_KEYS: [] }, {}, c.io), 2);
    assert.match(c.err.join(''), new RegExp(`the service at http://127\\.0\\.0\\.1:${port} cannot be reached .*; is it running\\?`));
  });
});
