// What the main thread itself spends, for tests of the event loop: its own CPU time (Linux
// /proc/self/task/<pid>/stat; the worker threads are other tasks) sampled at every turn of the
// loop. The longest CPU span between two turns is how long one turn held the loop, whatever the
// machine's load (time spent waiting for a core is not counted), and without the workers' time.
import { existsSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const STAT = `/proc/self/task/${process.pid}/stat`;
/** Linux reports task times in clock ticks of 10 ms (USER_HZ 100). */
export const CPU_TICK_MS = 10;

export const canMeasureMainThread = (): boolean => existsSync(STAT);

/** CPU time (user + system) of the main thread so far, ms. */
export function mainThreadCpuMs(): number {
  const text = readFileSync(STAT, 'utf8');
  const after = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(after[11]) + Number(after[12])) * CPU_TICK_MS;
}

export interface LoopReport {
  /** The most main-thread CPU spent between two turns of the event loop, ms (a multiple of 10). */
  readonly longestTurnCpuMs: number;
  /** monitorEventLoopDelay's max, ms (wall clock: includes waiting for a core and for the disk). */
  readonly maxDelayMs: number;
}

/** Runs `fn` while sampling the main thread at each turn of the loop. */
export async function watchMainThread(fn: () => Promise<void>): Promise<LoopReport> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  let last = mainThreadCpuMs();
  let longest = 0;
  const timer = setInterval(() => {
    const now = mainThreadCpuMs();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  h.enable();
  try {
    await fn();
  } finally {
    clearInterval(timer);
    h.disable();
  }
  const now = mainThreadCpuMs();
  return { longestTurnCpuMs: Math.max(longest, now - last), maxDelayMs: h.max / 1e6 };
}
