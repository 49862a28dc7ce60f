// Submission to NRDR: ready records → transactions per facility → POST → polls on their own
// schedule until a final status → each record accepted, rejected or needs-review with NRDR's
// codes. A round batches what is ready, POSTs what was stored and asks about what is due; it never
// waits on a transaction, so an answer that never becomes final does not hold new records back.
//
// Never a blind re-POST: a POST is claimed in the store (`sent`) before it goes out; without its
// answer (timeout, dropped connection, 5xx) the next step is a GET by Transaction_ID, and only
// NRDR's "does not exist" (404) sends it again. Every step that can reach NRDR with a POST (a
// batch, a POST, a re-POST) is claimed under the submitter lease's epoch in the database
// transaction that claims it: an instance whose lease was taken over sends nothing more.
import { randomBytes } from 'node:crypto';
import type { Problem } from '../cdsr/problem.js';
import { batchTransactions, type Batch } from '../cdsr/batch.js';
import { FINAL_STATUSES, type TransactionStatus } from '../cdsr/schema.js';
import type { LeaseState, OutboundLedger, PostClaim, OutboundRecord, RecordResult, RecordStore, TransactionRow, WireConsultation } from '../store/store.js';
import type { NrdrApi, NrdrResult } from './nrdr-client.js';
import { resendFailed, verdicts } from './verdicts.js';
import { errorMessage } from '../cdsr/errors.js';
import { DeidentificationError, type DeidentifiedTransaction, type Deidentifier } from './deidentify.js';

/**
 * Where transactions go: as they are, or (the test profile) only through the de-identification
 * step, to a client that takes only its bodies.
 */
export type SubmitTarget =
  | { readonly client: NrdrApi; readonly deidentifier?: undefined }
  | {
      readonly client: NrdrApi<DeidentifiedTransaction>;
      /** The test profile: every body goes through this step before it is stored, and is checked by it before each POST. */
      readonly deidentifier: Deidentifier;
    };

export type SubmitterOptions = SubmitTarget & SubmitterSettings;

export interface SubmitterSettings {
  readonly store: RecordStore & OutboundLedger;
  readonly partnerId: string;
  readonly appId: string;
  readonly maxEncounters: number;
  readonly clock: () => Date;
  /** This instance as the lease names it: stable across restarts (CDSR_INSTANCE_ID, or derived from host and data directory). */
  readonly instanceId?: string;
  /** The wait before the first status request after a POST; doubled at each poll, up to pollMaxIntervalMs. */
  readonly pollIntervalMs?: number;
  readonly pollMaxIntervalMs?: number;
  /** After this long without a final answer (and one last GET) a transaction needs review (default 24 h). */
  readonly pollDeadlineMs?: number;
  /** Records of a transaction NRDR answered Failed are sent again under a new Transaction_ID this many times (same content); default 0. */
  readonly resendFailed?: number;
  /** Status requests in one pass at most (the most overdue first). */
  readonly pollBatch?: number;
  /** Ready consultations read from the store at a time while batching (default 1,000). */
  readonly pageSize?: number;
  /** How long the submitter lease lasts without renewal (default: 3 × the interval, at least a minute). */
  readonly leaseMs?: number;
  /** The time zone each facility's Transaction_DateTime is written in (default UTC). */
  readonly timeZoneOf?: (facilityId: string) => string;
  /** The wait between rounds of `submitNow` (tests give their own). */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /**
   * The connection profile in force (src/profile.ts): transactions are written under it, and only
   * its transactions are POSTed, polled or sent again. Unset: every transaction (no profiles).
   */
  readonly profile?: string;
}

/**
 * Each running instance keeps a lease `profile:<instance>` held by the name of its connection
 * profile (server/main.ts renews it with its presence): how the submitter sees another profile's
 * instance on the same store.
 */
export const PROFILE_PRESENCE = 'profile:';

