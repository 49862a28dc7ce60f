// PostgreSQL for the store (pg), for several adapter instances sharing one database. What differs
// from SQLite: `$n` placeholders, a pool, transaction-scoped advisory locks to serialise merges of
// the same encounter or order across instances, deadlocks retried, and the error classes that
// mean "unavailable now".
import pg from 'pg';
import { asError, errorMessage } from '../cdsr/errors.js';
import { storable, StoreUnavailableError, type Executor, type Reclaim, type Queryable, type Row, type SqlValue, type TxQueryable } from './sql.js';

export interface PostgresOptions {
  readonly url: string;
  /** A schema to work in (created if missing): tests use one each. */
  readonly schema?: string;
  readonly poolSize?: number;
  /**
   * The longest one statement of a transaction may wait or run (CDSR_PG_STATEMENT_TIMEOUT_S): a
   * table held by a lock makes the message's answer a 503 within this bound, not a sender left
   * waiting. Default 10 s.
   */
  readonly statementTimeoutMs?: number;
  /**
   * How retention's reclaim gives the purged text back (CDSR_RETENTION_REWRITE): `full` rewrites
   * the tables that held it (VACUUM FULL: the old files, with every dead row version, are
   * unlinked; ACCESS EXCLUSIVE lock meanwhile), `off` a plain VACUUM (no lock that holds ingest;
   * the bytes stay in free space until reused). Default `full`.
   */
  readonly retentionRewrite?: 'full' | 'off';
}

/** The tables that hold the text retention purges: the raw messages and the FHIR resources kept for references. */
export const PURGED_TABLES = ['inbound_messages', 'fhir_resources'] as const;

/** The lock a rewrite waits for before giving up for a while: ingest queues behind a waiting rewrite too. */
const REWRITE_LOCK_WAIT_MS = 2_000;
/** Tries of one table's rewrite when its lock is not had within REWRITE_LOCK_WAIT_MS (a long report, a backup). */
const REWRITE_TRIES = 10;

/** Default of `statementTimeoutMs`. */
export const STATEMENT_TIMEOUT_MS = 10_000;

/** Connection-class failures and resource exhaustion (08, 53, 57: the database is down, full or shutting down). */
function unavailable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (/^(08|53|57)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE'].includes(code))) return true;
  return (
    e instanceof Error &&
    /Connection terminated|Client was closed|Cannot use a pool after calling end|timeout exceeded when trying to connect|not queryable|Client has encountered a connection error/.test(
      e.message,
    )
  );
}

/** Deadlock or serialization failure: the transaction is run again. */
const RETRYABLE = new Set(['40P01', '40001']);

function classify(e: unknown, doing: string): Error {
  if (e instanceof StoreUnavailableError) return e;
  if (unavailable(e) || RETRYABLE.has(String((e as { code?: unknown } | null)?.code))) {
    return new StoreUnavailableError(`the database cannot be ${doing}: ${errorMessage(e)}`, { cause: e });
  }
  return asError(e);
}

/**
 * A statement with its values written in as literals, for a batch sent in one round trip (the
 * simple query protocol takes no parameters). Each value is a quoted literal of unknown type, as a
 * parameter is, so the server infers its type from where it stands, the same as for `$n`.
 */
export function inlined(sql: string, params: readonly SqlValue[]): string {
  const values = storable(params);
  let n = 0;
  const text = sql.replace(/\?/g, () => {
    const v = values[n++];
    if (v === undefined) throw new Error(`a statement has more placeholders than values (${params.length})`);
    return v === null ? 'NULL' : pg.escapeLiteral(String(v));
  });
  if (n !== values.length) throw new Error(`a statement has ${n} placeholders for ${values.length} values`);
  return text;
}

