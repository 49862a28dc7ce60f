// How far V8 lets the heap of `serve` grow between two full collections. Left to itself, on a
// machine with memory to spare, V8 lets the old generation reach up to four times what was live
// after the last full collection before it collects again. What is live in `serve` stays about
// 30–50 MB, but a submission round turns every record it batches into short-lived objects that
// outlive the young generation (a page of records waits for the store while ingest goes on), so
// the old generation filled with that garbage to some 170–210 MB before V8 collected it: that,
// not anything kept, took `serve` past 300 MB RSS in a soak. A growing factor of 1.5 makes V8
// collect at about one and a half times the live size instead. It is no ceiling: the heap still
// grows as far as what is live needs (nothing runs out of memory sooner); full collections come
// more often (docs/benchmark.md has the CPU it costs).
import { setFlagsFromString } from 'node:v8';

/** What was done with V8's growing factor, for the start-up log. */
export type HeapGrowth =
  { readonly set: true; readonly percent: number } | { readonly set: false; readonly reason: 'setting_zero' | 'node_flag'; readonly flag?: string };

/**
 * Gives V8 the growing factor `percent` (`--heap-growing-percent`), unless it is 0 (V8's own,
 * adaptive factor) or node was started with a flag of its own for it (in `execArgv`: the
 * operator's choice wins). Process-wide: only `serve` calls it, before the heap has grown.
 */
export function boundHeapGrowth(
  percent: number,
  execArgv: readonly string[] = process.execArgv,
  setFlags: (flags: string) => void = setFlagsFromString,
): HeapGrowth {
  if (percent === 0) return { set: false, reason: 'setting_zero' };
  const own = execArgv.find((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a));
  if (own !== undefined) return { set: false, reason: 'node_flag', flag: own };
  setFlags(`--heap-growing-percent=${percent}`);
  return { set: true, percent };
}
