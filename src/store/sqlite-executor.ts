// SQLite for the store (better-sqlite3, WAL). One connection; every write transaction goes through
// one lane, and transactions that arrive while a commit is on its way to disk are committed
// together in the next one, each in its own savepoint (group commit): concurrent senders share one
// fsync, a lone sender still gets one commit per message, and one failing transaction rolls back
// alone. Durable by default: a resolved transaction is on disk. SQLite's own FULL would fsync the
// WAL inside COMMIT, on the event loop, holding every other request for the length of the sync;
// instead SQLite runs at NORMAL (the WAL is written, not synced, at COMMIT) and the lane syncs the
// WAL file itself in libuv's thread pool before it resolves the batch. The event loop meanwhile
// parses and maps the next messages, which then join the next batch. The WAL's checksummed frames
// make what survives a power loss a prefix of the commits (SQLite's own guarantee at NORMAL), and
// the sync makes every commit up to the batch's part of that prefix before anyone is told.
import { closeSync, fsync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { asError, errorMessage } from '../cdsr/errors.js';
import {
  storable,
  StoreUnavailableError,
  type Executor,
  type LaneGate,
  type Reclaim,
  type Queryable,
  type Row,
  type SqlValue,
  type TransactionOptions,
  type TxQueryable,
} from './sql.js';
import type { ReportJob, ReportReply } from './sqlite-reader-worker.js';

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  readonly file: string;
  /** With ':memory:': the database to start from, as `serialize()` gave it (the tests' migrated template). */
  readonly image?: Buffer;
  /** FULL (default): an answered message survives power loss; NORMAL: survives a crash of the process only. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** How the WAL file is synced under FULL (tests observe it or make it fail); by default fsync(2) in the thread pool. */
  readonly syncFile?: (fd: number) => Promise<void>;
}

/** What every call is told once a sync of the WAL failed. */
const syncRefusal = (e: Error): StoreUnavailableError =>
  new StoreUnavailableError(`the store's disk failed to sync a commit (${e.message}); restart the adapter`, { cause: e });

const fsyncInPool = (fd: number): Promise<void> => new Promise((ok, fail) => fsync(fd, (e) => (e ? fail(e) : ok())));

// Failures of the disk or of access, not of our statements: the sender should try again later.
const TRANSIENT = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|INTERRUPT|PROTOCOL)/;

