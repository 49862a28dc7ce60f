// Runs the compiled tests under dist/ with node's built-in test runner: the unit tests as many at a
// time as the machine has cores, the process-level tests twice that (or --jobs N for both).
// Usage: node scripts/run-tests.mjs [--unit | --int] [--jobs N] [--int-jobs N] [--pg-jobs N] [--isolate] [substring...]
//   --unit     unit and golden tests (everything but *.int.test): no child processes, fast
//   --int      the process-level tests (*.int.test: servers, CLIs, crash, databases)
//   neither:   the unit tests, then the process-level tests (what `npm test` and CI run)
//   --jobs N   N test processes at a time in either part (default: the number of cores for the
//              unit tests, twice that for the process-level tests, which mostly wait)
//   --int-jobs N, --pg-jobs N: the process-level files at a time, and of them the PostgreSQL ones
//              (default: twice the cores, and the cores)
//   --isolate  every unit test file in a process of its own too (slower; see below)
// Substrings keep only the files whose path contains one of them.
//
// Unit test files run in N worker processes (scripts/test-shard.mjs), each taking the next file
// once it is done with one: the modules they all load (fastify, the app, the mapping engine) are
// loaded N times instead of once per file, which was most of the suite's CPU time. The files that
// took longest last time (dist/.test-durations.json) start first. Process-level tests run a
// process per file (`intJobs` at a time, each file's report printed whole when it ends): they
// spend most of their time waiting (for their servers to start, for PostgreSQL, for their
// registry's answers and submission rounds, for Chromium): two at a time used 0.7 of a core in
// all (290 CPU seconds in 406 s on 2 cores, one of them busy), so twice as many as there are cores
// run at a time, and of them the PostgreSQL files as many as there are cores (usesPostgres). When
// both parts run, the longest process-level file starts alongside the unit tests: it spends most of its
// time waiting (for its servers, its registry's answers, its submission rounds), and it was the
// part's longest file to wait for. Every file still runs alone (`node --test dist/…`) and in any order.
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fork, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const only = args.includes('--unit') ? 'unit' : args.includes('--int') ? 'int' : undefined;
const isolate = args.includes('--isolate');
/** The argument places taken by the options' numbers (not filters). */
const optionValues = new Set();
/** A `--name N` option's whole number of processes (1 or more), else `fallback`. */
function processCount(name, fallback) {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  optionValues.add(at + 1);
  const n = Number(args[at + 1]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} needs a whole number of processes, 1 or more`);
    process.exit(2);
  }
  return n;
}
const jobs = processCount('--jobs', availableParallelism());
/** The process-level files run at a time: they mostly wait (see above). */
const intJobs = processCount('--int-jobs', args.includes('--jobs') ? jobs : 2 * jobs);
/** Of them, the PostgreSQL files run at a time. */
const pgJobs = processCount('--pg-jobs', jobs);
const filters = args.filter((a, i) => !a.startsWith('--') && !optionValues.has(i));
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(join(root, 'dist'));
const chosen = files.filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s))).sort();
if (chosen.length === 0) {
  console.error('no test files found under dist/ (did the build run?)');
  process.exit(1);
}
const isInt = (f) => f.endsWith('.int.test.js');
const groups = [
  ['unit and golden tests', chosen.filter((f) => !isInt(f))],
  ['process-level tests', chosen.filter(isInt)],
].filter(([name, list]) => list.length > 0 && (only === undefined || name.startsWith(only === 'unit' ? 'unit' : 'process')));

const DURATIONS = join(root, 'dist', '.test-durations.json');

// The tests' temporary files (every test database, its WAL and its fsyncs, the servers' stores)
// go to a directory of their own on /dev/shm when the machine has it (tmpfs: memory, not disk), or
// under CDSR_TEST_TMPDIR when set; the directory is removed when the run ends. A file run alone
// (`node --test dist/…`) uses the system's temporary directory, as before. What the tests check
// does not depend on the disk: the sync of the SQLite executor is tested with an injected sync, the
// crash tests kill processes (the page cache survives them), and the benchmark, not the suite,
// measures the disk.
// A /dev/shm smaller than the suite needs (a container's is 64 MB unless given more) would fail
// tests with a full disk: it is used only with 1 GiB free.
const SHM_FREE_BYTES = 1024 ** 3;
function testTmpRoot() {
  const base = process.env.CDSR_TEST_TMPDIR ?? '/dev/shm';
  try {
    accessSync(base, constants.W_OK);
    if (process.env.CDSR_TEST_TMPDIR === undefined) {
      const fs = statfsSync(base);
      if (fs.bavail * fs.bsize < SHM_FREE_BYTES) {
        console.log(`/dev/shm has less than 1 GiB free: the tests' temporary files go to the system's temporary directory (or set CDSR_TEST_TMPDIR)`);
        return undefined;
      }
    }
    return mkdtempSync(join(base, 'cdsr-tests-'));
  } catch {
    return undefined;
  }
}
const testTmp = testTmpRoot();
/** The test processes running, so that a signal to this process alone (a `kill` of its pid) stops them too. */
const children = new Set();
const track = (child) => {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
};
// interrupted (Ctrl-C, a CI timeout, a kill of this process): the signal is passed on to every test
// process (a Ctrl-C reaches them anyway; a kill of this pid would leave them running, writing into
// the directory removed below), and the run ends with the signal's status
for (const [signal, number] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
]) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
    process.exit(128 + number);
  });
}
if (testTmp !== undefined) {
  process.on('exit', () => rmSync(testTmp, { recursive: true, force: true }));
  console.log(`temporary files of the tests: ${testTmp} (removed at the end)`);
}
const childEnv = testTmp === undefined ? process.env : { ...process.env, TMPDIR: testTmp };

/**
 * CPU seconds (user + system) of this process's ended children, the ones they waited for included
 * (Linux: /proc/self/stat's cutime and cstime; 0 elsewhere). A child's time is added when it is
 * reaped, so the growth since the last reap is the CPU of the child just reaped: a figure that
 * varies far less with the machine's load than the wall time.
 */
function childrenCpu() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0;
  }
}
let lastReaped = childrenCpu();
/** The CPU seconds of the child reaped since the last call. */
function reaped() {
  const now = childrenCpu();
  const d = now - lastReaped;
  lastReaped = now;
  return d;
}
const cpu = {};
/** The CPU seconds of the unit part's worker processes. */
let shardCpu = 0;
let durations = {};
try {
  durations = JSON.parse(readFileSync(DURATIONS, 'utf8'));
} catch {
  // first run: no durations yet
}

/**
 * A process per file (node FILE: the file's tests run in that process and report as
 * `node --test FILE` would; `--test` would start a second process per file to run it in, about
 * 0.2 s of CPU each), longest first, `limit()` at a time (asked again whenever
 * one ends, and by `fill()`); each file's report printed whole once it ends.
 */
function perFile(list, limit = () => intJobs) {
  const queue = longestFirst(list);
  const took = {};
  let status = 0;
  let running = 0;
  let onPostgres = 0;
  let resolve;
  const done = new Promise((ok) => (resolve = ok));
  // the next file to start: the longest that keeps the PostgreSQL files at `jobs` at a time
  const next = () => queue.findIndex((f) => onPostgres < pgJobs || !usesPostgres(f));
  const fill = () => {
    while (running < limit() && queue.length > 0 && next() >= 0) start(queue.splice(next(), 1)[0]);
    if (running === 0 && queue.length === 0) resolve({ status, took });
  };
  const start = (file) => {
    const pg = usesPostgres(file);
    if (pg) onPostgres++;
    running++;
    const began = performance.now();
    const child = track(spawn(process.execPath, ['--test-reporter=spec', file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: root, env: childEnv }));
    const out = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => out.push(c));
    child.on('close', (code) => {
      took[relative(root, file)] = (performance.now() - began) / 1000;
      cpu[relative(root, file)] = reaped();
      const text = Buffer.concat(out);
      process.stdout.write(text);
      tally(text.toString('utf8'));
      if (code !== 0) {
        status = code ?? 1;
        failedFiles.push(relative(root, file));
      }
      running--;
      if (pg) onPostgres--;
      fill();
    });
  };
  fill();
  return { done, fill };
}

// The runner's own counts (ℹ tests, pass, fail…) of every report printed, summed: each worker and
// each process-level file prints its own, and the totals are printed once at the end.
const COUNTS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
const totals = Object.fromEntries(COUNTS.map((c) => [c, 0]));
const failedFiles = [];
function tally(text) {
  for (const m of text.matchAll(/^ℹ (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) totals[m[1]] += Number(m[2]);
}

/**
 * Whether a test file uses the PostgreSQL server (it, or a module of its own it imports, imports
 * test/pg.js). The PostgreSQL files run `jobs` at a time, the other places going to other files:
 * the one server's work (a database created from its template, a commit's WAL flush) is not done
 * side by side, and with four of them at once on a loaded machine a connection waited past the
 * store's 10 s.
 */
const postgresFiles = new Map();
function usesPostgres(file) {
  let yes = postgresFiles.get(file);
  if (yes === undefined) {
    const imports = (f) => {
      try {
        return [...readFileSync(f, 'utf8').matchAll(/^import [^;]*?from '(\.[^']+)';$/gm)].map((m) => join(dirname(f), m[1]));
      } catch {
        return [];
      }
    };
    yes = [file, ...imports(file)].some((f) => imports(f).some((i) => i.endsWith(join('test', 'pg.js'))));
    postgresFiles.set(file, yes);
  }
  return yes;
}

/** The files that took longest last time first; files not timed yet before them. */
function longestFirst(list) {
  return [...list].sort((a, b) => (durations[relative(root, b)] ?? Infinity) - (durations[relative(root, a)] ?? Infinity));
}

/** `jobs` worker processes, each running the next file in turn; longest first. Resolves with the exit status and each file's time. */
function sharded(list) {
  const queue = longestFirst(list);
  const took = {};
  const workers = Math.min(jobs, queue.length);
  let status = 0;
  let running = workers;
  return new Promise((resolve) => {
    for (let w = 0; w < workers; w++) {
      const child = track(
        fork(join(root, 'scripts', 'test-shard.mjs'), [], {
          cwd: root,
          env: childEnv,
          execArgv: ['--test-reporter=spec'],
          stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
        }),
      );
      // each worker's report is written out a whole line at a time, so that two never mix in a line
      let pending = '';
      const flush = (all) => {
        const cut = all ? pending.length : pending.lastIndexOf('\n') + 1;
        if (cut > 0) {
          process.stdout.write(pending.slice(0, cut));
          tally(pending.slice(0, cut));
        }
        pending = pending.slice(cut);
      };
      child.stdout.on('data', (c) => {
        pending += c.toString('utf8');
        flush(false);
      });
      let current;
      let started = 0;
      child.on('message', (m) => {
        if (current !== undefined) {
          took[relative(root, current)] = (performance.now() - started) / 1000;
          cpu[relative(root, current)] = m.cpu;
        }
        current = queue.shift();
        started = performance.now();
        child.send(current ?? null);
      });
      child.on('exit', (code) => {
        shardCpu += reaped();
        flush(true);
        if (code !== 0) status = code ?? 1;
        if (--running === 0) resolve({ status, took });
      });
    }
  });
}

let status = 0;
// both parts: the process-level part's longest file begins with the unit part, the rest after it
let unitRunning = groups.length === 2;
let early;
for (const [name, list] of groups) {
  const ahead = !name.startsWith('unit') && early !== undefined;
  console.log(
    `\n== ${name} (${list.length} files, ${name.startsWith('unit') ? jobs : intJobs} at a time${ahead ? '; the first began alongside the unit tests' : ''})`,
  );
  const began = ahead ? early.began : performance.now();
  let r;
  if (name.startsWith('unit')) {
    if (unitRunning) early = { began: performance.now(), run: perFile(groups[1][1], () => (unitRunning ? 1 : intJobs)) };
    r = isolate ? await perFile(list, () => jobs).done : await sharded(list);
    unitRunning = false;
  } else if (early !== undefined) {
    early.run.fill();
    r = await early.run.done;
  } else r = await perFile(list).done;
  if (r.status !== 0) status = r.status;
  durations = { ...durations, ...r.took };
  try {
    writeFileSync(DURATIONS, JSON.stringify(durations, null, 1));
    if (process.env.RUN_TESTS_CPU_FILE) writeFileSync(process.env.RUN_TESTS_CPU_FILE, JSON.stringify(cpu, null, 1));
  } catch {
    // only the order of the next run depends on it
  }
  const cpuNote = Object.keys(r.took).some((f) => f in cpu) ? ', with the CPU seconds of each' : '';
  const cpuTotal = name.startsWith('unit') && !isolate ? shardCpu : Object.keys(r.took).reduce((n, f) => n + (cpu[f] ?? 0), 0);
  const slow = Object.entries(r.took)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15);
  console.log(
    `\n${name}: ${((performance.now() - began) / 1000).toFixed(1)} s, ${cpuTotal.toFixed(1)} CPU seconds; the slowest files (s${cpuNote}): ${slow.map(([f, t]) => `${f} ${t.toFixed(1)}${f in cpu ? ` (${cpu[f].toFixed(1)} CPU)` : ''}`).join(', ')}`,
  );
}
// one summary for the whole run, whatever the number of processes
console.log(`\n== summary of ${groups.map(([n]) => n).join(' and ')}`);
for (const c of COUNTS) console.log(`ℹ ${c} ${totals[c]}`);
if (failedFiles.length > 0) console.log(`✖ files that failed: ${failedFiles.join(', ')}`);
if (status !== 0 && totals.fail === 0) console.log(`✖ a test process ended with status ${status} (see its report above)`);
process.exit(status);
