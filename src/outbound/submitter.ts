// Submission to NRDR: ready records → transactions per facility → POST → poll until a final
// status → each record accepted or rejected with NRDR's codes. A transaction is stored (and its
// records marked submitted) before it is POSTed, so one in flight when the process dies is sent
// again under the same Transaction_ID at the next start, which NRDR treats as a resubmission.
import { randomBytes } from 'node:crypto';
import type { Problem } from '../cdsr/problem.js';
import { batchTransactions } from '../cdsr/batch.js';
import { FINAL_STATUSES, type TransactionStatus } from '../cdsr/schema.js';
import type { OutboundLedger, OutboundRecord, RecordStore, TransactionRow, WireConsultation } from '../store/store.js';
import type { NrdrApi, NrdrResult } from './nrdr-client.js';
import { resendFailed, verdicts } from './verdicts.js';
import { errorMessage } from '../cdsr/errors.js';

export interface SubmitterOptions {
  readonly store: RecordStore & OutboundLedger;
  readonly client: NrdrApi;
  readonly partnerId: string;
  readonly appId: string;
  readonly maxEncounters: number;
  readonly clock: () => Date;
  /** Wait between status polls of one transaction. */
  readonly pollIntervalMs?: number;
  /** Polls before a transaction is left for the next round. */
  readonly maxPolls?: number;
  /** After this long without a final answer a transaction needs review (default 24 h). */
  readonly pollDeadlineMs?: number;
  /** Records of a transaction NRDR answered Failed are sent again under a new Transaction_ID this many times (same content); default 0. */
  readonly resendFailed?: number;
  /** The time zone each facility's Transaction_DateTime is written in (default UTC). */
  readonly timeZoneOf?: (facilityId: string) => string;
  /** The wait between polls (tests give their own). */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface FlushResult {
  readonly created: number;
  readonly posted: number;
  readonly final: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly pending: number;
  /** Records NRDR's answer left undecided (needs-review). */
  readonly review: number;
  /** Batches not created because a record changed after it was read (they go in the next round). */
  readonly stale: number;
  /** false: another instance holds the submitter lease; this round did nothing. */
  readonly leader: boolean;
}

type Counts = { -readonly [K in keyof FlushResult]: FlushResult[K] };

/** The lease that makes one instance the submitter; renewed every round, taken over when it runs out. */
export const SUBMITTER_LEASE = 'submitter';


export class Submitter {
  private running: Promise<FlushResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** This instance, as the lease names it. */
  readonly instance = `${process.pid}-${randomBytes(4).toString('hex')}`;
  /** Transactions this process created and has not yet POSTed (the others are asked about first). */
  private readonly fresh = new Set<string>();
  private leaseMs = 5 * 60_000;

  constructor(private readonly o: SubmitterOptions) {}

  /** Transaction_ID: facility, time and a random part; at most 50 characters. */
  private newId(facilityId: string): string {
    const t = this.o.clock().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    return `CDSR-${facilityId.slice(0, 20)}-${t}-${randomBytes(3).toString('hex')}`;
  }

  /** One round; concurrent calls share the round under way. */
  flush(onProgress?: (done: number, total: number) => void): Promise<FlushResult> {
    this.running ??= this.round(onProgress).finally(() => (this.running = undefined));
    return this.running;
  }

