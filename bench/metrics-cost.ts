// What /metrics' store reads cost and what a message's ingest costs, at the store (no HTTP):
// `node dist/bench/metrics-cost.js sqlite|postgres [messages]`. Ingest: that many new orders
// (each its own encounter and numbers), one at a time, CPU µs per message of this process (and, on
// PostgreSQL, of the server's processes, from /proc). Reads: counts() + ledgerGauges() at 10,000 and
// 100,000 orders (the ledger, records and messages grown by copying their rows in SQL), median of 5.
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { loadMappings } from '../src/mapping/load.js';
import { mapHl7Text } from '../src/mapping/map-hl7.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import type { Executor } from '../src/store/sql.js';
import { SqliteExecutor } from '../src/store/sqlite-executor.js';
import { PostgresExecutor } from '../src/store/postgres-executor.js';
import { SqlStore } from '../src/store/sql-store.js';
import { cpuMicros } from './cpu.js';
import pg from 'pg';

const kind = process.argv[2] === 'postgres' ? 'postgres' : 'sqlite';
const messages = Number(process.argv[3] ?? 2000);
const NOW = new Date('2026-11-23T06:00:00Z');
const tables = loadMappings(join(PACKAGE_ROOT, 'mappings')).tables!;
const sample = readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');

/** CPU µs of every postgres process on this machine (the server's share of the work). */
function serverCpu(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    total += cpuMicros(Number(pid)) ?? 0;
  }
  return total;
}

const micros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-cost-'));
  let db: Executor;
  let admin: pg.Client | undefined;
  const name = `metrics_cost_${process.pid}`;
  if (kind === 'sqlite') db = new SqliteExecutor({ file: join(dir, 'store.db') });
  else {
    admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    // the growth copies tens of thousands of rows in one statement: not a message's statement timeout
    db = await PostgresExecutor.open({ url: `postgres://postgres@127.0.0.1:5432/${name}`, statementTimeoutMs: 600_000 });
  }
  const store = await SqlStore.open(db, { validator: new CdsrValidator({ now: NOW, valueSets: tables.valueSets, fieldLimits: tables.fieldLimits }) });
  try {
    const raws = Array.from({ length: messages }, (_, i) =>
      sample.replaceAll('MSG0001', `M${i}`).replaceAll('ORD1001', `ORD${i}`).replaceAll('ACC2001', `ACC${i}`).replaceAll('V0001', `V${i}`),
    );
    const outcomes = raws.map((raw) => mapHl7Text(raw, tables));
    const warm = Math.min(200, messages / 4);
    let c0 = 0;
    let s0 = 0;
    let t0 = 0;
    for (const [i, raw] of raws.entries()) {
      if (i === warm) [c0, s0, t0] = [micros(), kind === 'postgres' ? serverCpu() : 0, performance.now()];
      await store.ingest({ channel: 'hl7v2', sender: 'bench', controlId: `M${i}`, contentType: 'application/hl7-v2', raw, receivedAt: NOW }, outcomes[i]!);
    }
    const n = messages - warm;
    const line: Record<string, number | string> = {
      kind,
      messages: n,
      ingestCpuUsPerMessage: Math.round((micros() - c0) / n),
      ingestWallUsPerMessage: Math.round(((performance.now() - t0) * 1000) / n),
    };
    if (kind === 'postgres') line.serverCpuUsPerMessage = Math.round((serverCpu() - s0) / n);
    console.log(JSON.stringify(line));
    const columns = async (table: string): Promise<string[]> =>
      kind === 'sqlite'
        ? (await db.all(`SELECT name FROM pragma_table_info('${table}')`)).map((r) => String(r.name))
        : (await db.all(`SELECT column_name AS name FROM information_schema.columns WHERE table_name = '${table}' AND table_schema = current_schema()`)).map(
            (r) => String(r.name),
          );
    // kept columns (filled by the store's own triggers when it has them) are not copied
    const KEPT = new Set(['id', 'kept_state', 'kept_reason']);
    const double = async (table: string, suffixed: readonly string[], round: number) => {
      const cols = (await columns(table)).filter((c) => !KEPT.has(c));
      const exprs = cols.map((c) => (suffixed.includes(c) ? `${c} || '#${round}'` : c));
      await db.transaction((q) => q.run(`INSERT INTO ${table} (${cols.join(', ')}) SELECT ${exprs.join(', ')} FROM ${table}`));
    };
    const orders = async () => Number((await db.get('SELECT COUNT(*) AS n FROM orders'))?.n);
    const read = async () => {
      const times: number[] = [];
      for (let k = 0; k < 5; k++) {
        const t = performance.now();
        await store.counts();
        await store.ledgerGauges();
        times.push(performance.now() - t);
      }
      return Math.round(times.sort((a, b) => a - b)[2]! * 1000);
    };
    let round = 0;
    for (const target of [10_000, 100_000]) {
      while ((await orders()) < target) {
        round++;
        await double('inbound_messages', ['control_id'], round);
        await double('consultations', ['encounter_key'], round);
        await double('orders', ['encounter_key'], round);
      }
      if (kind === 'postgres') await db.run('ANALYZE');
      console.log(JSON.stringify({ kind, orders: await orders(), metricsReadUs: await read() }));
    }
  } finally {
    await store.close();
    if (admin) {
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