function classify(e: unknown): Error {
  if (e instanceof StoreUnavailableError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (
    (e instanceof Database.SqliteError && typeof code === 'string' && TRANSIENT.test(code)) ||
    (e instanceof TypeError && /database connection is not open/.test(e.message))
  ) {
    return new StoreUnavailableError(`the store cannot be written: ${errorMessage(e)}`, { cause: e });
  }
  return asError(e);
}

/** PRAGMA auto_vacuum value for INCREMENTAL. */
const INCREMENTAL = 2;
/** Pages given back per step of reclaimSpace (4 KB each): a few milliseconds, then ingest goes on. */
const RECLAIM_STEP_PAGES = 1000;

/** A report waiting for the reports thread's answer. */
interface ReportWaiter {
  readonly resolve: (rows: Row[]) => void;
  readonly reject: (e: Error) => void;
}

interface Job {
  readonly fn: (q: TxQueryable) => Promise<unknown>;
  /** Resolved only once its commit is synced (TransactionOptions.durable). */
  readonly durable: boolean;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
}

export class SqliteExecutor implements Executor {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private queue: Job[] = [];
  private flushScheduled = false;
  /** A transaction is open: reads from outside wait for it (they would see its uncommitted rows). */
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  private readonly tx: TxQueryable;
  private readonly file: string;
  /** The reports connection's thread, started at the first report. */
  private reader: { readonly worker: Worker; readonly pending: Map<number, ReportWaiter> } | undefined;
  private nextReport = 1;
  readonly reports: Queryable;
  gate: LaneGate | undefined;
  /** Under FULL on a file: the WAL is synced by the lane after each commit (see the top of the file). */
  private readonly syncFile: ((fd: number) => Promise<void>) | undefined;
  private walFd: number | undefined;
  /**
   * A sync that failed: what was committed may not be on disk, and the kernel may have dropped
   * the pages it could not write, so no later answer could be trusted. Everything is refused
   * until a restart, when SQLite recovers what the WAL holds (PostgreSQL does the same: it stops).
   */
  private syncFailed: Error | undefined;

  constructor(options: SqliteOptions) {
    this.file = options.file;
    if (options.file !== ':memory:') mkdirSync(dirname(options.file), { recursive: true });
    if (options.image !== undefined && options.file !== ':memory:') throw new Error('an image opens only an in-memory database');
    this.db = options.image !== undefined ? new Database(options.image) : new Database(options.file);
    // freed pages can be given back a few at a time (reclaimSpace); set before the first table
    // of a new database, and converted once (one full VACUUM, at opening) in an older one
    if (Number(this.db.pragma('auto_vacuum', { simple: true })) !== INCREMENTAL) {
      this.db.pragma('auto_vacuum = INCREMENTAL');
      if (this.db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'").pluck().get() !== 0) this.db.exec('VACUUM');
    }
    this.db.pragma('journal_mode = WAL');
    const durable = (options.synchronous ?? 'FULL') === 'FULL';
    this.syncFile = durable && options.file !== ':memory:' ? (options.syncFile ?? fsyncInPool) : undefined;
    this.db.pragma(`synchronous = ${durable && !this.syncFile ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    // the journal of each job's savepoint (group commit) in memory, not a new file in /var/tmp for
    // every transaction: 20 system calls a message fewer; the reports connection keeps the default
    this.db.pragma('temp_store = MEMORY');
    // what is deleted or overwritten (a purged message's text) is overwritten with zeros in the
    // file, not left in free space for anyone reading the file to find (retention's promise)
    this.db.pragma('secure_delete = ON');
    const direct = { all: this.allNow.bind(this), get: this.getNow.bind(this), run: this.runNow.bind(this) };
    this.tx = { ...direct, lock: () => Promise.resolve() };
    // an in-memory database has no second connection: its reports run here
    this.reports =
      options.file === ':memory:'
        ? this
        : {
            all: (sql, params) => this.gated(() => this.report(sql, params)),
            get: async (sql, params) => (await this.gated(() => this.report(sql, params)))[0],
            run: () => Promise.reject(new Error('the reports connection is read-only')),
          };
  }

  /** The whole database as bytes (an in-memory one's template: SqliteOptions.image). */
  serialize(): Buffer {
    return this.db.serialize();
  }

  /** Why nothing can be done now, if so. */
  private refusal(): StoreUnavailableError | undefined {
    if (this.syncFailed) return syncRefusal(this.syncFailed);
    if (!this.db.open) return new StoreUnavailableError('the store is closed');
    return undefined;
  }

  private report(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const reader = (this.reader ??= this.startReader());
    const job: ReportJob = { id: this.nextReport++, sql, params: storable(params) };
    return new Promise<Row[]>((resolve, reject) => {
      // the thread keeps the process alive only while a report is waiting for it
      if (reader.pending.size === 0) reader.worker.ref();
      reader.pending.set(job.id, { resolve, reject });
      reader.worker.postMessage(job);
    });
  }

  private startReader(): NonNullable<SqliteExecutor['reader']> {
    const worker = new Worker(new URL('./sqlite-reader-worker.js', import.meta.url), { workerData: { file: this.file }, stdout: false, stderr: false });
    const reader = { worker, pending: new Map<number, ReportWaiter>() };
    worker.on('message', (reply: ReportReply) => {
      const p = reader.pending.get(reply.id);
      if (!p) return;
      reader.pending.delete(reply.id);
      if (reader.pending.size === 0) worker.unref();
      if ('rows' in reply) p.resolve(reply.rows as Row[]);
      else {
        const transient = reply.error.code !== undefined && TRANSIENT.test(reply.error.code);
        p.reject(transient ? new StoreUnavailableError(`the store cannot be read: ${reply.error.message}`) : new Error(reply.error.message));
      }
    });
    // a thread that stops fails what it was asked; the next report starts another
    const lost = (why: string) => {
      if (this.reader === reader) this.reader = undefined;
      for (const p of reader.pending.values()) p.reject(new StoreUnavailableError(`the store's reports connection stopped (${why})`));
      reader.pending.clear();
    };
    worker.on('error', (e) => lost(e.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    worker.unref();
    return reader;
  }

  /** A prepared statement, prepared once per SQL text (preparing costs more than running). */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  private allNow(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    try {
      return Promise.resolve(this.stmt(sql).all(...storable(params)) as Row[]);
    } catch (e) {
      return Promise.reject(classify(e));
    }
  }
  private getNow(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    try {
      return Promise.resolve(this.stmt(sql).get(...storable(params)) as Row | undefined);
    } catch (e) {
      return Promise.reject(classify(e));
    }
  }
  private runNow(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    try {
      return Promise.resolve(this.stmt(sql).run(...storable(params)).changes);
    } catch (e) {
      return Promise.reject(classify(e));
    }
  }

  private whenFree<T>(fn: () => Promise<T>): Promise<T> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    if (!this.busy) return fn();
    return new Promise<void>((ok) => this.waiting.push(ok)).then(fn);
  }

  /** A read from outside the lane, once the gate owes nothing. */
  private gated<T>(read: () => Promise<T>): Promise<T> {
    const gate = this.gate;
    return gate?.owed() ? gate.caughtUp().then(read) : read();
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.gated(() => this.whenFree(() => this.allNow(sql, params)));
  }
  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.gated(() => this.whenFree(() => this.getNow(sql, params)));
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.transaction((q) => q.run(sql, params));
  }

  transaction<T>(fn: (q: TxQueryable) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const gate = this.gate;
    const durable = options?.durable !== false;
    if (gate && options?.ahead !== true) return gate.transaction(fn, (f) => this.enqueue(f, durable));
    return this.enqueue(fn, durable);
  }

  private enqueue<T>(fn: (q: TxQueryable) => Promise<T>, durable: boolean): Promise<T> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, durable, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled && !this.busy) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length === 0 || this.busy) return;
    this.busy = true;
    const results: ({ ok: true; value: unknown } | { ok: false; error: Error })[] = [];
    try {
      const refused = this.refusal();
      if (refused) throw refused;
      this.stmt('BEGIN IMMEDIATE').run();
      try {
        for (const job of jobs) {
          this.stmt('SAVEPOINT job').run();
          try {
            results.push({ ok: true, value: await job.fn(this.tx) });
            this.stmt('RELEASE job').run();
          } catch (e) {
            this.stmt('ROLLBACK TO job').run();
            this.stmt('RELEASE job').run();
            results.push({ ok: false, error: classify(e) });
          }
        }
        this.stmt('COMMIT').run();
      } catch (e) {
        if (this.db.inTransaction) this.stmt('ROLLBACK').run();
        throw e;
      }
      // the lane stays busy (reads wait too): nothing is seen or told before it is on disk
      // (a commit of rows derivable again alone is synced by the next one: the WAL keeps commits in order)
      if (jobs.some((job) => job.durable)) await this.durable();
      jobs.forEach((job, i) => {
        const r = results[i]!;
        if (r.ok) job.resolve(r.value);
        else job.reject(r.error);
      });
    } catch (e) {
      const err = classify(e);
      const all = err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`the store cannot be written: ${err.message}`, { cause: err });
      for (const job of jobs) job.reject(all);
    } finally {
      this.busy = false;
      for (const wake of this.waiting.splice(0)) wake();
      if (this.queue.length > 0 && !this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    }
  }

  /** Syncs the WAL file (under FULL): the commits so far are on disk when it resolves. */
  private async durable(): Promise<void> {
    if (!this.syncFile) return;
    try {
      if (this.walFd === undefined) {
        // the WAL exists from the first write on, for as long as this connection is open
        this.walFd = openSync(`${this.file}-wal`, 'r');
        // its name too, the first time: a file just created is reached through its directory
        const dir = openSync(dirname(this.file), 'r');
        try {
          await this.syncFile(dir);
        } finally {
          closeSync(dir);
        }
      }
      await this.syncFile(this.walFd);
    } catch (e) {
      this.syncFailed = asError(e);
      // the same refusal as every call from now on
      throw syncRefusal(this.syncFailed);
    }
  }

  sizeBytes(): Promise<number> {
    return this.whenFree(() => Promise.resolve(Number(this.db.pragma('page_count', { simple: true })) * Number(this.db.pragma('page_size', { simple: true }))));
  }

  /**
   * Frees pages a step at a time (PRAGMA incremental_vacuum), each step between two commits of
   * the lane, so that ingest is never held for more than one step; then the WAL is truncated.
   */
  async reclaimSpace(): Promise<Reclaim> {
    await this.gated(() => Promise.resolve());
    const freePages = () => Number(this.db.pragma('freelist_count', { simple: true }));
    while ((await this.whenFree(() => Promise.resolve(freePages()))) > 0) {
      await this.whenFree(() => Promise.resolve(this.db.pragma(`incremental_vacuum(${RECLAIM_STEP_PAGES})`)));
      await new Promise<void>((ok) => setImmediate(ok));
    }
    await this.whenFree(() => Promise.resolve(this.db.pragma('wal_checkpoint(TRUNCATE)')));
    return { method: 'incremental' };
  }

  /**
   * Each data statement prepared so far with the steps of its plan that scan (EXPLAIN QUERY
   * PLAN), for tests: a statement of the ingest path that reads a whole table shows here.
   */
  scans(): { readonly sql: string; readonly scans: readonly string[] }[] {
    const out: { sql: string; scans: string[] }[] = [];
    for (const sql of this.statements.keys()) {
      if (!/^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(sql)) continue;
      const params = Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => null);
      let plan: { detail: string }[];
      try {
        plan = this.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
      } catch {
        // a migration's statement over a table it has since replaced
        continue;
      }
      const scans = plan.map((p) => p.detail).filter((d) => /^SCAN /.test(d) && !/^SCAN (CONSTANT ROW|\d+-ROW VALUES CLAUSE)$/.test(d));
      out.push({ sql: sql.replace(/\s+/g, ' ').trim(), scans });
    }
    return out;
  }

  /** SQLite's own settings, for tests (journal mode and the like). */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  async close(): Promise<void> {
    const reader = this.reader;
    this.reader = undefined;
    if (reader) await reader.worker.terminate();
    return this.closeDb();
  }

  private closeDb(): Promise<void> {
    if (this.db.open && !this.busy) {
      this.db.close();
      if (this.walFd !== undefined) closeSync(this.walFd);
      this.walFd = undefined;
    } else if (this.db.open) return new Promise<void>((ok) => this.waiting.push(ok)).then(() => this.closeDb());
    return Promise.resolve();
  }
}
