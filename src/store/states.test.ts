// The state tables of states.ts, exercised through the real store on SQLite: every allowed move of
// a record made by the code that makes it (merge, re-derivation, submitter, NRDR's verdict,
// resubmit, resend), every allowed move of a message's status (re-derivation, the merge refusing it
// on arrival), a forbidden one refused, and every state of the tables reached by some case (a move
// or a state added to a table that no case makes or reaches fails the last case here).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { parseSiteRules } from '../cdsr/site-rules.js';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import type { MapOutcome } from '../mapping/outcome.js';
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';
import { copyMigratedSqlite } from '../../test/sqlite-template.js';
import { openStore } from './open.js';
import { SqliteExecutor } from './sqlite-executor.js';
import type { IngestResult, Store } from './store.js';
import { statusForOutcome } from './derive.js';
import { ORDER_REASONS } from './ledger.js';
import {
  checkMessageTransition,
  checkOutboundTransition,
  checkRecordTransition,
  EVALUATED_STATES,
  MESSAGE_INITIAL_STATUSES,
  MESSAGE_LEGACY_STATUSES,
  MESSAGE_STATUSES,
  MESSAGE_TRANSITIONS,
  moveRecord,
  ORDER_STATE_OF_RECORD,
  ORDER_STATES,
  orderStateOf,
  orderStateSql,
  OUTBOUND_STATUSES,
  OUTBOUND_TRANSITIONS,
  RECORD_STATES,
  RECORD_TRANSITIONS,
  StateTransitionError,
  type MessageStatus,
  type OrderState,
  type OutboundStatus,
  type RecordState,
} from './states.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const EK = '100000|V0001';
const CK = '11/02/2026 09:30:15';
const KEY = `${EK} ${CK}`;
const READY = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
/** The raw message whose content evaluates to each state (a site rule makes a non-NPI ordering clinician invalid). */
const CONTENT: Record<'incomplete' | 'invalid' | 'ready', string> = {
  ready: READY.replace('R51.9^Headache', 'R51.0^Headache'),
  incomplete: READY.replace('|E|ED^BAY3', '||ED^BAY3'),
  invalid: READY.replaceAll('1234567893^ORDER', 'JSMITH^ORDER'),
};
const CANCEL = READY.replace('ORC|NW|', 'ORC|CA|').replace('||||||||CT|SC', '||||||||CT|CA');
/** The raw message whose mapping gives each status a message is derived to (on arrival or re-derived). */
const MESSAGE_TEXT: Record<'applied' | 'error' | 'ignored' | 'rejected', string> = {
  applied: READY,
  // no ORC nor OBR: MAP_NO_ORDER
  error: READY.split('\r')
    .filter((seg) => !/^(ORC|OBR|OBX)\|/.test(seg))
    .join('\r'),
  ignored: READY.replace('|ORM^O01^ORM_O01|', '|ADT^A08^ADT_A01|'),
  rejected: 'not an HL7 message',
};
/** A second order at the consultation time of READY's: the merge refuses it (MERGE_COLLISION). */
const COLLISION = READY.replaceAll('ORD1001', 'ORD3001').replaceAll('ACC2001', 'ACC4001').replace('70450^CT HEAD WO CONTRAST', '71250^CT CHEST WO CONTRAST');

const seenRecord = new Set<RecordState>();
const seenOrder = new Set<OrderState>();
const movedRecord = new Set<string>();
const seenOutbound = new Set<OutboundStatus>();
const movedOutbound = new Set<string>();
/** Message statuses the store wrote (a status only set by hand here, as an earlier version left it, is not counted). */
const seenMessage = new Set<MessageStatus>();
const movedMessage = new Set<string>();

