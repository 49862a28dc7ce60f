// `npm run bench`: prints a table of figures measured in this run. Not a test: nothing is asserted.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLargeTransaction } from './large-transaction.js';
import { renderTable } from '../src/cli/table.js';
import { benchMapping } from './map.js';
import { benchProduct, benchSoak, type SoakRow } from './product.js';
import { benchBackfillServe } from './backfill-serve.js';
import { cell, productTarget, rssTarget } from './targets.js';
import { renderReprocess } from './reprocess.js';

// BENCH_ONLY=soak: the soak alone (BENCH_SOAK_SECONDS, default 600); BENCH_ONLY=backfill: the backfill
// rows alone; BENCH_ONLY=service: the mapping and service-under-load tables alone (to repeat them);
// BENCH_ONLY=reprocess: the reprocessing rows alone, the error queue's worklist and dry run with them
const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'soak' && only !== 'backfill' && only !== 'service' && only !== 'reprocess')
  throw new Error(`BENCH_ONLY=${only}: expected soak, backfill, service or reprocess`);

const versusTarget = (mb: number): string => `${mb.toFixed(0)} MB (${cell(rssTarget(mb))})`;

function renderSoak(soak: readonly SoakRow[]): string {
  return (
    renderTable(
      ['SOAK (mix at 10 connections, serve RSS)', 'SECONDS', 'REQUESTS', 'CPU µS/MSG', 'NON-2XX', 'AFTER 30 S', 'END', 'GROWTH', 'SERVE PEAK', 'SANDBOX PEAK'],
      soak.map((s) => [
        s.store,
        String(s.seconds),
        String(s.requests),
        s.cpuUsPerMsg === undefined ? '-' : Math.round(s.cpuUsPerMsg).toString(),
        String(s.non2xx),
        `${s.rssStartMb.toFixed(0)} MB`,
        `${s.rssEndMb.toFixed(0)} MB`,
        `${(((s.rssEndMb - s.rssStartMb) / s.rssStartMb) * 100).toFixed(1)} %`,
        versusTarget(s.rssPeakMb),
        `${s.sandboxRssPeakMb.toFixed(0)} MB (apart)`,
      ]),
    ) +
    '\n' +
    soak.map((s) => `serve RSS every 10 s (${s.store}, MB): ${s.trace.map((x) => x.toFixed(0)).join(' ')}\n`).join('')
  );
}

if (only === 'soak') {
  const r = await benchSoak({ seconds: Number(process.env.BENCH_SOAK_SECONDS ?? 600), postgres: process.env.BENCH_POSTGRES === '1' });
  for (const s of r.skipped) process.stdout.write(`skipped: ${s}\n`);
  for (const s of r.outcomes) process.stdout.write(`what serve stored (its /metrics), ${s}\n`);
  process.stdout.write(renderSoak(r.soak));
  process.exit(0);
}

if (only === undefined || only === 'service') {
  const mapping = benchMapping();
  const base = mapping[0]!.perSecond;
  process.stdout.write(
    renderTable(
      ['MAPPING (ORM sample)', 'MSG/S', 'VS HL7-STANDARD PARSE'],
      mapping.map((r) => [r.name, Math.round(r.perSecond).toString(), `${Math.round((r.perSecond / base) * 100)} %`]),
    ) + '\n',
  );

  // the product as shipped (`serve` in its own process) against ceilings measured in this run
  const product = await benchProduct({
    seconds: Number(process.env.BENCH_SECONDS ?? 5),
    connections: [1, 50],
    postgres: process.env.BENCH_POSTGRES !== '0',
    soakSeconds: Number(process.env.BENCH_SOAK_SECONDS ?? 0),
  });
  process.stdout.write(
    renderTable(
      [
        'SERVICE UNDER LOAD (loopback, generator in its own process)',
        'STORE',
        'CONN',
        'REQ/S',
        'P50 MS',
        'P99 MS',
        'CPU µS/MSG',
        'NON-2XX',
        'VS CEILING',
        'TARGET',
      ],
      product.rows.map((r) => [
        r.name,
        r.store,
        String(r.connections),
        Math.round(r.reqPerSec).toString(),
        r.p50.toFixed(2),
        r.p99.toFixed(2),
        r.cpuUsPerMsg === undefined ? '-' : Math.round(r.cpuUsPerMsg).toString(),
        r.note ? `${r.non2xx} (${r.note})` : String(r.non2xx),
        r.ratio === undefined ? '' : `${Math.round(r.ratio * 100)} % of ${r.ceiling ?? ''}`,
        cell(productTarget(r)),
      ]),
    ) + '\n',
  );
  for (const s of product.skipped) process.stdout.write(`skipped: ${s}\n`);
  for (const s of product.outcomes) process.stdout.write(`what serve stored (its /metrics), ${s}\n`);
  if (product.soak.length > 0) process.stdout.write(renderSoak(product.soak));
  if (only === 'service') process.exit(0);
}

