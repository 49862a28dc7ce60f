// Every fix reaches the registry, on each dialect: stored messages re-derived through fixed tables
// (a rule, a site rule, a value set, the consultation time's source) change held, applied and
// already-sent records as they must; a dry run writes nothing; unchanged tables change nothing.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { LiveValidator } from '../mapping/validator.js';
import { remapMessage, reprocessUnit, runReprocess, startReprocess, type ReprocessDeps } from '../inbound/reprocess.js';
import { replayOne } from '../inbound/replay.js';
import type { Store } from './store.js';
import type { FreshDatabase, StoreBacking } from './store.suite.js';
import type { CdsrValidator } from '../cdsr/validate.js';
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const hl7 = (n: string) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', n), 'utf8');
const seg = (raw: string, edit: (line: string) => string | undefined) =>
  raw
    .split('\r')
    .map((l) => edit(l))
    .filter((l): l is string => l !== undefined)
    .join('\r');

/** A copy of the shipped tables with an edit, in a folder of its own (the repository is never written). */
function tablesWith(edit: (dir: string) => void): MappingTables {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-reprocess-'));
  try {
    cpSync(join(REPO_ROOT, 'mappings'), dir, { recursive: true });
    edit(dir);
    const r = loadMappings(dir);
    if (!r.tables) throw new Error(JSON.stringify(r.problems));
    return r.tables;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const editFile = (dir: string, file: string, fn: (text: string) => string) => writeFileSync(join(dir, file), fn(readFileSync(join(dir, file), 'utf8')));

/**
 * `concurrency`: cases run at a time. Each has a database of its own; a backing whose cases mostly
 * wait on a server (PostgreSQL) runs several together.
 */
export function reprocessSuite(name: string, backing: () => Promise<StoreBacking | string>, concurrency = 1): void {
  describe(`${name}: reprocessing (records derived from their messages)`, { concurrency }, () => {
    let fresh: StoreBacking | undefined;
    let skipped = '';
    let shipped: MappingTables;
    before(async () => {
      const r = await backing();
      if (typeof r === 'string') skipped = r;
      else fresh = r;
      shipped = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    });
    interface Ctx {
      readonly s: Store;
      readonly db: FreshDatabase;
      readonly deps: ReprocessDeps;
      readonly use: (t: MappingTables) => void;
      readonly send: (raw: string, controlId: string) => Promise<number>;
    }
    const withStore = (title: string, fn: (c: Ctx) => Promise<void>): void =>
      void it(title, async (t) => {
        if (skipped || !fresh) return t.skip(skipped);
        const db = await fresh();
        let current = shipped;
        const validator: CdsrValidator = new LiveValidator(() => current, { now: NOW });
        const s = await db.open(validator);
        const deps: ReprocessDeps = {
          store: s,
          mappings: {
            get current() {
              return current;
            },
          },
          clock: () => NOW,
        };
        const send = async (raw: string, controlId: string) =>
          (
            await s.ingest(
              { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId, contentType: 'application/hl7-v2', raw, receivedAt: NOW },
              mapHl7Text(raw, current),
            )
          ).messageId;
        try {
          await fn({ s, db, deps, use: (x) => void (current = x), send });
        } finally {
          await s.close();
          await db.drop();
        }
      });
    const consultation = async (s: Store, key = '100000|V0001') => {
      const r = await s.record(key);
      return r?.consultations.map((c) => ({ key: c.consultationKey, state: c.state, missing: c.missing, vendor: c.fields['CDS_Vendor']?.value }));
    };
    // the site carries the G-code in a Z segment no shipped rule reads
    const zds = (raw: string) => seg(raw, (l) => (l.startsWith('OBX|1|ST|CDS-GCODE') ? 'ZDS|1|G1014' : l));
    const readsZds = () =>
      tablesWith((dir) =>
        editFile(dir, 'hl7v2.yaml', (y) =>
          y.replace('  CDS_Vendor:\n    from: OBX[3.1=CDS-GCODE]-5', '  CDS_Vendor:\n    from: ["OBX[3.1=CDS-GCODE]-5", ZDS-2]'),
        ),
      );

    withStore(
      'an applied message re-mapped after a rule fix: the dry run shows the change and writes nothing; applied, the record is ready',
      async ({ s, deps, use, send }) => {
        const id = await send(zds(hl7('01-orm-new.hl7')), 'MSG0001');
        assert.deepEqual(await consultation(s), [{ key: '11/02/2026 09:30:15', state: 'incomplete', missing: ['CDS_Vendor'], vendor: undefined }]);
        use(readsZds());
        const dry = await reprocessUnit(deps, 'e:100000|V0001', { apply: false, who: 'operate#1', why: 'test' });
        assert.deepEqual(dry, {
          kind: 'done',
          encounterKeys: ['100000|V0001'],
          changes: [
            {
              encounterKey: '100000|V0001',
              consultationKey: '11/02/2026 09:30:15',
              change: 'changed',
              stateBefore: 'incomplete',
              stateAfter: 'ready',
              fields: [{ field: 'CDS_Vendor', after: 'G1014' }],
              resend: false,
              retraction: false,
            },
          ],
          messages: [],
          unchanged: 0,
        });
        assert.deepEqual(await consultation(s), [{ key: '11/02/2026 09:30:15', state: 'incomplete', missing: ['CDS_Vendor'], vendor: undefined }]);
        // a replay of the applied message is a reprocessing of its encounter, applied
        assert.equal(await replayOne(deps, id), 'applied');
        assert.deepEqual(await consultation(s), [{ key: '11/02/2026 09:30:15', state: 'ready', missing: [], vendor: 'G1014' }]);
        // once more: nothing left to change
        const again = await reprocessUnit(deps, 'e:100000|V0001', { apply: true, who: 'operate#1', why: 'test' });
        assert.deepEqual(again.kind === 'done' ? [again.changes, again.unchanged] : again, [[], 1]);
      },
    );

    withStore(
      'a batch of units in one transaction: each as on its own; it stops after a unit that grows (nothing of it written) and at its time budget',
      async ({ s, use, send }) => {
        const ids: number[] = [];
        for (const v of ['V0001', 'V0002', 'V0003']) ids.push(await send(zds(hl7('01-orm-new.hl7').replaceAll('V0001', v)), `M${v}`));
        use(readsZds());
        const t = readsZds();
        const item = (v: string, id: number, remapped = new Map([[id, mapHl7Text(zds(hl7('01-orm-new.hl7').replaceAll('V0001', v)), t)]])) => ({
          unit: { encounterKeys: [`100000|${v}`], messageIds: [] },
          remapped,
          opts: { apply: true, at: NOW, who: 'operate#1', why: 'test' },
        });
        const vendors = async () => Promise.all(['V0001', 'V0002', 'V0003'].map(async (v) => (await consultation(s, `100000|${v}`))?.[0]?.vendor));
        // the second unit misses its message's new outcome (it "arrived meanwhile"): it grows; the third is not taken
        const first = await s.rederiveBatch([item('V0001', ids[0]!), item('V0002', ids[1]!, new Map()), item('V0003', ids[2]!)], Infinity);
        assert.deepEqual(
          first.map((r) => r.kind),
          ['done', 'grow'],
        );
        assert.deepEqual(await vendors(), ['G1014', undefined, undefined]);
        // no budget: one unit a transaction
        assert.deepEqual(
          (await s.rederiveBatch([item('V0002', ids[1]!), item('V0003', ids[2]!)], 0)).map((r) => r.kind),
          ['done'],
        );
        assert.deepEqual(await vendors(), ['G1014', 'G1014', undefined]);
        assert.deepEqual(
          (await s.rederiveBatch([item('V0003', ids[2]!), item('V0001', ids[0]!)], Infinity)).map((r) => (r.kind === 'done' ? r.changes.length : r.kind)),
          [1, 0],
        );
        assert.deepEqual(await vendors(), ['G1014', 'G1014', 'G1014']);
      },
    );

    withStore(
      'a newer message mapped under the old tables does not win over the re-mapped one: the fold takes every message again',
      async ({ s, deps, use, send }) => {
        await send(zds(hl7('01-orm-new.hl7')), 'MSG0001');
        await send(zds(hl7('02-orm-update.hl7')), 'MSG0002');
        use(readsZds());
        const r = await runReprocess(deps, (await startReprocess(deps, { order: 'ORD1001' }, { apply: true, who: 'operate#1' })).id);
        assert.deepEqual([r.status, r.total, r.done, r.summary.byChange], ['done', 1, 1, { changed: 1 }]);
        assert.deepEqual(
          (await consultation(s))?.map((c) => [c.state, c.vendor]),
          [['ready', 'G1014']],
        );
      },
    );

    withStore('held records follow a site-rule removal and a value-set restore without any new message', async ({ s, deps, use, send }) => {
      use(tablesWith((dir) => editFile(dir, 'site-rules.csv', (t) => `${t}Exam_Completion_Date,required_when,Modality reported,,the site's own rule\n`)));
      await send(hl7('01-orm-new.hl7'), 'MSG0001');
      assert.deepEqual(
        (await consultation(s))?.map((c) => [c.state, c.missing]),
        [['incomplete', ['Exam_Completion_Date']]],
      );
      use(shipped);
      const run = await runReprocess(deps, (await startReprocess(deps, { held: true }, { apply: true, who: 'reload' })).id);
      assert.deepEqual([run.summary.byChange, (await consultation(s))?.map((c) => c.state)], [{ changed: 1 }, ['ready']]);

      // an enforced value set (as import-valuesets writes it) that lacks the G-code: the message is
      // refused as it is mapped (MAP_NOT_IN_VALUESET), no record takes the value; restored: applied, ready
      const enforced = (drop: boolean) =>
        tablesWith((dir) =>
          editFile(dir, 'valuesets/CDS_Vendor.csv', (t) => (drop ? t.replace(/^G1014,.*\n/m, '') : t).replace('# enforce: no', '# enforce: yes')),
        );
      use(enforced(true));
      const omi = await send(hl7('05-omi-new.hl7'), 'MSG0005');
      assert.deepEqual(
        [(await s.message(omi))?.status, (await s.message(omi))?.problems.map((p) => [p.code, p.value]), (await consultation(s))?.map((c) => [c.key, c.state])],
        ['error', [['MAP_NOT_IN_VALUESET', 'G1014']], [['11/02/2026 09:30:15', 'ready']]],
      );
      use(enforced(false));
      await runReprocess(deps, (await startReprocess(deps, { held: true }, { apply: true, who: 'reload' })).id);
      assert.equal((await s.message(omi))?.status, 'applied');
      assert.deepEqual(
        (await consultation(s))?.map((c) => [c.key, c.state]),
        [
          ['11/02/2026 09:30:15', 'ready'],
          ['11/02/2026 13:55:12', 'ready'],
        ],
      );
    });

    withStore(
      'an accepted record whose content changes goes back to ready, with a history entry; a moved key is retracted and the new one sent',
      async ({ s, deps, use, send }) => {
        await send(hl7('01-orm-new.hl7'), 'MSG0001');
        const [ready] = await s.wireEncounters('ready', 10);
        assert.ok(ready);
        await s.createTransaction(transactionFor('T-1', [ready.wire]), [ready], NOW);
        await s.recordResults('T-1', [{ ...ready, result: 'accepted', problems: [] }], NOW);
        // the analyst fixes the exam name's source: the same key, new content
        use(tablesWith((dir) => editFile(dir, 'hl7v2.yaml', (y) => y.replace('from: [OBR-4.2, OBR-4.1]', 'from: [OBR-4.1, OBR-4.2]'))));
        const r = await reprocessUnit(deps, 'e:100000|V0001', { apply: true, who: 'operate#1', why: 'reprocessing run 7' });
        assert.equal(r.kind, 'done');
        assert.deepEqual(r.kind === 'done' ? r.changes.map((c) => [c.change, c.stateBefore, c.stateAfter, c.fields, c.resend]) : [], [
          ['changed', 'accepted', 'ready', [{ field: 'Name_of_Exam_Ordered', before: 'CT HEAD WO CONTRAST', after: '70450' }], true],
        ]);
        const c = (await s.record('100000|V0001'))!.consultations[0]!;
        assert.deepEqual(
          c.history.map((h) => [h.from, h.to, h.who, h.why, h.transactionId]),
          [['accepted', 'ready', 'operate#1', 'reprocessing run 7: Name_of_Exam_Ordered changed', 'T-1']],
        );

        // the site's CDS time turns out to be another one (here the message time, MSH-7): the key moves
        const [again] = await s.wireEncounters('ready', 10);
        await s.createTransaction(transactionFor('T-2', [again!.wire]), [again!], NOW);
        await s.recordResults('T-2', [{ ...again!, result: 'accepted', problems: [] }], NOW);
        use(
          tablesWith((dir) =>
            editFile(dir, 'hl7v2.yaml', (y) =>
              y
                .replace('from: [OBR-4.2, OBR-4.1]', 'from: [OBR-4.1, OBR-4.2]')
                .replaceAll('    from:\n      - OBX[3.1=CDS-DTTM]-5\n', '    from:\n      - MSH-7\n      - OBX[3.1=CDS-DTTM]-5\n'),
            ),
          ),
        );
        const dry = await reprocessUnit(deps, 'e:100000|V0001', { apply: false, who: 'operate#1', why: 'preview' });
        assert.deepEqual(dry.kind === 'done' ? dry.changes.map((c) => [c.consultationKey, c.change, c.stateBefore, c.stateAfter, c.retraction]) : dry, [
          ['11/02/2026 09:30:15', 'retracted', 'accepted', 'cancelled-after-submission', true],
          ['11/02/2026 09:35:00', 'added', undefined, 'ready', false],
        ]);
        await reprocessUnit(deps, 'e:100000|V0001', { apply: true, who: 'operate#1', why: 'reprocessing run 8' });
        const rec = (await s.record('100000|V0001'))!;
        assert.deepEqual(
          rec.consultations.map((x) => [x.consultationKey, x.state, x.retraction?.transactionId ?? null]),
          [
            ['11/02/2026 09:30:15', 'cancelled-after-submission', 'T-2'],
            ['11/02/2026 09:35:00', 'ready', null],
          ],
        );
        const order = (await s.orders({ order: 'ORD1001' })).orders;
        assert.deepEqual(
          order.map((o) => [o.consultationKey, o.state, o.reason]),
          [['11/02/2026 09:35:00', 'reported', '']],
        );
      },
    );

    withStore(
      'a result naming two orders before them, the orders first refused (AE) and replayed after the fix: both complete',
      async ({ s, deps, use, send }) => {
        await send(hl7('08-oru-two-results-no-orc.hl7'), 'MSG0008');
        // a local modality code the tables do not know yet: the order message waits in the error queue
        const orm = hl7('07-orm-two-orders.hl7').replaceAll('||CT|SC', '||ZZ|SC').replaceAll('^CPT|', '^L|');
        const id = await send(orm, 'MSG0007');
        assert.equal((await s.message(id))?.status, 'error');
        use(tablesWith((dir) => editFile(dir, 'crosswalks/modality.csv', (t) => `${t.trimEnd()}\nZZ,1,a local code for CT\n`)));
        assert.equal(await replayOne(deps, id), 'applied');
        const rec = (await s.record('100000|V0001'))!;
        assert.deepEqual(
          rec.consultations.map((c) => [c.consultationKey, c.state, c.fields['Ordered_Exam_Completed']?.value, c.fields['Exam_Completion_Date']?.value]),
          [
            ['11/02/2026 16:05:00', 'ready', '1', '11/02/2026'],
            ['11/02/2026 16:07:00', 'ready', '1', '11/02/2026'],
          ],
        );
        assert.deepEqual(
          (await s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.messageIds]),
          [
            [['ACC2005', 'ORD1005'], 'reported', [1, 2]],
            [['ACC2006', 'ORD1006'], 'reported', [1, 2]],
          ],
        );
      },
    );

    withStore(
      'a message whose text was purged: the outcome kept at the purge stands for it; one purged without it is skipped, named',
      async ({ s, deps, use, send }) => {
        const kept = await send(zds(hl7('01-orm-new.hl7')), 'MSG0001');
        const lost = await send(zds(hl7('05-omi-new.hl7')).replaceAll('V0001', 'V0005'), 'MSG0005');
        // retention keeps the first one's outcome (mapped through the tables in force), then purges both texts
        const [m] = await s.unitMessages([], [kept]);
        const outcome = await remapMessage(deps, m!);
        assert.ok(outcome);
        await s.keepOutcomes([{ id: kept, outcome }]);
        assert.deepEqual(await s.purgeRaw(new Date(NOW.getTime() + 1), NOW), { messages: 2, resources: 0 });
        // the fix cannot reach a text that is gone: the record stays as its kept outcome says
        use(readsZds());
        const run = await runReprocess(deps, (await startReprocess(deps, { all: true }, { apply: true, who: 'operate#1' })).id);
        assert.deepEqual(
          [run.summary.byChange, run.summary.unchanged, run.summary.skipped],
          [{}, 1, [`e:100000|V0005: message ${lost} has neither its text nor an outcome kept for it (purged before outcomes were kept)`]],
        );
        assert.deepEqual(await consultation(s), [{ key: '11/02/2026 09:30:15', state: 'incomplete', missing: ['CDS_Vendor'], vendor: undefined }]);
      },
    );

    withStore(
      'a NUL or a lone surrogate in a key is merged as stored (U+FFFD): the result joins its order, and reprocessing changes nothing',
      async ({ s, deps, send }) => {
        // neither database keeps a NUL, nor UTF-8 a lone surrogate: both read back as U+FFFD, so the
        // merge must key on that too, or the result would be applied and never join its order
        for (const bad of ['\u0000', '\uD800']) {
          const odd = (raw: string) => raw.replaceAll('V0001', `V${bad}0001`).replace('CT HEAD WO CONTRAST', `CT HEAD${bad}WO CONTRAST`);
          await send(odd(hl7('01-orm-new.hl7')), `MSG-A${bad}`);
          await send(odd(hl7('04-oru-final.hl7')), `MSG-B${bad}`);
        }
        const key = '100000|V\uFFFD0001';
        assert.deepEqual(
          (await s.records({})).map((r) => r.encounterKey),
          [key],
        );
        const r = await s.record(key);
        assert.deepEqual(
          r?.consultations.map((c) => [c.consultationKey, c.fields['Name_of_Exam_Ordered']?.value, c.fields['Ordered_Exam_Completed']?.value]),
          [['11/02/2026 09:30:15', 'CT HEAD\uFFFDWO CONTRAST', '1']],
        );
        assert.deepEqual(
          (await s.orders({ limit: 10 })).orders.map((o) => [o.encounterId, o.state]),
          [['V\uFFFD0001', 'reported']],
        );
        const dry = await runReprocess(deps, (await startReprocess(deps, { all: true }, { apply: false, who: 'operate#1' })).id);
        assert.deepEqual([dry.status, dry.summary.byChange, dry.summary.messages, dry.summary.skipped], ['done', {}, {}, []]);
      },
    );

    withStore('reprocessing everything with the tables unchanged changes nothing (every shipped HL7 sample)', async ({ s, db, deps, send }) => {
      const files = [
        '01-orm-new.hl7',
        '02-orm-update.hl7',
        '03-orm-cancel.hl7',
        '04-oru-final.hl7',
        '05-omi-new.hl7',
        '06-orm-lf-escapes.hl7',
        '07-orm-two-orders.hl7',
        '08-oru-two-results-no-orc.hl7',
        '09-orm-xr-excluded.hl7',
        '10-orm-cpt-in-obr44.hl7',
      ];
      // results before their orders too: the fold must hold and adopt them as live did
      for (const [i, f] of [...files.slice(3), ...files.slice(0, 3)].entries()) await send(hl7(f), `M${i}`);
      const snapshot = async () => ({
        // read through the store first: on SQLite it writes the last messages' derived rows before
        // it answers, and the queries below read the file behind its back
        orders: (await s.orders({ limit: 1000 })).orders,
        consultations: await db.query(
          'SELECT encounter_key, consultation_key, fields, state, missing, problems, content_hash FROM consultations ORDER BY encounter_key, consultation_key',
        ),
        messages: (await s.messages({ limit: 1000 })).map((m) => [m.id, m.status, m.problems]),
        index: await db.query('SELECT * FROM order_index ORDER BY order_key'),
        orphans: await db.query('SELECT order_key, seq, source_id FROM orphans ORDER BY order_key, seq'),
      });
      const before = await snapshot();
      const dry = await runReprocess(deps, (await startReprocess(deps, { all: true }, { apply: false, who: 'operate#1' })).id);
      assert.deepEqual([dry.status, dry.summary.byChange, dry.summary.messages, dry.summary.skipped], ['done', {}, {}, []]);
      // (the shipped samples are all one encounter)
      assert.equal(dry.total, 1);
      const applied = await runReprocess(deps, (await startReprocess(deps, { all: true }, { apply: true, who: 'operate#1' })).id);
      assert.deepEqual([applied.summary.byChange, applied.summary.messages], [{}, {}]);
      assert.deepEqual(await snapshot(), before);
    });
  });
}
