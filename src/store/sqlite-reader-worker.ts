// The thread of the SQLite reports connection (sqlite-executor.ts `reports`): a read-only
// connection of its own for the reads over every row (gauges, reconciliation), so that such a read
// runs beside the writes instead of holding the event loop that takes messages. It answers each
// {id, sql, params} with the rows or the error's code and message.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface ReportJob {
  readonly id: number;
  readonly sql: string;
  readonly params: readonly (string | number | null)[];
}
export type ReportReply =
  { readonly id: number; readonly rows: unknown[] } | { readonly id: number; readonly error: { readonly message: string; readonly code?: string } };

const { file } = workerData as { file: string };
const db = new Database(file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const statements = new Map<string, Database.Statement>();

parentPort?.on('message', (job: ReportJob) => {
  let reply: ReportReply;
  try {
    let st = statements.get(job.sql);
    if (!st) {
      st = db.prepare(job.sql);
      statements.set(job.sql, st);
    }
    reply = { id: job.id, rows: st.all(...job.params) };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    reply = { id: job.id, error: { message: e instanceof Error ? e.message : String(e), ...(typeof code === 'string' ? { code } : {}) } };
  }
  parentPort?.postMessage(reply);
});