export interface FlushResult {
  readonly created: number;
  /** Transactions NRDR took (the POST's 2xx, or a GET that found one whose POST answer was lost). */
  readonly posted: number;
  readonly final: number;
  readonly accepted: number;
  readonly rejected: number;
  /** Records NRDR's answer left undecided, or without a final answer by the deadline (needs-review). */
  readonly review: number;
  /** POSTs whose answer did not come (timeout, drop, 5xx): asked about with a GET, never sent blind. */
  readonly unanswered: number;
  /** Transactions still without NRDR's final word after the round (created, sent or posted): still polling. */
  readonly pending: number;
  /** Age of the oldest of them, in seconds (0: none). */
  readonly oldestPendingSeconds: number;
  /** Batches not created because a record changed after it was read (they go in the next round). */
  readonly stale: number;
  /** Transactions the test profile refused to POST (not de-identified): held, with the reason on the transaction. */
  readonly held: number;
  /** false: another instance holds the submitter lease (`holder`); this round did nothing. */
  readonly leader: boolean;
  /** The instance that holds the lease, and until when (when this one does not). */
  readonly holder?: { readonly instance: string; readonly until: string };
}

type Counts = { -readonly [K in Exclude<keyof FlushResult, 'holder'>]: FlushResult[K] };

/** What a submission under way has done so far (GET /api/submit, the CLI's progress line). */
export interface SubmitProgress {
  readonly running: boolean;
  readonly startedAt: string | null;
  readonly posted: number;
  readonly polled: number;
  readonly final: number;
  /** The last submission's result, once it has ended. */
  readonly last: FlushResult | null;
}

/** The lease that makes one instance the submitter; renewed every round, taken over when it runs out. */
export const SUBMITTER_LEASE = 'submitter';

type Fence = { readonly name: string; readonly holder: string; readonly token: string; readonly epoch: number };

const zero = (): Counts => ({
  created: 0,
  posted: 0,
  final: 0,
  accepted: 0,
  rejected: 0,
  review: 0,
  unanswered: 0,
  pending: 0,
  oldestPendingSeconds: 0,
  stale: 0,
  held: 0,
  leader: true,
});

/** The counts a submission under way sums over the passes that end while it waits. */
const TALLIED = ['created', 'posted', 'final', 'accepted', 'rejected', 'review', 'unanswered', 'stale', 'held'] as const;

export class Submitter {
  private running: Promise<FlushResult> | undefined;
  private waiting: Promise<FlushResult> | undefined;
  /** Rounds and poll passes one at a time in this process. */
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private intervalMs = 60_000;
  private stopped = false;
  /**
   * The sums of the submission under way (`submitNow`): every round and poll pass of this process
   * that ends while it waits adds its counts here, whoever started it (the timer, a poll due), so
   * that a final answer a pass it did not start received is in its result all the same.
   */
  private readonly tallies = new Set<Counts>();
  /** Wakes a `submitNow` waiting between its rounds when the submitter stops. */
  private readonly wakeOnStop = new Set<() => void>();
  /** This instance, as the lease names it. */
  readonly instance: string;
  /** This process of it: a restarted instance is another process, and the epoch moves on. */
  readonly token = `${process.pid}-${randomBytes(4).toString('hex')}`;
  /** A restarted instance takes its own lease back at once, the first time only (never from a live process of the same identity twice). */
  private reclaimed = false;
  private leaseMs: number;
  private progress = { running: false, startedAt: null as string | null, posted: 0, polled: 0, final: 0, last: null as FlushResult | null };

  constructor(private readonly o: SubmitterOptions) {
    this.instance = o.instanceId ?? this.token;
    this.leaseMs = o.leaseMs ?? 5 * 60_000;
  }