const here = fileURLToPath(new URL('.', import.meta.url));

// backfill: stored consultations batched, validated and "submitted" in one round (child process: peak RSS)
if (only !== 'reprocess') {
  const n = Number(process.env.BENCH_BACKFILL ?? 100_000);
  const r = spawnSync(process.execPath, [join(here, 'backfill.js'), String(n)], { encoding: 'utf8' });
  const m =
    r.status === 0
      ? (JSON.parse(r.stdout) as { n: number; ingestS: number; flushS: number; transactions: number; accepted: number; peakRssMb: number })
      : undefined;
  process.stdout.write(
    renderTable(
      ['BACKFILL (BENCH_BACKFILL)', 'CONSULTATIONS', 'STORE (S)', 'BATCH+VALIDATE+SUBMIT (S)', 'TRANSACTIONS', 'ROUND PEAK RSS'],
      [
        m
          ? ['stored → accepted, stand-in NRDR', String(m.n), m.ingestS.toFixed(1), m.flushS.toFixed(1), String(m.transactions), versusTarget(m.peakRssMb)]
          : ['failed', String(n), '-', '-', '-', r.stderr.split('\n')[0] ?? ''],
      ],
    ) + '\n',
  );
  // the same backlog drained by serve itself, submitting to the sandbox in a process of its own
  const s = await benchBackfillServe(n).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
  process.stdout.write(
    renderTable(
      ['BACKFILL THROUGH SERVE (BENCH_BACKFILL)', 'CONSULTATIONS', 'STORE (S)', 'SERVE START → ALL ACCEPTED (S)', 'SERVE PEAK RSS', 'SANDBOX PEAK'],
      [
        typeof s === 'string'
          ? ['failed', String(n), '-', '-', s, '-']
          : [
              'serve + cdsr-adapter sandbox apart',
              `${s.accepted} of ${s.consultations}`,
              s.storeS.toFixed(1),
              s.drainS.toFixed(1),
              versusTarget(s.servePeakMb),
              `${s.sandboxPeakMb.toFixed(0)} MB (apart)`,
            ],
      ],
    ) + '\n',
  );
  if (typeof s !== 'string')
    process.stdout.write(
      `serve RSS every 5 s while draining (MB): ${s.trace
        .filter((_, i) => i % 5 === 0)
        .map((x) => x.toFixed(0))
        .join(' ')}\n`,
    );
}
if (only === 'backfill') process.exit(0);

// reprocessing N stored messages through serve (dry run, then applied) against their ingest rate
process.stdout.write(
  await renderReprocess({
    messages: Number(process.env.BENCH_REPROCESS_MESSAGES ?? 100_000),
    // PostgreSQL doubles the bench's length (its ingest is a quarter of SQLite's): asked for by name
    postgres: process.env.BENCH_REPROCESS_POSTGRES === '1' && process.env.BENCH_POSTGRES !== '0',
  }),
);
if (only === 'reprocess') process.exit(0);

const dir = mkdtempSync(join(tmpdir(), 'cdsr-bench-'));
const rows: string[][] = [];
try {
  for (const mb of [50, 200]) {
    const file = join(dir, `tx-${mb}.json`);
    await writeLargeTransaction(file, mb * 1024 * 1024);
    const size = statSync(file).size / (1024 * 1024);
    for (const mode of ['stream', 'parse']) {
      const r = spawnSync(process.execPath, [join(here, 'validate-file.js'), mode, file], { encoding: 'utf8' });
      if (r.status !== 0) {
        rows.push([
          `validate (${mode})`,
          `${size.toFixed(0)} MB`,
          '-',
          '-',
          '-',
          `failed: ${r.stderr.split('\n').find((l) => l.includes('Error')) ?? r.status}`,
        ]);
        continue;
      }
      const m = JSON.parse(r.stdout) as { ms: number; encounters: number; maxRssMb: number };
      rows.push([
        `validate (${mode === 'stream' ? 'streamed file' : 'JSON.parse + validate'})`,
        `${size.toFixed(0)} MB`,
        String(m.encounters),
        `${(m.ms / 1000).toFixed(2)} s`,
        `${Math.round(m.encounters / (m.ms / 1000))}/s`,
        `${m.maxRssMb.toFixed(0)} MB`,
      ]);
    }
  }
} finally {
  rmSync(dir, { recursive: true });
}
process.stdout.write(renderTable(['CASE', 'FILE', 'ENCOUNTERS', 'TIME', 'ENCOUNTERS/S', 'PEAK RSS'], rows));

// the floods of issue 25 (bench/flood.ts): several minutes, so only when asked for
if (process.env.BENCH_FLOOD === '1') {
  const { runFlood, renderFlood } = await import('./flood.js');
  process.stdout.write(
    '\n' + renderFlood(await runFlood({ frames: Number(process.env.BENCH_FLOOD_FRAMES ?? 6000), seconds: Number(process.env.BENCH_FLOOD_SECONDS ?? 30) })),
  );
}
