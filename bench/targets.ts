// The performance issue's targets, printed beside the figures they judge (`npm run bench`). Each
// is a ratio to a ceiling measured in the same run, a latency, a memory peak or a duration.
import type { ProductRow } from './product.js';

export interface Verdict {
  /** What is asked, e.g. "≥ 50 % of route + commit, p50 ≤ 1 ms". */
  readonly target: string;
  readonly met: boolean;
}

/** The target of a row of the service table (none for the ceilings, nor for PostgreSQL at many connections). */
export function productTarget(r: ProductRow): Verdict | undefined {
  if (r.ratio === undefined) return undefined;
  if (r.store === 'sqlite' && r.connections === 1) return { target: '≥ 50 % of ceiling, p50 ≤ 1 ms', met: r.ratio >= 0.5 && r.p50 <= 1 };
  if (r.store === 'sqlite') return { target: '≥ 25 % of ceiling, p99 < 25 ms', met: r.ratio >= 0.25 && r.p99 < 25 };
  if (r.connections === 1) return { target: '≥ 25 % of ceiling', met: r.ratio >= 0.25 };
  return undefined;
}

/** A peak of serve's memory against the 300 MB it must stay under. */
export const RSS_CEILING_MB = 300;
export function rssTarget(peakMb: number): Verdict {
  return { target: `< ${RSS_CEILING_MB} MB`, met: peakMb < RSS_CEILING_MB };
}

/** A dry run of 100,000 messages (reprocess, worklist) within 60 s; scaled to the messages asked for. */
export function dryRunTarget(messages: number, seconds: number): Verdict {
  const limit = (60 * messages) / 100_000;
  return { target: `< ${limit >= 10 ? limit.toFixed(0) : limit.toFixed(1)} s`, met: messages > 0 && seconds < limit };
}

/** The worklist read within 1 s, whatever the size of the error queue. */
export function worklistTarget(seconds: number): Verdict {
  return { target: '< 1 s', met: seconds < 1 };
}

/** The verdict as a table cell. */
export const cell = (v: Verdict | undefined): string => (v === undefined ? '' : `${v.target}: ${v.met ? 'met' : 'NOT met'}`);