  /** Transaction_ID: facility, time and a random part; at most 50 characters. */
  private newId(facilityId: string): string {
    const t = this.o.clock().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    return `CDSR-${facilityId.slice(0, 20)}-${t}-${randomBytes(3).toString('hex')}`;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** One round (batch, POST, one pass of the polls due); concurrent calls share the round under way. */
  flush(): Promise<FlushResult> {
    this.running ??= this.exclusive(() => this.round(true)).finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Rounds until nothing is in flight or `waitMs` has passed, waiting between them for the next
   * poll due (what `submit` asks for); the counts of every round, summed. Shared while under way.
   */
  submitNow(waitMs = 60_000): Promise<FlushResult> {
    this.waiting ??= this.settle(waitMs).finally(() => (this.waiting = undefined));
    return this.waiting;
  }

  /** The submission under way, or the last one's result. */
  status(): SubmitProgress {
    return { ...this.progress };
  }

  private async settle(waitMs: number): Promise<FlushResult> {
    const sleep = this.o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const start = this.o.clock().getTime();
    this.progress = { running: true, startedAt: new Date(start).toISOString(), posted: 0, polled: 0, final: 0, last: this.progress.last };
    // what every pass of this process does meanwhile is summed: a poll pass or a timer round that
    // runs while this one waits may be the one that receives the final answer
    const sum = zero();
    this.tallies.add(sum);
    let last: FlushResult | undefined;
    try {
      // a round already under way (the timer's) may have read the ready records before this call:
      // it is waited for (what it does is counted), and a round of this call's own follows
      await this.running?.catch(() => undefined);
      // a stopped submitter starts no round: close() has waited for the one under way and handed the lease back
      while (!this.stopped) {
        const r = await this.flush();
        last = r;
        const now = this.o.clock().getTime();
        if (this.stopped || !r.leader || r.pending === 0 || now - start >= waitMs) break;
        const f = await this.o.store.inFlight(this.o.profile);
        const due = f.nextPollAt === null ? now + this.leaseMs : Date.parse(f.nextPollAt);
        await this.untilStopped(sleep(Math.max(0, Math.min(due - now, start + waitMs - now))));
      }
    } finally {
      this.tallies.delete(sum);
      this.progress.running = false;
    }
    const result: FlushResult = {
      ...sum,
      pending: last?.pending ?? 0,
      oldestPendingSeconds: last?.oldestPendingSeconds ?? 0,
      leader: last?.leader ?? true,
      ...(last?.holder ? { holder: last.holder } : {}),
    };
    this.progress.last = result;
    return result;
  }

  /** `wait`, or less when the submitter stops meanwhile. */
  private untilStopped(wait: Promise<void>): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((ok) => {
      const wake = () => {
        this.wakeOnStop.delete(wake);
        ok();
      };
      this.wakeOnStop.add(wake);
      void wait.then(wake, wake);
    });
  }

  start(intervalSeconds: number): void {
    this.stopped = false;
    this.intervalMs = intervalSeconds * 1000;
    // the lease outlives a few missed rounds, not a dead instance
    this.leaseMs = this.o.leaseMs ?? Math.max(60_000, intervalSeconds * 3000);
    const tick = () => {
      this.flush()
        .catch((e: unknown) => this.o.log?.warn({ event: 'submit_round_failed', error: errorMessage(e) }, 'submission round failed; retried next round'))
        .finally(() => {
          // a round that ends after stop() schedules nothing more
          if (this.stopped) return;
          this.timer = setTimeout(tick, this.intervalMs);
          void this.schedulePolls();
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Polls run on their own schedule: a pass when the next one is due before the next round. */
  private async schedulePolls(): Promise<void> {
    clearTimeout(this.pollTimer);
    const f = await this.o.store.inFlight(this.o.profile).catch(() => undefined);
    if (this.stopped || !f?.nextPollAt) return;
    const wait = Date.parse(f.nextPollAt) - this.o.clock().getTime();
    if (wait >= this.intervalMs) return;
    this.pollTimer = setTimeout(
      () => {
        if (this.running || this.stopped) return;
        this.exclusive(() => this.round(false))
          .catch((e: unknown) => this.o.log?.warn({ event: 'poll_pass_failed', error: errorMessage(e) }, 'status requests failed; asked again later'))
          .finally(() => void (this.stopped ? undefined : this.schedulePolls()));
      },
      Math.max(wait, 250),
    );
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.pollTimer);
    for (const wake of [...this.wakeOnStop]) wake();
  }

  /** Stops, waits for the round under way, and hands the lease back. */
  async close(): Promise<void> {
    this.stop();
    await this.running?.catch(() => undefined);
    await this.queue.catch(() => undefined);
    await this.o.store.releaseLease(SUBMITTER_LEASE, this.instance, this.token).catch(() => undefined);
  }

  /** The lease, taken or renewed: a fence for this round, or undefined with who holds it. */
  private async acquire(): Promise<Fence | LeaseState> {
    const l = await this.o.store.takeLease(SUBMITTER_LEASE, { holder: this.instance, token: this.token }, this.o.clock(), this.leaseMs, {
      reclaimOwn: !this.reclaimed,
    });
    this.reclaimed = true;
    if (!l.held) {
      if (l.holder === this.instance)
        this.o.log?.warn(
          { event: 'instance_twice', instance: this.instance },
          'another process runs under this instance id (CDSR_INSTANCE_ID): it submits; this one waits for its lease to run out',
        );
      return l;
    }
    return { name: SUBMITTER_LEASE, holder: this.instance, token: this.token, epoch: l.epoch };
  }

  private at(f: Fence) {
    return { ...f, at: this.o.clock() };
  }

  private async round(full: boolean): Promise<FlushResult> {
    const counts = zero();
    try {
      return await this.roundCounting(full, counts);
    } finally {
      // what this pass did, also when it failed part way, is in the result of the submission under way
      for (const t of this.tallies) for (const k of TALLIED) t[k] += counts[k];
    }
  }

  private async roundCounting(full: boolean, counts: Counts): Promise<FlushResult> {
    const lease = await this.acquire();
    if (!('name' in lease)) return { ...counts, ...(await this.inFlightCounts()), leader: false, holder: { instance: lease.holder, until: lease.expiresAt } };
    // one submitter across instances: the others ingest, and take over when the lease runs out
    if (full) {
      // ready records are batched under the profile in force: not while a live instance of the
      // store runs under another one (a switch under way), or records would go to either
      // environment by whichever instance held the lease; its own transactions go on meanwhile
      const others = await this.otherProfiles();
      if (others.length > 0)
        this.o.log?.warn(
          { event: 'profiles_mixed', profile: this.o.profile ?? null, others },
          `instances of this store run under other connection profiles (${others.join(', ')}): no ready record is batched until every instance runs under one`,
        );
      if ((others.length > 0 || (await this.batchReady(counts, lease))) && (await this.postCreated(counts, lease))) await this.pollDue(counts, lease);
    } else await this.pollDue(counts, lease);
    return { ...counts, ...(await this.inFlightCounts()) };
  }

  /** The profiles other live instances of the store run under (their presence: PROFILE_PRESENCE). */
  private async otherProfiles(): Promise<string[]> {
    if (this.o.profile === undefined) return [];
    const live = await this.o.store.liveLeases(PROFILE_PRESENCE, this.o.clock());
    return [...new Set(live.map((l) => l.holder).filter((p) => p !== this.o.profile))].sort();
  }

  private async inFlightCounts(): Promise<{ pending: number; oldestPendingSeconds: number }> {
    const f = await this.o.store.inFlight(this.o.profile);
    const age = f.oldestCreatedAt === null ? 0 : Math.max(0, Math.round((this.o.clock().getTime() - Date.parse(f.oldestCreatedAt)) / 1000));
    return { pending: f.count, oldestPendingSeconds: age };
  }

  private fencedOut(what: string, id?: string): false {
    this.o.log?.warn(
      { event: 'lease_lost', instance: this.instance, ...(id ? { transactionId: id } : {}) },
      `the submitter lease was taken over: ${what} not sent; the new holder goes on`,
    );
    return false;
  }

  // Ready records are read a page at a time (a backfill of a million records must not be held in
  // memory at once): a page's encounters go into transactions before the next page is read. Pages
  // end between consultations, transactions between encounters: the last encounter of a full page
  // waits for the next one (its other consultations may be there), so an encounter's ready
  // consultations always travel in one transaction. A facility's last transaction of a page, not
  // yet full, waits too while what waits fits in a page, so paging sends no more transactions
  // than reading everything at once would (unless many facilities each leave one open).
  private async batchReady(counts: Counts, fence: Fence): Promise<boolean> {
    const page = Math.max(1, this.o.pageSize ?? 1000);
    let after: { encounterKey: string; consultationKey: string } | undefined;
    let waiting: WireConsultation[] = [];
    for (;;) {
      const read = await this.o.store.wireEncounters('ready', page, after);
      const last = read.length < page;
      const items = waiting.length === 0 ? read : [...waiting, ...read];
      if (items.length === 0) return true;
      let now = items;
      waiting = [];
      if (!last) {
        // the page's last encounter may go on in the next page
        const key = items[items.length - 1]!.encounterKey;
        let i = items.length - 1;
        while (i > 0 && items[i - 1]!.encounterKey === key) i--;
        now = items.slice(0, i);
        waiting = items.slice(i);
      }
      const batches = this.batch(now);
      let send = batches;
      if (!last) {
        const open = this.openBatches(batches);
        const held = open.reduce((k, b) => k + b.records.length, 0);
        if (held + waiting.length <= page) {
          const kept = new Set(open.flatMap((b) => b.records.map((r) => `${r.encounterKey}\u0000${r.consultationKey}`)));
          waiting = [...now.filter((r) => kept.has(`${r.encounterKey}\u0000${r.consultationKey}`)), ...waiting];
          send = batches.filter((b) => !open.includes(b));
        }
      }
      if (!(await this.create(send, counts, fence))) return false;
      if (last) return true;
      const end = read[read.length - 1]!;
      after = { encounterKey: end.encounterKey, consultationKey: end.consultationKey };
    }
  }

  private batch(ready: readonly WireConsultation[]): Batch<OutboundRecord>[] {
    const items = ready.map((r) => ({
      facilityId: r.facilityId,
      ...(r.partnerId !== undefined ? { partnerId: r.partnerId } : {}),
      encounterKey: r.encounterKey,
      wire: r.wire,
      record: { encounterKey: r.encounterKey, consultationKey: r.consultationKey, contentHash: r.contentHash },
    }));
    return batchTransactions<OutboundRecord>(items, {
      partnerId: this.o.partnerId,
      appId: this.o.appId,
      maxEncounters: this.o.maxEncounters,
      now: this.o.clock(),
      ...(this.o.timeZoneOf ? { timeZoneOf: this.o.timeZoneOf } : {}),
      transactionId: (facilityId) => this.newId(facilityId),
    });
  }

  /** Each facility's (and PartnerID's) last transaction when it is not full: more of its encounters may come in the next page. */
  private openBatches(batches: readonly Batch<OutboundRecord>[]): Batch<OutboundRecord>[] {
    const lastOf = new Map<string, Batch<OutboundRecord>>();
    for (const b of batches) lastOf.set(`${b.body.Facility_ID}\u0000${b.body.PartnerID}`, b);
    return [...lastOf.values()].filter((b) => b.body.Encounters.length < this.o.maxEncounters);
  }

  private async create(batches: readonly Batch<OutboundRecord>[], counts: Counts, fence: Fence): Promise<boolean> {
    for (const b of batches) {
      // the test profile: only the step's body is stored, and so only it can be sent
      const d = this.o.deidentifier?.transaction(b.body);
      const under = this.o.profile !== undefined ? { profile: this.o.profile, ...(d ? { deidSeal: d.seal } : {}) } : undefined;
      const r = await this.o.store.createTransaction(d?.body ?? b.body, b.records, this.o.clock(), this.at(fence), under);
      if (r.fenced === true) return this.fencedOut('a batch');
      if (r.created) counts.created++;
      else {
        // a record changed since it was read: nothing of this batch is sent now; the next round reads it again
        counts.stale++;
        this.o.log?.info({ event: 'batch_stale', records: r.stale.length }, 'records changed while being batched; sent next round');
      }
    }
    return true;
  }

  /** Every transaction never POSTed, in creation order (a newer revision of a record never goes before an older one). */
  private async postCreated(counts: Counts, fence: Fence): Promise<boolean> {
    let after: string | undefined;
    for (;;) {
      const page = await this.o.store.transactions({
        status: 'created',
        limit: 20,
        ...(after !== undefined ? { after } : {}),
        ...(this.o.profile !== undefined ? { profile: this.o.profile } : {}),
      });
      if (page.length === 0) return true;
      after = page[page.length - 1]!.transactionId;
      for (const t of page) if (!(await this.post(t, counts, fence))) return false;
    }
  }

  /**
   * Claims and makes one POST (the first, or again after NRDR said it does not know the id); false
   * when fenced out. The claim is the last step before the request is written (the client asks
   * for it once it has a token).
   */
  private async post(t: TransactionRow, counts: Counts, fence: Fence): Promise<boolean> {
    const id = t.transactionId;
    const from = t.status === 'created' ? 'created' : 'sent';
    let claim: PostClaim | undefined;
    const claimIt = async () =>
      (claim = await this.o.store.claimPost(
        id,
        { status: from, attempts: t.attempts, ...(this.o.profile !== undefined ? { profile: this.o.profile } : {}) },
        this.at(fence),
      )) === 'claimed';
    const o = this.o;
    let r: NrdrResult;
    if (o.deidentifier !== undefined) {
      // the POST boundary of the test profile: only a body the step made and sealed goes out (the
      // client takes nothing else: a raw t.body here does not compile)
      let body: DeidentifiedTransaction;
      try {
        body = o.deidentifier.check(t.body, t.deidSeal);
      } catch (e) {
        if (!(e instanceof DeidentificationError)) throw e;
        await this.hold(t, from, e);
        counts.held++;
        return true;
      }
      r = await o.client.postTransaction(body, claimIt);
    } else r = await o.client.postTransaction(t.body, claimIt);
    const now = this.o.clock();
    if (claim === 'fenced') return this.fencedOut('a POST', id);
    if (claim === 'moved') return true;
    if (claim === 'superseded') {
      const why =
        'not sent: NRDR does not have it, and records of it went out since in a later transaction (they go on from there; the others are sent again in the next round)';
      await this.o.store.abandonTransaction(id, why, now);
      this.o.log?.warn({ event: 'transaction_superseded', transactionId: id }, 'a transaction was superseded before NRDR had it; not sent');
      return true;
    }
    if (claim === undefined) {
      // never claimed (no token): nothing went out; tried again at the next round or poll
      if (!r.ok)
        await this.o.store.updateTransaction(
          id,
          { status: from, from: [from], error: `${r.code}: ${r.message}`, ...(from === 'sent' ? { nextPollAt: this.nextPoll(now, t.polls) } : {}) },
          now,
        );
      return true;
    }
    if (r.ok) {
      // any 2xx: NRDR has it; from now on it is only asked about
      await this.o.store.updateTransaction(
        id,
        {
          status: 'posted',
          from: ['sent'],
          nextPollAt: this.nextPoll(now, 0),
          ...(r.status ? { nrdr: r.status } : { error: `NRDR's answer to the POST was not a status: ${r.raw.slice(0, 200)}` }),
        },
        now,
      );
      counts.posted++;
      this.progress.posted++;
      if (r.status && FINAL_STATUSES.has(r.status.Status)) await this.finish(t, r.status, counts);
      return true;
    }
    if (r.permanent) {
      const p = this.problem(r.code, r.message);
      await this.o.store.updateTransaction(id, { status: 'failed', from: ['sent'], error: `${r.code}: ${r.message}`, nextPollAt: null }, now);
      await this.o.store.recordResults(
        id,
        t.records.map((x) => ({ ...x, result: 'rejected', problems: [p] })),
        now,
      );
      counts.rejected += t.records.length;
      this.o.log?.warn({ event: 'transaction_refused', transactionId: id, code: r.code }, 'NRDR refused the transaction');
    } else if (r.unanswered === true) {
      // NRDR may have stored it: asked about by id, never sent blind
      await this.o.store.updateTransaction(
        id,
        { status: 'sent', from: ['sent'], error: `POST sent, no answer (${r.code}: ${r.message}); asked about by id`, nextPollAt: this.nextPoll(now, 0) },
        now,
      );
      counts.unanswered++;
      this.o.log?.warn({ event: 'post_unanswered', transactionId: id, code: r.code }, 'no answer to a POST: NRDR is asked about it before anything else');
    } else {
      // refused before NRDR took it in (401, 429 to the end): nothing is there; a first POST waits for the next round, a re-POST for the next poll
      await this.o.store.updateTransaction(
        id,
        { status: from, from: ['sent'], error: `${r.code}: ${r.message}`, ...(from === 'sent' ? { nextPollAt: this.nextPoll(now, 0) } : {}) },
        now,
      );
    }
    return true;
  }

  /**
   * A transaction the test profile refuses to POST. Never sent: given up, its records back to
   * ready, batched again through the step under the settings in force (a test facility or key
   * changed since it was made), never stuck. Sent before (a re-POST): it stays where it is, its
   * records with it, the reason on it; asked about again at its next poll.
   */
  private async hold(t: TransactionRow, from: 'created' | 'sent', e: DeidentificationError): Promise<void> {
    const now = this.o.clock();
    if (from === 'created')
      await this.o.store.abandonTransaction(
        t.transactionId,
        `${e.code}: ${e.message}; not sent: its records go back to ready and are de-identified again in the next round`,
        now,
      );
    else
      await this.o.store.updateTransaction(
        t.transactionId,
        { status: from, from: [from], error: `${e.code}: ${e.message}`, nextPollAt: this.nextPoll(now, t.polls) },
        now,
      );
    this.o.log?.warn(
      { event: 'transaction_not_deidentified', transactionId: t.transactionId, field: e.fieldPath, profile: this.o.profile ?? null },
      `a transaction for the test profile did not go through the de-identification step: ${from === 'created' ? 'not sent; its records are batched again' : 'held, not sent'}`,
    );
  }

  /** One pass over the polls due: a status request each, the next one scheduled with backoff. */
  private async pollDue(counts: Counts, fence: Fence): Promise<void> {
    const queue = await this.o.store.duePolls(this.o.clock(), this.o.pollBatch ?? 200, this.o.profile);
    let fenced = false;
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined && !fenced; id = queue.shift()) {
        // read whole only now (its body may be a few hundred KB): at most one per worker in memory;
        // one that reached its final word meanwhile (another pass, a resubmit) is not asked about again
        const t = await this.o.store.transaction(id);
        if (t === undefined || (t.status !== 'sent' && t.status !== 'posted')) continue;
        if (!(await this.poll(t, counts, fence))) fenced = true;
        this.progress.polled++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
  }

  /** The next status request after `polls` of them: the interval doubled each time, up to the maximum. */
  private nextPoll(now: Date, polls: number): Date {
    const base = this.o.pollIntervalMs ?? 2000;
    return new Date(now.getTime() + Math.min(base * 2 ** Math.min(polls, 20), this.o.pollMaxIntervalMs ?? 60_000));
  }

  private async poll(t: TransactionRow, counts: Counts, fence: Fence): Promise<boolean> {
    const id = t.transactionId;
    // the deadline runs from the last POST (from creation for rows of an earlier version); past it, this GET is the last
    const last = this.o.clock().getTime() - Date.parse(t.sentAt ?? t.createdAt) > (this.o.pollDeadlineMs ?? 24 * 3600_000);
    const r: NrdrResult = await this.o.client.getStatus(id, t.facilityId, t.partnerId, t.appId);
    const now = this.o.clock();
    if (r.ok) {
      if (t.status === 'sent') {
        // its POST answer was lost, and NRDR has it
        counts.posted++;
        this.progress.posted++;
      }
      if (r.status && FINAL_STATUSES.has(r.status.Status)) {
        await this.o.store.updateTransaction(id, { status: 'posted', from: ['sent', 'posted'], nrdr: r.status, polled: true }, now);
        await this.finish(t, r.status, counts);
        return true;
      }
      const said = r.status ?? t.nrdr;
      if (last) {
        await this.giveUp(t, said, r.raw, counts);
        return true;
      }
      await this.o.store.updateTransaction(
        id,
        {
          status: 'posted',
          from: ['sent', 'posted'],
          polled: true,
          nextPollAt: this.nextPoll(now, t.polls + 1),
          ...(r.status ? { nrdr: r.status } : { error: `NRDR's status answer was not a status: ${r.raw.slice(0, 200)}` }),
        },
        now,
      );
      return true;
    }
    if (t.status === 'sent' && r.permanent && r.httpStatus === 404) {
      // NRDR does not know the id: the POST never reached it, and it goes again (under the lease)
      this.o.log?.info({ event: 'post_again', transactionId: id }, 'NRDR does not know a transaction whose POST went unanswered: sent again');
      return this.post(t, counts, fence);
    }
    if (r.permanent) this.o.log?.warn({ event: 'status_refused', transactionId: id, code: r.code }, 'NRDR refused the status request');
    if (last) {
      await this.giveUp(t, t.nrdr, `${r.code}: ${r.message}`, counts);
      return true;
    }
    // cannot tell now: asked again later, never sent blind
    await this.o.store.updateTransaction(
      id,
      {
        status: t.status === 'sent' ? 'sent' : 'posted',
        from: [t.status],
        polled: true,
        nextPollAt: this.nextPoll(now, t.polls + 1),
        error: `status request: ${r.code}: ${r.message}`,
      },
      now,
    );
    return true;
  }

  /** A final answer: each record's verdict. */
  private async finish(t: TransactionRow, status: TransactionStatus, counts: Counts): Promise<void> {
    const now = this.o.clock();
    const results = this.verdictsOf(t, status);
    await this.o.store.updateTransaction(t.transactionId, { status: 'done', from: ['sent', 'posted'], nrdr: status, nextPollAt: null }, now);
    await this.o.store.recordResults(t.transactionId, results, now);
    if (status.Status === 'Failed') await resendFailed(this.o.store, t.transactionId, this.o.resendFailed ?? 0, now, this.o.log);
    counts.final++;
    this.progress.final++;
    for (const r of results) counts[r.result === 'accepted' ? 'accepted' : r.result === 'rejected' ? 'rejected' : 'review']++;
    this.o.log?.info(
      { event: 'transaction_final', transactionId: t.transactionId, status: status.Status, accepted: results.filter((r) => r.result === 'accepted').length },
      'NRDR transaction final',
    );
  }

  /**
   * NRDR's verdicts: an Exam_Errors entry names a record as it was sent, so under the test profile
   * the records are matched by their pseudonyms and the verdicts handed back to the records.
   */
  private verdictsOf(t: TransactionRow, status: TransactionStatus): RecordResult[] {
    const d = this.o.deidentifier;
    if (!d) return verdicts(t.records, status);
    const sent = t.records.map((r) => {
      const bar = r.encounterKey.indexOf('|');
      return { ...r, encounterKey: `${d.target.facilityId}|${d.encounterId(r.encounterKey.slice(0, bar), r.encounterKey.slice(bar + 1))}` };
    });
    return verdicts(sent, status).map((v, i) => ({ ...v, encounterKey: t.records[i]!.encounterKey }));
  }

  /** Past the polling deadline, the last GET without a final answer: the transaction and its records need an operator. */
  private async giveUp(t: TransactionRow, status: TransactionStatus | undefined, raw: string, counts: Counts): Promise<void> {
    const said = status
      ? `NRDR's last status was "${status.Status}"`
      : `NRDR's last answer did not read as a status${raw !== '' ? ` (${raw.slice(0, 200)})` : ''}`;
    const p = this.problem('NRDR_UNCLEAR', `no final answer from NRDR by the polling deadline: ${said}; check the transaction at NRDR`);
    await this.o.store.updateTransaction(
      t.transactionId,
      { status: 'review', from: ['sent', 'posted'], error: p.message, nextPollAt: null, ...(status ? { nrdr: status } : {}) },
      this.o.clock(),
    );
    await this.o.store.recordResults(
      t.transactionId,
      t.records.map((x) => ({ ...x, result: 'needs-review', problems: [p] })),
      this.o.clock(),
    );
    counts.review += t.records.length;
    this.o.log?.warn({ event: 'transaction_review', transactionId: t.transactionId }, 'NRDR gave no final answer in time; the transaction needs review');
  }

  private problem(code: string, message: string): Problem {
    return { code: code as Problem['code'], message, severity: 'error', scope: 'consultation', path: '' };
  }
}