describe('states.ts: the record moves, through the store on SQLite', () => {
  let tables: MappingTables;
  let validator: CdsrValidator;
  const dirs: string[] = [];
  before(() => {
    tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    validator = new CdsrValidator({
      now: NOW,
      valueSets: tables.valueSets,
      fieldLimits: tables.fieldLimits,
      siteRules: parseSiteRules('site-rules.csv', 'field,rule,when\nClinician1_Unique_ID,npi,\n').rules,
    });
  });
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A case on a database of its own: the store, direct SQL on the same file, and the steps that move its one record. */
  const withRecord = async (fn: (h: Harness) => Promise<void>, derive?: 'later' | 'with-message') => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-states-'));
    dirs.push(dir);
    const file = join(dir, 'db.sqlite');
    // a copy of a database migrated once per process (the migrations from nothing are the store suites')
    await copyMigratedSqlite(file);
    const s = await openStore({ kind: 'sqlite', file, ...(derive ? { derive } : {}) }, validator);
    // the direct connection opened by the cases that use it (most do not)
    let sql: SqliteExecutor | undefined;
    try {
      await fn(new Harness(s, () => (sql ??= new SqliteExecutor({ file })), tables));
    } finally {
      await sql?.close();
      await s.close();
    }
  };

  class Harness {
    private n = 0;
    private tx = 0;
    constructor(
      readonly s: Store,
      private readonly direct: () => SqliteExecutor,
      readonly t: MappingTables,
    ) {}
    /** Direct SQL on the store's file. */
    get sql(): SqliteExecutor {
      return this.direct();
    }
    async state(): Promise<RecordState | undefined> {
      const r = (await this.s.records({})).find((x) => x.encounterKey === EK && x.consultationKey === CK);
      if (r) seenRecord.add(r.state);
      const { orders } = await this.s.orders({});
      for (const o of orders) seenOrder.add(o.state);
      return r?.state;
    }
    async ingest(raw: string): Promise<IngestResult> {
      this.n++;
      const edited = raw.replace('|MSG0001|', `|M${this.n}|`);
      return this.s.ingest(
        { channel: 'hl7v2', sender: 'EHR^GENHOSP', controlId: `M${this.n}`, contentType: 'x', raw: edited, receivedAt: NOW },
        mapHl7Text(edited, this.t),
      );
    }
    /** Every message of the encounter re-derived as mapped from `raw` (a change of the mapping tables, say). */
    async rederiveAs(raw: string): Promise<void> {
      const ids = (await this.s.unitMessages([EK], [])).map((m) => m.id);
      const outcome: MapOutcome = mapHl7Text(raw, this.t);
      const r = await this.s.rederive({ encounterKeys: [EK], messageIds: ids }, new Map(ids.map((id) => [id, outcome])), {
        apply: true,
        at: NOW,
        who: 'test',
        why: 'states',
      });
      assert.equal(r.kind, 'done');
    }
    /** The stored status of message `id` (counted as reached). */
    async messageStatus(id: number): Promise<MessageStatus | undefined> {
      const status = (await this.s.message(id))?.status;
      if (status) seenMessage.add(status);
      return status;
    }
    /** A message brought into `status` by the store, or (pending) left so by an earlier version: its id. */
    async reachMessage(status: MessageStatus): Promise<number> {
      if (status === 'pending') {
        const { messageId } = await this.ingest(READY);
        await this.sql.run("UPDATE inbound_messages SET status = 'pending' WHERE id = ?", [messageId]);
        assert.equal((await this.s.message(messageId))?.status, 'pending');
        return messageId;
      }
      if (status === 'duplicate') assert.fail('a duplicate is reached by a resend, not by a text of its own');
      const r = await this.ingest(MESSAGE_TEXT[status]);
      assert.equal(r.status, status);
      assert.equal(await this.messageStatus(r.messageId), status);
      return r.messageId;
    }
    /** Message `id` re-derived as mapped from `raw` (what a reprocessing run or a replay hands the store once the tables changed). */
    async rederiveMessage(id: number, raw: string) {
      const r = await this.s.rederive({ encounterKeys: [EK], messageIds: [id] }, new Map([[id, mapHl7Text(raw, this.t)]]), {
        apply: true,
        at: NOW,
        who: 'test',
        why: 'states',
      });
      assert.equal(r.kind, 'done');
      return r.kind === 'done' ? r.messages : [];
    }
    async submit(): Promise<string> {
      const [w] = await this.s.wireEncounters('ready', 10);
      assert.ok(w);
      const id = `T-${++this.tx}`;
      const r = await this.s.createTransaction(transactionFor(id, [w.wire]), [w], NOW);
      assert.equal(r.created, true);
      return id;
    }
    async verdict(id: string, result: 'accepted' | 'rejected' | 'needs-review'): Promise<void> {
      const t = await this.s.transaction(id);
      assert.ok(t);
      await this.s.recordResults(
        id,
        t.records.map((r) => ({ ...r, result, problems: [] })),
        NOW,
      );
    }
    /** NRDR may hold a copy: a transaction with it that NRDR did not reject (as one abandoned before its answer leaves). */
    async atNrdr(): Promise<void> {
      await this.sql.run(
        `INSERT INTO transactions (transaction_id, facility_id, partner_id, app_id, status, created_at, updated_at, body, attempts) VALUES ('T-HELD', '100000', '10000', '10019', 'failed', ?, ?, '{}', 1)`,
        [NOW.toISOString(), NOW.toISOString()],
      );
      await this.sql.run(`INSERT INTO transaction_records (transaction_id, encounter_key, consultation_key, content_hash) VALUES ('T-HELD', ?, ?, 'x')`, [
        EK,
        CK,
      ]);
    }
    /** The record brought into `state` by the steps that make it so; the transaction it was last sent in, if any. */
    async reach(state: RecordState): Promise<string | undefined> {
      if (state === 'incomplete' || state === 'invalid' || state === 'ready') await this.ingest(CONTENT[state]);
      else if (state === 'cancelled') {
        await this.ingest(READY);
        await this.ingest(CANCEL);
      } else {
        await this.ingest(READY);
        const id = await this.submit();
        if (state === 'accepted' || state === 'rejected' || state === 'needs-review') await this.verdict(id, state);
        if (state === 'cancelled-after-submission') await this.ingest(CANCEL);
        assert.equal(await this.state(), state);
        return id;
      }
      assert.equal(await this.state(), state);
      return undefined;
    }
    /** The move from the reached state to `to`, made by the code that makes it. */
    async move(from: RecordState, to: RecordState, tx: string | undefined): Promise<void> {
      if (to === 'submitted') await this.submit();
      else if (from === 'submitted' && (to === 'accepted' || to === 'rejected' || to === 'needs-review')) await this.verdict(tx!, to);
      else if (from === 'submitted' && to === 'ready') await this.s.abandonTransaction(tx!, 'test: superseded', NOW);
      else if (from === 'rejected' && to === 'ready') await this.s.resubmit({ encounterKey: EK }, { who: 'test', at: NOW, why: 'fixed at ACR' });
      else if (from === 'needs-review' && to === 'ready') {
        await this.s.updateTransaction(tx!, { status: 'sent', from: ['created'] }, NOW);
        const r = await this.s.resendFailed(tx!, 1, NOW);
        assert.equal(r.resent.length, 1);
      } else if (from === 'cancelled-after-submission' && to === 'cancelled') await this.verdict(tx!, 'rejected');
      else if (to === 'cancelled') await this.ingest(CANCEL);
      else if (to === 'cancelled-after-submission') {
        if (from !== 'submitted' && from !== 'accepted' && from !== 'needs-review') await this.atNrdr();
        await this.ingest(CANCEL);
      } else if (to === 'incomplete' || to === 'invalid' || to === 'ready') await this.rederiveAs(CONTENT[to]);
      else assert.fail(`no step makes ${from} → ${to}`);
    }
  }

  // the moves a record makes, written here apart from the table: a move dropped from the table is
  // then refused by the store in its case below, and one added to it is missed by the completeness check
  const RECORD_MOVES: Readonly<Record<RecordState, readonly RecordState[]>> = {
    incomplete: ['invalid', 'ready', 'cancelled', 'cancelled-after-submission'],
    invalid: ['incomplete', 'ready', 'cancelled', 'cancelled-after-submission'],
    ready: ['incomplete', 'invalid', 'cancelled', 'cancelled-after-submission', 'submitted'],
    submitted: ['incomplete', 'invalid', 'ready', 'cancelled-after-submission', 'accepted', 'rejected', 'needs-review'],
    accepted: ['incomplete', 'invalid', 'ready', 'cancelled-after-submission'],
    rejected: ['incomplete', 'invalid', 'ready', 'cancelled', 'cancelled-after-submission'],
    'needs-review': ['incomplete', 'invalid', 'ready', 'cancelled-after-submission'],
    cancelled: ['incomplete', 'invalid', 'ready', 'cancelled-after-submission'],
    'cancelled-after-submission': ['incomplete', 'invalid', 'ready', 'cancelled'],
  };
  for (const from of RECORD_STATES) {
    for (const to of RECORD_MOVES[from]) {
      it(`record ${from} → ${to}`, () =>
        withRecord(async (h) => {
          const tx = await h.reach(from);
          await h.move(from, to, tx);
          assert.equal(await h.state(), to);
          movedRecord.add(`${from} → ${to}`);
        }));
    }
  }

  for (const to of EVALUATED_STATES) {
    it(`a new record starts ${to}`, () =>
      withRecord(async (h) => {
        if (to === 'cancelled') {
          // placed and cancelled in one merge (a re-derivation of both messages), never in a state between
          await h.ingest(READY);
          await h.ingest(CANCEL);
          await h.sql.run('DELETE FROM consultations');
          await h.sql.run('DELETE FROM encounters');
          const ids = (await h.s.unitMessages([EK], [])).map((m) => m.id);
          const outcomes = new Map<number, MapOutcome>(ids.map((id, i) => [id, mapHl7Text(i === 0 ? READY : CANCEL, h.t)]));
          await h.s.rederive({ encounterKeys: [EK], messageIds: ids }, outcomes, { apply: true, at: NOW, who: 'test', why: 'states' });
        } else await h.ingest(CONTENT[to]);
        assert.equal(await h.state(), to);
      }));
  }

  it('a forbidden move is refused by the store: submitted → cancelled (a cancel while NRDR holds no copy), the record as it was', () =>
    withRecord(async (h) => {
      await h.reach('submitted');
      // NRDR rejected its transaction, the record left as submitted (a database hand-edited, say): the cancel evaluates to cancelled
      await h.sql.run("UPDATE transaction_records SET result = 'rejected'");
      await assert.rejects(
        h.ingest(CANCEL),
        (e: unknown) =>
          e instanceof StateTransitionError &&
          e.code === 'STATE_TRANSITION' &&
          e.key === KEY &&
          e.from === 'submitted' &&
          e.to === 'cancelled' &&
          e.message === `record ${KEY}: submitted → cancelled is not an allowed state change (states.ts)`,
      );
      assert.equal(await h.state(), 'submitted');
    }, 'with-message'));

  it('the same forbidden move when the records are written after the answer: the cancel is stored and answered, then kept out, in the error queue, named; the record as it was; later messages go on', () =>
    withRecord(async (h) => {
      await h.reach('submitted');
      await h.sql.run("UPDATE transaction_records SET result = 'rejected'");
      const r = await h.ingest(CANCEL);
      assert.equal(r.status, 'applied');
      assert.equal(await h.state(), 'submitted');
      const m = await h.s.message(r.messageId);
      assert.deepEqual(
        [m?.status, m?.problems.map((p) => [p.code, p.message])],
        [
          'error',
          [
            [
              'DERIVE_REFUSED',
              `the message was stored and answered, but its records could not be written: record ${KEY}: submitted → cancelled is not an allowed state change (states.ts)`,
            ],
          ],
        ],
      );
      // the next message is merged as usual: nothing waits behind the refused one
      const next = await h.ingest(READY.replaceAll('ORD1001', 'ORD5001').replaceAll('ACC2001', 'ACC5001').replaceAll('20261102093015', '20261102110015'));
      assert.equal(next.status, 'applied');
      assert.equal((await h.s.records({})).length, 2);
    }, 'later'));

  it('moveRecord refuses a move the table forbids before any SQL runs, and moves only a row still in its from state', () =>
    withRecord(async (h) => {
      await h.reach('accepted');
      await assert.rejects(
        h.sql.transaction((q) => moveRecord(q, { encounterKey: EK, consultationKey: CK, from: 'accepted', to: 'submitted' })),
        (e: unknown) => e instanceof StateTransitionError && e.message === `record ${KEY}: accepted → submitted is not an allowed state change (states.ts)`,
      );
      // allowed, but the row is not in `from`: nothing moves
      assert.equal(await h.sql.transaction((q) => moveRecord(q, { encounterKey: EK, consultationKey: CK, from: 'rejected', to: 'ready' })), 0);
      assert.equal(await h.state(), 'accepted');
    }));

  // Every move a re-derivation can make, listed here and not read from the table: a stored message
  // re-derived (any status but duplicate and rejected, which the case after next shows are left) to
  // any status a mapping gives. A move the table does not allow is refused by the store, failing
  // its case; a move the table allows that is not here fails the last case.
  const REDERIVED: readonly MessageStatus[] = ['applied', 'error', 'ignored', 'pending'];
  const DERIVED = ['applied', 'error', 'ignored', 'rejected'] as const;
  for (const from of REDERIVED) {
    for (const to of DERIVED.filter((s) => s !== from)) {
      it(`message ${from} → ${to}, re-derived`, () =>
        withRecord(async (h) => {
          const id = await h.reachMessage(from);
          const moved = await h.rederiveMessage(id, MESSAGE_TEXT[to]);
          assert.deepEqual(
            moved.map((m) => [m.id, m.statusBefore, m.statusAfter]),
            [[id, from, to]],
          );
          assert.equal(await h.messageStatus(id), to);
          movedMessage.add(`${from} → ${to}`);
        }));
    }
  }

  it('message applied → error on arrival: the merge refuses its record (a collision), nothing of it merged', () =>
    withRecord(async (h) => {
      await h.ingest(READY);
      const r = await h.ingest(COLLISION);
      assert.deepEqual([r.status, r.problems.map((p) => p.code)], ['error', ['MERGE_COLLISION']]);
      assert.equal(await h.messageStatus(r.messageId), 'error');
      assert.deepEqual(
        (await h.s.orders({})).orders.map((o) => [o.orderNumbers, o.state, o.reason]),
        [
          [['ACC2001', 'ORD1001'], 'reported', ''],
          [['ACC4001', 'ORD3001'], 'held', 'collision'],
        ],
      );
      movedMessage.add('applied → error');
    }));

  it('a duplicate and a rejected message are final: re-derivation leaves them, and a move out of them is refused by name', () =>
    withRecord(async (h) => {
      const first = await h.ingest(READY);
      const meta = {
        channel: 'hl7v2',
        sender: 'EHR^GENHOSP',
        controlId: 'M1',
        contentType: 'x',
        raw: READY.replace('|MSG0001|', '|M1|'),
        receivedAt: NOW,
      } as const;
      const dup = await h.s.ingest(meta, mapHl7Text(meta.raw, h.t));
      assert.deepEqual([dup.status, dup.duplicateOf], ['duplicate', first.messageId]);
      const rej = await h.ingest(MESSAGE_TEXT.rejected);
      assert.equal(await h.messageStatus(dup.messageId), 'duplicate');
      // named to the store with an outcome that would apply them (the encounter's own message re-mapped too): neither is re-derived
      const outcome = mapHl7Text(READY, h.t);
      const r = await h.s.rederive(
        { encounterKeys: [EK], messageIds: [dup.messageId, rej.messageId] },
        new Map([
          [first.messageId, outcome],
          [dup.messageId, outcome],
          [rej.messageId, outcome],
        ]),
        { apply: true, at: NOW, who: 'test', why: 'states' },
      );
      assert.deepEqual(r.kind === 'done' ? r.messages : r, []);
      assert.equal(await h.messageStatus(dup.messageId), 'duplicate');
      assert.equal(await h.messageStatus(rej.messageId), 'rejected');
      // the store's check of a move: a status out of them is refused, naming the message
      for (const [id, from] of [
        [dup.messageId, 'duplicate'],
        [rej.messageId, 'rejected'],
      ] as const)
        assert.throws(() => checkMessageTransition(id, from, 'applied'), {
          name: 'StateTransitionError',
          message: `message ${id}: ${from} → applied is not an allowed state change (states.ts)`,
        });
    }));

  it('pending is written by no code: only read from rows of an earlier version', () => {
    // every outcome a mapping gives is stored as a status written now
    assert.deepEqual(
      (['applied', 'error', 'ignored', 'rejected'] as const).map((s) => statusForOutcome(mapHl7Text(MESSAGE_TEXT[s], tables))),
      ['applied', 'error', 'ignored', 'rejected'],
    );
    // the statements that write a message's status are the store's three (insertMessage, ingest's and rederiveUnit's
    // UPDATE, each through statusForOutcome, 'duplicate' or checkMessageTransition), and none of their files names pending
    const src = join(REPO_ROOT, 'src');
    const files = (readdirSync(src, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.suite.ts'))
      .sort();
    const writes = files.flatMap((f) =>
      [...readFileSync(join(src, f), 'utf8').matchAll(/(INSERT INTO inbound_messages \([^)]*\bstatus\b|UPDATE inbound_messages SET [^`']*\bstatus = )/g)].map(
        (m) => [f, m[0].slice(0, 30)],
      ),
    );
    assert.deepEqual(writes, [
      [join('store', 'rederive.ts'), 'UPDATE inbound_messages SET st'],
      [join('store', 'sql-store.ts'), 'UPDATE inbound_messages SET st'],
      [join('store', 'sql-store.ts'), 'INSERT INTO inbound_messages ('],
    ]);
    const sqlStore = readFileSync(join(src, 'store', 'sql-store.ts'), 'utf8');
    assert.deepEqual(
      [...sqlStore.matchAll(/this\.insertMessage\(q, [^;]*?, hash, ([^,]+),/g)].map((m) => m[1]),
      ["'duplicate'", 'statusForOutcome(outcome)'],
    );
    for (const f of ['store/rederive.ts', 'store/sql-store.ts', 'store/derive.ts'])
      assert.equal(readFileSync(join(src, f), 'utf8').includes("'pending'"), false, f);
  });

  it('transactions: every allowed move through updateTransaction, a forbidden one refused, the SQL moving only rows the table allows', () =>
    withRecord(async (h) => {
      await h.ingest(READY);
      for (const from of OUTBOUND_STATUSES) {
        for (const to of OUTBOUND_TRANSITIONS[from] as readonly OutboundStatus[]) {
          const id = await h.submit();
          await h.sql.run('UPDATE transactions SET status = ? WHERE transaction_id = ?', [from, id]);
          await h.s.updateTransaction(id, { status: to, from: [from] }, NOW);
          assert.equal((await h.s.transaction(id))?.status, to, `${from} → ${to}`);
          seenOutbound.add(from).add(to);
          movedOutbound.add(`${from} → ${to}`);
          // the record goes back for the next transaction
          await h.sql.run("UPDATE consultations SET state = 'ready'");
        }
      }
      const id = await h.submit();
      await h.sql.run("UPDATE transactions SET status = 'done' WHERE transaction_id = ?", [id]);
      await assert.rejects(
        h.s.updateTransaction(id, { status: 'posted', from: ['done'] }, NOW),
        (e: unknown) => e instanceof StateTransitionError && e.message === `transaction ${id}: done → posted is not an allowed state change (states.ts)`,
      );
      // no `from` named: the row is refused by name too, never left as it was in silence
      await assert.rejects(
        h.s.updateTransaction(id, { status: 'posted' }, NOW),
        (e: unknown) => e instanceof StateTransitionError && e.message === `transaction ${id}: done → posted is not an allowed state change (states.ts)`,
      );
      assert.equal((await h.s.transaction(id))?.status, 'done');
    }));

  it('every record, message and transaction move of the tables was made, and every state reached, by a case above', () => {
    const allRecordMoves = RECORD_STATES.flatMap((f) => (RECORD_TRANSITIONS[f] as readonly RecordState[]).map((t) => `${f} → ${t}`));
    assert.deepEqual(
      allRecordMoves.filter((m) => !movedRecord.has(m)),
      [],
    );
    assert.deepEqual(
      RECORD_STATES.filter((s) => !seenRecord.has(s)),
      [],
    );
    assert.deepEqual(
      ORDER_STATES.filter((s) => !seenOrder.has(s)),
      [],
    );
    const allOutboundMoves = OUTBOUND_STATUSES.flatMap((f) => (OUTBOUND_TRANSITIONS[f] as readonly OutboundStatus[]).map((t) => `${f} → ${t}`));
    assert.deepEqual(
      allOutboundMoves.filter((m) => !movedOutbound.has(m)),
      [],
    );
    assert.deepEqual(
      OUTBOUND_STATUSES.filter((s) => !seenOutbound.has(s)),
      [],
    );
    const allMessageMoves = MESSAGE_STATUSES.flatMap((f) => (MESSAGE_TRANSITIONS[f] as readonly MessageStatus[]).map((t) => `${f} → ${t}`));
    assert.deepEqual(
      allMessageMoves.filter((m) => !movedMessage.has(m)),
      [],
    );
    // pending, set by hand above as an earlier version left it, is the one status no code writes (the case before the transactions')
    assert.deepEqual(
      MESSAGE_STATUSES.filter((s) => !seenMessage.has(s)),
      [...MESSAGE_LEGACY_STATUSES],
    );
  });
});

describe('states.ts: the tables', () => {
  it('the order state of every record state, with no default (a retraction held until acknowledged)', () => {
    assert.deepEqual(
      RECORD_STATES.map((s) => [s, orderStateOf(s, false), orderStateOf(s, true)]),
      [
        ['incomplete', 'held', 'held'],
        ['invalid', 'held', 'held'],
        ['ready', 'reported', 'reported'],
        ['submitted', 'reported', 'reported'],
        ['accepted', 'reported', 'reported'],
        ['rejected', 'held', 'held'],
        ['needs-review', 'held', 'held'],
        ['cancelled', 'excluded', 'excluded'],
        ['cancelled-after-submission', 'held', 'excluded'],
      ],
    );
    assert.deepEqual(Object.keys(ORDER_STATE_OF_RECORD), [...RECORD_STATES]);
  });

  it("the ledger's CASE has one WHEN per record state and no ELSE", () => {
    const sql = orderStateSql('c.state', 'c.ack');
    assert.equal(
      sql,
      "CASE WHEN c.state = 'incomplete' THEN 'held' WHEN c.state = 'invalid' THEN 'held' WHEN c.state = 'ready' THEN 'reported' WHEN c.state = 'submitted' THEN 'reported' WHEN c.state = 'accepted' THEN 'reported' WHEN c.state = 'rejected' THEN 'held' WHEN c.state = 'needs-review' THEN 'held' WHEN c.state = 'cancelled' THEN 'excluded' WHEN c.state = 'cancelled-after-submission' THEN CASE WHEN c.ack IS NULL THEN 'held' ELSE 'excluded' END END",
    );
  });

  it("an order's reasons are the record states that are not reported, the holds, and not-advanced-imaging", () => {
    assert.deepEqual(ORDER_REASONS.slice(0, 8), [
      '',
      ...RECORD_STATES.filter((s) => orderStateOf(s, false) !== 'reported').flatMap((s) => (s === 'cancelled' ? [s, 'not-advanced-imaging'] : [s])),
    ]);
  });

  it('a new record starts only in an evaluated state; staying is no move', () => {
    assert.equal(checkRecordTransition(KEY, undefined, 'ready'), 'ready');
    assert.throws(() => checkRecordTransition(KEY, undefined, 'submitted'), {
      message: `record ${KEY}: (new) → submitted is not an allowed state change (states.ts)`,
    });
    for (const s of RECORD_STATES) assert.equal(checkRecordTransition(KEY, s, s), s);
  });

  it('messages: the moves of the table allowed, the others refused; duplicate is final; pending is written by nothing now', () => {
    for (const from of MESSAGE_STATUSES)
      for (const to of MESSAGE_STATUSES) {
        const ok = from === to || (MESSAGE_TRANSITIONS[from] as readonly string[]).includes(to);
        if (ok) assert.equal(checkMessageTransition(7, from, to), to);
        else assert.throws(() => checkMessageTransition(7, from, to), { message: `message 7: ${from} → ${to} is not an allowed state change (states.ts)` });
      }
    // every status is written on arrival or is named as kept from an earlier version
    assert.deepEqual(
      MESSAGE_STATUSES.filter(
        (s) => !(MESSAGE_INITIAL_STATUSES as readonly string[]).includes(s) && !(MESSAGE_LEGACY_STATUSES as readonly string[]).includes(s),
      ),
      [],
    );
    assert.throws(() => checkOutboundTransition('T-1', ['created', 'posted'], 'sent'), {
      message: 'transaction T-1: posted → sent is not an allowed state change (states.ts)',
    });
  });
});
