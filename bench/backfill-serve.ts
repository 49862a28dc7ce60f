// The backfill as a site lives it: a store holding N ready consultations (made by `backfill.js
// store`), then `cdsr-adapter serve` started on it, submitting to `cdsr-adapter sandbox` in a process
// of its own, until the sandbox has accepted every one. The RSS of both processes is sampled every
// second and their peaks (VmHWM) read before each stops: what issue 24 bounds is serve's peak.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../src/paths.js';
import { peakRssMb, rssMb, startSandbox, startServe } from './product.js';

export interface BackfillServeResult {
  readonly consultations: number;
  /** Storing the backlog (its own process, before serve starts). */
  readonly storeS: number;
  /** From serve's start until the sandbox had accepted every consultation. */
  readonly drainS: number;
  readonly accepted: number;
  readonly servePeakMb: number;
  readonly sandboxPeakMb: number;
  /** serve's RSS sampled every second while it drained, MB. */
  readonly trace: readonly number[];
}

/** `cdsr_records{state="…"} N` of serve's /metrics. */
export function recordsIn(metrics: string, state: string): number {
  const m = new RegExp(`^cdsr_records\\{state="${state}"\\} (\\d+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
}

export async function benchBackfillServe(n: number, timeoutS = 1800): Promise<BackfillServeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-backfill-serve-'));
  try {
    cpSync(join(PACKAGE_ROOT, 'mappings'), join(dir, 'mappings'), { recursive: true });
    mkdirSync(join(dir, 'data'));
    // the file serve opens in its data directory
    const file = join(dir, 'data', 'cdsr-adapter.sqlite');
    const made = spawnSync(process.execPath, [fileURLToPath(new URL('backfill.js', import.meta.url)), 'store', file, String(n)], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (made.status !== 0) throw new Error(`storing the backlog failed: ${made.stderr.split('\n').find((l) => l.includes('Error')) ?? made.status}`);
    const { ingestS } = JSON.parse(made.stdout) as { ingestS: number };
    const sandbox = await startSandbox(dir);
    try {
      const began = performance.now();
      const serve = await startServe(dir, { ...sandbox.env, LOG_LEVEL: 'warn' });
      const trace: number[] = [];
      const sampler = setInterval(() => trace.push(rssMb(serve.child.pid)), 1000);
      try {
        let accepted = 0;
        for (;;) {
          accepted = recordsIn(await (await fetch(`${serve.url}/metrics`)).text(), 'accepted');
          if (accepted >= n) break;
          if (serve.child.exitCode !== null) throw new Error(`serve exited with ${serve.child.exitCode}`);
          if (performance.now() - began > timeoutS * 1000) throw new Error(`${accepted} of ${n} accepted after ${timeoutS} s`);
          await new Promise((r) => setTimeout(r, 1000));
        }
        const drainS = (performance.now() - began) / 1000;
        return {
          consultations: n,
          storeS: ingestS,
          drainS,
          accepted,
          servePeakMb: Math.max(peakRssMb(serve.child.pid), ...trace),
          sandboxPeakMb: peakRssMb(sandbox.child.pid),
          trace,
        };
      } finally {
        clearInterval(sampler);
        await serve.stop();
      }
    } finally {
      await sandbox.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