/** `?` placeholders as `$1, $2, …` (the store's SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export class PostgresExecutor implements Executor {
  readonly dialect = 'postgres' as const;
  private readonly texts = new Map<string, { readonly text: string; readonly name?: string }>();

  private constructor(
    private readonly pool: pg.Pool,
    private readonly statementTimeoutMs: number,
    private readonly retentionRewrite: 'full' | 'off',
  ) {}

  static async open(o: PostgresOptions): Promise<PostgresExecutor> {
    if (o.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(o.schema)) throw new StoreUnavailableError(`bad schema name ${o.schema}`);
    const pool = new pg.Pool({
      connectionString: o.url,
      max: o.poolSize ?? 10,
      connectionTimeoutMillis: 10_000,
      ...(o.schema ? { options: `-c search_path=${o.schema}` } : {}),
    });
    pool.on('error', () => undefined); // an idle client's error: the next query reports it
    // and a client in no other hands (being ended after a failure, between the pool and us) keeps
    // a listener too: a backend terminated then must not end the process
    pool.on('connect', (client) => client.on('error', () => undefined));
    try {
      if (o.schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${o.schema}`);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw classify(e, 'opened');
    }
    return new PostgresExecutor(pool, Math.max(1, Math.round(o.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS)), o.retentionRewrite ?? 'full');
  }

  /**
   * The statement as sent: `$n` placeholders, and a name when the server may keep it prepared
   * (parsed and planned once per connection instead of at every call). Not named: transaction
   * control, and a statement whose result columns come from `*` (another instance's migration
   * adding a column would make the kept plan fail with "cached plan must not change result type").
   */
  private text(sql: string): { readonly text: string; readonly name?: string } {
    let t = this.texts.get(sql);
    if (t === undefined) {
      const text = numbered(sql);
      const keep = !/^\s*(BEGIN|COMMIT|ROLLBACK|VACUUM)\b/i.test(text) && !text.replace(/COUNT\(\*\)/gi, '').includes('*');
      t = keep ? { text, name: `cdsr_${this.texts.size + 1}` } : { text };
      this.texts.set(sql, t);
    }
    return t;
  }

  private async query(c: pg.Pool | pg.PoolClient, sql: string, params: readonly SqlValue[], doing: string): Promise<pg.QueryResult> {
    try {
      const t = this.text(sql);
      return await c.query({ text: t.text, values: storable(params), ...(t.name !== undefined ? { name: t.name } : {}) });
    } catch (e) {
      throw classify(e, doing);
    }
  }

  async all(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return (await this.query(this.pool, sql, params, 'read')).rows as Row[];
  }
  async get(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    return ((await this.query(this.pool, sql, params, 'read')).rows as Row[])[0];
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return (await this.query(this.pool, sql, params, 'written')).rowCount ?? 0;
  }

  async transaction<T>(fn: (q: TxQueryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(fn);
      } catch (e) {
        const code = (e as { cause?: { code?: unknown } }).cause?.code;
        if (attempt < 3 && e instanceof StoreUnavailableError && RETRYABLE.has(String(code))) continue;
        throw e;
      }
    }
  }

  private async once<T>(fn: (q: TxQueryable) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw new StoreUnavailableError(`the database cannot be reached: ${errorMessage(e)}`, { cause: e });
    }
    // a connection lost while checked out emits 'error' on the client: without a listener that
    // would end the process; the failing query reports it instead
    let lost = false;
    const onError = (): void => {
      lost = true;
    };
    c.on('error', onError);
    // statements whose count nobody reads (BEGIN, locks, most writes of a merge) wait here and go
    // with the next statement that is read, or with COMMIT: one round trip for all of them
    // the bound on each statement goes with BEGIN, in the same round trip; it ends with the transaction
    const pending: string[] = ['BEGIN', `SET LOCAL statement_timeout = ${this.statementTimeoutMs}`];
    // the statements waiting and these, in one simple query: the results of these, the last ones
    const batch = async (statements: readonly { sql: string; params: readonly SqlValue[] }[], doing: string): Promise<pg.QueryResult[]> => {
      const text = [...pending.splice(0), ...statements.map((s) => inlined(s.sql, s.params))].join(';\n');
      try {
        const r = (await c.query(text)) as pg.QueryResult | pg.QueryResult[];
        const all = Array.isArray(r) ? r : [r];
        return all.slice(all.length - statements.length);
      } catch (e) {
        throw classify(e, doing);
      }
    };
    const send = async (sql: string, params: readonly SqlValue[], doing: string): Promise<pg.QueryResult> =>
      pending.length === 0 ? this.query(c, sql, params, doing) : (await batch([{ sql, params }], doing))[0]!;
    const q: TxQueryable = {
      all: async (sql, params = []) => (await send(sql, params, 'read')).rows as Row[],
      get: async (sql, params = []) => ((await send(sql, params, 'read')).rows as Row[])[0],
      run: async (sql, params = []) => (await send(sql, params, 'written')).rowCount ?? 0,
      // several reads in one round trip (with whatever waits to go); one alone, with nothing
      // waiting, goes as a prepared statement as any other
      allOf: async (reads) =>
        reads.length === 0
          ? []
          : reads.length === 1 && pending.length === 0
            ? [(await this.query(c, reads[0]!.sql, reads[0]!.params, 'read')).rows as Row[]]
            : (await batch(reads, 'read')).map((r) => r.rows as Row[]),
      defer: (sql, params = []) => {
        pending.push(inlined(sql, params));
        return Promise.resolve();
      },
      // every key in one statement, taken in sorted order: the select list is evaluated left to
      // right, so two transactions never take the same two keys crosswise
      lock: (keys) => {
        const sorted = [...new Set(keys)].sort();
        if (sorted.length > 0) pending.push(inlined(`SELECT ${sorted.map(() => 'pg_advisory_xact_lock(hashtext(?))').join(', ')}`, sorted));
        return Promise.resolve();
      },
    };
    let broken = false;
    try {
      const r = await fn(q);
      // a statement that failed ended the transaction on the server, which then answers COMMIT with
      // ROLLBACK: never taken for a commit, even when the caller caught that failure
      const done = await send('COMMIT', [], 'written');
      if (done.command !== 'COMMIT') throw new Error('the transaction was rolled back at its COMMIT (one of its statements had failed)');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => (broken = true));
      // whatever the driver says after its connection was lost, it is the connection
      if (lost) throw new StoreUnavailableError(`the database connection was lost: ${errorMessage(e)}`, { cause: e });
      throw classify(e, 'written');
    } finally {
      c.off('error', onError);
      c.release(broken);
    }
  }

  /** Reports read through the pool like any read: the database server does the work, off the event loop. */
  get reports(): Queryable {
    return this;
  }

  async sizeBytes(): Promise<number> {
    const r = await this.get('SELECT pg_database_size(current_database()) AS n');
    return Number(r?.n ?? 0);
  }

  /**
   * After a purge, the tables that held the purged text (PURGED_TABLES). `full` (the default):
   * `VACUUM (FULL, ANALYZE)` of each, which copies the live rows into new files and unlinks the
   * old ones, so no dead row version of a purged text (table, TOAST, index) is left in the data
   * files. It holds an ACCESS EXCLUSIVE lock on the table while it runs: ingest waits (up to the
   * statement timeout, then 503 / AR and the sender sends again), and `/readyz` says not ready.
   * The lock is asked for with a short lock_timeout, so that a long reader does not leave ingest
   * queued behind a waiting rewrite; not had, it is asked again a little later, a few times.
   * `off`: plain `VACUUM (ANALYZE)`, no lock that holds ingest; the space is reusable, the bytes
   * stay until it is reused.
   */
  async reclaimSpace(): Promise<Reclaim> {
    if (this.retentionRewrite === 'off') {
      try {
        await this.pool.query(`VACUUM (ANALYZE) ${PURGED_TABLES.join(', ')}`);
      } catch (e) {
        throw classify(e, 'written');
      }
      return { method: 'vacuum' };
    }
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw new StoreUnavailableError(`the database cannot be reached: ${errorMessage(e)}`, { cause: e });
    }
    let broken = false;
    const leftovers: string[] = [];
    const warnings: string[] = [];
    // VERBOSE says how many dead row versions (purged text among them) an open transaction's
    // snapshot kept the rewrite from dropping: they are copied into the new files as they were
    let kept = 0;
    const onNotice = (n: { severity?: string; message?: string; detail?: string }): void => {
      if (n.severity === 'WARNING') warnings.push(n.message ?? '');
      const dead = /(\d+) dead row versions cannot be removed yet/.exec(n.detail ?? '');
      if (dead) kept += Number(dead[1]);
    };
    c.on('notice', onNotice);
    try {
      await c.query(`SET lock_timeout = ${Math.min(REWRITE_LOCK_WAIT_MS, this.statementTimeoutMs)}`);
      // a lock not had within the lock_timeout (55P03: someone holds the table) is asked again, later
      const locked = async (sql: string): Promise<void> => {
        for (let attempt = 1; ; attempt++) {
          try {
            await c.query(sql);
            return;
          } catch (e) {
            if ((e as { code?: unknown }).code !== '55P03' || attempt >= REWRITE_TRIES) throw e;
            await new Promise((ok) => setTimeout(ok, attempt * 1000));
          }
        }
      };
      // a snapshot older than the purge (a long report, a backup) keeps the purged rows alive:
      // the rewrite is asked again, later, until none is kept (or the tries run out: said below)
      const rewrite = async (table: string, sql: string): Promise<void> => {
        for (let attempt = 1; ; attempt++) {
          kept = 0;
          await locked(sql);
          if (kept === 0 || attempt >= REWRITE_TRIES) break;
          await new Promise((ok) => setTimeout(ok, attempt * 500));
        }
        if (kept > 0) leftovers.push(`${kept} dead row version(s) of ${table} kept by an open transaction (rewrite it again once it ends)`);
      };
      for (const table of PURGED_TABLES) {
        await rewrite(table, `VACUUM (FULL, ANALYZE, VERBOSE) ${table}`);
        // ANALYZE replaces the values it sampled (a short text can be one of them) in
        // pg_statistic, but not from an empty table: a table the purge emptied has its columns'
        // statistics dropped (a column altered to its own type loses them; nothing is rewritten)
        if ((await c.query(`SELECT 1 FROM ${table} LIMIT 1`)).rowCount === 0) {
          const cols = await c.query<{ col: string; type: string }>(
            `SELECT quote_ident(a.attname) AS col, format_type(a.atttypid, a.atttypmod) AS type
             FROM pg_attribute a JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = $1 AND s.attname = a.attname
             WHERE a.attrelid = $1::regclass ORDER BY a.attnum`,
            [table],
          );
          if (cols.rows.length > 0) await locked(`ALTER TABLE ${table} ${cols.rows.map((r) => `ALTER COLUMN ${r.col} TYPE ${r.type}`).join(', ')}`);
        }
      }
      // the old statistics rows, dead now, rewritten away (a transaction open elsewhere on the
      // server may keep them for a while, as it may keep a table's: asked again the same way)
      await rewrite('pg_statistic', 'VACUUM (FULL, VERBOSE) pg_statistic');
      await c.query('RESET lock_timeout');
    } catch (e) {
      broken = true;
      throw classify(e, 'written');
    } finally {
      c.off('notice', onNotice);
      c.release(broken);
    }
    // a user that neither owns the database nor is a superuser may not rewrite the catalog: said
    if (warnings.length > 0)
      leftovers.push(
        `pg_statistic not rewritten (${warnings.join('; ')}): values ANALYZE sampled from purged text may stay in its free space until reused; rewrite it as the database's owner (VACUUM FULL pg_statistic)`,
      );
    return leftovers.length > 0 ? { method: 'rewrite', leftover: leftovers.join('; ') } : { method: 'rewrite' };
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
