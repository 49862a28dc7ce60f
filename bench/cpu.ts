// CPU time of another process, for the benches: utime + stime of /proc/<pid>/stat (the whole
// process, every thread of it: the mapping workers and SQLite's reader count too), in microseconds.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times: 100 on every Linux this runs on (USER_HZ). */
const TICKS_PER_SECOND = 100;

/** The process's CPU time so far in microseconds; undefined without /proc (not Linux) or once it has ended. */
export function cpuMicros(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name (field 2) is in parentheses and may hold spaces: fields are counted after its ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime is field 14, stime field 15
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1_000_000) / TICKS_PER_SECOND;
}
