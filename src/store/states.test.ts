// The state tables of states.ts, exercised through the real store on SQLite: every allowed move of
// a record made by the code that makes it (merge, re-derivation, submitter, NRDR's verdict,
// resubmit, resend), a forbidden one refused, and every state of the tables reached by some case
// (a state added to a table that no case reaches fails the last case here).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../cdsr/validate.js';
import { parseSiteRules } from '../cdsr/site-rules.js';
import { loadMappings, type MappingTables } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import type { MapOutcome } from '../mapping/outcome.js';
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';
import { openStore } from './open.js';
import { SqliteExecutor } from './sqlite-executor.js';
import type { Store } from './store.js';
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

const seenRecord = new Set<RecordState>();
const seenOrder = new Set<OrderState>();
const movedRecord = new Set<string>();
const seenOutbound = new Set<OutboundStatus>();
const movedOutbound = new Set<string>();

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
  const withRecord = async (fn: (h: Harness) => Promise<void>) => {
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-states-'));
    dirs.push(dir);
    const file = join(dir, 'db.sqlite');
    const s = await openStore({ kind: 'sqlite', file }, validator);
    const sql = new SqliteExecutor({ file });
    try {
      await fn(new Harness(s, sql, tables));
    } finally {
      await sql.close();
      await s.close();
    }
  };

  class Harness {
    private n = 0;
    private tx = 0;
    constructor(
      readonly s: Store,
      readonly sql: SqliteExecutor,
      readonly t: MappingTables,
    ) {}
    async state(): Promise<RecordState | undefined> {
      const r = (await this.s.records({})).find((x) => x.encounterKey === EK && x.consultationKey === CK);
      if (r) seenRecord.add(r.state);
      const { orders } = await this.s.orders({});
      for (const o of orders) seenOrder.add(o.state);
      return r?.state;
    }
    async ingest(raw: string): Promise<void> {
      this.n++;
      const edited = raw.replace('|MSG0001|', `|M${this.n}|`);
      await this.s.ingest(
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

  for (const from of RECORD_STATES) {
    for (const to of RECORD_TRANSITIONS[from] as readonly RecordState[]) {
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
    }));

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

  it('every record and transaction move of the tables was made, and every state reached, by a case above', () => {
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