  start(intervalSeconds: number): void {
    this.stopped = false;
    // the lease outlives a few missed rounds, not a dead instance
    this.leaseMs = Math.max(60_000, intervalSeconds * 3000);
    const tick = () => {
      this.flush()
        .catch((e: unknown) => this.o.log?.warn({ event: 'submit_round_failed', error: errorMessage(e) }, 'submission round failed; retried next round'))
        .finally(() => {
          // a round that ends after stop() schedules nothing more
          if (!this.stopped) this.timer = setTimeout(tick, intervalSeconds * 1000);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Stops, waits for the round under way, and hands the lease back. */
  async close(): Promise<void> {
    this.stop();
    await this.running?.catch(() => undefined);
    await this.o.store.releaseLease(SUBMITTER_LEASE, this.instance).catch(() => undefined);
  }

  private async round(onProgress?: (done: number, total: number) => void): Promise<FlushResult> {
    const counts: Counts = { created: 0, posted: 0, final: 0, accepted: 0, rejected: 0, pending: 0, review: 0, stale: 0, leader: true };
    // one submitter across instances: the others ingest, and take over when the lease runs out
    if (!(await this.o.store.lease(SUBMITTER_LEASE, this.instance, this.o.clock(), this.leaseMs))) return { ...counts, leader: false };
    await this.batchReady(counts);
    // open transactions a page at a time, a few followed at once
    let done = 0;
    for (const status of ['created', 'posted'] as const) {
      let after: string | undefined;
      for (;;) {
        const page = await this.o.store.transactions({ status, limit: 20, ...(after !== undefined ? { after } : {}) });
        if (page.length === 0) break;
        after = page[page.length - 1]!.transactionId;
        const queue = [...page];
        const worker = async () => {
          for (let t = queue.shift(); t; t = queue.shift()) {
            await this.follow(t, counts);
            onProgress?.(++done, done + queue.length);
          }
        };
        await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
      }
    }
    return counts;
  }

  // Ready records are read a page at a time (a backfill of a million records must not be held in
  // memory at once); a page's encounters go into transactions before the next page is read.
  private async batchReady(counts: { created: number; stale: number }): Promise<void> {
    const page = 5000;
    let after: { encounterKey: string; consultationKey: string } | undefined;
    for (;;) {
      const ready = await this.o.store.wireEncounters('ready', page, after);
      if (ready.length === 0) return;
      await this.batchPage(ready, counts);
      const last = ready[ready.length - 1]!;
      after = { encounterKey: last.encounterKey, consultationKey: last.consultationKey };
      if (ready.length < page) return;
    }
  }

  private async batchPage(ready: readonly WireConsultation[], counts: { created: number; stale: number }): Promise<void> {
    const items = ready.map((r) => ({
      facilityId: r.facilityId,
      ...(r.partnerId !== undefined ? { partnerId: r.partnerId } : {}),
      encounterKey: r.encounterKey,
      wire: r.wire,
      record: { encounterKey: r.encounterKey, consultationKey: r.consultationKey, contentHash: r.contentHash },
    }));
    const batches = batchTransactions<OutboundRecord>(items, {
      partnerId: this.o.partnerId,
      appId: this.o.appId,
      maxEncounters: this.o.maxEncounters,
      now: this.o.clock(),
      ...(this.o.timeZoneOf ? { timeZoneOf: this.o.timeZoneOf } : {}),
      transactionId: (facilityId) => this.newId(facilityId),
    });
    for (const b of batches) {
      const r = await this.o.store.createTransaction(b.body, b.records, this.o.clock());
      if (r.created) {
        counts.created++;
        this.fresh.add(b.body.Transaction_ID);
      }
      else {
        // a record changed since it was read: nothing of this batch is sent now; the next round reads it again
        counts.stale++;
        this.o.log?.info({ event: 'batch_stale', records: r.stale.length }, 'records changed while being batched; sent next round');
      }
    }
  }

  private async follow(t: TransactionRow, counts: Counts): Promise<void> {
    const now = () => this.o.clock();
    let status: TransactionStatus | undefined = t.nrdr;
    let raw = '';
    // the polling deadline runs from when NRDR got it (marked posted), not from when it was batched
    const since = t.status === 'posted' ? Date.parse(t.updatedAt) : now().getTime();
    if (t.status === 'created') {
      // one that was tried before, or stored by an earlier process, may have reached NRDR: ask first
      let known = false;
      if (t.attempts > 0 || !this.fresh.has(t.transactionId)) {
        const r = await this.o.client.getStatus(t.transactionId, t.facilityId, t.partnerId, t.appId);
        if (r.ok) {
          known = true;
          status = r.status;
          raw = r.raw;
          await this.o.store.updateTransaction(t.transactionId, { status: 'posted', ...(status ? { nrdr: status } : {}) }, now());
          counts.posted++;
        } else if (!(r.permanent && r.httpStatus === 404)) {
          counts.pending++; // cannot tell now: asked again next round, never sent blind
          return;
        }
      }
      if (!known) {
        this.fresh.delete(t.transactionId);
        const r = await this.o.client.postTransaction(t.body);
        if (!r.ok) {
          if (r.permanent) {
            const p = this.problem(r.code, r.message);
            await this.o.store.updateTransaction(t.transactionId, { status: 'failed', error: `${r.code}: ${r.message}`, attempted: true }, now());
            await this.o.store.recordResults(t.transactionId, t.records.map((x) => ({ ...x, result: 'rejected', problems: [p] })), now());
            counts.rejected += t.records.length;
            this.o.log?.warn({ event: 'transaction_refused', transactionId: t.transactionId, code: r.code }, 'NRDR refused the transaction');
          } else {
            await this.o.store.updateTransaction(t.transactionId, { status: 'created', error: `${r.code}: ${r.message}`, attempted: true }, now());
            counts.pending++;
          }
          return;
        }
        // any 2xx: NRDR has it; from now on it is only asked about
        status = r.status;
        raw = r.raw;
        await this.o.store.updateTransaction(
          t.transactionId,
          { status: 'posted', attempted: true, ...(status ? { nrdr: status } : { error: `NRDR's answer to the POST was not a status: ${raw.slice(0, 200)}` }) },
          now(),
        );
        counts.posted++;
      }
    }
    const interval = this.o.pollIntervalMs ?? 1000;
    const sleep = this.o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (let i = 0; status === undefined || !FINAL_STATUSES.has(status.Status); i++) {
      if (now().getTime() - since > (this.o.pollDeadlineMs ?? 24 * 3600_000)) {
        await this.giveUp(t, status, raw, counts);
        return;
      }
      if (i >= (this.o.maxPolls ?? 60)) {
        counts.pending++;
        return;
      }
      // backoff between polls of one transaction, up to 30 s
      await sleep(Math.min(interval * 2 ** Math.min(i, 5), 30_000));
      const r: NrdrResult = await this.o.client.getStatus(t.transactionId, t.facilityId, t.partnerId, t.appId);
      if (!r.ok) {
        if (!r.permanent) continue; // the next poll may get through
        this.o.log?.warn({ event: 'status_refused', transactionId: t.transactionId, code: r.code }, 'NRDR refused the status request');
        counts.pending++;
        return;
      }
      raw = r.raw;
      if (r.status) {
        status = r.status;
        // kept in the transaction's history when it says something new (Received → Loading → …)
        await this.o.store.nrdrStatusSeen(t.transactionId, status, now());
      }
    }
    const results = verdicts(t.records, status);
    await this.o.store.updateTransaction(t.transactionId, { status: 'done', nrdr: status }, now());
    await this.o.store.recordResults(t.transactionId, results, now());
    if (status.Status === 'Failed') await resendFailed(this.o.store, t.transactionId, this.o.resendFailed ?? 0, now(), this.o.log);
    counts.final++;
    for (const r of results) counts[r.result === 'accepted' ? 'accepted' : r.result === 'rejected' ? 'rejected' : 'review']++;
    this.o.log?.info({ event: 'transaction_final', transactionId: t.transactionId, status: status.Status, accepted: results.filter((r) => r.result === 'accepted').length }, 'NRDR transaction final');
  }

  /** Past the polling deadline without a final answer: the transaction and its records need an operator. */
  private async giveUp(t: TransactionRow, status: TransactionStatus | undefined, raw: string, counts: Counts): Promise<void> {
    const said = status ? `NRDR's last status was "${status.Status}"` : `NRDR's last answer did not read as a status${raw !== '' ? ` (${raw.slice(0, 200)})` : ''}`;
    const p = this.problem('NRDR_UNCLEAR', `no final answer from NRDR by the polling deadline: ${said}; check the transaction at NRDR`);
    await this.o.store.updateTransaction(t.transactionId, { status: 'review', error: p.message, ...(status ? { nrdr: status } : {}) }, this.o.clock());
    await this.o.store.recordResults(t.transactionId, t.records.map((x) => ({ ...x, result: 'needs-review', problems: [p] })), this.o.clock());
    counts.review += t.records.length;
    this.o.log?.warn({ event: 'transaction_review', transactionId: t.transactionId }, 'NRDR gave no final answer in time; the transaction needs review');
  }

  private problem(code: string, message: string): Problem {
    return { code: code as Problem['code'], message, severity: 'error', scope: 'consultation', path: '' };
  }
}
